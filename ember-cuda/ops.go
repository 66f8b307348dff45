package cuda

import (
	"math"

	"github.com/ember-infer/ember/ember-core/device"
)

// The ops of device.Ops, with the operand checks shared with the CPU
// reference (ember-core/device's Check functions). Each validates on the
// host, then adds its launches to the device's segment; launch geometry comes
// from geometry.go. Results match the CPU backend within the tolerances
// `ember gpu-check` states per op.

// begin locks the device for an op.
func (d *Device) begin(op string) error {
	d.mu.Lock()
	if err := d.usable(op); err != nil {
		d.mu.Unlock()
		return err
	}
	return nil
}

func (d *Device) fn(name string) uint64 { return d.phys.mods.kernel(name) }

// fnDT returns kernel f_<storage of dt>, e.g. rmsnorm_bf16 for famRMSNorm.
func (d *Device) fnDT(f family, dt device.DType) uint64 { return d.phys.mods.hotDT(f, dt) }

// Embedding gathers out[i] = table[ids[i]] for table [vocab, hidden] of any
// float dtype, ids I32 with n entries and out F32 [n, hidden]. The ids live on
// the device, so an id outside the table is reported by the next Sync or
// Download (its row is left unchanged).
func (d *Device) Embedding(out, table, ids device.Tensor) error {
	const op = "Embedding"
	if err := d.begin(op); err != nil {
		return err
	}
	defer d.mu.Unlock()
	ot, err := d.operand(op, "out", out, device.OnlyF32, true)
	if err != nil {
		return err
	}
	tt, err := d.operand(op, "table", table, device.AnyFloat, false)
	if err != nil {
		return err
	}
	it, err := d.operand(op, "ids", ids, device.OnlyI32, false)
	if err != nil {
		return err
	}
	if err := device.CheckEmbedding(ot.Operand(), tt.Operand(), it.Operand()); err != nil {
		return d.fail(op, err)
	}
	n, hidden := it.elems(), tt.cols
	if n == 0 || hidden == 0 {
		return nil
	}
	return d.issue(stepRows(n), func(s *segment) {
		k := s.launch(d.fnDT(famEmbedding, tt.dt), dim3{uint32(n), 1, 1}, dim3{blockRow, 1, 1}, 0)
		k.tensor(ot).tensor(tt).tensor(it).i32(hidden).i32(tt.rows).ptr(d.errFlag.ptr).done()
	})
}

// RMSNorm computes out[i] = x[i] / sqrt(mean(x[i]²) + eps) * w for each row of
// x (F32 [n, d]), with w [d] of any float dtype. out may alias x.
func (d *Device) RMSNorm(out, x, w device.Tensor, eps float32) error {
	const op = "RMSNorm"
	if err := d.begin(op); err != nil {
		return err
	}
	defer d.mu.Unlock()
	ot, xt, wt, err := d.normOperands(op, out, x, w)
	if err != nil {
		return err
	}
	if xt.rows == 0 || xt.cols == 0 {
		return nil
	}
	if rt := d.foldAdd(ot, xt); rt != nil { // the residual add just issued, folded in
		return d.issue(stepRows(xt.rows), func(s *segment) {
			k := s.launch(d.fnDT(famAddRMSNorm, wt.dt), dim3{uint32(xt.rows), 1, 1}, dim3{blockRow, 1, 1}, 0)
			k.tensor(ot).tensor(xt).tensor(rt).tensor(wt).i32(xt.cols).f32(eps).done()
		})
	}
	return d.issue(stepRows(xt.rows), func(s *segment) {
		k := s.launch(d.fnDT(famRMSNorm, wt.dt), dim3{uint32(xt.rows), 1, 1}, dim3{blockRow, 1, 1}, 0)
		k.tensor(ot).tensor(xt).tensor(wt).i32(xt.cols).f32(eps).done()
	})
}

func (d *Device) normOperands(op string, out, x, w device.Tensor) (ot, xt, wt *tensor, err error) {
	if ot, err = d.operand(op, "out", out, device.OnlyF32, true); err != nil {
		return
	}
	if xt, err = d.operand(op, "x", x, device.OnlyF32, false); err != nil {
		return
	}
	if wt, err = d.operand(op, "w", w, device.AnyFloat, false); err != nil {
		return
	}
	if err = device.CheckRMSNorm(ot.Operand(), xt.Operand(), wt.Operand()); err != nil {
		err = d.fail(op, err)
	}
	return
}

