package device

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
)

// op makes an operand of dt and shape spanning [lo, lo+bytes).
func op(dt DType, lo uint64, shape ...int) Operand {
	rows, cols, bytes, err := CheckShape(dt, shape)
	if err != nil {
		panic(err)
	}
	return Operand{DType: dt, Shape: shape, Rows: rows, Cols: cols, Lo: lo, Hi: lo + uint64(bytes)}
}

func TestDTypes(t *testing.T) {
	cases := []struct {
		s    DTypes
		has  []DType
		not  []DType
		name string
	}{
		{OnlyF32, []DType{F32}, []DType{F16, BF16, I32, 9}, "F32"},
		{OnlyI32, []DType{I32}, []DType{F32, F16, BF16}, "I32"},
		{AnyFloat, []DType{F32, F16, BF16}, []DType{I32}, "F32, F16 or BF16"},
		{AnyDType, []DType{F32, F16, BF16, I32}, []DType{4, 200}, "F32, F16, BF16 or I32"},
		{1<<F16 | 1<<I32, []DType{F16, I32}, []DType{F32}, "DTypes(0xa)"},
	}
	for _, c := range cases {
		for _, dt := range c.has {
			if !c.s.Has(dt) {
				t.Errorf("%v.Has(%v) = false", c.s, dt)
			}
		}
		for _, dt := range c.not {
			if c.s.Has(dt) {
				t.Errorf("%v.Has(%v) = true", c.s, dt)
			}
		}
		if got := c.s.String(); got != c.name {
			t.Errorf("String() = %q, want %q", got, c.name)
		}
	}
}

func TestOverlaps(t *testing.T) {
	a := op(F32, 0, 4, 4)   // [0, 64)
	top := op(F32, 0, 2, 4) // [0, 32)
	bot := op(F32, 32, 2, 4)
	far := op(F32, 64, 4)
	empty := op(F32, 16, 0, 4)
	cases := []struct {
		a, b          Operand
		over, partial bool
	}{
		{a, a, true, false},
		{a, top, true, true},
		{top, bot, false, false},
		{a, far, false, false},
		{a, empty, true, true}, // as the backends have it: an empty view inside a tensor touches it
		{far, empty, false, false},
		{empty, empty, false, false},
	}
	for i, c := range cases {
		if got := Overlaps(c.a, c.b); got != c.over {
			t.Errorf("%d: Overlaps = %v, want %v", i, got, c.over)
		}
		if got := Overlaps(c.b, c.a); got != c.over {
			t.Errorf("%d: Overlaps reversed = %v, want %v", i, got, c.over)
		}
		if got := PartlyOverlaps(c.a, c.b); got != c.partial {
			t.Errorf("%d: PartlyOverlaps = %v, want %v", i, got, c.partial)
		}
	}
}

func TestCheckShape(t *testing.T) {
	cases := []struct {
		dt         DType
		shape      []int
		rows, cols int
		bytes      int64
		err        string
	}{
		{F32, []int{2, 3, 4}, 6, 4, 96, ""},
		{BF16, []int{5}, 1, 5, 10, ""},
		{I32, nil, 1, 1, 4, ""},
		{F16, []int{3, 0}, 3, 0, 0, ""},
		{DType(9), []int{2}, 0, 0, 0, "unknown dtype DType(9)"},
		{F32, []int{2, -1}, 0, 0, 0, "shape [2 -1] has a negative dimension"},
		{F32, []int{1 << 40, 1 << 30}, 0, 0, 0, "shape [1099511627776 1073741824] of F32 overflows int64 bytes"},
	}
	for _, c := range cases {
		rows, cols, bytes, err := CheckShape(c.dt, c.shape)
		if c.err != "" {
			if err == nil || err.Error() != c.err {
				t.Errorf("CheckShape(%v, %v) error %v, want %q", c.dt, c.shape, err, c.err)
			}
			continue
		}
		if err != nil || rows != c.rows || cols != c.cols || bytes != c.bytes {
			t.Errorf("CheckShape(%v, %v) = %d, %d, %d, %v; want %d, %d, %d", c.dt, c.shape, rows, cols, bytes, err, c.rows, c.cols, c.bytes)
		}
	}
}

