package cuda

import "fmt"

// Launch geometry: the block and grid each kernel family runs with. The
// constants mirror the #defines of the .cu files.
const (
	blockElementwise = 256
	blockRow         = 256  // rmsnorm, add_rmsnorm, embedding: one block per row
	blockSelect      = 1024 // argmax, topk: one block per row
	warpsHeadNorm    = 4    // head_rmsnorm: one warp per head slice

	decodeWarps  = 8  // warps a decode attention block aims for (decodeBlock)
	maxGroup     = 32 // most query heads per KV head decode attention packs
	prefillWarps = 4  // PREFILL_WARPS
	prefillBQ    = 16 // PREFILL_BQ: query rows per prefill block
	prefillBK    = 16 // PREFILL_BK: keys per shared-memory tile

	gemvWarps   = 4  // GEMV_WARPS: output rows per block
	gemvMaxRows = 16 // GEMV_MAX_ROWS: most input rows one GEMV launch takes

	// maxSplits bounds the decode attention splits per head; the partials
	// scratch is sized for it.
	maxSplits = 64
	// minSplitKeys is the fewest keys a decode split gets, so that a block
	// has enough work to amortise its launch and its partial.
	minSplitKeys = 64
	// minBucket is the smallest context bucket; a captured decode graph
	// covers every context length of its bucket.
	minBucket = 256

	// maxGrid caps grid-stride kernels' grids.
	maxGrid = 65535
)

// gridFor returns the grid of a grid-stride kernel over n elements.
func gridFor(n int64, block int) dim3 {
	g := (n + int64(block) - 1) / int64(block)
	return dim3{uint32(max(1, min(g, maxGrid))), 1, 1}
}

// bucket returns the context bucket of a key count: the next power of two,
// at least minBucket.
func bucket(kvLen int) int {
	b := minBucket
	for b < kvLen {
		b <<= 1
	}
	return b
}

// attnSplits returns how many splits decode attention cuts a bucket into. It
// aims for two blocks per SM over all heads, in powers of two, with at least
// minSplitKeys keys per split of a full bucket and at most maxSplits splits.
// It depends on the bucket, not on the exact length, so a graph captured for
// a bucket launches the right grid for all of it; the kernel shares the real
// length's keys out among the splits when it runs.
func attnSplits(bkt, heads, sms int) int {
	want := max(1, (2*max(sms, 1)+heads-1)/max(heads, 1))
	splits := 1
	for splits < want {
		splits <<= 1
	}
	return max(1, min(splits, maxSplits, bkt/minSplitKeys))
}

// splitRange returns the keys [t0, t1) decode attention split s of splits
// covers for kvLen visible keys, as attn_decode computes it.
func splitRange(kvLen, s, splits int) (t0, t1 int) {
	return s * kvLen / splits, (s + 1) * kvLen / splits
}

// decodeBlock returns the warps of an attn_decode block for g query heads
// per KV head: R = max(1, decodeWarps/g) warps per head, g·R in all.
func decodeBlock(g int) int { return g * max(1, decodeWarps/g) }

// decodeTileKeys is decode_tile_keys of attention.cu: the keys of one
// shared-memory tile.
func decodeTileKeys(headDim int) int {
	if headDim > 128 {
		return 4096 / headDim
	}
	return 32
}

// decodeShmem returns attn_decode's dynamic shared memory: a K and a V tile
// of f32, which the end of the kernel reuses for the warps' partials.
func decodeShmem(headDim, warps, dpl int) uint32 {
	return uint32(4 * max(2*decodeTileKeys(headDim)*headDim, warps*(2+32*dpl)))
}

// dimsPerLane returns the attention kernels' DPL for a head size: the
// smallest variant with 32·DPL ≥ headDim.
func dimsPerLane(headDim int) (int, error) {
	for _, d := range dplVariants {
		if headDim <= 32*d {
			return d, nil
		}
	}
	return 0, fmt.Errorf("head_dim %d is larger than the %d the attention kernels support", headDim, 32*dplVariants[len(dplVariants)-1])
}

// dplIndex returns the index of a dimsPerLane result in dplVariants.
func dplIndex(dpl int) int {
	for i, v := range dplVariants {
		if v == dpl {
			return i
		}
	}
	return 0
}

// prefillGrid returns the grid and shared memory of attn_prefill: one block
// per (tile of prefillBQ queries, head), with a key and a value tile of f32.
func prefillGrid(n, heads, headDim int) (dim3, uint32) {
	return dim3{uint32((n + prefillBQ - 1) / prefillBQ), uint32(heads), 1}, uint32(2 * prefillBK * headDim * 4)
}

// GEMVMaxRows is the most rows of x the GEMV path takes (MatMulWith with
// PathGEMV); the automatic path sends more to cuBLAS.
const GEMVMaxRows = gemvMaxRows

// stepRows reports whether an op of n rows is shaped like a decode step: one
// token, or one token of each of up to gemvMaxRows sequences (a batched
// step). Such ops collect in the segment, may fold (fuse.go) and may be
// captured into a graph; anything larger launches at once.
func stepRows(n int) bool { return n >= 1 && n <= gemvMaxRows }

// rowBucket returns the batch-size bucket of a decode matmul of n ≤
// gemvMaxRows rows: 1, 2, 4, 8 or 16, the next power of two. The tuner
// measures each bucket at its largest n and uses the choice for all of it.
func rowBucket(n int) int {
	b := 1
	for b < n {
		b <<= 1
	}
	return b
}

// gemvNarrowRows is the most rows the 16-byte GEMV kernels' narrow entry
// points take; the wide ones (family + "w") take the rest up to gemvMaxRows.
const gemvNarrowRows = 4

// gemvWide returns the 16-byte GEMV kernel family for n rows of x.
func gemvWide(f family, n int) family {
	if n <= gemvNarrowRows {
		return f
	}
	switch f {
	case famGEMV16:
		return famGEMV16W
	case famGEMV16x3:
		return famGEMV16x3W
	case famGEMV16GLU:
		return famGEMV16GLUW
	}
	return f
}

// gemvGrid returns the grid of a GEMV over o output rows.
func gemvGrid(o int) dim3 { return dim3{uint32((o + gemvWarps - 1) / gemvWarps), 1, 1} }

// gemv16OK reports whether the 16-byte GEMV kernel can take a matrix: 16-bit
// weights with rows of whole 16-byte chunks, and 16-byte aligned operands.
func gemv16OK(k int, wPtr, xPtr uint64, sixteenBit bool) bool {
	return sixteenBit && k%8 == 0 && wPtr%16 == 0 && xPtr%16 == 0
}
