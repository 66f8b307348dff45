package cuda

import "github.com/ember-infer/ember/ember-core/device"

// Folding a decode step's ops into fewer launches. The model issues Qwen3's
// ops one by one; while a decode step collects in its segment, an op may take
// back the launches just before it and issue one kernel that computes what
// they and it would have computed, in the same order, so the results keep
// their bits:
//
//   - Add(x, x, r) then RMSNorm(out, x, w): add_rmsnorm (the residual add
//     that ends a layer, into the next layer's input norm);
//   - two or three GEMVs of the same x (q, k, v): one gemv16x3;
//   - the GEMVs of gate and up then SiLUMul: one gemv16_glu;
//   - HeadRMSNorm of q and k, RoPE of q and k, then KVAppend: one
//     qk_rope_append.
//
// An op describes itself in the segment's tail (describe) when a later op may
// fold it in; the fold checks the tail's last entries, their operands, and
// that no timing mark would come between (stage times stay where they were).
// Nothing folds across a flush, so only decode steps fold, with graphs or
// without (a describable op then waits for the next op before it launches).

type fuseKind int8

const (
	fuseAdd      fuseKind = iota + 1 // out = a + b
	fuseGEMV                         // outs[i] = x · ws[i]ᵀ, i < sets (gemv16 or gemv16x3)
	fuseHeadNorm                     // a = HeadRMSNorm(a, weight b), hd, eps
	fuseRoPE                         // a = RoPE(a, positions b), hd, table inv
)

// fusable describes one op of the segment's tail.
type fusable struct {
	kind             fuseKind
	idx              int    // ops[idx]
	argsOff, offsOff uint32 // where its arguments start in blob and offs
	out, a, b, x     *tensor
	outs, ws         [3]*tensor
	sets             int
	hd               int
	eps              float32
	inv              uint64
}

// A fold's result lives in Device.folded until the op issuing it has used it.

// maxTail bounds the ops a fold looks back over.
const maxTail = 4

// describe notes that o, the launch just added, may fold into a later op.
func (s *segment) describe(o op, f fusable) {
	f.idx, f.argsOff, f.offsOff = len(s.ops)-1, o.argsOff, o.offsOff
	s.described++
	if len(s.tail) == maxTail {
		copy(s.tail, s.tail[1:])
		s.tail = s.tail[:maxTail-1]
	}
	s.tail = append(s.tail, f)
}

// last returns the tail's last k entries when there are k and they are the
// segment's last ops.
func (s *segment) last(k int) []fusable {
	if len(s.tail) < k || s.tail[len(s.tail)-1].idx != len(s.ops)-1 {
		return nil
	}
	t := s.tail[len(s.tail)-k:]
	if t[0].idx != len(s.ops)-k {
		return nil
	}
	return t
}

// dropTail takes back the segment's last k ops, which last(k) returned. They
// have no positions (dyn): only KVAppend and Attention have, and neither is
// described.
func (s *segment) dropTail(k int) {
	f := s.tail[len(s.tail)-k]
	s.ops = s.ops[:f.idx]
	s.blob = s.blob[:f.argsOff]
	s.offs = s.offs[:f.offsOff]
	s.tail = s.tail[:len(s.tail)-k]
}

// same reports whether a and b are exactly the same memory.
func same(a, b *tensor) bool { return a.ptr == b.ptr && a.size() == b.size() }

// apart reports whether a and b share no memory.
func apart(a, b *tensor) bool { return a.ptr >= b.ptr+b.size() || b.ptr >= a.ptr+a.size() }

// foldAdd takes back the segment's last op when it is Add(x, x, r) and the
// RMSNorm(out, x, ·) about to be issued can absorb it as add_rmsnorm(out, x,
// r, ·), which computes the same sums in the same order; it returns r, or nil
// when the add stays as it is. The fold needs x written in place, r apart
// from x, and out either r itself or apart from both.
func (d *Device) foldAdd(out, x *tensor) *tensor {
	t := d.seg.last(1)
	if t == nil || t[0].kind != fuseAdd || d.wouldMark(stepRows(x.rows)) {
		return nil
	}
	f := t[0]
	if !same(f.out, x) || !same(f.a, x) || f.b.size() != x.size() || !apart(f.b, x) || !apart(out, x) ||
		!(same(out, f.b) || apart(out, f.b)) {
		return nil
	}
	d.seg.dropTail(1)
	return f.b
}

