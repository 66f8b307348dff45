package cpu

import (
	"math"
	"testing"
)

// TestExpShiftBits: the vector exp of the softmax (expShiftF32: with AVX-512
// two chains of eight lanes a step, then two chains of four lanes, then four,
// then the Go tail) gives every element the bits of expFMA, the assembly's
// operations in Go, on both assembly sets the CPU has, for every length from
// 0 to 40 and values that cross the clamps, reach float32's subnormals and
// overflow, and include NaN and ±Inf.
func TestExpShiftBits(t *testing.T) {
	if !useAsm {
		t.Skip("the pure-Go kernels use math.Exp; expFMA mirrors the assembly")
	}
	for _, ks := range asmKernelSets(t) {
		withKernels(ks, func() { testExpShiftBits(t, kernelSetNames[ks]) })
	}
}

// asmKernelSets returns the assembly kernel sets the CPU can run, logging
// the ones it cannot.
func asmKernelSets(t *testing.T) []int {
	var sets []int
	for _, ks := range []int{kernelsAVX512, kernelsAVX2} {
		if ok, why := haveKernels(ks); ok {
			sets = append(sets, ks)
		} else {
			t.Logf("%s: %s", kernelSetNames[ks], why)
		}
	}
	return sets
}

func testExpShiftBits(t *testing.T, set string) {
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
					t.Fatalf("%s: n %d m %g element %d: %g (%#x), expFMA gives %g (%#x)", set, n, m, i, w[i], math.Float32bits(w[i]), want[i], math.Float32bits(want[i]))
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

// TestSiLUMulBits: siluMulF32's vector loops (with AVX-512 two chains of
// eight lanes, then two chains of four, then one, then the Go tail) give
// every element the bits of the Go formula over expFMA, on both assembly sets
// the CPU has, for every length from 0 to 40, in place over gate or up as
// well.
func TestSiLUMulBits(t *testing.T) {
	if !useAsm {
		t.Skip("the pure-Go kernels use math.Exp; expFMA mirrors the assembly")
	}
	for _, ks := range asmKernelSets(t) {
		withKernels(ks, func() { testSiLUMulBits(t, kernelSetNames[ks]) })
	}
}

func testSiLUMulBits(t *testing.T, set string) {
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
					t.Fatalf("%s: n %d out=%s element %d: %g, want %g", set, n, alias, i, out[i], want[i])
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

// TestNarrowF16Bits: encode16's F16C path gives x448/float16's bits (the Go
// path's) for every float32 pattern tried: the rounding edges (ties to even,
// the subnormal range and its underflow to zero, the overflow to Inf at
// 65520), signed zeros, Infs, quiet and signalling NaNs with payloads, and
// a stride through all 2³² patterns. Lengths that are not multiples of 8
// check that the tail takes the Go path.
func TestNarrowF16Bits(t *testing.T) {
	if !useAsm {
		t.Skip("encode16 runs in Go only; the F16C path is not in use")
	}
	var bits []uint32
	for _, b := range []uint32{0, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0xffc00001, 0x7f800001, 0x7fa00000,
		0x7fbfe000, 0xff801fff, 0x477fe000, 0x477fefff, 0x477ff000, 0x477fffff, 0x47800000, 0x33800000, 0x33000000,
		0x33000001, 0x32ffffff, 0x33400000, 0x38800000, 0x387fe000, 0x387ff000, 0x00000001, 0x807fffff} {
		bits = append(bits, b)
	}
	// Every exponent f16 can reach (and one past each end), with mantissas
	// at and around each rounding boundary of the 13 dropped bits.
	for e := uint32(100); e <= 145; e++ {
		for _, m := range []uint32{0, 0xfff, 0x1000, 0x1001, 0x1fff, 0x2000, 0x3000, 0x2fff, 0x3001, 0x7fefff, 0x7ff000, 0x7fffff} {
			bits = append(bits, e<<23|m, 0x80000000|e<<23|m)
		}
	}
	for b := uint64(0); b < 1<<32; b += 1<<32/(1<<20) + 7 {
		bits = append(bits, uint32(b))
	}
	src := make([]float32, len(bits))
	for i, b := range bits {
		src[i] = math.Float32frombits(b)
	}
	for _, n := range []int{len(src), len(src) - 3, 7, 9} {
		got := make([]uint16, n)
		encode16(got, src[:n], false)
		for i, v := range src[:n] {
			if want := f32ToF16(v); got[i] != want {
				t.Fatalf("n %d: %#08x narrows to %#04x, Fromfloat32 gives %#04x", n, bits[i], got[i], want)
			}
		}
	}
}
