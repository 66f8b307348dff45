//go:build linux && amd64 && !purego

package cpu

import "testing"

// TestDotBatch16StaysInBounds runs the small-batch kernels on weight rows and
// x rows that end exactly where mapped memory ends and start exactly where it
// starts, for every k up to 40 (every tail of 16 and of 8).
func TestDotBatch16StaysInBounds(t *testing.T) {
	forAsmKernels(t, func(t *testing.T) {
		f, h := guarded(t)
		r := newRand(32)
		copy(f, randVals(r, len(f), 1))
		for i := range h {
			h[i] &= 0x3fff // finite values whatever the bits were
		}
		for k := 1; k <= 40; k++ {
			for _, n := range []int{2, 4, 5, 8} {
				for _, rows := range []int{4, 5} {
					out := make([]float32, n*rows)
					nw, nx := rows*k, n*k
					for _, lo := range []int{len(h) - nw, 0} {
						for _, xlo := range []int{len(f) - nx, 0} {
							for _, bf := range []bool{true, false} {
								dotBatch16(out, rows, f[xlo:xlo+nx], k, n, h[lo:lo+nw], k, k, rows, bf, nil)
							}
						}
					}
				}
			}
		}
	})
}