func TestViewRows(t *testing.T) {
	cases := []struct {
		shape  []int
		row, n int
		view   []int
		lo, hi int
	}{
		{[]int{4, 3}, 1, 2, []int{2, 3}, 3, 9},
		{[]int{4, 2, 5}, 3, 1, []int{1, 2, 5}, 30, 40},
		{[]int{6}, 2, 3, []int{3}, 2, 5},
		{[]int{4, 3}, 4, 0, []int{0, 3}, 12, 12},
		{[]int{0, 3}, 0, 0, []int{0, 3}, 0, 0},
		{[]int{4, 0}, 1, 2, []int{2, 0}, 0, 0},
	}
	for _, c := range cases {
		if err := CheckView(op(F32, 0, c.shape...), c.row, c.n); err != nil {
			t.Fatalf("CheckView(%v, %d, %d): %v", c.shape, c.row, c.n, err)
		}
		view, lo, hi := ViewRows(c.shape, c.row, c.n)
		if !slices.Equal(view, c.view) || lo != c.lo || hi != c.hi {
			t.Errorf("ViewRows(%v, %d, %d) = %v, %d, %d; want %v, %d, %d", c.shape, c.row, c.n, view, lo, hi, c.view, c.lo, c.hi)
		}
	}
	shape := []int{4, 3}
	if view, _, _ := ViewRows(shape, 0, 1); &view[0] == &shape[0] {
		t.Error("ViewRows shares the tensor's shape")
	}
}

