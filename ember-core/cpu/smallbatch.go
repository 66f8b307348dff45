package cpu

import "github.com/ember-infer/ember/ember-core/device"

// MatMul with a few rows of x (a batched decode step: one row per sequence)
// over F16 or BF16 weights takes neither the decode nor the prefill path. The
// prefill path widens every weight block into an f32 panel first, which at a
// few rows costs as much as the multiplication (a bandwidth-bound decode
// reads each weight byte once; the panel writes and rereads four); the decode
// path would read the weights once per row. dotBatch16 widens in registers as
// decode does, a group of three (AVX-512) or four (AVX2) weight rows at a
// time, and multiplies each group by every row of x while it is in L1: the
// weights come from memory once for the whole batch, and each widened vector
// serves up to eight rows of x.
//
// Every element is summed in the decode dot loops' order, so a row of a small
// batch has exactly the bits of that row alone (MatMul with n = 1) and of that
// row in a prefill GEMM — except with EMBER_KERNELS=avx512bf16, whose decode
// uses VDPBF16PS (dotRowsDPBF16) and agrees with this only to rounding.

// smallBatchMax is the most rows of x MatMul multiplies with dotBatch16; above
// it the panel's widening is spread over enough rows to pay for itself and the
// GEMM tile's register blocking wins.
const smallBatchMax = 16

// smallBatchRows is MatMul's block of weight rows for dotBatch16 over o rows
// and threads workers: a multiple of 12, so that blocks split into the
// kernels' groups of three (AVX-512) and four (AVX2) with no row left over,
// about eight blocks per thread so the dynamic split evens out, at most 96.
func smallBatchRows(o, threads int) int {
	r := (o + 8*threads - 1) / (8 * threads)
	return min(96, max(12, (r+11)/12*12))
}

// smallBatch reports whether MatMul takes dotBatch16 for n rows of x against
// weights of type dt.
func smallBatch(n int, dt device.DType) bool {
	return n > 1 && n <= smallBatchMax && (dt == device.BF16 || dt == device.F16)
}

// dotBatch16 sets out[i*ldo+r] = Σ_p x[i*ldx+p]·w[r*stride+p] over p < k, for
// i < n and r < rows, with F16 or BF16 (bf) bits w: each element exactly as
// dotRows16 computes it for x row i.
func dotBatch16(out []float32, ldo int, x []float32, ldx, n int, w []uint16, k, stride, rows int, bf bool) {
	checkRows("dotBatch16 x", len(x), n, k, ldx)
	checkRows("dotBatch16 w", len(w), rows, k, stride)
	checkRows("dotBatch16 out", len(out), n, rows, ldo)
	if n == 0 || rows == 0 {
		return
	}
	if k == 0 {
		for i := range n {
			clear(out[i*ldo : i*ldo+rows])
		}
		return
	}
	// The assembly takes groups of wg weight rows and (AVX2) of two x rows;
	// the rows of either left over go through dotRows16, which sums in the
	// same order.
	var wg, nx int
	switch {
	case use512:
		wg, nx = 3, n
	case useAsm && k >= 8:
		wg, nx = 4, n&^1
	}
	rowsG := 0
	if wg > 0 {
		rowsG = rows - rows%wg
	}
	if rowsG == 0 || nx == 0 {
		dotBatch16Go(out, ldo, x, ldx, n, w, k, stride, rows, bf)
		return
	}
	switch {
	case use512 && bf:
		bdots512BF16(&out[0], ldo, &x[0], ldx, n, &w[0], k, stride, rowsG)
	case use512:
		bdots512F16(&out[0], ldo, &x[0], ldx, n, &w[0], k, stride, rowsG)
	case bf:
		mask, perm := tailArgs(k)
		bdotsBF16(&out[0], ldo, &x[0], ldx, nx/2, &w[0], k, stride, rowsG, mask, perm)
	default:
		mask, perm := tailArgs(k)
		bdotsF16(&out[0], ldo, &x[0], ldx, nx/2, &w[0], k, stride, rowsG, mask, perm)
	}
	if rowsG < rows {
		for i := range nx {
			dotRows16(out[i*ldo+rowsG:i*ldo+rows], x[i*ldx:i*ldx+k], w[rowsG*stride:], stride, bf)
		}
	}
	for i := nx; i < n; i++ {
		dotRows16(out[i*ldo:i*ldo+rows], x[i*ldx:i*ldx+k], w, stride, bf)
	}
}

// dotBatch16Go is dotBatch16 through dotRows16, weight row by weight row, so
// that a row is read from memory once and then from L1 for every row of x:
// the pure-Go kernel (with the Go kernel set) and the assembly's leftovers.
func dotBatch16Go(out []float32, ldo int, x []float32, ldx, n int, w []uint16, k, stride, rows int, bf bool) {
	for r := range rows {
		wr := w[r*stride : r*stride+k]
		for i := range n {
			dotRows16(out[i*ldo+r:i*ldo+r+1], x[i*ldx:i*ldx+k], wr, k, bf)
		}
	}
}
