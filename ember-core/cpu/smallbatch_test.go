package cpu

import (
	"fmt"
	"math"
	"testing"
)

// forKernelSets runs test once for each kernel set dotBatch16 has a path for
// (go, avx2, avx512), as subtests with that set in use; a set the CPU lacks is
// skipped with the reason.
func forKernelSets(t *testing.T, test func(t *testing.T)) {
	t.Helper()
	for _, ks := range []int{kernelsGo, kernelsAVX2, kernelsAVX512} {
		t.Run(kernelSetNames[ks], func(t *testing.T) {
			if ok, why := haveKernels(ks); !ok {
				t.Skip(why)
			}
			withKernels(ks, func() { test(t) })
		})
	}
}

// TestDotBatch16 checks every element of a small batch against the same row
// through dotRows16 (bitwise: the same kernel set sums it in the same order),
// against the pure-Go kernels and against a float64 sum (both within 1e-5 of
// Σ|x·w|), for every count of x rows up to smallBatchMax (every leftover of
// the assembly's groups of 4 or 2), weight rows that leave 0…3 over the groups
// of four, every k%16 tail, strides and leading dimensions longer than the
// rows, and slices at odd offsets. Elements of out outside the n×rows block
// must keep their values.
func TestDotBatch16(t *testing.T) {
	forKernelSets(t, func(t *testing.T) {
		r := newRand(31)
		for _, k := range []int{1, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 64, 100, 1031} {
			for n := 1; n <= smallBatchMax; n++ {
				for _, rows := range []int{1, 3, 4, 6, 8, 9, 15} {
					for _, bf := range []bool{true, false} {
						pad := (n + rows) % 3
						stride, ldx, ldo := k+pad, k+2*pad, rows+pad+1
						off := (k + n + rows) % 4
						x := randVals(r, n*ldx+off, 1)[off:]
						w := randBits16(r, rows*stride+off, bf)[off:]
						const sentinel = float32(-7.25)
						out := make([]float32, n*ldo)
						for i := range out {
							out[i] = sentinel
						}
						dotBatch16(out, ldo, x, ldx, n, w, k, stride, rows, bf, nil)
						goOut := make([]float32, len(out))
						withAsm(false, func() { dotBatch16(goOut, ldo, x, ldx, n, w, k, stride, rows, bf, nil) })
						wide := make([]float32, len(w))
						decode16Go(wide, w, bf)
						name := fmt.Sprintf("bf%v_k%d_n%d_rows%d", bf, k, n, rows)
						for i := range n {
							xi := x[i*ldx : i*ldx+k]
							alone := make([]float32, rows)
							dotRows16(alone, xi, w, stride, bf)
							checkBitwise(t, name+fmt.Sprintf(" x row %d vs dotRows16", i), out[i*ldo:i*ldo+rows], alone)
							for j := range rows {
								want, mag := refDot(xi, func(p int) float32 { return wide[j*stride+p] })
								tol := 1e-5*mag + 1e-30
								got := float64(out[i*ldo+j])
								if d := math.Abs(got - float64(goOut[i*ldo+j])); d > tol {
									t.Errorf("%s [%d,%d]: %v, Go %v (diff %.3g > %.3g)", name, i, j, got, goOut[i*ldo+j], d, tol)
								}
								if d := math.Abs(got - want); d > tol {
									t.Errorf("%s [%d,%d]: %v, float64 %v (diff %.3g > %.3g)", name, i, j, got, want, d, tol)
								}
							}
							for j := rows; j < ldo; j++ {
								if out[i*ldo+j] != sentinel {
									t.Errorf("%s: out[%d,%d] outside the block changed to %v", name, i, j, out[i*ldo+j])
								}
							}
						}
					}
				}
			}
		}
	})
}

// TestDotBatch16KZero: no columns give zero sums.
func TestDotBatch16KZero(t *testing.T) {
	out := []float32{1, 2, 3, 4, 5, 6}
	dotBatch16(out, 3, nil, 0, 2, nil, 0, 0, 2, true, nil)
	checkBitwise(t, "k=0", out, []float32{0, 0, 3, 0, 0, 6})
}

// TestDotBatch16Bounds: dotBatch16 refuses operands too short for their shape
// (the assembly would read past them).
func TestDotBatch16Bounds(t *testing.T) {
	x, w, out := make([]float32, 2*8), make([]uint16, 4*8), make([]float32, 2*4)
	for _, c := range []struct {
		name string
		run  func()
	}{
		{"x", func() { dotBatch16(out, 4, x, 8, 3, w, 8, 8, 4, true, nil) }},
		{"w", func() { dotBatch16(out, 4, x, 8, 2, w, 8, 9, 4, true, nil) }},
		{"out", func() { dotBatch16(out, 5, x, 8, 2, w, 8, 8, 4, true, nil) }},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s too short: no panic", c.name)
				}
			}()
			c.run()
		}()
	}
}