// TestChecks runs each op's check on good operands (no error) and on bad ones
// (the sentence the backends have always given).
func TestChecks(t *testing.T) {
	f := func(lo uint64, shape ...int) Operand { return op(F32, lo, shape...) }
	i := func(lo uint64, shape ...int) Operand { return op(I32, lo, shape...) }
	bf := func(lo uint64, shape ...int) Operand { return op(BF16, lo, shape...) }
	const far = 1 << 20 // separate tensors start a megabyte apart
	cases := []struct {
		name string
		err  error
		want string // "" for no error
	}{
		{"view", CheckView(f(0, 4, 3), 1, 3), ""},
		{"view/scalar", CheckView(f(0), 0, 1), "t is the scalar F32 [], which has no rows"},
		{"view/outside", CheckView(f(0, 2, 3), 1, 2), "rows [1, 3) are outside t F32 [2 3]"},

		{"embedding", CheckEmbedding(f(0, 3, 4), bf(far, 10, 4), i(2*far, 3)), ""},
		{"embedding/shape", CheckEmbedding(f(0, 2, 4), bf(far, 10, 4), i(2*far, 3)), "out is F32 [2 4] but 3 ids of table BF16 [10 4] give [3 4]"},
		{"embedding/alias", CheckEmbedding(f(0, 1, 1), f(0, 1, 1), i(2*far, 1)), "out F32 [1 1] may not alias table"},

		{"rmsnorm", CheckRMSNorm(f(0, 2, 4), f(0, 2, 4), bf(far, 4)), ""},
		{"rmsnorm/shape", CheckRMSNorm(f(0, 2, 4), f(far, 2, 3), f(2*far, 3)), "out is F32 [2 4] but x is F32 [2 3]; they must have the same rows and columns"},
		{"rmsnorm/w", CheckRMSNorm(f(0, 2, 3), f(far, 2, 3), f(2*far, 4)), "w is F32 [4] but rows of x F32 [2 3] have 3 values"},
		{"rmsnorm/partly", CheckRMSNorm(f(0, 2, 4), f(16, 2, 4), f(far, 4)), "out F32 [2 4] partly overlaps x F32 [2 4]; it may only be x itself"},
		{"rmsnorm/w alias", CheckRMSNorm(f(0, 1, 4), f(far, 1, 4), f(0, 4)), "out F32 [1 4] may not alias w"},

		{"headnorm", CheckHeadRMSNorm(f(0, 2, 8), f(far, 4), 4), ""},
		{"headnorm/split", CheckHeadRMSNorm(f(0, 2, 3), f(far, 2), 2), "x is F32 [2 3], whose rows do not split into heads of 2"},
		{"headnorm/zero", CheckHeadRMSNorm(f(0, 2, 3), f(far, 2), 0), "x is F32 [2 3], whose rows do not split into heads of 0"},
		{"headnorm/w", CheckHeadRMSNorm(f(0, 2, 8), f(far, 3), 4), "w is F32 [3] but headDim is 4"},
		{"headnorm/alias", CheckHeadRMSNorm(f(0, 1, 4), f(0, 4), 4), "x F32 [1 4] may not alias w"},

		{"matmul", CheckMatMul(f(0, 2, 7), f(far, 2, 5), bf(2*far, 7, 5)), ""},
		{"matmul/inner", CheckMatMul(f(0, 2, 4), f(far, 2, 5), bf(2*far, 4, 3)), "x is F32 [2 5] but w is BF16 [4 3]; the inner sizes differ (5 vs 3)"},
		{"matmul/out", CheckMatMul(f(0, 2, 3), f(far, 2, 3), bf(2*far, 4, 3)), "out is F32 [2 3] but x F32 [2 3] · wᵀ BF16 [4 3] is [2 4]"},
		{"matmul/alias", CheckMatMul(f(0, 1, 4), f(0, 1, 4), f(far, 4, 4)), "out F32 [1 4] may not alias its inputs"},

		{"rope", CheckRoPE(f(0, 2, 8), i(far, 2), 4, 1e4), ""},
		{"rope/odd", CheckRoPE(f(0, 2, 3), i(far, 2), 3, 1e4), "x is F32 [2 3], whose rows do not split into heads of even size 3"},
		{"rope/pos", CheckRoPE(f(0, 2, 4), i(far, 3), 4, 1e4), "pos is I32 [3] but x F32 [2 4] has 2 rows"},
		{"rope/theta", CheckRoPE(f(0, 2, 4), i(far, 2), 4, 0), "theta 0 for x F32 [2 4] must be positive and finite"},
		{"rope/inf", CheckRoPE(f(0, 2, 4), i(far, 2), 4, math.Inf(1)), "theta +Inf for x F32 [2 4] must be positive and finite"},
		{"rope/nan", CheckRoPE(f(0, 2, 4), i(far, 2), 4, math.NaN()), "theta NaN for x F32 [2 4] must be positive and finite"},

		{"kvappend", CheckKVAppend(bf(0, 8, 4), f(far, 8, 4), f(2*far, 2, 4), f(3*far, 2, 4), 6, false), ""},
		{"kvappend/one dtype", CheckKVAppend(bf(0, 8, 4), f(far, 8, 4), f(2*far, 2, 4), f(3*far, 2, 4), 6, true), "kc is BF16 [8 4] but vc is F32 [8 4]; the caches must have the same shape and dtype"},
		{"kvappend/same", CheckKVAppend(f(0, 4, 4), f(0, 4, 4), f(far, 1, 4), f(2*far, 1, 4), 0, false), "kc and vc are the same tensor F32 [4 4]"},
		{"kvappend/caches", CheckKVAppend(f(0, 4, 4), f(far, 5, 4), f(2*far, 1, 4), f(3*far, 1, 4), 0, false), "kc is F32 [4 4] but vc is F32 [5 4]; the caches must have the same shape"},
		{"kvappend/caches one dtype", CheckKVAppend(f(0, 4, 4), f(far, 5, 4), f(2*far, 1, 4), f(3*far, 1, 4), 0, true), "kc is F32 [4 4] but vc is F32 [5 4]; the caches must have the same shape and dtype"},
		{"kvappend/kv", CheckKVAppend(f(0, 4, 4), f(far, 4, 4), f(2*far, 2, 3), f(3*far, 2, 3), 0, false), "k is F32 [2 3] and v is F32 [2 3] but the caches are F32 [4 4]; want k and v [n 4]"},
		{"kvappend/fit", CheckKVAppend(f(0, 4, 4), f(far, 4, 4), f(2*far, 2, 4), f(3*far, 2, 4), 3, false), "rows 3…4 of k F32 [2 4] do not fit cache F32 [4 4]"},
		{"kvappend/alias", CheckKVAppend(f(0, 4, 4), f(far, 4, 4), f(0, 1, 4), f(3*far, 1, 4), 0, false), "the caches F32 [4 4] may not alias k F32 [1 4] or v F32 [1 4]"},

		{"attention", CheckAttention(f(0, 2, 8), f(far, 2, 8), bf(2*far, 6, 4), f(3*far, 6, 4), 4, 2, 1, 4, false), ""},
		{"attention/multiple", CheckAttention(f(0, 1, 8), f(far, 1, 8), f(2*far, 4, 4), f(3*far, 4, 4), 0, 3, 2, 4, false), "heads 3, kvHeads 2 and headDim 4 for q F32 [1 8] must be positive with heads a multiple of kvHeads"},
		{"attention/q", CheckAttention(f(0, 1, 8), f(far, 1, 6), f(2*far, 4, 4), f(3*far, 4, 4), 0, 2, 1, 4, false), "q is F32 [1 6] but 2 heads of 4 need rows of 8"},
		{"attention/out", CheckAttention(f(0, 2, 8), f(far, 1, 8), f(2*far, 4, 4), f(3*far, 4, 4), 0, 2, 1, 4, false), "out is F32 [2 8] but q is F32 [1 8]; they must have the same rows and columns"},
		{"attention/alias", CheckAttention(f(0, 1, 8), f(far, 1, 8), f(0, 4, 4), f(3*far, 4, 4), 0, 2, 1, 4, false), "out F32 [1 8] may not alias its inputs"},
		{"attention/caches", CheckAttention(f(0, 1, 8), f(far, 1, 8), f(2*far, 4, 8), f(3*far, 4, 4), 0, 2, 2, 4, false), "kc is F32 [4 8] and vc is F32 [4 4] but 2 kv heads of 4 need [ctx 8] for both"},
		{"attention/caches one dtype", CheckAttention(f(0, 1, 8), f(far, 1, 8), f(2*far, 4, 8), f(3*far, 4, 4), 0, 2, 2, 4, true), "kc is F32 [4 8] and vc is F32 [4 4] but 2 kv heads of 4 need [ctx 8] of one dtype for both"},
		{"attention/dtype", CheckAttention(f(0, 1, 8), f(far, 1, 8), bf(2*far, 4, 8), f(3*far, 4, 8), 0, 2, 2, 4, true), "kc is BF16 [4 8] and vc is F32 [4 8] but 2 kv heads of 4 need [ctx 8] of one dtype for both"},
		{"attention/positions", CheckAttention(f(0, 1, 8), f(far, 1, 8), f(2*far, 4, 4), f(3*far, 4, 4), 4, 2, 1, 4, false), "queries at positions 4…4 of q F32 [1 8] do not fit cache F32 [4 4]"},

		{"elementwise", CheckElementwise(f(0, 6), f(0, 2, 3), f(far, 3, 2), "a", "b"), ""},
		{"elementwise/size", CheckElementwise(f(0, 2, 3), f(far, 2, 3), f(2*far, 2, 4), "gate", "up"), "out is F32 [2 3], gate is F32 [2 3] and up is F32 [2 4]; all three must have as many elements"},
		{"elementwise/partly", CheckElementwise(f(0, 4), f(4, 4), f(far, 4), "a", "b"), "out F32 [4] partly overlaps an input; it may only be a or b itself"},

		{"argmax", CheckArgMax(i(0, 3), f(far, 3, 5)), ""},
		{"argmax/rows", CheckArgMax(i(0, 3), f(far, 2, 3)), "out is I32 [3] but x F32 [2 3] has 2 rows"},

		{"topk", CheckTopK(f(0, 2, 2), i(far, 2, 2), f(2*far, 2, 3), 2), ""},
		{"topk/k", CheckTopK(f(0, 2, 4), i(far, 2, 4), f(2*far, 2, 3), 4), "k = 4 for x F32 [2 3] must be in 1…3"},
		{"topk/shape", CheckTopK(f(0, 2, 2), i(far, 2, 3), f(2*far, 2, 3), 2), "vals is F32 [2 2] and idx is I32 [2 3] but top 2 of x F32 [2 3] need [2 2]"},
		{"topk/alias", CheckTopK(f(0, 1, 1), i(0, 1, 1), f(2*far, 1, 3), 1), "vals F32 [1 1] may not alias x"},
	}
	for _, c := range cases {
		switch {
		case c.want == "" && c.err != nil:
			t.Errorf("%s: unexpected error %v", c.name, c.err)
		case c.want != "" && c.err == nil:
			t.Errorf("%s: no error, want %q", c.name, c.want)
		case c.want != "" && c.err.Error() != c.want:
			t.Errorf("%s: error\n\t%v\nwant\n\t%s", c.name, c.err, c.want)
		}
	}
}

