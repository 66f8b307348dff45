package device

import (
	"fmt"
	"math"
)

// The operand checks every backend makes before an op runs, written once so
// that a bad call gets the same sentence on every device. A backend resolves
// each argument to its own tensor type with CheckOperand, then checks how the
// operands fit together with the op's Check function. The errors are one
// sentence without the op or the device ("x is F32 [2 5] but w is BF16 [4 3];
// the inner sizes differ (5 vs 3)"); backends prefix them, e.g.
// "MatMul on cpu:0: ".

// DTypes is a set of dtypes that an operand may have.
type DTypes uint8

// The dtype sets the ops ask for.
const (
	OnlyF32  DTypes = 1 << F32
	OnlyI32  DTypes = 1 << I32
	AnyFloat DTypes = 1<<F32 | 1<<F16 | 1<<BF16
	AnyDType DTypes = AnyFloat | OnlyI32
)

// Has reports whether dt is in s.
func (s DTypes) Has(dt DType) bool { return dt < 8 && s&(1<<dt) != 0 }

// String names the set for messages, e.g. "F32, F16 or BF16".
func (s DTypes) String() string {
	switch s {
	case OnlyF32:
		return "F32"
	case OnlyI32:
		return "I32"
	case AnyFloat:
		return "F32, F16 or BF16"
	case AnyDType:
		return "F32, F16, BF16 or I32"
	}
	return fmt.Sprintf("DTypes(%#x)", uint8(s))
}

// Operand is what the shared checks know of one tensor argument: a backend's
// tensor describes itself with it.
type Operand struct {
	DType DType
	Shape []int
	// Rows is the product of all dimensions but the last, Cols the last (1
	// and 1 for a scalar).
	Rows, Cols int
	// Lo and Hi bound the memory the tensor spans, [Lo, Hi), in the backend's
	// address space; only their order matters.
	Lo, Hi uint64
	// Freed is set once the memory (a view's parent's) has been freed.
	Freed bool
	// ReadOnly marks a weight, which ops may not write; Name is its name.
	ReadOnly bool
	Name     string
}

// String describes the operand for messages, e.g. "BF16 [1024 3072]".
func (o Operand) String() string { return fmt.Sprintf("%s %v", o.DType, o.Shape) }

// Elems returns the number of elements.
func (o Operand) Elems() int { return o.Rows * o.Cols }

// Overlaps reports whether a and b share any memory (a view and its parent,
// two overlapping views, or a tensor and itself). An empty operand whose
// address lies inside the other's span counts as overlapping it.
func Overlaps(a, b Operand) bool { return a.Lo < b.Hi && b.Lo < a.Hi }

// PartlyOverlaps reports whether a and b share memory without being exactly
// the same memory: what an elementwise op writing a while reading b cannot allow.
func PartlyOverlaps(a, b Operand) bool {
	return Overlaps(a, b) && (a.Lo != b.Lo || a.Hi != b.Hi)
}

// Describer is a backend's tensor that describes itself for the shared checks.
type Describer interface {
	Tensor
	// Operand returns the tensor's description; it must not allocate.
	Operand() Operand
}

// CheckOperand resolves t, the op's argument role, to the backend's own
// tensor type T and checks it: set, a T, living on dev, not freed, of a dtype
// in want, and not a weight when write is set. kind names the backend in
// messages ("CPU", "CUDA").
func CheckOperand[T interface {
	comparable
	Describer
}](dev Device, kind, role string, t Tensor, want DTypes, write bool) (T, error) {
	var none T
	if t == nil {
		return none, fmt.Errorf("%s is nil", role)
	}
	c, ok := t.(T)
	if !ok {
		return none, fmt.Errorf("%s is a %T, not a %s tensor", role, t, kind)
	}
	if c == none {
		return none, fmt.Errorf("%s is a nil tensor", role)
	}
	o := c.Operand()
	if on := c.Device(); on != dev {
		return none, fmt.Errorf("%s (%v) lives on %s; copy it here with CopyFrom first", role, o, on.Name())
	}
	if o.Freed {
		return none, fmt.Errorf("%s (%v) has been freed", role, o)
	}
	if !want.Has(o.DType) {
		return none, fmt.Errorf("%s is %v but must be %v", role, o, want)
	}
	if write && o.ReadOnly {
		return none, fmt.Errorf("%s (%v) is the read-only weight %q", role, o, o.Name)
	}
	return c, nil
}

