package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// The assembly kernels against the pure-Go ones (and float64 sums) on random
// data: odd lengths, every tail length, strides longer than the rows, and
// slices that start at odd element offsets (so no vector load is aligned).

// withAsm runs f with the assembly kernels on or off, restoring the setting.
func withAsm(on bool, f func()) {
	saved := useAsm
	useAsm = on
	defer func() { useAsm = saved }()
	f()
}

// needAsm skips the test when the assembly kernels are not in use here.
func needAsm(t *testing.T) {
	t.Helper()
	if !useAsm {
		t.Skipf("assembly kernels not in use: %s", Kernels())
	}
}

var kernelLens = []int{1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 24, 31, 33, 63, 64, 65, 127, 128, 129, 1000, 1031}

// randBits16 returns n F16 or BF16 bit patterns of random finite values in [-2, 2).
func randBits16(r *rand.Rand, n int, bf bool) []uint16 {
	h := make([]uint16, n)
	for i := range h {
		v := (2*r.Float32() - 1) * 2
		if bf {
			h[i] = f32ToBF16(v)
		} else {
			h[i] = f32ToF16(v)
		}
	}
	return h
}

// refDot returns Σ x[i]·w(i) in float64 and Σ|x[i]·w(i)|.
func refDot(x []float32, w func(i int) float32) (sum, mag float64) {
	for i, v := range x {
		p := float64(v) * float64(w(i))
		sum += p
		mag += math.Abs(p)
	}
	return sum, mag
}

func TestDotRowsAsmMatchesGo(t *testing.T) {
	needAsm(t)
	r := newRand(21)
	for _, k := range kernelLens {
		for _, rows := range []int{1, 3, 4, 5, 9} {
			for _, pad := range []int{0, 3} {
				stride := k + pad
				off := (k + rows) % 4 // misalign x and w by a few elements
				x := randVals(r, k+off, 1)[off:]
				wf := randVals(r, rows*stride+off, 2)[off:]
				w16 := map[bool][]uint16{true: randBits16(r, rows*stride+off, true)[off:], false: randBits16(r, rows*stride+off, false)[off:]}
				name := fmt.Sprintf("k%d_rows%d_stride%d_off%d", k, rows, stride, off)

				check := func(kind string, run func(out []float32), w func(row, i int) float32) []float32 {
					asm := make([]float32, rows)
					goOut := make([]float32, rows)
					run(asm)
					withAsm(false, func() { run(goOut) })
					for j := range rows {
						want, mag := refDot(x, func(i int) float32 { return w(j, i) })
						tol := 1e-5*mag + 1e-30
						if d := math.Abs(float64(asm[j]) - float64(goOut[j])); d > tol {
							t.Errorf("%s %s row %d: asm %v, Go %v (diff %.3g > %.3g)", kind, name, j, asm[j], goOut[j], d, tol)
						}
						if d := math.Abs(float64(asm[j]) - want); d > tol {
							t.Errorf("%s %s row %d: asm %v, float64 %v (diff %.3g > %.3g)", kind, name, j, asm[j], want, d, tol)
						}
					}
					return asm
				}
				f32 := check("F32", func(out []float32) { dotRowsF32(out, x, wf, stride) },
					func(j, i int) float32 { return wf[j*stride+i] })
				// A row alone gives the bits it gets in a group of four.
				for j := range rows {
					one := make([]float32, 1)
					dotRowsF32(one, x, wf[j*stride:], stride)
					checkBitwise(t, "F32 row alone vs in a group "+name, one, f32[j:j+1])
				}
				for _, bf := range []bool{true, false} {
					kind := map[bool]string{true: "BF16", false: "F16"}[bf]
					w := w16[bf]
					wide := make([]float32, len(w))
					decode16Go(wide, w, bf)
					got := check(kind, func(out []float32) { dotRows16(out, x, w, stride, bf) },
						func(j, i int) float32 { return wide[j*stride+i] })
					// Widening in registers gives the bits of widening first.
					viaF32 := make([]float32, rows)
					dotRowsF32(viaF32, x, wide, stride)
					checkBitwise(t, kind+" in place vs widened "+name, got, viaF32)
				}
			}
		}
	}
}

