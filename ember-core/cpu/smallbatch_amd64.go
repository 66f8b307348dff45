//go:build amd64 && !purego

package cpu

// The small-batch kernels (smallbatch_amd64.s). dotBatch16 checks every bound
// first. AVX-512: n ≥ 1 x rows, the first rows - rows%3 weight rows, k ≥ 1.
// AVX2: nxg ≥ 1 groups of 2 x rows, rows a multiple of 4, k ≥ 8, mask and perm
// nil when k%8 == 0.

//go:noescape
func bdots512BF16(out *float32, ldo int, x *float32, ldx int, n int, w *uint16, k int, stride int, rows int)

//go:noescape
func bdots512F16(out *float32, ldo int, x *float32, ldx int, n int, w *uint16, k int, stride int, rows int)

//go:noescape
func bdotsBF16(out *float32, ldo int, x *float32, ldx int, nxg int, w *uint16, k int, stride int, rows int, mask *uint32, perm *uint32)

//go:noescape
func bdotsF16(out *float32, ldo int, x *float32, ldx int, nxg int, w *uint16, k int, stride int, rows int, mask *uint32, perm *uint32)