// AddRMSNorm is the residual add fused with the next RMSNorm: x += r, then
// out = RMSNorm(x) * w, in one pass over each row. x and r are F32 [n, d]; out
// may alias r but not x. It is not part of device.Ops: the model can use it
// where a device offers it.
func (d *Device) AddRMSNorm(out, x, r, w device.Tensor, eps float32) error {
	const op = "AddRMSNorm"
	if err := d.begin(op); err != nil {
		return err
	}
	defer d.mu.Unlock()
	if _, err := d.operand(op, "x", x, device.OnlyF32, true); err != nil {
		return err
	}
	ot, xt, wt, err := d.normOperands(op, out, x, w)
	if err != nil {
		return err
	}
	rt, err := d.operand(op, "r", r, device.OnlyF32, false)
	if err != nil {
		return err
	}
	if rt.rows != xt.rows || rt.cols != xt.cols {
		return d.errorf(op, "r is %v but x is %v; they must have the same rows and columns", rt, xt)
	}
	if o, x, r := ot.Operand(), xt.Operand(), rt.Operand(); device.Overlaps(o, x) || device.PartlyOverlaps(o, r) || device.Overlaps(x, r) {
		return d.errorf(op, "out %v may alias r only, and x %v may not alias r", ot, xt)
	}
	if xt.rows == 0 || xt.cols == 0 {
		return nil
	}
	return d.issue(stepRows(xt.rows), func(s *segment) {
		k := s.launch(d.fnDT(famAddRMSNorm, wt.dt), dim3{uint32(xt.rows), 1, 1}, dim3{blockRow, 1, 1}, 0)
		k.tensor(ot).tensor(xt).tensor(rt).tensor(wt).i32(xt.cols).f32(eps).done()
	})
}

// HeadRMSNorm applies RMSNorm with weight w [headDim] to every headDim-wide
// slice of each row of x (F32), in place: Qwen3's q_norm and k_norm.
func (d *Device) HeadRMSNorm(x, w device.Tensor, headDim int, eps float32) error {
	const op = "HeadRMSNorm"
	if err := d.begin(op); err != nil {
		return err
	}
	defer d.mu.Unlock()
	xt, err := d.operand(op, "x", x, device.OnlyF32, true)
	if err != nil {
		return err
	}
	wt, err := d.operand(op, "w", w, device.AnyFloat, false)
	if err != nil {
		return err
	}
	if err := device.CheckHeadRMSNorm(xt.Operand(), wt.Operand(), headDim); err != nil {
		return d.fail(op, err)
	}
	slices := xt.elems() / headDim
	if slices == 0 {
		return nil
	}
	return d.issue(stepRows(xt.rows), func(s *segment) {
		grid := dim3{uint32((slices + warpsHeadNorm - 1) / warpsHeadNorm), 1, 1}
		k := s.launch(d.fnDT(famHeadRMSNorm, wt.dt), grid, dim3{32 * warpsHeadNorm, 1, 1}, 0)
		k.tensor(xt).tensor(wt).i64(int64(slices)).i32(headDim).f32(eps).done()
		if xt.rows == 1 {
			s.describe(k.op, fusable{kind: fuseHeadNorm, a: xt, b: wt, hd: headDim, eps: eps})
		}
	})
}

// MatMul computes out [n, o] = x [n, k] · wᵀ for w [o, k] (F32, F16 or BF16).
// A few rows (a decode step) go to the GEMV kernel or cuBLAS, whichever the
// device measured faster for the shape (EMBER_DECODE_GEMM=gemv|cublas forces
// one); more rows go to cublasGemmEx with f32 accumulation, x first converted
// to w's type since GemmEx takes both operands in one type.
func (d *Device) MatMul(out, x, w device.Tensor) error {
	return d.matMul("MatMul", out, x, w, pathAuto)
}

// MatMulPath picks how MatMulWith computes.
type MatMulPath int

// The matmul paths.
const (
	pathAuto   MatMulPath = iota
	PathGEMV              // the GEMV kernel (at most GEMVMaxRows rows)
	PathCUBLAS            // cublasGemmEx
)

// MatMulWith is MatMul on a chosen path, for benchmarks and checks.
func (d *Device) MatMulWith(out, x, w device.Tensor, path MatMulPath) error {
	return d.matMul("MatMulWith", out, x, w, path)
}

func (d *Device) matMul(op string, out, x, w device.Tensor, path MatMulPath) error {
	if err := d.begin(op); err != nil {
		return err
	}
	defer d.mu.Unlock()
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
	if !matMulOK(ct, xt, wt) {
		if err := device.CheckMatMul(ct.Operand(), xt.Operand(), wt.Operand()); err != nil {
			return d.fail(op, err)
		}
	}
	n, k, o := xt.rows, xt.cols, wt.rows
	if n == 0 || o == 0 {
		return nil
	}
	if k == 0 {
		return d.issue(stepRows(n), func(s *segment) { s.add(opZero(ct)) })
	}
	if path == PathGEMV && n > gemvMaxRows {
		return d.errorf(op, "the GEMV path takes at most %d rows, not %d", gemvMaxRows, n)
	}
	if path == pathAuto {
		path = PathCUBLAS
		if n <= gemvMaxRows {
			if path, err = d.decodePath(wt, o, k, n); err != nil {
				return err
			}
		}
	}
	if path == PathGEMV {
		if f := d.foldGEMV(ct, xt, wt); f != nil {
			return d.issue(stepRows(n), func(s *segment) { d.gemvSets(s, f) })
		}
		return d.issue(stepRows(n), func(s *segment) { d.gemv(s, ct, xt, wt) })
	}
	return d.gemm(ct, xt, wt, stepRows(n))
}

