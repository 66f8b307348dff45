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

func bdotsBF16(out *float32, ldo int, x *float32, ldx int, nxg int, w *uint16, k int, stride int, rows int, mask *uint32, perm *uint32) {
	panic("cpu: assembly kernels are not built")
}

func bdotsF16(out *float32, ldo int, x *float32, ldx int, nxg int, w *uint16, k int, stride int, rows int, mask *uint32, perm *uint32) {
	panic("cpu: assembly kernels are not built")
}