func TestGEMMAsmMatchesDotRows(t *testing.T) {
	needAsm(t)
	r := newRand(22)
	for _, k := range []int{1, 7, 8, 13, 64, 100, 1031} {
		for _, n := range []int{1, 2, 4, 5, 8, 11} {
			for _, m := range []int{1, 2, 3, 4, 6, 7, 13} {
				off := (n + m + k) % 3
				lda := k + off // rows of a apart by more than k, as attention's queries are
				a := randVals(r, n*lda+off, 1)[off:]
				b := randVals(r, m*k+1, 1)[1:]
				const ldo = 17
				out := make([]float32, (n-1)*ldo+m)
				gemmF32(out, ldo, a, lda, n, b, m, k)
				goOut := make([]float32, len(out))
				withAsm(false, func() { gemmF32(goOut, ldo, a, lda, n, b, m, k) })
				name := fmt.Sprintf("n%d_m%d_k%d", n, m, k)
				for i := range n {
					row := make([]float32, m)
					dotRowsF32(row, a[i*lda:i*lda+k], b, k)
					checkBitwise(t, "gemm row vs dotRows "+name, out[i*ldo:i*ldo+m], row)
					for j := range m {
						_, mag := refDot(a[i*lda:i*lda+k], func(p int) float32 { return b[j*k+p] })
						if d := math.Abs(float64(out[i*ldo+j]) - float64(goOut[i*ldo+j])); d > 1e-5*mag+1e-30 {
							t.Errorf("%s [%d,%d]: asm %v, Go %v", name, i, j, out[i*ldo+j], goOut[i*ldo+j])
						}
					}
				}
			}
		}
	}
}

func TestWSumAsmMatchesGo(t *testing.T) {
	needAsm(t)
	r := newRand(23)
	for _, cols := range []int{1, 7, 8, 9, 31, 63, 64, 65, 72, 128, 130} {
		for _, ctx := range []int{0, 1, 2, 5, 17, 100} {
			stride := cols + 5
			off := (cols + ctx) % 4
			e := randVals(r, ctx+off, 1)[off:]
			vf := randVals(r, ctx*stride+off+1, 2)[off:]
			vbits := map[bool][]uint16{true: randBits16(r, ctx*stride+off+1, true)[off:], false: randBits16(r, ctx*stride+off+1, false)[off:]}
			name := fmt.Sprintf("cols%d_ctx%d", cols, ctx)
			check := func(kind string, run func(out []float32), v func(i int) float32) {
				asm := randVals(r, cols, 1) // garbage that must be overwritten
				goOut := make([]float32, cols)
				run(asm)
				withAsm(false, func() { run(goOut) })
				for j := range cols {
					var sum, mag float64
					for tt := range ctx {
						p := float64(e[tt]) * float64(v(tt*stride+j))
						sum += p
						mag += math.Abs(p)
					}
					tol := 1e-5*mag + 1e-30
					if d := math.Abs(float64(asm[j]) - float64(goOut[j])); d > tol {
						t.Errorf("%s %s col %d: asm %v, Go %v", kind, name, j, asm[j], goOut[j])
					}
					if d := math.Abs(float64(asm[j]) - sum); d > tol {
						t.Errorf("%s %s col %d: asm %v, float64 %v", kind, name, j, asm[j], sum)
					}
				}
			}
			check("F32", func(out []float32) { wsumRowsF32(out, e, vf, stride) }, func(i int) float32 { return vf[i] })
			for _, bf := range []bool{true, false} {
				v := vbits[bf]
				wide := make([]float32, len(v))
				decode16Go(wide, v, bf)
				check(map[bool]string{true: "BF16", false: "F16"}[bf], func(out []float32) { wsumRows16(out, e, v, stride, bf) }, func(i int) float32 { return wide[i] })
			}
		}
	}
}

// TestDecode16AsmExact: widening is exact, so the assembly gives Go's bits for
// every non-NaN pattern (VCVTPH2PS may quiet a signalling NaN).
func TestDecode16AsmExact(t *testing.T) {
	needAsm(t)
	all := make([]uint16, 1<<16+3)
	for i := range all {
		all[i] = uint16(i)
	}
	for _, bf := range []bool{true, false} {
		for off := range 3 {
			src := all[off:]
			got, want := make([]float32, len(src)), make([]float32, len(src))
			decode16(got, src, bf)
			decode16Go(want, src, bf)
			for i := range got {
				g, w := got[i], want[i]
				if g != g && w != w {
					continue
				}
				if math.Float32bits(g) != math.Float32bits(w) {
					t.Fatalf("bf=%v: %#04x widened to %#x, want %#x", bf, src[i], math.Float32bits(g), math.Float32bits(w))
				}
			}
		}
	}
}

// TestOpsWithoutAsm runs the op tests with the pure-Go kernels, which are
// what machines without AVX2 (and every other GOARCH) run.
func TestOpsWithoutAsm(t *testing.T) {
	if !useAsm {
		t.Skip("the other tests already run the pure-Go kernels")
	}
	withAsm(false, func() {
		t.Run("MatMul", TestMatMul)
		t.Run("Attention", TestAttention)
		t.Run("AttentionChunk", TestAttentionChunk)
		t.Run("Embedding", TestEmbedding)
	})
}

func TestKernelsNamed(t *testing.T) {
	k := Kernels()
	if useAsm != (k == "avx2+fma+f16c") {
		t.Errorf("Kernels() = %q with useAsm %v", k, useAsm)
	}
}