// testTensor is a backend's tensor for CheckOperand.
type testTensor struct {
	dev *testDevice
	o   Operand
}

func (t *testTensor) DType() DType     { return t.o.DType }
func (t *testTensor) Shape() []int     { return t.o.Shape }
func (t *testTensor) Bytes() int64     { return int64(t.o.Hi - t.o.Lo) }
func (t *testTensor) Device() Device   { return t.dev }
func (t *testTensor) Operand() Operand { return t.o }

// otherTensor is some other backend's tensor.
type otherTensor struct{ testTensor }

// testDevice is a Device that only has a name: CheckOperand asks no more.
type testDevice struct {
	Device
	name string
}

func (d *testDevice) Name() string { return d.name }

func TestCheckOperand(t *testing.T) {
	d, other := &testDevice{name: "test:0"}, &testDevice{name: "test:1"}
	live := &testTensor{d, op(F32, 0, 2, 3)}
	w := &testTensor{d, op(BF16, 0, 4)}
	w.o.ReadOnly, w.o.Name = true, "w"
	freed := &testTensor{d, op(F32, 0, 2)}
	freed.o.Freed = true
	cases := []struct {
		name  string
		t     Tensor
		want  DTypes
		write bool
		err   string
	}{
		{"live", live, OnlyF32, true, ""},
		{"weight read", w, AnyFloat, false, ""},
		{"nil", nil, OnlyF32, false, "x is nil"},
		{"nil pointer", (*testTensor)(nil), OnlyF32, false, "x is a nil tensor"},
		{"foreign", &otherTensor{*live}, OnlyF32, false, "x is a *device.otherTensor, not a test tensor"},
		{"elsewhere", &testTensor{other, live.o}, OnlyF32, false, "x (F32 [2 3]) lives on test:1; copy it here with CopyFrom first"},
		{"freed", freed, OnlyF32, false, "x (F32 [2]) has been freed"},
		{"dtype", w, OnlyF32, false, "x is BF16 [4] but must be F32"},
		{"weight write", w, AnyFloat, true, `x (BF16 [4]) is the read-only weight "w"`},
	}
	for _, c := range cases {
		got, err := CheckOperand[*testTensor](d, "test", "x", c.t, c.want, c.write)
		if c.err == "" {
			if err != nil || got != c.t {
				t.Errorf("%s: got %v, %v; want the tensor back", c.name, got, err)
			}
			continue
		}
		if err == nil || err.Error() != c.err || got != nil {
			t.Errorf("%s: got %v, %v; want error %q", c.name, got, err, c.err)
		}
		if err != nil && strings.Count(err.Error(), ". ") > 0 {
			t.Errorf("%s: %q is more than one sentence", c.name, err)
		}
	}
	if _, err := CheckOperand[*testTensor](d, "test", "x", nil, OnlyF32, false); errors.Unwrap(err) != nil {
		t.Errorf("error %v wraps %v", err, errors.Unwrap(err))
	}
}
