//go:build !amd64 || purego

package cpu

// Without the amd64 assembly (another GOARCH, or the purego build tag) the
// pure-Go kernels in kernels.go run; these stubs are never called.

const haveAVX2 = false

const asmBuilt = false

func dotsF32(out *float32, x *float32, w *float32, k int, stride int, rows int, mask *uint32) {
	panic("cpu: assembly kernels are not built")
}

func dotsBF16(out *float32, x *float32, w *uint16, k int, stride int, rows int, mask *uint32, perm *uint32) {
	panic("cpu: assembly kernels are not built")
}

func dotsF16(out *float32, x *float32, w *uint16, k int, stride int, rows int, mask *uint32, perm *uint32) {
	panic("cpu: assembly kernels are not built")
}

func gemm4x3(c *float32, ldc int, a *float32, lda int, b *float32, ldb int, m int, k int, mask *uint32) {
	panic("cpu: assembly kernels are not built")
}

func wsumF32(out *float32, e *float32, v *float32, stride int, ctx int, cols int) {
	panic("cpu: assembly kernels are not built")
}

func wsumBF16(out *float32, e *float32, v *uint16, stride int, ctx int, cols int) {
	panic("cpu: assembly kernels are not built")
}

func wsumF16(out *float32, e *float32, v *uint16, stride int, ctx int, cols int) {
	panic("cpu: assembly kernels are not built")
}

func widenBF16(dst *float32, src *uint16, n int) { panic("cpu: assembly kernels are not built") }

func widenF16(dst *float32, src *uint16, n int)  { panic("cpu: assembly kernels are not built") }
func narrowF16(dst *uint16, src *float32, n int) { panic("cpu: assembly kernels are not built") }

func expShift(w *float32, m float32, n int) { panic("cpu: assembly kernels are not built") }

func siluMul(out *float32, gate *float32, u *float32, n int) {
	panic("cpu: assembly kernels are not built")
}

func expShift512(w *float32, m float32, n int) { panic("cpu: assembly kernels are not built") }

func siluMul512(out *float32, gate *float32, u *float32, n int) {
	panic("cpu: assembly kernels are not built")
}

const haveAVX512 = false

func dots512F32(out *float32, x *float32, w *float32, k int, stride int, rows int) {
	panic("cpu: assembly kernels are not built")
}

func dots512BF16(out *float32, x *float32, w *uint16, k int, stride int, rows int) {
	panic("cpu: assembly kernels are not built")
}

func dots512F16(out *float32, x *float32, w *uint16, k int, stride int, rows int) {
	panic("cpu: assembly kernels are not built")
}

func gemm512(c *float32, ldc int, a *float32, lda int, b *float32, ldb int, m int, k int) {
	panic("cpu: assembly kernels are not built")
}

func wsum512F32(out *float32, e *float32, v *float32, stride int, ctx int, cols int) {
	panic("cpu: assembly kernels are not built")
}

func wsum4F32(out *float32, ldo int, e *float32, lde int, v *float32, stride int, ctx int, cols int) {
	panic("cpu: assembly kernels are not built")
}

func wsum4x512F32(out *float32, ldo int, e *float32, lde int, v *float32, stride int, ctx int, cols int) {
	panic("cpu: assembly kernels are not built")
}

func wsum512BF16(out *float32, e *float32, v *uint16, stride int, ctx int, cols int) {
	panic("cpu: assembly kernels are not built")
}

func wsum512F16(out *float32, e *float32, v *uint16, stride int, ctx int, cols int) {
	panic("cpu: assembly kernels are not built")
}

func widen512BF16(dst *float32, src *uint16, n int) { panic("cpu: assembly kernels are not built") }

func widen512F16(dst *float32, src *uint16, n int) { panic("cpu: assembly kernels are not built") }

const haveAVX512BF16 = false

func dotsDPBF16(out *float32, xs *uint16, w *uint16, k int, stride int, rows int) {
	panic("cpu: assembly kernels are not built")
}