// matMulOK is exactly what device.CheckMatMul accepts, decided on the
// tensors themselves: building three Operands for it cost a decode step some
// 20 µs of host time over its 250 matmuls. false sends the operands to
// CheckMatMul for its sentence.
func matMulOK(out, x, w *tensor) bool {
	return w.cols == x.cols && out.rows == x.rows && out.cols == w.rows && apart(out, x) && apart(out, w)
}

// MatMulQKV is a = x·waᵀ, b = x·wbᵀ, c = x·wcᵀ (device.QKVProjector). A decode
// step whose three weights all take the 16-byte GEMV goes out as the one
// gemv16x3 launch the three MatMuls would fold into, packed once; anything
// else runs as the three MatMuls (which fold what they can).
func (d *Device) MatMulQKV(a, b, c, x, wa, wb, wc device.Tensor) error {
	const op = "MatMulQKV"
	if err := d.begin(op); err != nil {
		return err
	}
	done, err := d.matMulQKVLocked(op, a, b, c, x, wa, wb, wc)
	d.mu.Unlock()
	if done || err != nil {
		return err
	}
	return firstErr(d.MatMul(a, x, wa), d.MatMul(b, x, wb), d.MatMul(c, x, wc))
}

func (d *Device) matMulQKVLocked(op string, a, b, c, x, wa, wb, wc device.Tensor) (bool, error) {
	var f fusable
	var err error
	// One operand at a time: a table of destinations would move f to the heap.
	if f.outs[0], err = d.operand(op, "a", a, device.OnlyF32, true); err != nil {
		return false, err
	}
	if f.outs[1], err = d.operand(op, "b", b, device.OnlyF32, true); err != nil {
		return false, err
	}
	if f.outs[2], err = d.operand(op, "c", c, device.OnlyF32, true); err != nil {
		return false, err
	}
	if f.x, err = d.operand(op, "x", x, device.OnlyF32, false); err != nil {
		return false, err
	}
	if f.ws[0], err = d.operand(op, "wa", wa, device.AnyFloat, false); err != nil {
		return false, err
	}
	if f.ws[1], err = d.operand(op, "wb", wb, device.AnyFloat, false); err != nil {
		return false, err
	}
	if f.ws[2], err = d.operand(op, "wc", wc, device.AnyFloat, false); err != nil {
		return false, err
	}
	ok := apart(f.outs[0], f.outs[1]) && apart(f.outs[0], f.outs[2]) && apart(f.outs[1], f.outs[2])
	for i := range 3 {
		ok = ok && matMulOK(f.outs[i], f.x, f.ws[i])
	}
	if !ok {
		err := device.CheckMatMulQKV(f.outs[0].Operand(), f.outs[1].Operand(), f.outs[2].Operand(), f.x.Operand(),
			f.ws[0].Operand(), f.ws[1].Operand(), f.ws[2].Operand())
		if err != nil {
			return false, d.fail(op, err)
		}
	}
	n, k := f.x.rows, f.x.cols
	if !stepRows(n) || k == 0 {
		return false, nil
	}
	for i, w := range f.ws {
		if w.rows == 0 || w.dt != f.ws[0].dt || !gemvFused(f.x, w) || !apart(f.outs[i], f.x) {
			return false, nil
		}
		path, err := d.decodePath(w, w.rows, k, n)
		if err != nil || path != PathGEMV {
			return false, err
		}
	}
	f.kind, f.sets = fuseGEMV, 3
	d.folded[0] = f
	return true, d.issue(true, func(s *segment) { d.gemvSets(s, &d.folded[0]) })
}

// MatMulSwiGLU is out = silu(x·gateᵀ) ⊙ (x·upᵀ) (device.SwiGLUProjector). A
// decode step whose two weights take the 16-byte GEMV is the one gemv16_glu
// launch that MatMul, MatMul and SiLUMul fold into, packed once (the up
// projection goes to scratch on its way, or nowhere without one); anything
// else runs MatMul(out, x, gate), MatMul(scratch, x, up) and
// SiLUMul(out, out, scratch), and so needs scratch.
func (d *Device) MatMulSwiGLU(out, x, gate, up, scratch device.Tensor) error {
	const op = "MatMulSwiGLU"
	if err := d.begin(op); err != nil {
		return err
	}
	done, err := d.matMulSwiGLULocked(op, out, x, gate, up, scratch)
	d.mu.Unlock()
	if done || err != nil {
		return err
	}
	return firstErr(d.MatMul(out, x, gate), d.MatMul(scratch, x, up), d.SiLUMul(out, out, scratch))
}