// CheckShape validates the dtype and shape of a new tensor and returns its
// rows (the product of all dimensions but the last), columns (the last) and
// size in bytes.
func CheckShape(dt DType, shape []int) (rows, cols int, bytes int64, err error) {
	if dt > I32 {
		return 0, 0, 0, fmt.Errorf("unknown dtype %v", dt)
	}
	elems := int64(1)
	for _, n := range shape {
		if n < 0 {
			return 0, 0, 0, fmt.Errorf("shape %v has a negative dimension", shape)
		}
		if n > 0 && elems > math.MaxInt64/int64(dt.Size())/int64(n) {
			return 0, 0, 0, fmt.Errorf("shape %v of %v overflows int64 bytes", shape, dt)
		}
		elems *= int64(n)
	}
	rows, cols = 1, 1
	if len(shape) > 0 {
		cols = shape[len(shape)-1]
		rows = Elems(shape[:len(shape)-1])
	}
	return rows, cols, elems * int64(dt.Size()), nil
}

// CheckView checks that rows [row, row+n) of t's first dimension exist.
func CheckView(t Operand, row, n int) error {
	if len(t.Shape) == 0 {
		return fmt.Errorf("t is the scalar %v, which has no rows", t)
	}
	if row < 0 || n < 0 || row+n > t.Shape[0] {
		return fmt.Errorf("rows [%d, %d) are outside t %v", row, row+n, t)
	}
	return nil
}

// ViewRows returns the shape of rows [row, row+n) of the first dimension of
// a tensor of the given shape, which CheckView accepted, and the range of
// elements [lo, hi) they occupy.
func ViewRows(shape []int, row, n int) (view []int, lo, hi int) {
	per := Elems(shape[1:])
	return append([]int{n}, shape[1:]...), row * per, (row + n) * per
}

// CheckEmbedding checks Embedding's operands: out [n, hidden] for n ids into
// table [vocab, hidden], not aliasing either.
func CheckEmbedding(out, table, ids Operand) error {
	n, hidden := ids.Elems(), table.Cols
	if out.Rows != n || out.Cols != hidden {
		return fmt.Errorf("out is %v but %d ids of table %v give [%d %d]", out, n, table, n, hidden)
	}
	if Overlaps(out, table) || Overlaps(out, ids) {
		return fmt.Errorf("out %v may not alias table", out)
	}
	return nil
}

// CheckRMSNorm checks RMSNorm's operands: out and x of one shape, w as wide as
// a row, out either x itself or apart from it, and apart from w.
func CheckRMSNorm(out, x, w Operand) error {
	switch n, c := x.Rows, x.Cols; {
	case out.Rows != n || out.Cols != c:
		return fmt.Errorf("out is %v but x is %v; they must have the same rows and columns", out, x)
	case w.Elems() != c:
		return fmt.Errorf("w is %v but rows of x %v have %d values", w, x, c)
	case PartlyOverlaps(out, x):
		return fmt.Errorf("out %v partly overlaps x %v; it may only be x itself", out, x)
	case Overlaps(out, w):
		return fmt.Errorf("out %v may not alias w", out)
	}
	return nil
}

// CheckHeadRMSNorm checks HeadRMSNorm's operands: rows of x split into heads
// of headDim, w [headDim], and x apart from w.
func CheckHeadRMSNorm(x, w Operand, headDim int) error {
	if headDim <= 0 || x.Cols%headDim != 0 {
		return fmt.Errorf("x is %v, whose rows do not split into heads of %d", x, headDim)
	}
	if w.Elems() != headDim {
		return fmt.Errorf("w is %v but headDim is %d", w, headDim)
	}
	if Overlaps(x, w) {
		return fmt.Errorf("x %v may not alias w", x)
	}
	return nil
}

// CheckMatMul checks MatMul's operands: x [n, k], w [o, k], out [n, o] apart
// from both.
func CheckMatMul(out, x, w Operand) error {
	n, k, o := x.Rows, x.Cols, w.Rows
	if w.Cols != k {
		return fmt.Errorf("x is %v but w is %v; the inner sizes differ (%d vs %d)", x, w, k, w.Cols)
	}
	if out.Rows != n || out.Cols != o {
		return fmt.Errorf("out is %v but x %v · wᵀ %v is [%d %d]", out, x, w, n, o)
	}
	if Overlaps(out, x) || Overlaps(out, w) {
		return fmt.Errorf("out %v may not alias its inputs", out)
	}
	return nil
}

