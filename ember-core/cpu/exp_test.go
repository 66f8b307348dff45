package cpu

import (
	"math"
	"testing"
)

// TestExpShiftBits: the vector exp of the softmax (expShiftF32: two chains of
// four lanes a step, then four, then the Go tail) gives every element the bits
// of expFMA, the assembly's operations in Go, for every length from 0 to 40
// and values that cross the clamps, reach float32's subnormals and overflow,
// and include NaN and ±Inf.
func TestExpShiftBits(t *testing.T) {
	if !useAsm {
		t.Skip("the pure-Go kernels use math.Exp; expFMA mirrors the assembly")
	}
	r := newRand(11)
	special := []float32{0, -0, 1, -1, 88.7, 89, -87.3, -103, -104, -150, -745, -800, 710, 1e30, -1e30,
		float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), 1e-40, -1e-40}
	for n := range 41 {
		for _, m := range []float32{0, 3.5, -2} {
			w := randVals(r, n, 60)
			for i := range w {
				if i%3 == 0 {
					w[i] = special[(i/3+n)%len(special)]
				}
			}
			want := make([]float32, n)
			for i, v := range w {
				want[i] = float32(expFMA(float64(v - m)))
			}
			expShiftF32(w, m)
			for i := range w {
				if math.Float32bits(w[i]) != math.Float32bits(want[i]) && !(w[i] != w[i] && want[i] != want[i]) {
					t.Fatalf("n %d m %g element %d: %g (%#x), expFMA gives %g (%#x)", n, m, i, w[i], math.Float32bits(w[i]), want[i], math.Float32bits(want[i]))
				}
			}
		}
	}
}

// BenchmarkExpShift times the softmax's exp over a prefill-sized score row.
//
//	go test -run '^$' -bench ExpShift ./ember-core/cpu
func BenchmarkExpShift(b *testing.B) {
	w := randVals(newRand(3), 2048, 8)
	buf := make([]float32, len(w))
	b.SetBytes(int64(4 * len(w)))
	for b.Loop() {
		copy(buf, w)
		expShiftF32(buf, 8)
	}
}

// TestSiLUMulBits: siluMulF32's vector loops (two chains, then one, then the
// Go tail) give every element the bits of the Go formula over expFMA, for
// every length from 0 to 40, in place over gate or up as well.
func TestSiLUMulBits(t *testing.T) {
	if !useAsm {
		t.Skip("the pure-Go kernels use math.Exp; expFMA mirrors the assembly")
	}
	r := newRand(12)
	for n := range 41 {
		for _, alias := range []string{"none", "gate", "up"} {
			gate, up := randVals(r, n, 12), randVals(r, n, 3)
			for i := range gate {
				if i%5 == 0 {
					gate[i] = []float32{0, -800, 800, 1e-40, float32(math.Inf(-1))}[(i/5+n)%5]
				}
			}
			want := make([]float32, n)
			for i, g := range gate {
				x := float64(g)
				want[i] = float32(x/(1+expFMA(-x))) * up[i]
			}
			out := make([]float32, n)
			switch alias {
			case "gate":
				out = gate
			case "up":
				out = up
			}
			siluMulF32(out, gate, up)
			for i := range want {
				if math.Float32bits(out[i]) != math.Float32bits(want[i]) && !(out[i] != out[i] && want[i] != want[i]) {
					t.Fatalf("n %d out=%s element %d: %g, want %g", n, alias, i, out[i], want[i])
				}
			}
		}
	}
}

// BenchmarkSiLUMul times SwiGLU's silu·mul over one 3072-wide row.
//
//	go test -run '^$' -bench SiLUMul ./ember-core/cpu
func BenchmarkSiLUMul(b *testing.B) {
	g, u := randVals(newRand(4), 3072, 6), randVals(newRand(5), 3072, 1)
	out := make([]float32, len(g))
	b.SetBytes(int64(4 * len(g)))
	for b.Loop() {
		siluMulF32(out, g, u)
	}
}
