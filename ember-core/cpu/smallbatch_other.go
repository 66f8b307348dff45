//go:build !amd64 || purego

package cpu

// Without the amd64 assembly dotBatch16 runs its Go loop; these are never
// called.

func bdots512BF16(out *float32, ldo int, x *float32, ldx int, n int, w *uint16, k int, stride int, rows int) {
	panic("cpu: assembly kernels are not built")
}

func bdots512F16(out *float32, ldo int, x *float32, ldx int, n int, w *uint16, k int, stride int, rows int) {
	panic("cpu: assembly kernels are not built")
}

func bgemm4x3(c *float32, ldc int, a *float32, lda int, b *float32, ldb int, m int, k int, mask *uint32, pf *uint16) {
	panic("cpu: assembly kernels are not built")
}

func bwgemm4x3BF16(c *float32, ldc int, a *float32, lda int, b *float32, w *uint16, m int, k int, mask *uint32, pf *uint16) {
	panic("cpu: assembly kernels are not built")
}

func bwgemm4x3F16(c *float32, ldc int, a *float32, lda int, b *float32, w *uint16, m int, k int, mask *uint32, pf *uint16) {
	panic("cpu: assembly kernels are not built")
}

func bdotsBF16(out *float32, ldo int, x *float32, ldx int, nxg int, w *uint16, k int, stride int, rows int, mask *uint32, perm *uint32) {
	panic("cpu: assembly kernels are not built")
}

func bdotsF16(out *float32, ldo int, x *float32, ldx int, nxg int, w *uint16, k int, stride int, rows int, mask *uint32, perm *uint32) {
	panic("cpu: assembly kernels are not built")
}