// CheckRoPE checks RoPE's operands: rows of x split into heads of even size
// headDim, one position per row, and a positive finite theta.
func CheckRoPE(x, pos Operand, headDim int, theta float64) error {
	if headDim <= 0 || headDim%2 != 0 || x.Cols%headDim != 0 {
		return fmt.Errorf("x is %v, whose rows do not split into heads of even size %d", x, headDim)
	}
	if pos.Elems() != x.Rows {
		return fmt.Errorf("pos is %v but x %v has %d rows", pos, x, x.Rows)
	}
	if !(theta > 0) || math.IsInf(theta, 0) {
		return fmt.Errorf("theta %v for x %v must be positive and finite", theta, x)
	}
	return nil
}

// CheckKVAppend checks KVAppend's operands: two separate caches of one shape,
// k and v [n, kvDim] fitting rows start … start+n-1, and no aliasing between
// the caches and k or v. A backend whose kernels read both caches as one type
// sets oneDType, and then the caches must share their dtype too.
func CheckKVAppend(kc, vc, k, v Operand, start int, oneDType bool) error {
	if Overlaps(kc, vc) {
		return fmt.Errorf("kc and vc are the same tensor %v", kc)
	}
	if kc.Rows != vc.Rows || kc.Cols != vc.Cols || oneDType && kc.DType != vc.DType {
		if oneDType {
			return fmt.Errorf("kc is %v but vc is %v; the caches must have the same shape and dtype", kc, vc)
		}
		return fmt.Errorf("kc is %v but vc is %v; the caches must have the same shape", kc, vc)
	}
	n, kvDim := k.Rows, k.Cols
	if v.Rows != n || v.Cols != kvDim || kvDim != kc.Cols {
		return fmt.Errorf("k is %v and v is %v but the caches are %v; want k and v [n %d]", k, v, kc, kc.Cols)
	}
	if start < 0 || start+n > kc.Rows {
		return fmt.Errorf("rows %d…%d of k %v do not fit cache %v", start, start+n-1, k, kc)
	}
	if Overlaps(kc, k) || Overlaps(kc, v) || Overlaps(vc, k) || Overlaps(vc, v) {
		return fmt.Errorf("the caches %v may not alias k %v or v %v", kc, k, v)
	}
	return nil
}

// CheckAttention checks Attention's operands: head counts that group, q and
// out [n, heads*headDim] with out apart from every input, caches
// [ctx, kvHeads*headDim] of one shape, and positions start … start+n-1 inside
// them. oneDType is CheckKVAppend's.
func CheckAttention(out, q, kc, vc Operand, start, heads, kvHeads, headDim int, oneDType bool) error {
	if heads <= 0 || kvHeads <= 0 || headDim <= 0 || heads%kvHeads != 0 {
		return fmt.Errorf("heads %d, kvHeads %d and headDim %d for q %v must be positive with heads a multiple of kvHeads", heads, kvHeads, headDim, q)
	}
	n, qDim, kvDim := q.Rows, heads*headDim, kvHeads*headDim
	if q.Cols != qDim {
		return fmt.Errorf("q is %v but %d heads of %d need rows of %d", q, heads, headDim, qDim)
	}
	if out.Rows != n || out.Cols != qDim {
		return fmt.Errorf("out is %v but q is %v; they must have the same rows and columns", out, q)
	}
	if Overlaps(out, q) || Overlaps(out, kc) || Overlaps(out, vc) {
		return fmt.Errorf("out %v may not alias its inputs", out)
	}
	if kc.Cols != kvDim || vc.Cols != kvDim || kc.Rows != vc.Rows || oneDType && kc.DType != vc.DType {
		if oneDType {
			return fmt.Errorf("kc is %v and vc is %v but %d kv heads of %d need [ctx %d] of one dtype for both", kc, vc, kvHeads, headDim, kvDim)
		}
		return fmt.Errorf("kc is %v and vc is %v but %d kv heads of %d need [ctx %d] for both", kc, vc, kvHeads, headDim, kvDim)
	}
	if start < 0 || start+n > kc.Rows {
		return fmt.Errorf("queries at positions %d…%d of q %v do not fit cache %v", start, start+n-1, q, kc)
	}
	return nil
}