// gemvFused reports whether the 16-byte GEMV takes w with x.
func gemvFused(xt, wt *tensor) bool {
	return gemv16OK(wt.cols, wt.ptr, xt.ptr, wt.dt == device.BF16 || wt.dt == device.F16)
}

// foldGEMV takes back the segment's last op when it is a GEMV (or two) of
// the same x that out = x · wᵀ can join, and returns the sets to launch
// together; nil leaves it.
func (d *Device) foldGEMV(out, x, w *tensor) *fusable {
	t := d.seg.last(1)
	if t == nil || t[0].kind != fuseGEMV || t[0].sets == 3 || d.wouldMark(stepRows(x.rows)) || !gemvFused(x, w) {
		return nil
	}
	f := t[0]
	if !same(f.x, x) || f.x.rows != x.rows || f.ws[0].dt != w.dt || f.ws[0].cols != w.cols || !apart(out, x) {
		return nil
	}
	for i := range f.sets {
		if !apart(out, f.outs[i]) {
			return nil
		}
	}
	d.seg.dropTail(1)
	f.outs[f.sets], f.ws[f.sets] = out, w
	f.sets++
	d.folded[0] = f
	return &d.folded[0]
}

// foldGLU takes back the GEMVs of gate and up when SiLUMul(out, gate, up)
// follows them, and returns them; nil leaves them.
func (d *Device) foldGLU(out, gate, up *tensor) *fusable {
	t := d.seg.last(1)
	if t == nil || t[0].kind != fuseGEMV || t[0].sets != 2 || d.wouldMark(stepRows(gate.rows)) {
		return nil
	}
	f := t[0]
	if !same(f.outs[0], gate) || !same(f.outs[1], up) || f.ws[0].rows != f.ws[1].rows ||
		!(same(out, gate) || same(out, up) || (apart(out, gate) && apart(out, up) && apart(out, f.x))) {
		return nil
	}
	d.seg.dropTail(1)
	d.folded[0] = f
	return &d.folded[0]
}

// foldQK takes back HeadRMSNorm(q), HeadRMSNorm(k), RoPE(q), RoPE(k) when
// KVAppend(kc, vc, k, v) of that k follows them as the last ops of a decode
// step, and returns the norms and the first RoPE; nil leaves them.
func (d *Device) foldQK(kc, vc, k, v *tensor) (qn, kn, rope *fusable) {
	t := d.seg.last(4)
	if t == nil || t[0].kind != fuseHeadNorm || t[1].kind != fuseHeadNorm || t[2].kind != fuseRoPE ||
		t[3].kind != fuseRoPE || d.wouldMark(k.rows == 1) {
		return nil, nil, nil
	}
	q, hd := t[0].a, t[0].hd
	ok := k.rows == 1 && q.rows == 1 && v.rows == 1 && same(t[1].a, k) && same(t[2].a, q) && same(t[3].a, k) &&
		t[1].hd == hd && t[2].hd == hd && t[3].hd == hd && t[0].eps == t[1].eps && t[0].b.dt == t[1].b.dt &&
		same(t[2].b, t[3].b) && t[2].inv == t[3].inv && q.cols%hd == 0 && k.cols%hd == 0 && v.cols == k.cols &&
		apart(q, k) && apart(q, v) && apart(k, v)
	for _, c := range []*tensor{kc, vc} {
		ok = ok && apart(c, q) && apart(c, k) && apart(c, v)
	}
	if !ok {
		return nil, nil, nil
	}
	copy(d.folded[:], t[:3])
	d.seg.dropTail(4)
	return &d.folded[0], &d.folded[1], &d.folded[2]
}

// qkArgs are qk_rope_append's operands: one row of q, k and v, the caches,
// the norm weights, the position and the RoPE table.
type qkArgs struct {
	q, k, v, kc, vc, qw, kw, pos *tensor
	inv                          uint64
	hd                           int
	eps                          float32
	start                        int
}

// qkRoPEAppend launches qk_rope_append: a warp per query head, key head and
// value head normalizes (q, k), rotates (q, k) and stores (k, v) into the
// caches at start, with the bits of head_rmsnorm, rope_neox and kv_append.
func (d *Device) qkRoPEAppend(s *segment, a qkArgs) {
	heads, kvHeads := a.q.cols/a.hd, a.k.cols/a.hd
	grid := dim3{uint32((heads + 2*kvHeads + warpsHeadNorm - 1) / warpsHeadNorm), 1, 1}
	k := s.launch(d.phys.mods.qk[a.qw.dt][a.kc.dt], grid, dim3{32 * warpsHeadNorm, 1, 1}, 0)
	k.tensor(a.q).tensor(a.k).tensor(a.v).tensor(a.kc).tensor(a.vc).tensor(a.qw).tensor(a.kw).tensor(a.pos).ptr(a.inv).
		i32(heads).i32(kvHeads).i32(a.hd).f32(a.eps).start(a.start).done()
}