func (d *Device) matMulSwiGLULocked(op string, out, x, gate, up, scratch device.Tensor) (bool, error) {
	var f fusable
	var err error
	var ot, st *tensor
	if ot, err = d.operand(op, "out", out, device.OnlyF32, true); err != nil {
		return false, err
	}
	if f.x, err = d.operand(op, "x", x, device.OnlyF32, false); err != nil {
		return false, err
	}
	if f.ws[0], err = d.operand(op, "gate", gate, device.AnyFloat, false); err != nil {
		return false, err
	}
	if f.ws[1], err = d.operand(op, "up", up, device.AnyFloat, false); err != nil {
		return false, err
	}
	wg, wu := f.ws[0], f.ws[1]
	if wg.rows != wu.rows || wg.cols != wu.cols || !matMulOK(ot, f.x, wg) || !matMulOK(ot, f.x, wu) {
		if err := device.CheckMatMulSwiGLU(ot.Operand(), f.x.Operand(), wg.Operand(), wu.Operand()); err != nil {
			return false, d.fail(op, err)
		}
	}
	if scratch != nil {
		if st, err = d.operand(op, "scratch", scratch, device.OnlyF32, true); err != nil {
			return false, err
		}
		if st.rows != ot.rows || st.cols != ot.cols || !apart(st, ot) || !apart(st, f.x) {
			return false, d.errorf(op, "scratch is %v but out is %v; it must have out's shape and share no memory with out or x", st, ot)
		}
	}
	n, k, o := f.x.rows, f.x.cols, wg.rows
	if n == 0 || o == 0 {
		return true, nil
	}
	fused := stepRows(n) && k > 0 && wg.dt == wu.dt && gemvFused(f.x, wg) && gemvFused(f.x, wu)
	if fused {
		path, err := d.decodePath(wg, o, k, n)
		if err != nil {
			return false, err
		}
		fused = path == PathGEMV
	}
	if !fused {
		if st == nil {
			return false, d.errorf(op, "x %v runs unfused here, and the up projection needs a scratch tensor; scratch is nil", f.x)
		}
		return false, nil
	}
	f.outs[0], f.outs[1] = ot, ot
	if st != nil {
		f.outs[1] = st
	}
	return true, d.glu(ot, &f)
}

func opZero(t *tensor) op { return op{kind: opMemset, dst: t.ptr, bytes: t.size()} }

func (d *Device) gemv(s *segment, ct, xt, wt *tensor) {
	n, k, o := xt.rows, xt.cols, wt.rows
	fn := d.fnDT(famGEMV, wt.dt)
	if gemv16OK(k, wt.ptr, xt.ptr, wt.dt != device.F32) {
		fn = d.fnDT(gemvWide(famGEMV16, n), wt.dt)
	}
	kk := s.launch(fn, gemvGrid(o), dim3{32 * gemvWarps, 1, 1}, 0)
	kk.tensor(ct).tensor(xt).tensor(wt).i32(n).i32(o).i32(k).done()
	if gemvFused(xt, wt) {
		s.describe(kk.op, fusable{kind: fuseGEMV, x: xt, outs: [3]*tensor{ct}, ws: [3]*tensor{wt}, sets: 1})
	}
}

// gemvSets issues the GEMVs of f (two or three of the same x) as one gemv16x3.
func (d *Device) gemvSets(s *segment, f *fusable) {
	var blocks uint32
	for i := range f.sets {
		blocks += gemvGrid(f.ws[i].rows)[0]
	}
	kk := s.launch(d.fnDT(gemvWide(famGEMV16x3, f.x.rows), f.ws[0].dt), dim3{blocks, 1, 1}, dim3{32 * gemvWarps, 1, 1}, 0)
	for i := range 3 {
		if i < f.sets {
			kk.tensor(f.outs[i]).tensor(f.ws[i]).i32(f.ws[i].rows)
		} else {
			kk.ptr(0).ptr(0).i32(0)
		}
	}
	kk.tensor(f.x).i32(f.x.rows).i32(f.x.cols).done()
	s.describe(kk.op, *f)
}

// gemm issues out = x · wᵀ through cuBLAS.
func (d *Device) gemm(ct, xt, wt *tensor, step bool) error {
	n, k, o := xt.rows, xt.cols, wt.rows
	b := xt.ptr
	if wt.dt != device.F32 {
		need := int64(n) * int64(k) * 2
		if err := d.scratch(&d.gemmIn, need, "the matmul input in "+wt.dt.String()); err != nil {
			return err
		}
		b = d.gemmIn.ptr
	}
	return d.issue(step, func(s *segment) {
		if wt.dt != device.F32 {
			cnt := int64(n) * int64(k)
			kk := s.launch(d.fnDT(famConvertF32, wt.dt), gridFor(cnt, blockElementwise), dim3{blockElementwise, 1, 1}, 0)
			kk.ptr(b).tensor(xt).i64(cnt).done()
		}
		s.add(gemmOp(uint64(uintptrOfHandle(d.blas)), rowMajorXWt(n, o, k), wt.ptr, b, ct.ptr, wt.dt))
	})
}

