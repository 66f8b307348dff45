package cpu

import (
	"github.com/ember-infer/ember/ember-core/device"
)

// MatMul with a few rows of x (a batched decode step: one row per sequence)
// over F16 or BF16 weights takes neither the decode nor the prefill path. The
// prefill path widens every weight block into an f32 panel first, which at a
// few rows costs as much as the multiplication (a bandwidth-bound decode
// reads each weight byte once; the panel writes and rereads four); the decode
// path would read the weights once per row. The kernels read a group of
// weight rows from memory once and multiply it by every row of x while it is
// in L1. With AVX-512, dotBatch16 widens a group of three rows in registers
// and each widened vector serves up to eight rows of x. With AVX2 the
// widening (a shift or a conversion per vector) takes the ports the FMAs
// need, so from four rows of x on it widens each group of three weight rows
// once into an f32 panel, during the first tile of x rows, and every tile of
// four x rows runs twelve accumulators against it (dotBatchPanel); with two
// or three rows of x it widens in registers, four weight rows against pairs
// of x rows.
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
// about eight blocks per thread so the dynamic split evens out, at most 576
// (longer runs of the big weights per thread, as for one row: matmul.go).
func smallBatchRows(o, threads int) int {
	r := (o + 8*threads - 1) / (8 * threads)
	return min(576, max(12, (r+11)/12*12))
}

// smallBatch reports whether MatMul takes dotBatch16 for n rows of x against
// weights of type dt.
func smallBatch(n int, dt device.DType) bool {
	return n > 1 && n <= smallBatchMax && (dt == device.BF16 || dt == device.F16)
}

// dotBatch16 sets out[i*ldo+r] = Σ_p x[i*ldx+p]·w[r*stride+p] over p < k, for
// i < n and r < rows, with F16 or BF16 (bf) bits w: each element exactly as
// dotRows16 computes it for x row i. sc is the calling worker's scratch (for
// the AVX2 kernels' panel); nil makes a fresh one.
func dotBatch16(out []float32, ldo int, x []float32, ldx, n int, w []uint16, k, stride, rows int, bf bool, sc *scratch) {
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
	switch {
	case use512:
		// Groups of three weight rows; the rows - rows%3 left over go
		// through dotRows16, which sums in the same order.
		rowsG := rows - rows%3
		if rowsG > 0 && bf {
			bdots512BF16(&out[0], ldo, &x[0], ldx, n, &w[0], k, stride, rowsG)
		} else if rowsG > 0 {
			bdots512F16(&out[0], ldo, &x[0], ldx, n, &w[0], k, stride, rowsG)
		}
		if rowsG < rows {
			for i := range n {
				dotRows16(out[i*ldo+rowsG:i*ldo+rows], x[i*ldx:i*ldx+k], w[rowsG*stride:], stride, bf)
			}
		}
	case useAsm && n >= 4:
		if sc == nil {
			sc = new(scratch)
		}
		dotBatchPanel(out, ldo, x, ldx, n, w, k, stride, rows, bf, sc.batchPanel(batchPanelRows*k))
	case useAsm && k >= 8:
		// Two or three rows of x: groups of four weight rows widened in
		// registers against pairs of x rows (bdots), the rest through
		// dotRows16, which sums in the same order.
		nx, rowsG := n&^1, rows&^3
		if nx == 0 {
			rowsG = 0
		}
		if rowsG > 0 {
			mask, perm := tailArgs(k)
			if bf {
				bdotsBF16(&out[0], ldo, &x[0], ldx, nx/2, &w[0], k, stride, rowsG, mask, perm)
			} else {
				bdotsF16(&out[0], ldo, &x[0], ldx, nx/2, &w[0], k, stride, rowsG, mask, perm)
			}
		}
		for i := range n {
			if i < nx && rowsG == rows {
				continue
			}
			r0 := rowsG
			if i >= nx {
				r0 = 0
			}
			dotRows16(out[i*ldo+r0:i*ldo+rows], x[i*ldx:i*ldx+k], w[r0*stride:], stride, bf)
		}
	default:
		dotBatch16Go(out, ldo, x, ldx, n, w, k, stride, rows, bf)
	}
}

// batchPanelRows is how many weight rows dotBatchPanel widens at a time: a
// multiple of bgemm4x3's three.
const batchPanelRows = 3

// dotBatchPanel is dotBatch16 with the AVX2 kernels for n ≥ 4 rows of x; buf
// (batchPanelRows·k floats, the worker's) holds the panel.
// Per group of batchPanelRows weight rows: bwgemm4x3 multiplies the first
// four x rows by the group, widening its rows into an f32 panel (which stays
// in L1) as it goes, and bgemm4x3 every further four against the panel
// (twelve accumulators: seven loads for twelve FMAs); both prefetch the next
// group meanwhile. Rows of x past a multiple of four and panel rows past a
// multiple of three go through dotRowsF32 against the panel. The widening is
// exact and every kernel sums in the dot loops' order, so the bits are
// dotRows16's.
func dotBatchPanel(out []float32, ldo int, x []float32, ldx, n int, w []uint16, k, stride, rows int, bf bool, buf []float32) {
	mask, _ := tailArgs(k)
	k8 := k &^ 7
	for r0 := 0; r0 < rows; r0 += batchPanelRows {
		m := min(batchPanelRows, rows-r0)
		m3 := m - m%3
		panel := buf[:m*k]
		// The next group's first element, or the last one's: only
		// prefetched.
		pf := &w[min((r0+m)*stride, len(w)-1)]
		i := 0
		if stride == k && m3 > 0 {
			// The first four rows of x widen the panel's full vectors
			// as they go; the tails and the rows past m3 first.
			for r := range m3 {
				o := r*k + k8
				decode16Go(panel[o:(r+1)*k], w[r0*k+o:], bf)
			}
			decode16(panel[m3*k:], w[(r0+m3)*k:(r0+m)*k], bf)
			if bf {
				bwgemm4x3BF16(&out[r0], ldo, &x[0], ldx, &panel[0], &w[r0*k], m3, k, mask, pf)
			} else {
				bwgemm4x3F16(&out[r0], ldo, &x[0], ldx, &panel[0], &w[r0*k], m3, k, mask, pf)
			}
			i = 4
		} else {
			for r := range m {
				decode16(panel[r*k:(r+1)*k], w[(r0+r)*stride:], bf)
			}
		}
		for ; i+4 <= n; i += 4 {
			if m3 > 0 {
				bgemm4x3(&out[i*ldo+r0], ldo, &x[i*ldx], ldx, &panel[0], k, m3, k, mask, pf)
			}
		}
		for r := range n {
			if r < n&^3 {
				if m3 < m {
					dotRowsF32(out[r*ldo+r0+m3:r*ldo+r0+m], x[r*ldx:r*ldx+k], panel[m3*k:], k)
				}
				continue
			}
			dotRowsF32(out[r*ldo+r0:r*ldo+r0+m], x[r*ldx:r*ldx+k], panel, k)
		}
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
