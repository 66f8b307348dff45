package cpu

import (
	"fmt"
	"math"
	"os"
)

// The inner loops of MatMul and Attention, with three implementations each:
// AVX-512 (F, BW, VL) assembly (kernels512_amd64.s) and AVX2 + FMA + F16C
// assembly (kernels_amd64.s), the best the CPU has chosen at start-up, and the
// pure-Go loops below, which are the fallback on every other machine and
// GOARCH and the reference both assembly paths are tested against
// (kernels_test.go).
//
// Where the CPU also has AVX512_BF16, EMBER_KERNELS=avx512bf16 makes decode's
// matrix-vector products over bfloat16 weights use VDPBF16PS on x split into
// three bfloat16 parts (dotRowsDPBF16), which keeps float32 accuracy but sums
// in its own order: a decoded row then no longer has the bits the same row
// gets in a prefill GEMM (it agrees to rounding). It is not the default
// because of that, and because decode is bound by reading the weights, which
// this does not change; a bfloat16 GEMM tile would not help prefill either,
// as exact products need three VDPBF16PS per 32 columns where the widened
// panel needs two FMAs.
//
// Each implementation is deterministic on its own: an output element's value
// never depends on the thread count, on how many rows a MatMul has, or on
// where in a tile it falls. The implementations sum dot products in different
// orders (sixteen FMA lanes, eight FMA lanes, four float32 accumulators) and
// agree to about 1e-6 relative to Σ|x·w|. The attention weighted sums, the
// widening loops, exp and SwiGLU give the same bits on both assembly paths
// (exp and SwiGLU run the same operations per lane on eight lanes or four).

// useAsm selects the assembly kernels and use512 their AVX-512 versions (only
// with useAsm). Tests flip them to compare the implementations.
// useDPBF16 selects dotRowsDPBF16 for decode over bfloat16 weights (only with
// use512).
var (
	useAsm    = haveAVX2 && kernelCap() >= kernelsAVX2
	use512    = useAsm && haveAVX512 && kernelCap() >= kernelsAVX512
	useDPBF16 = use512 && haveAVX512BF16 && kernelCap() >= kernelsAVX512BF16
)

// Kernel sets, in the order a process may be capped at.
const (
	kernelsGo = iota
	kernelsAVX2
	kernelsAVX512
	kernelsAVX512BF16
)

// kernelSetNames are the kernel sets' EMBER_KERNELS names.
var kernelSetNames = map[int]string{kernelsGo: "go", kernelsAVX2: "avx2", kernelsAVX512: "avx512", kernelsAVX512BF16: "avx512bf16"}

// kernelSetNamed returns the kernel set EMBER_KERNELS names.
func kernelSetNamed(name string) (int, bool) {
	for ks, n := range kernelSetNames {
		if n == name {
			return ks, true
		}
	}
	return 0, false
}

// kernelCap returns the most capable kernel set the environment allows:
// avx512 by default, EMBER_KERNELS=go|avx2|avx512|avx512bf16 sets it, and
// EMBER_NOASM (any value but "" or "0") means go.
func kernelCap() int {
	if v := os.Getenv("EMBER_NOASM"); v != "" && v != "0" {
		return kernelsGo
	}
	if ks, ok := kernelSetNamed(os.Getenv("EMBER_KERNELS")); ok {
		return ks
	}
	return kernelsAVX512
}

// CheckEnv reports an EMBER_KERNELS value kernelCap does not understand (it
// then uses the default), as one sentence for a command to stop on.
func CheckEnv() error {
	v := os.Getenv("EMBER_KERNELS")
	if _, ok := kernelSetNamed(v); ok || v == "" {
		return nil
	}
	return fmt.Errorf("EMBER_KERNELS=%q is not a CPU kernel set: want go, avx2, avx512 or avx512bf16", v)
}

// kernelSet returns the kernel set in use.
func kernelSet() int {
	switch {
	case useDPBF16:
		return kernelsAVX512BF16
	case use512:
		return kernelsAVX512
	case useAsm:
		return kernelsAVX2
	}
	return kernelsGo
}

// SIMD reports whether this process's CPU devices run assembly kernels (and so
// whether a probe should measure with vector instructions).
func SIMD() bool { return useAsm }

// SIMDWidth is the float32 lanes of the kernels in use: 16 for AVX-512, 8 for
// AVX2, 1 for pure Go. The bench probes measure with the same width.
func SIMDWidth() int {
	switch {
	case use512:
		return 16
	case useAsm:
		return 8
	}
	return 1
}