// GemmPlain runs cublasGemmEx on operands already in w's type: out = x · wᵀ
// with x in w's dtype. It is the "plain cuBLAS" the gpu-check benchmark
// compares the prefill path (conversion included) against.
func (d *Device) GemmPlain(out, x, w device.Tensor) error {
	const op = "GemmPlain"
	if err := d.begin(op); err != nil {
		return err
	}
	defer d.mu.Unlock()
	ct, err := d.operand(op, "out", out, device.OnlyF32, true)
	if err != nil {
		return err
	}
	wt, err := d.operand(op, "w", w, device.AnyFloat, false)
	if err != nil {
		return err
	}
	xt, err := d.operand(op, "x", x, device.AnyFloat, false)
	if err != nil {
		return err
	}
	if xt.dt != wt.dt || xt.cols != wt.cols || ct.rows != xt.rows || ct.cols != wt.rows {
		return d.errorf(op, "out %v = x %v · wᵀ %v needs x in w's dtype and matching shapes", ct, xt, wt)
	}
	return d.issue(false, func(s *segment) {
		s.add(gemmOp(uint64(uintptrOfHandle(d.blas)), rowMajorXWt(xt.rows, wt.rows, wt.cols), wt.ptr, xt.ptr, ct.ptr, wt.dt))
	})
}

// RoPE rotates each headDim-wide slice of each row of x (F32) in place, NeoX
// style, row i at position pos[i] (I32), with frequencies theta^(-2j/headDim).
func (d *Device) RoPE(x device.Tensor, headDim int, pos device.Tensor, theta float64) error {
	const op = "RoPE"
	if err := d.begin(op); err != nil {
		return err
	}
	defer d.mu.Unlock()
	xt, err := d.operand(op, "x", x, device.OnlyF32, true)
	if err != nil {
		return err
	}
	pt, err := d.operand(op, "pos", pos, device.OnlyI32, false)
	if err != nil {
		return err
	}
	if err := device.CheckRoPE(xt.Operand(), pt.Operand(), headDim, theta); err != nil {
		return d.fail(op, err)
	}
	if xt.elems() == 0 {
		return nil
	}
	inv, err := d.ropeTable(headDim, theta)
	if err != nil {
		return err
	}
	total := int64(xt.rows) * int64(xt.cols/2)
	return d.issue(stepRows(xt.rows), func(s *segment) {
		k := s.launch(d.fn("rope_neox_f32"), gridFor(total, blockElementwise), dim3{blockElementwise, 1, 1}, 0)
		k.tensor(xt).tensor(pt).ptr(inv).i32(xt.rows).i32(xt.cols).i32(headDim).done()
		if xt.rows == 1 && pt.elems() >= 1 {
			s.describe(k.op, fusable{kind: fuseRoPE, a: xt, b: pt, hd: headDim, inv: inv})
		}
	})
}

// ropeTable returns the device's RoPE frequencies for (headDim, theta),
// uploaded once: theta^(-2j/headDim) / 2π, the turns per position, as f32
// pairs (hi, lo) whose sum is the f64 value to about 2^-48 relative
// (rope.cu reduces the angle with them).
func (d *Device) ropeTable(headDim int, theta float64) (uint64, error) {
	key := ropeKey{headDim, theta}
	if b, ok := d.rope[key]; ok {
		return b.ptr, nil
	}
	b, err := d.internalAlloc(int64(8*headDim/2), "RoPE frequencies")
	if err != nil {
		return 0, err
	}
	if err := d.flush(); err != nil {
		return 0, err
	}
	table := ropeTurns(headDim, theta)
	err = d.upload(b.ptr, 8*headDim/2, func(buf []byte, off int) {
		for i := range len(buf) / 4 {
			putU32(buf[4*i:], math.Float32bits(table[off/4+i]))
		}
	}, false)
	if err != nil {
		return 0, err
	}
	d.rope[key] = b
	return b.ptr, nil
}

// ropeTurns returns, for j < headDim/2, theta^(-2j/headDim) / 2π split into
// f32 hi and lo parts: hi, lo, hi, lo, …
func ropeTurns(headDim int, theta float64) []float32 {
	out := make([]float32, headDim)
	for j := range headDim / 2 {
		r := math.Pow(theta, -float64(2*j)/float64(headDim)) / (2 * math.Pi)
		hi := float32(r)
		out[2*j], out[2*j+1] = hi, float32(r-float64(hi))
	}
	return out
}

