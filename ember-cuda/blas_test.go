package cuda

import (
	"math/rand/v2"
	"testing"

	"github.com/ember-infer/ember/ember-core/device"
)

// colMajorGemm is BLAS's GEMM over column-major arrays: C = op(A)·op(B), as
// cuBLAS reads the arguments of a gemmCall.
func colMajorGemm(c gemmCall, a, b, out []float32) {
	at := func(i, l int) float32 { // op(A)[i, l]
		if c.transa == blasOpT {
			return a[l+i*int(c.lda)]
		}
		return a[i+l*int(c.lda)]
	}
	bt := func(l, j int) float32 { // op(B)[l, j]
		if c.transb == blasOpT {
			return b[j+l*int(c.ldb)]
		}
		return b[l+j*int(c.ldb)]
	}
	for j := range int(c.n) {
		for i := range int(c.m) {
			var s float32
			for l := range int(c.k) {
				s += at(i, l) * bt(l, j)
			}
			out[i+j*int(c.ldc)] = s
		}
	}
}

// TestRowMajorMapping runs the cuBLAS arguments Ember passes through a
// column-major GEMM over the row-major buffers and checks the result is
// out = x · wᵀ.
func TestRowMajorMapping(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, sh := range []struct{ n, o, k int }{{1, 7, 5}, {3, 4, 6}, {5, 1, 2}, {8, 9, 16}} {
		x := make([]float32, sh.n*sh.k)
		w := make([]float32, sh.o*sh.k)
		for i := range x {
			x[i] = r.Float32()*2 - 1
		}
		for i := range w {
			w[i] = r.Float32()*2 - 1
		}
		c := rowMajorXWt(sh.n, sh.o, sh.k)
		got := make([]float32, sh.n*sh.o)
		colMajorGemm(c, w, x, got) // A = w, B = x, as gemmOp passes them
		for i := range sh.n {
			for j := range sh.o {
				var want float32
				for l := range sh.k {
					want += x[i*sh.k+l] * w[j*sh.k+l]
				}
				if d := got[i*sh.o+j] - want; d > 1e-5 || d < -1e-5 {
					t.Fatalf("%+v: out[%d,%d] = %v, want %v", sh, i, j, got[i*sh.o+j], want)
				}
			}
		}
	}
}

func TestGemmOp(t *testing.T) {
	o := gemmOp(9, rowMajorXWt(2, 3, 4), 100, 200, 300, device.BF16)
	if o.kind != opGemm || o.src != 100 || o.src2 != 200 || o.dst != 300 || o.handle != 9 {
		t.Errorf("operands %+v", o)
	}
	if o.atype != cudaR16BF || o.btype != cudaR16BF || o.ctype != cudaR32F || o.compute != blasCompute32F || o.alpha != 1 || o.beta != 0 {
		t.Errorf("types %+v", o)
	}
	if cudaType(device.F16) != cudaR16F || cudaType(device.F32) != cudaR32F {
		t.Error("cudaType")
	}
}
