package cpu

import (
	"fmt"
	"math"
	"os"
)

// The inner loops of MatMul and Attention, with two implementations each:
// AVX2 + FMA + F16C assembly (kernels_amd64.s), chosen at start-up when the
// CPU has those extensions, and the pure-Go loops below, which are the
// fallback on every other machine and GOARCH and the reference the assembly is
// tested against (kernels_test.go).
//
// Each implementation is deterministic on its own: an output element's value
// never depends on the thread count, on how many rows a MatMul has, or on
// where in a tile it falls. The two implementations sum in different orders
// (eight FMA lanes against four float32 accumulators) and agree to about 1e-6
// relative to Σ|x·w|.

// useAsm selects the assembly kernels. Tests flip it to compare the two.
var useAsm = haveAVX2 && !asmDisabled()

// asmDisabled reports whether EMBER_NOASM asks for the pure-Go kernels
// (any value but "" or "0").
func asmDisabled() bool {
	v := os.Getenv("EMBER_NOASM")
	return v != "" && v != "0"
}

// SIMD reports whether this process's CPU devices run the AVX2 + FMA + F16C
// assembly kernels (and so whether a probe should measure that instruction set).
func SIMD() bool { return useAsm }

// Kernels names the inner loops this process's CPU devices run:
// "avx2+fma+f16c" for the assembly, or "go" followed by why the assembly is not
// in use (not built for this GOARCH or with the purego tag, the CPU lacks an
// extension, or EMBER_NOASM is set).
func Kernels() string {
	switch {
	case useAsm:
		return "avx2+fma+f16c"
	case !asmBuilt:
		return "go (no assembly in this build)"
	case !haveAVX2:
		return "go (CPU lacks AVX2, FMA or F16C)"
	default:
		return "go (EMBER_NOASM is set)"
	}
}

// tailMask loaded at element 8-t is t lanes of ones then zeros: the lanes of a
// k%8 = t tail. tailPerm loaded at 8-t moves the last 8 elements of a row
// (loaded as the vector that ends at the row's end) down so that its final t
// elements land in lanes 0…t-1.
var (
	tailMask = [16]uint32{^uint32(0), ^uint32(0), ^uint32(0), ^uint32(0), ^uint32(0), ^uint32(0), ^uint32(0), ^uint32(0)}
	tailPerm = [16]uint32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
)

// tailArgs returns the kernels' mask and perm arguments for rows of length k.
func tailArgs(k int) (mask, perm *uint32) {
	t := k & 7
	if t == 0 {
		return nil, nil
	}
	return &tailMask[8-t], &tailPerm[8-t]
}

// checkRows panics unless w holds rows rows of k elements stride apart: the
// assembly trusts its arguments, so every wrapper checks them first.
func checkRows(what string, wlen, rows, k, stride int) {
	if rows > 0 && k > 0 && (stride < k || (rows-1)*stride+k > wlen) {
		panic(fmt.Sprintf("cpu: %s: %d rows of %d with stride %d do not fit %d elements", what, rows, k, stride, wlen))
	}
}

// dotRowsF32 sets out[r] = Σ_i x[i]·w[r*stride+i] for r < len(out), i < len(x).
func dotRowsF32(out, x, w []float32, stride int) {
	rows, k := len(out), len(x)
	checkRows("dotRowsF32", len(w), rows, k, stride)
	if rows == 0 {
		return
	}
	if k == 0 {
		clear(out)
		return
	}
	if useAsm {
		mask, _ := tailArgs(k)
		dotsF32(&out[0], &x[0], &w[0], k, stride, rows, mask)
		return
	}
	for r := range out {
		out[r] = dotF32(x, w[r*stride:r*stride+k])
	}
}