// KVAppend writes k and v (F32 [n, kvDim]) into rows start … start+n-1 of the
// caches kc and vc ([ctx, kvDim], F32, F16 or BF16; narrowing rounds to
// nearest even).
func (d *Device) KVAppend(kc, vc, k, v device.Tensor, start int) error {
	const op = "KVAppend"
	if err := d.begin(op); err != nil {
		return err
	}
	defer d.mu.Unlock()
	kct, err := d.operand(op, "kc", kc, device.AnyFloat, true)
	if err != nil {
		return err
	}
	vct, err := d.operand(op, "vc", vc, device.AnyFloat, true)
	if err != nil {
		return err
	}
	kt, err := d.operand(op, "k", k, device.OnlyF32, false)
	if err != nil {
		return err
	}
	vt, err := d.operand(op, "v", v, device.OnlyF32, false)
	if err != nil {
		return err
	}
	// One kernel writes both caches, so they share a dtype.
	if err := device.CheckKVAppend(kct.Operand(), vct.Operand(), kt.Operand(), vt.Operand(), start, true); err != nil {
		return d.fail(op, err)
	}
	n, kvDim := kt.rows, kt.cols
	total := int64(n) * int64(kvDim)
	if total == 0 {
		return nil
	}
	if qn, kn, rope := d.foldQK(kct, vct, kt, vt); qn != nil {
		return d.issue(true, func(s *segment) {
			d.qkRoPEAppend(s, qkArgs{q: qn.a, k: kt, v: vt, kc: kct, vc: vct, qw: qn.b, kw: kn.b, pos: rope.b,
				inv: rope.inv, hd: qn.hd, eps: qn.eps, start: start})
		})
	}
	return d.issue(n == 1, func(s *segment) {
		kk := s.launch(d.fnDT(famKVAppend, kct.dt), gridFor(total, blockElementwise), dim3{blockElementwise, 1, 1}, 0)
		kk.tensor(kct).tensor(vct).tensor(kt).tensor(vt).i32(n).i32(kvDim).start(start).done()
	})
}

// Attention is causal grouped-query attention of the n queries in q (F32
// [n, heads*headDim]) at positions start … start+n-1 over cache rows
// 0 … start+n-1 of kc and vc. One query (decode) runs split-K over the cache
// in one attn_decode launch, a block per (KV head, split) serving all the
// group's query heads (the last block of each group to finish merges the
// group's splits); more run the chunked prefill kernel,
// which streams the cache through shared memory (on tensor cores where
// prefill.go's mmaPrefillOK allows).
func (d *Device) Attention(out, q, kc, vc device.Tensor, start, heads, kvHeads, headDim int) error {
	return d.attention("Attention", out, q, kc, vc, start, heads, kvHeads, headDim, prefillAuto)
}

func (d *Device) attention(op string, out, q, kc, vc device.Tensor, start, heads, kvHeads, headDim int, path PrefillPath) error {
	if err := d.begin(op); err != nil {
		return err
	}
	defer d.mu.Unlock()
	ot, err := d.operand(op, "out", out, device.OnlyF32, true)
	if err != nil {
		return err
	}
	qt, err := d.operand(op, "q", q, device.OnlyF32, false)
	if err != nil {
		return err
	}
	kct, err := d.operand(op, "kc", kc, device.AnyFloat, false)
	if err != nil {
		return err
	}
	vct, err := d.operand(op, "vc", vc, device.AnyFloat, false)
	if err != nil {
		return err
	}
	// The attention kernels read both caches as one type.
	if err := device.CheckAttention(ot.Operand(), qt.Operand(), kct.Operand(), vct.Operand(), start, heads, kvHeads, headDim, true); err != nil {
		return d.fail(op, err)
	}
	n := qt.rows
	if n == 0 {
		return nil
	}
	dpl, err := dimsPerLane(headDim)
	if err != nil {
		return d.errorf(op, "%v", err)
	}
	scale := float32(1 / math.Sqrt(float64(headDim)))
	if n > 1 {
		if ok, err := d.prefillMMA(op, ot, qt, kct, vct, start, heads, kvHeads, headDim, scale, path); ok {
			return err
		}
		grid, shmem := prefillGrid(n, heads, headDim)
		return d.issue(false, func(s *segment) {
			k := s.launch(d.phys.mods.attn[1][kct.dt][dplIndex(dpl)], grid, dim3{32 * prefillWarps, 1, 1}, shmem)
			k.tensor(ot).tensor(qt).tensor(kct).tensor(vct).i32(n).i32(heads).i32(kvHeads).i32(headDim).start(start).f32(scale).done()
		})
	}
	g := heads / kvHeads
	if g > maxGroup {
		return d.errorf(op, "%d query heads per KV head is more than the %d decode attention packs in a block", g, maxGroup)
	}
	warps := decodeBlock(g)
	bkt := bucket(start + 1)
	splits := attnSplits(bkt, kvHeads, d.phys.sms)
	if err := d.scratch(&d.attnPart, int64(heads)*maxSplits*int64(headDim+2)*4, "attention partials"); err != nil {
		return err
	}
	// A count per head of the splits done, which must start at 0; the
	// kernel sets it back after each use, so it is zeroed only when new
	// (told by the size: a buffer reallocated may come back at the same
	// address, holding anything).
	fresh := d.attnDone.bytes < int64(heads)*4
	if err := d.scratch(&d.attnDone, int64(heads)*4, "attention split counts"); err != nil {
		return err
	}
	if fresh {
		if err := d.zero(d.attnDone.ptr, uint64(d.attnDone.bytes)); err != nil {
			return err
		}
	}
	acc, done := d.attnPart.ptr, d.attnDone.ptr
	ml := acc + uint64(heads)*maxSplits*uint64(headDim)*4
	return d.issue(true, func(s *segment) {
		s.bucket = max(s.bucket, bkt)
		k := s.launch(d.phys.mods.attn[0][kct.dt][dplIndex(dpl)], dim3{uint32(kvHeads), uint32(splits), 1}, dim3{uint32(32 * warps), 1, 1}, decodeShmem(headDim, warps, dpl))
		k.tensor(ot).ptr(acc).ptr(ml).ptr(done).tensor(qt).tensor(kct).tensor(vct).i32(heads).i32(kvHeads).i32(headDim).start(start).f32(scale).done()
	})
}

