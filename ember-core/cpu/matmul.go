package cpu

import (
	"time"

	"github.com/ember-infer/ember/ember-core/device"
)

// matmulPanelFloats is the f32 panel a worker fills with widened weight rows
// per prefill task: 128 KiB, so that a panel stays in L2 while every input
// row of the chunk is multiplied against it.
const matmulPanelFloats = 32 << 10

// MatMul computes out [n, o] = x [n, k] · wᵀ for w [o, k] (F32, F16 or BF16).
//
// Work is split over blocks of weight rows (output columns). With one input
// row (decode) the weights are read in place, F16/BF16 widened in registers,
// four weight rows at a time against the one x row: decode is bound by
// reading the weights, and this reads each byte once (with AVX512_BF16,
// bfloat16 weights are not widened: VDPBF16PS takes them against x split into
// three bfloat16 parts, see dotRowsDPBF16). With more rows
// (prefill) each block is widened once into a packed f32 panel in the
// worker's scratch, and a register-tiled kernel multiplies every four x rows
// against it, four panel rows at a time with AVX-512 (three with AVX2), so the
// panel is read from L2 n/4 times instead of n; with 2 to smallBatchMax rows
// over F16/BF16 weights (a batched decode step) dotBatch16 widens in registers
// and reads each block once for all rows instead (smallbatch.go). Every path
// sums an element in the same order (see kernels.go), so a row's result does
// not depend on n or on Threads.
func (d *Device) MatMul(out, x, w device.Tensor) error {
	const op = "MatMul"
	s := d.begin()
	defer d.end(s, time.Now())
	ct, err := d.operand(op, "out", out, device.OnlyF32, true)
	if err != nil {
		return err
	}
	xt, err := d.operand(op, "x", x, device.OnlyF32, false)
	if err != nil {
		return err
	}
	wt, err := d.operand(op, "w", w, device.AnyFloat, false)
	if err != nil {
		return err
	}
	if err := device.CheckMatMul(ct.Operand(), xt.Operand(), wt.Operand()); err != nil {
		return d.fail(op, err)
	}
	n, k, o := xt.rows, xt.cols, wt.rows
	if n == 0 || o == 0 {
		return nil
	}
	if k == 0 {
		clear(ct.f32)
		return nil
	}

	d.startMatMul(xt, n, k, wt)
	d.jobs.matmul.add(wt, ct.f32, n, d.threads)
	d.runMatMul()
	return nil
}

// MatMulQKV computes a = x·waᵀ, b = x·wbᵀ and c = x·wcᵀ as MatMul does, in
// one hand-out to the threads: the three weights' row blocks are one job's
// tasks. Each output has MatMul's bits (device.QKVProjector).
func (d *Device) MatMulQKV(a, b, c, x, wa, wb, wc device.Tensor) error {
	const op = "MatMulQKV"
	s := d.begin()
	defer d.end(s, time.Now())
	var outs, ws [3]*tensor
	for i, t := range [3]device.Tensor{a, b, c} {
		o, err := d.operand(op, [3]string{"a", "b", "c"}[i], t, device.OnlyF32, true)
		if err != nil {
			return err
		}
		outs[i] = o
	}
	xt, err := d.operand(op, "x", x, device.OnlyF32, false)
	if err != nil {
		return err
	}
	for i, t := range [3]device.Tensor{wa, wb, wc} {
		w, err := d.operand(op, [3]string{"wa", "wb", "wc"}[i], t, device.AnyFloat, false)
		if err != nil {
			return err
		}
		ws[i] = w
	}
	if err := device.CheckMatMulQKV(outs[0].Operand(), outs[1].Operand(), outs[2].Operand(), xt.Operand(), ws[0].Operand(), ws[1].Operand(), ws[2].Operand()); err != nil {
		return d.fail(op, err)
	}
	n, k := xt.rows, xt.cols
	if n == 0 {
		return nil
	}
	if k == 0 {
		for _, o := range outs {
			clear(o.f32)
		}
		return nil
	}
	// The split kernel's x is shared by every bfloat16 weight.
	d.startMatMul(xt, n, k, ws[0])
	for i := range ws {
		d.jobs.matmul.add(ws[i], outs[i].f32, n, d.threads)
	}
	d.runMatMul()
	return nil
}

// MatMulSwiGLU computes out = silu(x·gateᵀ) ⊙ (x·upᵀ) in one hand-out: a task
// multiplies a block of gate rows into out and the same block of up rows into
// its worker's scratch, then applies SiLUMul to that block. The bits are
// MatMul's, MatMul's and SiLUMul's (device.SwiGLUProjector). It needs no
// scratch of the caller's and leaves scratch alone.
func (d *Device) MatMulSwiGLU(out, x, gate, up, _ device.Tensor) error {
	const op = "MatMulSwiGLU"
	s := d.begin()
	defer d.end(s, time.Now())
	ct, err := d.operand(op, "out", out, device.OnlyF32, true)
	if err != nil {
		return err
	}
	xt, err := d.operand(op, "x", x, device.OnlyF32, false)
	if err != nil {
		return err
	}
	gt, err := d.operand(op, "gate", gate, device.AnyFloat, false)
	if err != nil {
		return err
	}
	ut, err := d.operand(op, "up", up, device.AnyFloat, false)
	if err != nil {
		return err
	}
	if err := device.CheckMatMulSwiGLU(ct.Operand(), xt.Operand(), gt.Operand(), ut.Operand()); err != nil {
		return d.fail(op, err)
	}
	n, k, o := xt.rows, xt.cols, gt.rows
	if n == 0 || o == 0 {
		return nil
	}
	if k == 0 {
		clear(ct.f32) // silu(0)·0
		return nil
	}
	d.startMatMul(xt, n, k, gt)
	d.jobs.matmul.add(gt, ct.f32, n, d.threads)
	d.jobs.matmul.up = ut
	d.runMatMul()
	return nil
}

