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
// worker's scratch, and a 4×3 register-tiled kernel multiplies every four x
// rows against it, three panel rows at a time, so the panel is read from L2
// n/4 times instead of n; with 2 to smallBatchMax rows over F16/BF16 weights
// (a batched decode step) dotBatch16 widens in registers and reads each block
// once for all rows instead (smallbatch.go). Every path sums an element in the same order (see
// kernels.go), so a row's result does not depend on n or on Threads.
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

	var rowsPer int
	if smallBatch(n, wt.dt) {
		rowsPer = smallBatchRows(o, d.threads)
	} else if n == 1 {
		// Multiples of 4 rows (the kernel's group), about eight blocks per
		// thread so the dynamic split evens out, at most 64 rows.
		rowsPer = (o + 8*d.threads - 1) / (8 * d.threads)
		rowsPer = min(64, max(4, (rowsPer+3)&^3))
	} else {
		// Multiples of 3 rows (the tile's width) filling a panel, with enough
		// blocks to balance the threads.
		rowsPer = max(1, min(64, matmulPanelFloats/k))
		rowsPer = max(1, min(rowsPer, (o+4*d.threads-1)/(4*d.threads)))
		if rowsPer > 3 {
			rowsPer -= rowsPer % 3
		}
	}
	d.jobs.matmul = matmulJob{d: d, x: xt.f32, out: ct.f32, w: wt, n: n, k: k, o: o, rowsPer: rowsPer}
	if n == 1 && wt.dt == device.BF16 && useDPBF16 {
		// Split x once for every worker; an x with an Inf or NaN takes the
		// widening kernel instead.
		xs := d.opBuf.halves(splitXLen(k))
		if splitX3(xs, xt.f32[:k]) {
			d.jobs.matmul.xs = xs
		}
	}
	d.pool.run((o+rowsPer-1)/rowsPer, &d.jobs.matmul)
	d.jobs.matmul = matmulJob{}
	return nil
}

// matmulJob is MatMul's parallel part: task b computes output columns
// [b*rowsPer, (b+1)*rowsPer) for every row.
type matmulJob struct {
	d       *Device
	x, out  []float32
	xs      []uint16 // x split for dotRowsDPBF16, or nil
	w       *tensor
	n, k, o int
	rowsPer int
}

func (j *matmulJob) run(worker, b int) {
	k, w := j.k, j.w
	j0 := b * j.rowsPer
	j1 := min(j0+j.rowsPer, j.o)
	if j.n == 1 {
		out, x := j.out[j0:j1], j.x[:k]
		switch {
		case w.dt == device.F32:
			dotRowsF32(out, x, w.f32[j0*k:j1*k], k)
		case j.xs != nil:
			dotRowsDPBF16(out, j.xs, w.u16[j0*k:j1*k], k, k)
		default:
			dotRows16(out, x, w.u16[j0*k:j1*k], k, w.dt == device.BF16)
		}
		return
	}
	if smallBatch(j.n, w.dt) {
		dotBatch16(j.out[j0:], j.o, j.x, k, j.n, w.u16[j0*k:j1*k], k, k, j1-j0, w.dt == device.BF16)
		return
	}
	var panel []float32
	if w.dt == device.F32 {
		panel = w.f32[j0*k : j1*k]
	} else {
		panel = j.d.scratch[worker].floats((j1 - j0) * k)
		decode16(panel, w.u16[j0*k:j1*k], w.dt == device.BF16)
	}
	gemmF32(j.out[j0:], j.o, j.x, k, j.n, panel, j1-j0, k)
}