// Kernels names the inner loops this process's CPU devices run:
// "avx512f+bw+vl+bf16", "avx512f+bw+vl" or "avx2+fma+f16c" for the assembly
// (with the cap when the CPU has AVX-512 but runs AVX2), or "go" followed by
// why the assembly is not in use (not built for this GOARCH or with the purego
// tag, the CPU lacks an extension, or EMBER_NOASM / EMBER_KERNELS asks for Go).
func Kernels() string {
	switch {
	case useDPBF16:
		return "avx512f+bw+vl+bf16"
	case use512:
		return "avx512f+bw+vl"
	case useAsm && haveAVX512:
		return "avx2+fma+f16c (EMBER_KERNELS=avx2)"
	case useAsm:
		return "avx2+fma+f16c"
	case !asmBuilt:
		return "go (no assembly in this build)"
	case !haveAVX2:
		return "go (CPU lacks AVX2, FMA or F16C)"
	default:
		return "go (EMBER_NOASM or EMBER_KERNELS=go is set)"
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
	switch {
	case use512:
		dots512F32(&out[0], &x[0], &w[0], k, stride, rows)
		return
	case useAsm:
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
	case use512 && bf:
		dots512BF16(&out[0], &x[0], &w[0], k, stride, rows)
	case use512:
		dots512F16(&out[0], &x[0], &w[0], k, stride, rows)
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

// dpBlock is dotRowsDPBF16's column block: one VDPBF16PS covers 32 columns.
const dpBlock = 32

// splitXLen is the length of splitX3's output for a row of k columns.
func splitXLen(k int) int { return 3 * dpBlock * ((k + dpBlock - 1) / dpBlock) }

// splitX3 splits x into three bfloat16 parts, hi = bf16(x), mid = bf16(x −
// hi), lo = bf16(x − hi − mid), each rounded to nearest even, so that
// hi + mid + lo = x exactly for every finite x whose parts are not subnormal
// (|x| above about 1e-36): a bfloat16 holds 8 significant bits and each
// remainder at most 16, then 8. dst (splitXLen(len(x)) elements) gets, per
// 32-column block, hi[32], mid[32], lo[32], zero past len(x). It returns false,
// leaving dst unspecified, when x holds an Inf or NaN, which the parts cannot
// carry (Inf − Inf is NaN), or a value that rounds to a bfloat16 Inf (above
// about 3.39e38); callers then use the widening kernel.
func splitX3(dst []uint16, x []float32) bool {
	dst = dst[:splitXLen(len(x))]
	for b := 0; b*dpBlock < len(dst)/3; b++ {
		blk := dst[b*3*dpBlock : (b+1)*3*dpBlock]
		for i := range dpBlock {
			c := b*dpBlock + i
			if c >= len(x) {
				blk[i], blk[dpBlock+i], blk[2*dpBlock+i] = 0, 0, 0
				continue
			}
			v := x[c]
			if v-v != 0 {
				return false
			}
			hi := f32ToBF16(v)
			if hi&0x7fff == 0x7f80 {
				return false
			}
			r := v - bf16ToF32(hi)
			mid := f32ToBF16(r)
			lo := f32ToBF16(r - bf16ToF32(mid))
			blk[i], blk[dpBlock+i], blk[2*dpBlock+i] = hi, mid, lo
		}
	}
	return true
}

// dotRowsDPBF16 sets out[r] = Σ_i x[i]·w[r*stride+i] for i < k and bfloat16
// rows w, with xs = splitX3(x): VDPBF16PS on each part, the three sums kept
// apart and added last. Only with useDPBF16.
func dotRowsDPBF16(out []float32, xs []uint16, w []uint16, k, stride int) {
	rows := len(out)
	checkRows("dotRowsDPBF16", len(w), rows, k, stride)
	if len(xs) < splitXLen(k) {
		panic(fmt.Sprintf("cpu: dotRowsDPBF16: %d split elements for %d columns, want %d", len(xs), k, splitXLen(k)))
	}
	if rows == 0 {
		return
	}
	if k == 0 {
		clear(out)
		return
	}
	dotsDPBF16(&out[0], &xs[0], &w[0], k, stride, rows)
}

// gemmTileCols is how many rows of b gemmF32's assembly tile takes at once;
// a multiple of it keeps every column of out in the tile.
func gemmTileCols() int {
	if use512 {
		return 4
	}
	return 3
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
	if use512 && k > 0 {
		m4 := m &^ 3
		for ; i+4 <= n; i += 4 {
			if m4 > 0 {
				gemm512(&out[i*ldo], ldo, &a[i*lda], lda, &b[0], k, m4, k)
			}
			if m4 < m {
				for r := i; r < i+4; r++ {
					dotRowsF32(out[r*ldo+m4:r*ldo+m], a[r*lda:r*lda+k], b[m4*k:], k)
				}
			}
		}
	}
	if useAsm && !use512 && k > 0 {
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

// wsum4RowsF32 is wsumRowsF32 for four consecutive causal queries: for
// r < 4, out[r*ldo+j] = Σ_{t < ctx+r} e[r*lde+t]·v[t*stride+j], j < cols,
// each row with exactly wsumRowsF32's bits. With AVX-512 and cols a multiple
// of 64 (wsum4x512F32), or AVX2 and a multiple of 16 (wsum4F32), a value row
// is read once for the four; otherwise the rows go one at a time.
func wsum4RowsF32(out []float32, ldo int, e []float32, lde int, v []float32, stride, ctx, cols int) {
	checkRows("wsum4RowsF32 out", len(out), 4, cols, ldo)
	checkRows("wsum4RowsF32 e", len(e), 4, ctx+3, lde)
	checkRows("wsum4RowsF32 v", len(v), ctx+3, cols, stride)
	if useAsm && use512 && cols > 0 && cols%64 == 0 {
		wsum4x512F32(&out[0], ldo, &e[0], lde, &v[0], stride, ctx, cols)
		return
	}
	if useAsm && !use512 && cols > 0 && cols%16 == 0 {
		wsum4F32(&out[0], ldo, &e[0], lde, &v[0], stride, ctx, cols)
		return
	}
	for r := range 4 {
		wsumRowsF32(out[r*ldo:r*ldo+cols], e[r*lde:r*lde+ctx+r], v, stride)
	}
}

// wsumRowsF32 sets out[j] = Σ_t e[t]·v[t*stride+j] for j < len(out), t < len(e),
// summing in t order: attention's probability-weighted sum of value rows.
func wsumRowsF32(out, e, v []float32, stride int) {
	cols := len(out)
	checkRows("wsumRowsF32", len(v), len(e), cols, stride)
	c8 := 0
	if useAsm && len(e) > 0 {
		// Both assembly paths run one FMA chain per column in t order, so a
		// column's bits do not depend on which one took it.
		c8 = cols &^ 7
		c16 := 0
		if use512 {
			c16 = cols &^ 15
			if c16 > 0 {
				wsum512F32(&out[0], &e[0], &v[0], stride, len(e), c16)
			}
		}
		if c8 > c16 {
			wsumF32(&out[c16], &e[0], &v[c16], stride, len(e), c8-c16)
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
		c16 := 0
		if use512 {
			c16 = cols &^ 15
			switch {
			case c16 > 0 && bf:
				wsum512BF16(&out[0], &e[0], &v[0], stride, len(e), c16)
			case c16 > 0:
				wsum512F16(&out[0], &e[0], &v[0], stride, len(e), c16)
			}
		}
		switch {
		case c8 > c16 && bf:
			wsumBF16(&out[c16], &e[0], &v[c16], stride, len(e), c8-c16)
		case c8 > c16:
			wsumF16(&out[c16], &e[0], &v[c16], stride, len(e), c8-c16)
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
	if use512 && len(dst) > 0 {
		if bf {
			widen512BF16(&dst[0], &src[0], len(dst))
		} else {
			widen512F16(&dst[0], &src[0], len(dst))
		}
		return
	}
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
	n16 := 0
	if use512 {
		if n16 = len(w) &^ 15; n16 > 0 {
			expShift512(&w[0], m, n16)
		}
	}
	n4 := len(w) &^ 3
	if n4 > n16 {
		expShift(&w[n16], m, n4-n16)
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
	n16 := 0
	if use512 {
		if n16 = n &^ 15; n16 > 0 {
			siluMul512(&out[0], &gate[0], &up[0], n16)
		}
	}
	n4 := n &^ 3
	if n4 > n16 {
		siluMul(&out[n16], &gate[n16], &up[n16], n4-n16)
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