// QKRoPEAppend is HeadRMSNorm of q and k, RoPE of q and k at pos, and
// KVAppend of k and v at start (device.QKRoPEAppender): one qk_rope_append
// launch for a single row, which is a decode step's, so the host checks and
// packs one op where it would five. More rows, and rows the kernel cannot
// take (aliased operands, norm weights of two dtypes), run the five ops.
func (d *Device) QKRoPEAppend(q, k, v, qw, kw, pos, kc, vc device.Tensor, headDim int, eps float32, theta float64, start int) error {
	const op = "QKRoPEAppend"
	if err := d.begin(op); err != nil {
		return err
	}
	fused, err := d.qkRoPEAppendLocked(op, q, k, v, qw, kw, pos, kc, vc, headDim, eps, theta, start)
	d.mu.Unlock()
	if fused || err != nil {
		return err
	}
	return firstErr(
		d.HeadRMSNorm(q, qw, headDim, eps),
		d.HeadRMSNorm(k, kw, headDim, eps),
		d.RoPE(q, headDim, pos, theta),
		d.RoPE(k, headDim, pos, theta),
		d.KVAppend(kc, vc, k, v, start),
	)
}

// qkRoPEAppendLocked checks QKRoPEAppend's operands as its five ops would
// and issues the fused launch where it can; false (and no error) leaves the
// work to the five ops.
func (d *Device) qkRoPEAppendLocked(op string, q, k, v, qw, kw, pos, kc, vc device.Tensor, hd int, eps float32, theta float64, start int) (bool, error) {
	var a qkArgs
	var err error
	// One operand at a time: a table of destinations would move a to the heap.
	if a.q, err = d.operand(op, "q", q, device.OnlyF32, true); err != nil {
		return false, err
	}
	if a.k, err = d.operand(op, "k", k, device.OnlyF32, true); err != nil {
		return false, err
	}
	if a.v, err = d.operand(op, "v", v, device.OnlyF32, false); err != nil {
		return false, err
	}
	if a.qw, err = d.operand(op, "qw", qw, device.AnyFloat, false); err != nil {
		return false, err
	}
	if a.kw, err = d.operand(op, "kw", kw, device.AnyFloat, false); err != nil {
		return false, err
	}
	if a.pos, err = d.operand(op, "pos", pos, device.OnlyI32, false); err != nil {
		return false, err
	}
	if a.kc, err = d.operand(op, "kc", kc, device.AnyFloat, true); err != nil {
		return false, err
	}
	if a.vc, err = d.operand(op, "vc", vc, device.AnyFloat, true); err != nil {
		return false, err
	}
	qo, ko, po := a.q.Operand(), a.k.Operand(), a.pos.Operand()
	for _, e := range []error{
		device.CheckHeadRMSNorm(qo, a.qw.Operand(), hd),
		device.CheckHeadRMSNorm(ko, a.kw.Operand(), hd),
		device.CheckRoPE(qo, po, hd, theta),
		device.CheckRoPE(ko, po, hd, theta),
		device.CheckKVAppend(a.kc.Operand(), a.vc.Operand(), ko, a.v.Operand(), start, true),
	} {
		if e != nil {
			return false, d.fail(op, e)
		}
	}
	ok := a.q.rows == 1 && a.k.rows == 1 && a.v.rows == 1 && a.q.cols > 0 && a.k.cols > 0 && a.qw.dt == a.kw.dt &&
		apart(a.q, a.k) && apart(a.q, a.v) && apart(a.k, a.v)
	for _, c := range []*tensor{a.kc, a.vc} {
		ok = ok && apart(c, a.q) && apart(c, a.k) && apart(c, a.v)
	}
	if !ok {
		return false, nil
	}
	if a.inv, err = d.ropeTable(hd, theta); err != nil {
		return false, err
	}
	a.hd, a.eps, a.start = hd, eps, start
	return true, d.issue(true, func(s *segment) { d.qkRoPEAppend(s, a) })
}
