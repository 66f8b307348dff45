package cpu

import (
	"fmt"
	"testing"

	"github.com/ember-infer/ember/ember-core/device"
)

// The fused projections must give exactly the bits of the ops they replace,
// for decode (n = 1) and prefill shapes, every weight dtype and any thread
// count (acrossThreads checks 1 vs 4 with a grain that makes them fan out).

func TestMatMulQKVMatchesMatMul(t *testing.T) {
	shapes := []struct{ n, k, oa, ob int }{{1, 64, 96, 32}, {1, 1031, 70, 9}, {5, 130, 67, 33}, {70, 64, 129, 64}}
	for _, dt := range floatTypes {
		for _, s := range shapes {
			name := fmt.Sprintf("%v/n%d_k%d_o%d,%d,%d", dt, s.n, s.k, s.oa, s.ob, s.ob)
			t.Run(name, func(t *testing.T) {
				xv := randVals(newRand(1), s.n*s.k, 1)
				os := [3]int{s.oa, s.ob, s.ob}
				var fused, plain [3][]float32
				acrossThreads(t, name, func(d *Device) []float32 {
					x := upload(t, d, device.F32, xv, s.n, s.k)
					var ws, outs, refs [3]device.Tensor
					for i, o := range os {
						ws[i], _ = weight(t, d, "w", dt, randVals(newRand(uint64(2+i)), o*s.k, 1), o, s.k)
						outs[i] = mustAlloc(t, d, device.F32, s.n, o)
						refs[i] = mustAlloc(t, d, device.F32, s.n, o)
						if err := d.MatMul(refs[i], x, ws[i]); err != nil {
							t.Fatal(err)
						}
					}
					if err := d.MatMulQKV(outs[0], outs[1], outs[2], x, ws[0], ws[1], ws[2]); err != nil {
						t.Fatal(err)
					}
					var all []float32
					for i := range outs {
						fused[i], plain[i] = download(t, d, outs[i]), download(t, d, refs[i])
						all = append(all, fused[i]...)
					}
					return all
				})
				for i := range fused {
					checkBitwise(t, fmt.Sprintf("output %d: fused vs MatMul", i), fused[i], plain[i])
				}
			})
		}
	}
}

func TestMatMulSwiGLUMatchesUnfused(t *testing.T) {
	shapes := []struct{ n, k, o int }{{1, 64, 96}, {1, 1031, 70}, {3, 17, 13}, {70, 130, 67}}
	for _, dt := range floatTypes {
		for _, s := range shapes {
			name := fmt.Sprintf("%v/n%d_k%d_o%d", dt, s.n, s.k, s.o)
			t.Run(name, func(t *testing.T) {
				xv := randVals(newRand(1), s.n*s.k, 1)
				var fused, plain []float32
				acrossThreads(t, name, func(d *Device) []float32 {
					x := upload(t, d, device.F32, xv, s.n, s.k)
					g, _ := weight(t, d, "gate", dt, randVals(newRand(2), s.o*s.k, 1), s.o, s.k)
					u, _ := weight(t, d, "up", dt, randVals(newRand(3), s.o*s.k, 1), s.o, s.k)
					gv, uv := mustAlloc(t, d, device.F32, s.n, s.o), mustAlloc(t, d, device.F32, s.n, s.o)
					out := mustAlloc(t, d, device.F32, s.n, s.o)
					if err := firstErrOf(d.MatMul(gv, x, g), d.MatMul(uv, x, u), d.SiLUMul(gv, gv, uv)); err != nil {
						t.Fatal(err)
					}
					if err := d.MatMulSwiGLU(out, x, g, u, nil); err != nil {
						t.Fatal(err)
					}
					fused, plain = download(t, d, out), download(t, d, gv)
					return fused
				})
				checkBitwise(t, "fused vs MatMul, MatMul, SiLUMul", fused, plain)
			})
		}
	}
}

func firstErrOf(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

func TestFusedProjectionErrors(t *testing.T) {
	d := New(Options{Threads: 2})
	x := mustAlloc(t, d, device.F32, 2, 8)
	w8, _ := weight(t, d, "w8", device.BF16, make([]float32, 6*8), 6, 8)
	w7, _ := weight(t, d, "w7", device.BF16, make([]float32, 6*7), 6, 7)
	w5, _ := weight(t, d, "w5", device.BF16, make([]float32, 5*8), 5, 8)
	big := mustAlloc(t, d, device.F32, 4, 6)
	a, _ := d.View(big, 0, 2)
	b, _ := d.View(big, 1, 2) // overlaps a
	c, _ := d.View(big, 2, 2)
	wantErr(t, d.MatMulQKV(a, b, c, x, w8, w8, w8), "MatMulQKV on cpu", "overlap")
	wantErr(t, d.MatMulQKV(a, c, mustAlloc(t, d, device.F32, 2, 6), x, w8, w7, w8), "MatMulQKV on cpu", "inner sizes differ")
	out := mustAlloc(t, d, device.F32, 2, 6)
	wantErr(t, d.MatMulSwiGLU(out, x, w8, w5, nil), "MatMulSwiGLU on cpu", "one shape")
	wantErr(t, d.MatMulSwiGLU(out, x, w7, w7, nil), "MatMulSwiGLU on cpu", "inner sizes differ")
}

// TestWsum4RowsMatchesWsumRows: the four-query weighted sum gives each row
// exactly the bits of wsumRowsF32 over that row's causal length, with
// whichever kernels are in use, for value widths the AVX-512 kernel (64
// columns at a time) and the AVX2 one (16) take and ones they do not.
func TestWsum4RowsMatchesWsumRows(t *testing.T) {
	r := newRand(7)
	for _, cols := range []int{64, 128, 192, 48, 24, 8} {
		for _, ctx := range []int{0, 1, 5, 100} {
			stride, ldo, lde := cols+3, cols+5, ctx+7
			e := randVals(r, 4*lde, 1)
			v := randVals(r, (ctx+3)*stride, 1)
			got := make([]float32, 4*ldo)
			wsum4RowsF32(got, ldo, e, lde, v, stride, ctx, cols)
			for row := range 4 {
				want := make([]float32, cols)
				wsumRowsF32(want, e[row*lde:row*lde+ctx+row], v, stride)
				checkBitwise(t, fmt.Sprintf("cols %d ctx %d row %d", cols, ctx, row), got[row*ldo:row*ldo+cols], want)
			}
		}
	}
}