// elementwise checks out, a and b for a same-size F32 elementwise op.
func (d *Device) elementwise(op string, out, a, b device.Tensor, an, bn string) (o, x, y *tensor, err error) {
	if o, err = d.operand(op, "out", out, device.OnlyF32, true); err != nil {
		return
	}
	if x, err = d.operand(op, an, a, device.OnlyF32, false); err != nil {
		return
	}
	if y, err = d.operand(op, bn, b, device.OnlyF32, false); err != nil {
		return
	}
	if err = device.CheckElementwise(o.Operand(), x.Operand(), y.Operand(), an, bn); err != nil {
		err = d.fail(op, err)
	}
	return
}

// SiLUMul computes out = silu(gate) · up elementwise; out may alias gate or up.
func (d *Device) SiLUMul(out, gate, up device.Tensor) error {
	return d.binary("SiLUMul", "silu_mul_f32", out, gate, up, "gate", "up")
}

// glu issues SiLUMul(out, gate, up) with the GEMVs of gate and up (f) as one
// gemv16_glu.
func (d *Device) glu(out *tensor, f *fusable) error {
	x, wg, wu := f.x, f.ws[0], f.ws[1]
	return d.issue(stepRows(x.rows), func(s *segment) {
		k := s.launch(d.fnDT(gemvWide(famGEMV16GLU, x.rows), wg.dt), gemvGrid(wg.rows), dim3{32 * gemvWarps, 1, 1}, 0)
		k.tensor(out).tensor(f.outs[0]).tensor(f.outs[1]).tensor(wg).tensor(wu).tensor(x).i32(x.rows).i32(wg.rows).i32(x.cols).done()
	})
}

// Add computes out = a + b elementwise; out may alias a or b.
func (d *Device) Add(out, a, b device.Tensor) error {
	return d.binary("Add", "add_f32", out, a, b, "a", "b")
}

func (d *Device) binary(op, kernel string, out, a, b device.Tensor, an, bn string) error {
	if err := d.begin(op); err != nil {
		return err
	}
	defer d.mu.Unlock()
	ot, at, bt, err := d.elementwise(op, out, a, b, an, bn)
	if err != nil {
		return err
	}
	n := int64(ot.elems())
	if n == 0 {
		return nil
	}
	if kernel == "silu_mul_f32" {
		if f := d.foldGLU(ot, at, bt); f != nil {
			return d.glu(ot, f)
		}
	}
	return d.issue(stepRows(ot.rows), func(s *segment) {
		k := s.launch(d.fn(kernel), gridFor(n, blockElementwise), dim3{blockElementwise, 1, 1}, 0)
		k.tensor(ot).tensor(at).tensor(bt).i64(n).done()
		if kernel == "add_f32" && stepRows(ot.rows) {
			s.describe(k.op, fusable{kind: fuseAdd, out: ot, a: at, b: bt})
		}
	})
}

// ArgMax writes, for each row of x (F32 [n, d]), the index of its largest
// value into out (I32 with n entries): the first on ties; NaN never wins; -1
// for a row of NaNs.
func (d *Device) ArgMax(out, x device.Tensor) error {
	const op = "ArgMax"
	if err := d.begin(op); err != nil {
		return err
	}
	defer d.mu.Unlock()
	ot, err := d.operand(op, "out", out, device.OnlyI32, true)
	if err != nil {
		return err
	}
	xt, err := d.operand(op, "x", x, device.OnlyF32, false)
	if err != nil {
		return err
	}
	if err := device.CheckArgMax(ot.Operand(), xt.Operand()); err != nil {
		return d.fail(op, err)
	}
	if xt.rows == 0 {
		return nil
	}
	return d.issue(stepRows(xt.rows), func(s *segment) {
		k := s.launch(d.fn("argmax_rows_f32"), dim3{uint32(xt.rows), 1, 1}, dim3{blockSelect, 1, 1}, 0)
		k.tensor(ot).tensor(xt).i32(xt.cols).done()
	})
}

// TopK writes the k largest values of each row of x (F32 [n, d]) in
// descending order into vals (F32 [n, k]) and their indices into idx (I32
// [n, k]); ties rank by lower index, NaN below every number. It makes k passes
// over each row, which suits sampling's small k.
func (d *Device) TopK(vals, idx, x device.Tensor, k int) error {
	const op = "TopK"
	if err := d.begin(op); err != nil {
		return err
	}
	defer d.mu.Unlock()
	vt, err := d.operand(op, "vals", vals, device.OnlyF32, true)
	if err != nil {
		return err
	}
	it, err := d.operand(op, "idx", idx, device.OnlyI32, true)
	if err != nil {
		return err
	}
	xt, err := d.operand(op, "x", x, device.OnlyF32, false)
	if err != nil {
		return err
	}
	if err := device.CheckTopK(vt.Operand(), it.Operand(), xt.Operand(), k); err != nil {
		return d.fail(op, err)
	}
	n, c := xt.rows, xt.cols
	if n == 0 {
		return nil
	}
	return d.issue(stepRows(n), func(s *segment) {
		kk := s.launch(d.fn("topk_rows_f32"), dim3{uint32(n), 1, 1}, dim3{blockSelect, 1, 1}, 0)
		kk.tensor(vt).tensor(it).tensor(xt).i32(c).i32(k).done()
	})
}