// dotRows16 sets out[r] = Σ_i x[i]·w[r*stride+i] for F16 or BF16 (bf) bits w.
func dotRows16(out, x []float32, w []uint16, stride int, bf bool) {
	rows, k := len(out), len(x)
	checkRows("dotRows16", len(w), rows, k, stride)
	if rows == 0 {
		return
	}
	if k == 0 {
		clear(out)
		return
	}
	switch {
	case useAsm && k >= 8:
		mask, perm := tailArgs(k)
		if bf {
			dotsBF16(&out[0], &x[0], &w[0], k, stride, rows, mask, perm)
		} else {
			dotsF16(&out[0], &x[0], &w[0], k, stride, rows, mask, perm)
		}
	case useAsm:
		// Rows shorter than one vector: the 16-bit kernels read a tail as the
		// 8 elements ending at the row's end, which would start before it.
		// Widening is exact, so the f32 kernel gives the same bits.
		var buf [8]float32
		mask, _ := tailArgs(k)
		for r := range out {
			decode16Go(buf[:k], w[r*stride:r*stride+k], bf)
			dotsF32(&out[r], &x[0], &buf[0], k, k, 1, mask)
		}
	case bf:
		for r := range out {
			out[r] = dotBF16(x, w[r*stride:r*stride+k])
		}
	default:
		for r := range out {
			out[r] = dotF16(x, w[r*stride:r*stride+k])
		}
	}
}

// gemmF32 sets out[i*ldo+j] = Σ_p a[i*lda+p]·b[j*k+p] for i < n, j < m: n
// rows of a (lda apart) against m rows of b (packed, row length k). Each
// element is summed exactly as dotRowsF32 sums it, so a row of a batch equals
// that row alone.
func gemmF32(out []float32, ldo int, a []float32, lda, n int, b []float32, m, k int) {
	if n == 0 || m == 0 {
		return
	}
	checkRows("gemmF32 a", len(a), n, k, lda)
	checkRows("gemmF32 b", len(b), m, k, k)
	checkRows("gemmF32 out", len(out), n, m, ldo)
	i := 0
	if useAsm && k > 0 {
		mask, _ := tailArgs(k)
		m3 := m - m%3
		for ; i+4 <= n; i += 4 {
			if m3 > 0 {
				gemm4x3(&out[i*ldo], ldo, &a[i*lda], lda, &b[0], k, m3, k, mask)
			}
			if m3 < m {
				for r := i; r < i+4; r++ {
					dotRowsF32(out[r*ldo+m3:r*ldo+m], a[r*lda:r*lda+k], b[m3*k:], k)
				}
			}
		}
	}
	for ; i < n; i++ {
		dotRowsF32(out[i*ldo:i*ldo+m], a[i*lda:i*lda+k], b, k)
	}
}

// wsumRowsF32 sets out[j] = Σ_t e[t]·v[t*stride+j] for j < len(out), t < len(e),
// summing in t order: attention's probability-weighted sum of value rows.
func wsumRowsF32(out, e, v []float32, stride int) {
	cols := len(out)
	checkRows("wsumRowsF32", len(v), len(e), cols, stride)
	c8 := 0
	if useAsm && len(e) > 0 {
		c8 = cols &^ 7
		if c8 > 0 {
			wsumF32(&out[0], &e[0], &v[0], stride, len(e), c8)
		}
	}
	if c8 == cols {
		return
	}
	o := out[c8:]
	clear(o)
	for t, a := range e {
		axpy(o, a, v[t*stride+c8:t*stride+cols])
	}
}

// wsumRows16 is wsumRowsF32 for F16 or BF16 (bf) bits v.
func wsumRows16(out, e []float32, v []uint16, stride int, bf bool) {
	cols := len(out)
	checkRows("wsumRows16", len(v), len(e), cols, stride)
	c8 := 0
	if useAsm && len(e) > 0 {
		c8 = cols &^ 7
		if c8 > 0 {
			if bf {
				wsumBF16(&out[0], &e[0], &v[0], stride, len(e), c8)
			} else {
				wsumF16(&out[0], &e[0], &v[0], stride, len(e), c8)
			}
		}
	}
	if c8 == cols {
		return
	}
	o := out[c8:]
	clear(o)
	for t, a := range e {
		if bf {
			axpyBF16(o, a, v[t*stride+c8:t*stride+cols])
		} else {
			axpyF16(o, a, v[t*stride+c8:t*stride+cols])
		}
	}
}

