package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// The assembly kernels against the pure-Go ones (and float64 sums) on random
// data: odd lengths, every tail length, strides longer than the rows, and
// slices that start at odd element offsets (so no vector load is aligned).

// withAsm runs f with the assembly kernels this process chose (on) or the
// pure-Go ones, restoring the setting.
func withAsm(on bool, f func()) {
	if on {
		withKernels(defaultKernels, f)
	} else {
		withKernels(kernelsGo, f)
	}
}

// defaultKernels is the kernel set this process chose at start-up.
var defaultKernels = kernelSet()

// withKernels runs f with kernel set ks (kernelsGo, kernelsAVX2 or
// kernelsAVX512; the CPU must have it), restoring the setting.
func withKernels(ks int, f func()) {
	savedAsm, saved512, savedDP := useAsm, use512, useDPBF16
	useAsm, use512, useDPBF16 = ks >= kernelsAVX2, ks >= kernelsAVX512, ks >= kernelsAVX512BF16
	defer func() { useAsm, use512, useDPBF16 = savedAsm, saved512, savedDP }()
	f()
}

// haveKernels reports whether the CPU can run kernel set ks, and if not why.
func haveKernels(ks int) (bool, string) {
	switch {
	case ks == kernelsGo:
		return true, ""
	case !asmBuilt:
		return false, "no assembly in this build"
	case ks == kernelsAVX2 && !haveAVX2:
		return false, "CPU lacks AVX2, FMA or F16C"
	case ks == kernelsAVX512 && !haveAVX512:
		return false, "CPU lacks AVX-512 F/BW/VL (make test-avx512 runs these under an emulator)"
	case ks == kernelsAVX512BF16 && !haveAVX512BF16:
		return false, "CPU lacks AVX512_BF16 (make test-avx512 runs these under an emulator)"
	}
	return true, ""
}

