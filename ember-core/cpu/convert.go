package cpu

import (
	"unsafe"

	"github.com/ember-infer/ember/ember-core/safetensors"
)

// littleEndian reports whether the host stores multi-byte values little end
// first. LoadWeight can alias the mmap only then; on a big-endian host it
// decodes a copy.
var littleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// f16Table maps every IEEE half bit pattern to its float32 value. A table
// lookup is several times faster than decoding the bits in the matmul loop,
// and 256 KiB is small next to any model.
var f16Table = func() *[1 << 16]float32 {
	var t [1 << 16]float32
	for i := range t {
		t[i] = safetensors.F16ToF32(uint16(i))
	}
	return &t
}()

// The scalar conversions are safetensors', so that weights read from a file,
// values uploaded to any backend and the CPU's kernels round alike; these
// short names inline to them.

// bf16ToF32 widens a bfloat16 bit pattern exactly.
func bf16ToF32(h uint16) float32 { return safetensors.BF16ToF32(h) }

// f32ToBF16 narrows f to bfloat16 with round to nearest, ties to even; a NaN
// stays a quiet NaN of the same sign.
func f32ToBF16(f float32) uint16 { return safetensors.F32ToBF16(f) }

// f32ToF16 narrows f to IEEE half with round to nearest, ties to even; values
// out of range become ±Inf and NaN stays NaN.
func f32ToF16(f float32) uint16 { return safetensors.F32ToF16(f) }

// encode16 narrows src into F16 or BF16 bits in dst (len(dst) == len(src)).
// F16 goes eight values at a time through F16C where the assembly is in use
// (a decode step's KV append: 6 ns a value in Go, a layer's 2,048 of them
// 12 µs), with the same bits (TestNarrowF16Bits).
func encode16(dst []uint16, src []float32, bf bool) {
	src = src[:len(dst)]
	if bf {
		for i, v := range src {
			dst[i] = f32ToBF16(v)
		}
		return
	}
	n8 := 0
	if useAsm {
		if n8 = len(dst) &^ 7; n8 > 0 {
			narrowF16(&dst[0], &src[0], n8)
		}
	}
	for i, v := range src[n8:] {
		dst[n8+i] = f32ToF16(v)
	}
}

// The dot products below share one summation order — four interleaved
// accumulators over i ≡ 0..3 (mod 4), the tail into the first, then
// (s0+s1)+(s2+s3) — so that a weight row decoded on the fly (decode, n = 1)
// and the same row decoded into scratch first (prefill) give bitwise equal
// results, and so does any split of the work across threads.

// dotF32 returns Σ a[i]·b[i] over len(a).
func dotF32(a, b []float32) float32 {
	n := len(a)
	b = b[:n]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= n; i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < n; i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// dotBF16 returns Σ a[i]·bf16(b[i]) over len(a), in dotF32's order.
func dotBF16(a []float32, b []uint16) float32 {
	n := len(a)
	b = b[:n]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= n; i += 4 {
		s0 += a[i] * bf16ToF32(b[i])
		s1 += a[i+1] * bf16ToF32(b[i+1])
		s2 += a[i+2] * bf16ToF32(b[i+2])
		s3 += a[i+3] * bf16ToF32(b[i+3])
	}
	for ; i < n; i++ {
		s0 += a[i] * bf16ToF32(b[i])
	}
	return (s0 + s1) + (s2 + s3)
}

// dotF16 returns Σ a[i]·f16(b[i]) over len(a), in dotF32's order.
func dotF16(a []float32, b []uint16) float32 {
	n := len(a)
	b = b[:n]
	t := f16Table
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= n; i += 4 {
		s0 += a[i] * t[b[i]]
		s1 += a[i+1] * t[b[i+1]]
		s2 += a[i+2] * t[b[i+2]]
		s3 += a[i+3] * t[b[i+3]]
	}
	for ; i < n; i++ {
		s0 += a[i] * t[b[i]]
	}
	return (s0 + s1) + (s2 + s3)
}

// axpy adds a·x into y over len(y).
func axpy(y []float32, a float32, x []float32) {
	x = x[:len(y)]
	for i, v := range x {
		y[i] += a * v
	}
}

// axpyBF16 adds a·bf16(x) into y over len(y).
func axpyBF16(y []float32, a float32, x []uint16) {
	x = x[:len(y)]
	for i, h := range x {
		y[i] += a * bf16ToF32(h)
	}
}

// axpyF16 adds a·f16(x) into y over len(y).
func axpyF16(y []float32, a float32, x []uint16) {
	x = x[:len(y)]
	t := f16Table
	for i, h := range x {
		y[i] += a * t[h]
	}
}
