//go:build amd64 && !purego

package cpu

import "golang.org/x/sys/cpu"

// The assembly needs AVX2 (256-bit integer ops, VPERMD), FMA and F16C
// (VCVTPH2PS); x/sys/cpu reports AVX2 only when the OS saves the YMM state.
var haveAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA && cpu.X86.HasF16C

const asmBuilt = true

// Assembly kernels (kernels_amd64.s). Callers in kernels.go check every bound;
// mask and perm are nil when k%8 == 0.

//go:noescape
func dotsF32(out *float32, x *float32, w *float32, k int, stride int, rows int, mask *uint32)

//go:noescape
func dotsBF16(out *float32, x *float32, w *uint16, k int, stride int, rows int, mask *uint32, perm *uint32)

//go:noescape
func dotsF16(out *float32, x *float32, w *uint16, k int, stride int, rows int, mask *uint32, perm *uint32)

//go:noescape
func gemm4x3(c *float32, ldc int, a *float32, lda int, b *float32, ldb int, m int, k int, mask *uint32)

//go:noescape
func wsumF32(out *float32, e *float32, v *float32, stride int, ctx int, cols int)

//go:noescape
func wsumBF16(out *float32, e *float32, v *uint16, stride int, ctx int, cols int)

//go:noescape
func wsumF16(out *float32, e *float32, v *uint16, stride int, ctx int, cols int)

//go:noescape
func wsum4F32(out *float32, ldo int, e *float32, lde int, v *float32, stride int, ctx int, cols int)

//go:noescape
func widenBF16(dst *float32, src *uint16, n int)

//go:noescape
func widenF16(dst *float32, src *uint16, n int)

//go:noescape
func narrowF16(dst *uint16, src *float32, n int)

//go:noescape
func expShift(w *float32, m float32, n int)

//go:noescape
func siluMul(out *float32, gate *float32, u *float32, n int)

// The AVX-512 kernels (kernels512_amd64.s) need F (512-bit float ops, opmask
// registers), BW (16-bit element moves and widening) and VL (masked 256-bit
// loads); x/sys/cpu reports them only when the OS saves the ZMM and opmask
// state.
var haveAVX512 = haveAVX2 && cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VL

//go:noescape
func dots512F32(out *float32, x *float32, w *float32, k int, stride int, rows int)

//go:noescape
func dots512BF16(out *float32, x *float32, w *uint16, k int, stride int, rows int)

//go:noescape
func dots512F16(out *float32, x *float32, w *uint16, k int, stride int, rows int)

//go:noescape
func gemm512(c *float32, ldc int, a *float32, lda int, b *float32, ldb int, m int, k int)

//go:noescape
func wsum512F32(out *float32, e *float32, v *float32, stride int, ctx int, cols int)

//go:noescape
func wsum4x512F32(out *float32, ldo int, e *float32, lde int, v *float32, stride int, ctx int, cols int)

//go:noescape
func wsum512BF16(out *float32, e *float32, v *uint16, stride int, ctx int, cols int)

//go:noescape
func wsum512F16(out *float32, e *float32, v *uint16, stride int, ctx int, cols int)

//go:noescape
func widen512BF16(dst *float32, src *uint16, n int)

//go:noescape
func widen512F16(dst *float32, src *uint16, n int)

// The VDPBF16PS decode kernel also needs AVX512_BF16.
var haveAVX512BF16 = haveAVX512 && cpu.X86.HasAVX512BF16

// expShift512 and siluMul512 are expShift and siluMul sixteen elements a
// step (AVX-512F), for n a multiple of 16, with the same bits.
//
//go:noescape
func expShift512(w *float32, m float32, n int)

//go:noescape
func siluMul512(out *float32, gate *float32, u *float32, n int)

//go:noescape
func dotsDPBF16(out *float32, xs *uint16, w *uint16, k int, stride int, rows int)