// decode16 widens a row of F16 or BF16 bits into dst (len(dst) == len(src)).
// Widening is exact, so the assembly and Go give the same bits.
func decode16(dst []float32, src []uint16, bf bool) {
	src = src[:len(dst)]
	n8 := 0
	if useAsm {
		n8 = len(dst) &^ 7
		if n8 > 0 {
			if bf {
				widenBF16(&dst[0], &src[0], n8)
			} else {
				widenF16(&dst[0], &src[0], n8)
			}
		}
	}
	decode16Go(dst[n8:], src[n8:], bf)
}

// decode16Go is decode16 in plain Go.
func decode16Go(dst []float32, src []uint16, bf bool) {
	src = src[:len(dst)]
	if bf {
		for i, h := range src {
			dst[i] = bf16ToF32(h)
		}
		return
	}
	t := f16Table
	for i, h := range src {
		dst[i] = t[h]
	}
}

// expShiftF32 sets w[i] = float32(exp(float64(w[i] − m))), the subtraction in
// float32: the softmax's exponentials. The assembly evaluates exp as expFMA
// does, four lanes at a time, and expFMA takes the last len(w)%4, so a value
// does not depend on where in w it sits.
func expShiftF32(w []float32, m float32) {
	if !useAsm {
		for i, s := range w {
			w[i] = float32(math.Exp(float64(s - m)))
		}
		return
	}
	n4 := len(w) &^ 3
	if n4 > 0 {
		expShift(&w[0], m, n4)
	}
	for i := n4; i < len(w); i++ {
		w[i] = float32(expFMA(float64(w[i] - m)))
	}
}

// siluMulF32 sets out[i] = float32(g/(1+exp(−g)))·u[i] with g = gate[i] in
// float64: SwiGLU's silu(gate)·up. out may be gate or up.
func siluMulF32(out, gate, up []float32) {
	n := len(out)
	gate, up = gate[:n], up[:n]
	if !useAsm {
		for i, x := range gate {
			out[i] = float32(float64(x)/(1+math.Exp(-float64(x)))) * up[i]
		}
		return
	}
	n4 := n &^ 3
	if n4 > 0 {
		siluMul(&out[0], &gate[0], &up[0], n4)
	}
	for i := n4; i < n; i++ {
		x := float64(gate[i])
		out[i] = float32(x/(1+expFMA(-x))) * up[i]
	}
}

// expFMA is the assembly's exp (exp_amd64.s) in Go, operation for operation,
// so that the elements a vector loop leaves over get the same bits: x clamped
// to [−708, 709], n = round(x·log2 e) by the 1.5·2⁵² trick, r = x − n·ln 2 in
// two fused steps, a degree-13 Taylor polynomial by Horner's rule in fused
// multiply-adds, times 2ⁿ built in the exponent bits.
func expFMA(x float64) float64 {
	const (
		log2e = 1.4426950408889634
		magic = 6755399441055744.0
		ln2Hi = 0.693147180369123816490
		ln2Lo = 1.90821492927058770002e-10
	)
	if x != x {
		return x
	}
	x = max(min(x, 709), -708)
	t := math.FMA(x, log2e, magic)
	n := t - magic
	r := math.FMA(-n, ln2Hi, x)
	r = math.FMA(-n, ln2Lo, r)
	p := 1.6059043836821613e-10
	for _, c := range [...]float64{
		2.08767569878681e-09, 2.505210838544172e-08, 2.755731922398589e-07, 2.7557319223985893e-06,
		2.48015873015873e-05, 0.0001984126984126984, 0.001388888888888889, 0.008333333333333333,
		0.041666666666666664, 0.16666666666666666, 0.5, 1, 1,
	} {
		p = math.FMA(r, p, c)
	}
	scale := math.Float64frombits((math.Float64bits(t) + 0xBCC80000000003FF) << 52)
	return p * scale
}