// LogSumExp writes log Σ_j exp(x[i][j]) of each row of x (F32 [n, d]) into
// out (F32 with n entries), implementing device.LogSumExper: exponentials in
// f32 relative to the row's largest number, summed in f64, as the CPU backend
// computes them. NaN entries weigh nothing; a row of -Inf and NaN gives -Inf,
// a row holding +Inf gives +Inf.
func (d *Device) LogSumExp(out, x device.Tensor) error {
	const op = "LogSumExp"
	if err := d.begin(op); err != nil {
		return err
	}
	defer d.mu.Unlock()
	ot, err := d.operand(op, "out", out, device.OnlyF32, true)
	if err != nil {
		return err
	}
	xt, err := d.operand(op, "x", x, device.OnlyF32, false)
	if err != nil {
		return err
	}
	if ot.elems() != xt.rows {
		return d.errorf(op, "out is %v but x %v has %d rows; out needs one value per row", ot, xt, xt.rows)
	}
	if device.Overlaps(ot.Operand(), xt.Operand()) {
		return d.errorf(op, "out %v may not overlap x %v", ot, xt)
	}
	if xt.rows == 0 {
		return nil
	}
	return d.issue(stepRows(xt.rows), func(s *segment) {
		k := s.launch(d.fn("logsumexp_rows_f32"), dim3{uint32(xt.rows), 1, 1}, dim3{blockSelect, 1, 1}, 0)
		k.tensor(ot).tensor(xt).i32(xt.cols).done()
	})
}

// SampleSorted draws one token into out (I32 [1]) from the k candidates of
// TopK's first row (vals F32, idx I32, best first): logits divided by temp,
// then top-p (0 or 1: off) and min-p (0: off) as the host sampler applies
// them, then the draw with u, a uniform number in [0, 1) from the host's
// seeded generator. With TopK it keeps sampled decode on the device: only the
// token id is copied back. It is not part of device.Ops.
func (d *Device) SampleSorted(out, vals, idx device.Tensor, temp, topP, minP float32, u float64) error {
	const op = "SampleSorted"
	if err := d.begin(op); err != nil {
		return err
	}
	defer d.mu.Unlock()
	ot, err := d.operand(op, "out", out, device.OnlyI32, true)
	if err != nil {
		return err
	}
	vt, err := d.operand(op, "vals", vals, device.OnlyF32, false)
	if err != nil {
		return err
	}
	it, err := d.operand(op, "idx", idx, device.OnlyI32, false)
	if err != nil {
		return err
	}
	if ot.elems() < 1 || vt.cols != it.cols || vt.cols < 1 {
		return d.errorf(op, "out %v, vals %v and idx %v: want out [1] and candidates of one width", ot, vt, it)
	}
	if !(temp > 0) || !(u >= 0 && u < 1) {
		return d.errorf(op, "temperature %v must be positive and u %v in [0, 1)", temp, u)
	}
	// u changes every step, and a graph's key includes every argument but
	// positions: inside the step's segment it would make each step's key new
	// and nothing would ever be captured. The draw therefore ends the segment
	// (which may replay as a graph) and launches on its own.
	if err := d.flush(); err != nil {
		return err
	}
	return d.issue(false, func(s *segment) {
		k := s.launch(d.fn("sample_sorted_f32"), dim3{1, 1, 1}, dim3{32, 1, 1}, 0)
		k.tensor(ot).tensor(vt).tensor(it).i32(vt.cols).f32(temp).f32(topP).f32(minP).f64(u).done()
	})
}

// FillUniform overwrites t (any float dtype, weights included) with values
// uniform in [offset-scale, offset+scale), deterministic in seed: how the
// gpu-check benchmark makes multi-GB weights without uploading them.
func (d *Device) FillUniform(t device.Tensor, seed uint64, offset, scale float32) error {
	const op = "FillUniform"
	if err := d.begin(op); err != nil {
		return err
	}
	defer d.mu.Unlock()
	tt, err := d.operand(op, "t", t, device.AnyFloat, false)
	if err != nil {
		return err
	}
	n := int64(tt.elems())
	if n == 0 {
		return nil
	}
	return d.issue(false, func(s *segment) {
		k := s.launch(d.fnDT(famFillUniform, tt.dt), gridFor(n, blockElementwise), dim3{blockElementwise, 1, 1}, 0)
		k.tensor(tt).i64(n).u64(seed).f32(offset).f32(scale).done()
	})
}