// forAsmKernels runs test once for each assembly kernel set, as subtests named
// avx2 and avx512, with that set in use; a set the CPU lacks is skipped with
// the reason. (avx512bf16 differs from avx512 only in MatMul's decode, which
// TestDotRowsDPBF16 and TestOpsWithOtherKernels cover.) EMBER_KERNELS and
// EMBER_NOASM do not limit it: it tests what the CPU can run.
func forAsmKernels(t *testing.T, test func(t *testing.T)) {
	t.Helper()
	for _, ks := range []int{kernelsAVX2, kernelsAVX512} {
		t.Run(kernelSetNames[ks], func(t *testing.T) {
			if ok, why := haveKernels(ks); !ok {
				t.Skip(why)
			}
			withKernels(ks, func() { test(t) })
		})
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
	forAsmKernels(t, func(t *testing.T) {
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
	})
}

func TestGEMMAsmMatchesDotRows(t *testing.T) {
	forAsmKernels(t, func(t *testing.T) {
		r := newRand(22)
		for _, k := range []int{1, 7, 8, 13, 64, 100, 1031} {
			for _, n := range []int{1, 2, 4, 5, 8, 11} {
				for _, m := range []int{1, 2, 3, 4, 6, 7, 8, 13, 17} {
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
	})
}

func TestWSumAsmMatchesGo(t *testing.T) {
	forAsmKernels(t, func(t *testing.T) {
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
	})
}

// TestDecode16AsmExact: widening is exact, so the assembly gives Go's bits for
// every non-NaN pattern (VCVTPH2PS may quiet a signalling NaN).
func TestDecode16AsmExact(t *testing.T) {
	forAsmKernels(t, func(t *testing.T) {
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
	})
}

// TestOpsWithOtherKernels runs the op tests with every kernel set the CPU has
// besides the one the other tests run: the pure-Go kernels, which are what
// machines without AVX2 (and every other GOARCH) run, and AVX2 where the
// process chose AVX-512.
func TestOpsWithOtherKernels(t *testing.T) {
	for _, ks := range []int{kernelsGo, kernelsAVX2, kernelsAVX512, kernelsAVX512BF16} {
		t.Run(kernelSetNames[ks], func(t *testing.T) {
			if ok, why := haveKernels(ks); !ok {
				t.Skip(why)
			}
			if ks == defaultKernels {
				t.Skip("the other tests already run this kernel set")
			}
			withKernels(ks, func() {
				t.Run("MatMul", TestMatMul)
				t.Run("Attention", TestAttention)
				t.Run("AttentionChunk", TestAttentionChunk)
				t.Run("Embedding", TestEmbedding)
			})
		})
	}
}

func TestKernelsNamed(t *testing.T) {
	want := map[int]string{kernelsAVX2: "avx2+fma+f16c", kernelsAVX512: "avx512f+bw+vl", kernelsAVX512BF16: "avx512f+bw+vl+bf16"}
	for _, ks := range []int{kernelsAVX2, kernelsAVX512, kernelsAVX512BF16} {
		if ok, _ := haveKernels(ks); !ok {
			continue
		}
		withKernels(ks, func() {
			if k := Kernels(); !strings.HasPrefix(k, want[ks]) {
				t.Errorf("Kernels() = %q with the %s kernels in use", k, kernelSetNames[ks])
			}
			if k := Kernels(); ks == kernelsAVX512 && strings.HasPrefix(k, want[kernelsAVX512BF16]) {
				t.Errorf("Kernels() = %q with the avx512 kernels in use", k)
			}
			if w := SIMDWidth(); w != map[int]int{kernelsAVX2: 8, kernelsAVX512: 16, kernelsAVX512BF16: 16}[ks] {
				t.Errorf("SIMDWidth() = %d with the %s kernels in use", w, kernelSetNames[ks])
			}
		})
	}
	withKernels(kernelsGo, func() {
		if k := Kernels(); !strings.HasPrefix(k, "go (") || SIMD() || SIMDWidth() != 1 {
			t.Errorf("with the Go kernels: Kernels() = %q, SIMD() = %v, SIMDWidth() = %d", k, SIMD(), SIMDWidth())
		}
	})
}

// TestKernelCap: EMBER_NOASM and EMBER_KERNELS cap the kernel set.
func TestKernelCap(t *testing.T) {
	for _, c := range []struct {
		noasm, kernels string
		want           int
	}{
		{"", "", kernelsAVX512},
		{"0", "", kernelsAVX512},
		{"1", "", kernelsGo},
		{"1", "avx512", kernelsGo},
		{"", "go", kernelsGo},
		{"", "avx2", kernelsAVX2},
		{"", "avx512", kernelsAVX512},
		{"", "avx512bf16", kernelsAVX512BF16},
		{"", "avx1024", kernelsAVX512},
	} {
		t.Setenv("EMBER_NOASM", c.noasm)
		t.Setenv("EMBER_KERNELS", c.kernels)
		if got := kernelCap(); got != c.want {
			t.Errorf("EMBER_NOASM=%q EMBER_KERNELS=%q: cap %s, want %s", c.noasm, c.kernels, kernelSetNames[got], kernelSetNames[c.want])
		}
		if err := CheckEnv(); (err != nil) != (c.kernels == "avx1024") {
			t.Errorf("EMBER_KERNELS=%q: CheckEnv() = %v", c.kernels, err)
		}
	}
}

// TestSplitX3: the three bfloat16 parts add up to x exactly, across
// magnitudes and signs, blocks are zero past len(x), and values the parts
// cannot carry are refused.
func TestSplitX3(t *testing.T) {
	r := newRand(25)
	for _, k := range []int{1, 31, 32, 33, 100, 1031} {
		x := make([]float32, k)
		for i := range x {
			x[i] = float32((2*r.Float64() - 1) * math.Pow(10, float64(r.IntN(60)-30)))
		}
		x[0] = math.Float32frombits(0x3f800001) // 1 + 2⁻²³: needs all 24 bits
		xs := make([]uint16, splitXLen(k))
		for i := range xs {
			xs[i] = 0xffff // garbage that must be overwritten
		}
		if !splitX3(xs, x) {
			t.Fatalf("k=%d: finite x refused", k)
		}
		if len(xs)%(3*dpBlock) != 0 || len(xs) < 3*k {
			t.Fatalf("k=%d: split length %d", k, len(xs))
		}
		for c := 0; c < len(xs)/3; c++ {
			b, i := c/dpBlock, c%dpBlock
			hi, mid, lo := xs[b*3*dpBlock+i], xs[b*3*dpBlock+dpBlock+i], xs[b*3*dpBlock+2*dpBlock+i]
			sum := float64(bf16ToF32(hi)) + float64(bf16ToF32(mid)) + float64(bf16ToF32(lo))
			want := 0.0
			if c < k {
				want = float64(x[c])
			}
			if sum != want || (c >= k && hi|mid|lo != 0) {
				t.Fatalf("k=%d column %d: parts %#04x %#04x %#04x sum to %g, want %g", k, c, hi, mid, lo, sum, want)
			}
		}
	}
	xs := make([]uint16, splitXLen(3))
	for _, bad := range []float32{float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), math.MaxFloat32} {
		if splitX3(xs, []float32{1, bad, 2}) {
			t.Errorf("split accepted %g", bad)
		}
	}
}

// TestDotRowsDPBF16 checks the VDPBF16PS kernel against float64 sums and the
// pure-Go kernel (≤ 1e-5 relative to Σ|x·w|), a row alone against the same
// row in a group of four (bitwise), and MatMul's use of it.
func TestDotRowsDPBF16(t *testing.T) {
	if ok, why := haveKernels(kernelsAVX512BF16); !ok {
		t.Skip(why)
	}
	withKernels(kernelsAVX512BF16, func() {
		r := newRand(26)
		for _, k := range kernelLens {
			for _, rows := range []int{1, 3, 4, 5, 9} {
				for _, pad := range []int{0, 3} {
					stride := k + pad
					off := (k + rows) % 4
					x := randVals(r, k, 1)
					x[0] *= 1e-3 // values across magnitudes
					w := randBits16(r, rows*stride+off, true)[off:]
					xs := make([]uint16, splitXLen(k))
					if !splitX3(xs, x) {
						t.Fatal("finite x refused")
					}
					got := make([]float32, rows)
					dotRowsDPBF16(got, xs, w, k, stride)
					goOut := make([]float32, rows)
					withKernels(kernelsGo, func() { dotRows16(goOut, x, w, stride, true) })
					name := fmt.Sprintf("k%d_rows%d_stride%d_off%d", k, rows, stride, off)
					for j := range rows {
						want, mag := refDot(x, func(i int) float32 { return bf16ToF32(w[j*stride+i]) })
						tol := 1e-5*mag + 1e-30
						if d := math.Abs(float64(got[j]) - want); d > tol {
							t.Errorf("%s row %d: VDPBF16PS %v, float64 %v (diff %.3g > %.3g)", name, j, got[j], want, d, tol)
						}
						if d := math.Abs(float64(got[j]) - float64(goOut[j])); d > tol {
							t.Errorf("%s row %d: VDPBF16PS %v, Go %v", name, j, got[j], goOut[j])
						}
						one := make([]float32, 1)
						dotRowsDPBF16(one, xs, w[j*stride:], k, stride)
						checkBitwise(t, "row alone vs in a group "+name, one, got[j:j+1])
					}
				}
			}
		}
	})
}
