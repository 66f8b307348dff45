//go:build amd64 && !purego

package cpu

// The small-batch kernels (smallbatch_amd64.s). dotBatch16 checks every bound
// first. AVX-512: n ≥ 1 x rows, the first rows - rows%3 weight rows, k ≥ 1.
// AVX2: bdots nxg ≥ 1 groups of 2 x rows, rows a multiple of 4, k ≥ 8, mask
// and perm nil when k%8 == 0; bgemm4x3 and bwgemm4x3 4 x rows, m a multiple
// of 3 panel rows (k apart, as are bwgemm4x3's weight rows), k ≥ 1, mask nil
// when k%8 == 0, pf only prefetched, never read.

//go:noescape
func bdots512BF16(out *float32, ldo int, x *float32, ldx int, n int, w *uint16, k int, stride int, rows int)

//go:noescape
func bdots512F16(out *float32, ldo int, x *float32, ldx int, n int, w *uint16, k int, stride int, rows int)

//go:noescape
func bgemm4x3(c *float32, ldc int, a *float32, lda int, b *float32, ldb int, m int, k int, mask *uint32, pf *uint16)

//go:noescape
func bwgemm4x3BF16(c *float32, ldc int, a *float32, lda int, b *float32, w *uint16, m int, k int, mask *uint32, pf *uint16)

//go:noescape
func bwgemm4x3F16(c *float32, ldc int, a *float32, lda int, b *float32, w *uint16, m int, k int, mask *uint32, pf *uint16)

//go:noescape
func bdotsBF16(out *float32, ldo int, x *float32, ldx int, nxg int, w *uint16, k int, stride int, rows int, mask *uint32, perm *uint32)

//go:noescape
func bdotsF16(out *float32, ldo int, x *float32, ldx int, nxg int, w *uint16, k int, stride int, rows int, mask *uint32, perm *uint32)