// CheckElementwise checks the operands of a same-size elementwise op (Add,
// SiLUMul): out, a and b with as many elements, out either an input itself or
// apart from both. an and bn name a and b in messages.
func CheckElementwise(out, a, b Operand, an, bn string) error {
	if a.Elems() != b.Elems() || out.Elems() != a.Elems() {
		return fmt.Errorf("out is %v, %s is %v and %s is %v; all three must have as many elements", out, an, a, bn, b)
	}
	if PartlyOverlaps(out, a) || PartlyOverlaps(out, b) {
		return fmt.Errorf("out %v partly overlaps an input; it may only be %s or %s itself", out, an, bn)
	}
	return nil
}

// CheckArgMax checks ArgMax's operands: one out entry per row of x.
func CheckArgMax(out, x Operand) error {
	if out.Elems() != x.Rows {
		return fmt.Errorf("out is %v but x %v has %d rows", out, x, x.Rows)
	}
	return nil
}

// CheckTopK checks TopK's operands: 1 ≤ k ≤ the row width of x, vals and idx
// [n, k], and no aliasing among the three.
func CheckTopK(vals, idx, x Operand, k int) error {
	n, c := x.Rows, x.Cols
	if k < 1 || k > c {
		return fmt.Errorf("k = %d for x %v must be in 1…%d", k, x, c)
	}
	if vals.Rows != n || vals.Cols != k || idx.Rows != n || idx.Cols != k {
		return fmt.Errorf("vals is %v and idx is %v but top %d of x %v need [%d %d]", vals, idx, k, x, n, k)
	}
	if Overlaps(vals, x) || Overlaps(idx, x) || Overlaps(vals, idx) {
		return fmt.Errorf("vals %v may not alias x", vals)
	}
	return nil
}

// CheckMatMulQKV checks MatMulQKV's operands: each output as CheckMatMul
// checks it, and no two outputs sharing memory.
func CheckMatMulQKV(a, b, c, x, wa, wb, wc Operand) error {
	outs := [3]Operand{a, b, c}
	ws := [3]Operand{wa, wb, wc}
	for i := range outs {
		if err := CheckMatMul(outs[i], x, ws[i]); err != nil {
			return err
		}
		for j := range i {
			if Overlaps(outs[i], outs[j]) {
				return fmt.Errorf("outputs %v and %v overlap", outs[j], outs[i])
			}
		}
	}
	return nil
}

// CheckMatMulSwiGLU checks MatMulSwiGLU's operands: gate and up of one shape,
// and out as CheckMatMul checks it against each.
func CheckMatMulSwiGLU(out, x, gate, up Operand) error {
	if gate.Rows != up.Rows || gate.Cols != up.Cols {
		return fmt.Errorf("gate is %v but up is %v; they must have one shape", gate, up)
	}
	if err := CheckMatMul(out, x, gate); err != nil {
		return err
	}
	return CheckMatMul(out, x, up)
}

// CheckBatchAttention checks what BatchAttention adds to Attention's checks,
// which each row then makes: one cache pair and one start per row of q, and
// pos an I32 entry per row.
func CheckBatchAttention(q, pos Operand, nk, nv, nstarts int) error {
	if nk != q.Rows || nv != q.Rows || nstarts != q.Rows {
		return fmt.Errorf("q is %v but there are %d K caches, %d V caches and %d starts; each row needs one of each", q, nk, nv, nstarts)
	}
	if pos.DType != I32 || pos.Rows*pos.Cols != q.Rows {
		return fmt.Errorf("pos is %v but q is %v; pos must be I32 with one entry per row", pos, q)
	}
	return nil
}

// Row returns row i of o (a matrix of o.Rows rows) as a one-row operand,
// for checking an op that treats each row on its own.
func (o Operand) Row(i int) Operand { return o.RowIn(i, make([]int, 0, 2)) }

// RowIn is Row with the row's shape [1, cols] written into buf (reused from
// its start), for a caller that checks many rows and keeps none.
func (o Operand) RowIn(i int, buf []int) Operand {
	step := uint64(o.Cols * o.DType.Size())
	lo := o.Lo + uint64(i)*step
	return Operand{DType: o.DType, Shape: append(buf[:0], 1, o.Cols), Rows: 1, Cols: o.Cols, Lo: lo, Hi: lo + step,
		Freed: o.Freed, ReadOnly: o.ReadOnly, Name: o.Name}
}