// startMatMul begins d.jobs.matmul for x [n, k]; w0 is a weight it
// multiplies, which decides whether the split x of the VDPBF16PS kernel is
// made.
func (d *Device) startMatMul(xt *tensor, n, k int, w0 *tensor) {
	d.jobs.matmul = matmulJob{d: d, x: xt.f32, n: n, k: k}
	if n == 1 && w0.dt == device.BF16 && useDPBF16 {
		// Split x once for every worker; an x with an Inf or NaN takes the
		// widening kernel instead.
		xs := d.opBuf.halves(splitXLen(k))
		if splitX3(xs, xt.f32[:k]) {
			d.jobs.matmul.xs = xs
		}
	}
}

func (d *Device) runMatMul() {
	j := &d.jobs.matmul
	d.pool.run(j.tasks, j)
	d.jobs.matmul = matmulJob{}
}

// matmulJob is the parallel part of MatMul, MatMulQKV and MatMulSwiGLU: one
// to three weights (parts), each split into blocks of rowsPer rows; task t is
// one block of one part and computes that block's output columns for every
// row of x.
type matmulJob struct {
	d      *Device
	x      []float32
	xs     []uint16 // x split for dotRowsDPBF16, or nil
	n, k   int
	parts  [3]matmulPart
	nparts int
	tasks  int
	up     *tensor // MatMulSwiGLU: part 0 is gate; out = silu(gate)·up
}

// matmulPart is one weight of a matmulJob and the output it fills.
type matmulPart struct {
	w       *tensor
	out     []float32
	o       int // w's rows, out's columns
	rowsPer int
	first   int // the part's first task
}

// add appends weight w [o, k] with output out [n, o] to the job. The block
// size is MatMul's: with one row (decode) multiples of 4 rows (the kernel's
// group), about eight blocks per thread so the dynamic split evens out, at
// most 512 rows (1 MiB of a 1024-wide F16 weight: blocks of 64 rows, 128 KiB,
// had the two threads of a 2-core Zen 1 reading interleaved small runs of the
// lm_head and get 10-15 % less of the memory bandwidth); with more (prefill) multiples of the GEMM tile's width (4
// rows with AVX-512, 3 with AVX2) filling a panel, with enough blocks to
// balance the threads: a block's leftover rows would take the one-row dot
// kernel for every row of x.
func (j *matmulJob) add(w *tensor, out []float32, n, threads int) {
	o, k := w.rows, j.k
	var rowsPer int
	if smallBatch(n, w.dt) {
		rowsPer = smallBatchRows(o, threads)
	} else if n == 1 {
		rowsPer = (o + 8*threads - 1) / (8 * threads)
		rowsPer = min(512, max(4, (rowsPer+3)&^3))
	} else {
		rowsPer = max(1, min(64, matmulPanelFloats/k))
		rowsPer = max(1, min(rowsPer, (o+4*threads-1)/(4*threads)))
		if tile := gemmTileCols(); rowsPer > tile {
			rowsPer -= rowsPer % tile
		}
	}
	j.parts[j.nparts] = matmulPart{w: w, out: out, o: o, rowsPer: rowsPer, first: j.tasks}
	j.nparts++
	j.tasks += (o + rowsPer - 1) / rowsPer
}

func (j *matmulJob) run(worker, t int) {
	p := &j.parts[0]
	for i := 1; i < j.nparts && t >= j.parts[i].first; i++ {
		p = &j.parts[i]
	}
	b := t - p.first
	j0 := b * p.rowsPer
	j1 := min(j0+p.rowsPer, p.o)
	sc := &j.d.scratch[worker]
	j.block(p.out[j0:], p.o, p.w, j0, j1, sc)
	if j.up == nil {
		return
	}
	// SwiGLU: the same block of up into scratch, then out = silu(out)·up.
	m := j1 - j0
	u := sc.floats2(j.n * m)
	j.block(u, m, j.up, j0, j1, sc)
	for i := range j.n {
		o := p.out[i*p.o+j0 : i*p.o+j1]
		siluMulF32(o, o, u[i*m:i*m+m])
	}
}

// block computes out[i*ldo + c] = x[i] · w[j0+c] for c < j1-j0 and every row i.
func (j *matmulJob) block(out []float32, ldo int, w *tensor, j0, j1 int, sc *scratch) {
	k := j.k
	if j.n == 1 {
		out, x := out[:j1-j0], j.x[:k]
		switch {
		case w.dt == device.F32:
			dotRowsF32(out, x, w.f32[j0*k:j1*k], k)
		case j.xs != nil && w.dt == device.BF16:
			dotRowsDPBF16(out, j.xs, w.u16[j0*k:j1*k], k, k)
		default:
			dotRows16(out, x, w.u16[j0*k:j1*k], k, w.dt == device.BF16)
		}
		return
	}
	if smallBatch(j.n, w.dt) {
		dotBatch16(out, ldo, j.x, k, j.n, w.u16[j0*k:j1*k], k, k, j1-j0, w.dt == device.BF16, sc)
		return
	}
	var panel []float32
	if w.dt == device.F32 {
		panel = w.f32[j0*k : j1*k]
	} else {
		panel = sc.floats((j1 - j0) * k)
		decode16(panel, w.u16[j0*k:j1*k], w.dt == device.BF16)
	}
	gemmF32(out, ldo, j.x, k, j.n, panel, j1-j0, k)
}
