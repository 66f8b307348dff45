package gpucheck

import (
	"fmt"
	"math"
	"strings"

	"github.com/ember-infer/ember/ember-core/device"
	"github.com/ember-infer/ember/ember-core/sampling"
	cuda "github.com/ember-infer/ember/ember-cuda"
)

// The op checks of batched decode (issue 16): LogSumExp and TopK over the
// rows of a batched step's logits.

// tolLSE bounds |LogSumExp − exact| / max(1, |exact|), the exact value
// computed in float64 on the host: f32 exponentials (a few ulps each) summed
// in f64, and the result rounded to f32, put the CUDA kernel and the CPU
// backend within about 2⁻²² of it.
const tolLSE = 1e-6

// lseRows returns 8 rows of width d that hold what LogSumExp must handle:
// plain logits, NaN entries, -Inf entries, a row of -Inf only, a row of NaN
// and -Inf, magnitudes near the f32 limit, a row holding +Inf, and one large
// value above a sea of small ones.
func (e *opEnv) lseRows(d int) []float32 {
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	x := make([]float32, 8*d)
	for r := range 8 {
		row := x[r*d : (r+1)*d]
		for j := range row {
			row[j] = float32(e.r.NormFloat64() * 4)
		}
		switch r {
		case 1: // every third entry NaN
			for j := 0; j < d; j += 3 {
				row[j] = nan
			}
		case 2: // every other entry -Inf
			for j := 0; j < d; j += 2 {
				row[j] = -inf
			}
		case 3: // nothing above -Inf
			for j := range row {
				row[j] = -inf
			}
		case 4: // NaN and -Inf only
			for j := range row {
				row[j] = [2]float32{nan, -inf}[j%2]
			}
		case 5: // magnitudes near the f32 limit
			for j := range row {
				row[j] = float32(e.r.Float64()*2-1) * 3e38
			}
		case 6:
			row[d/2] = inf
		case 7:
			for j := range row {
				row[j] = -1e4 + float32(e.r.Float64())
			}
			row[d-1] = 80
		}
	}
	return x
}

// checkBatchSelect checks LogSumExp against the float64 reference and the
// CPU backend, and TopK over the same 8-row batches, at a small width and at
// the vocabulary's.
func checkBatchSelect(e *opEnv, sh shapes) {
	widths := []int{1, 1000, sh.selectWidth[len(sh.selectWidth)-1]}
	for _, d := range widths {
		name := fmt.Sprintf("LogSumExp [8 %d] (NaN, -Inf, all -Inf, ±3e38, +Inf)", d)
		e.run(name, func() error {
			rows := e.lseRows(d)
			x, err := e.tensors(device.F32, rows, 8, d)
			if err != nil {
				return err
			}
			out, err := e.tensors(device.F32, nil, 8)
			if err != nil {
				return err
			}
			if err := both(func() error { return e.c.LogSumExp(out.c, x.c) }, func() error { return e.g.LogSumExp(out.g, x.g) }); err != nil {
				return err
			}
			got, cpuv, err := e.floats(out)
			if err != nil {
				return err
			}
			worst, bad := 0.0, -1
			for r := range 8 {
				ref := sampling.LogSumExp(rows[r*d : (r+1)*d])
				for _, v := range []float32{got[r], cpuv[r]} {
					if math.IsInf(ref, 0) || math.IsNaN(ref) {
						if float64(v) != ref {
							bad = r
						}
						continue
					}
					if rel := math.Abs(float64(v)-ref) / math.Max(1, math.Abs(ref)); rel > worst || math.IsNaN(rel) {
						worst = rel
						if !(rel <= tolLSE) {
							bad = r
						}
					}
				}
			}
			if bad >= 0 {
				ref := sampling.LogSumExp(rows[bad*d : (bad+1)*d])
				e.rep.check(false, "%-58s row %d: CUDA %v, CPU %v, float64 %v", name, bad, got[bad], cpuv[bad], ref)
				return nil
			}
			e.rep.check(true, "%-58s err vs f64 %.2e ≤ %.0e", name, worst, tolLSE)
			return nil
		})
		if d < 8 {
			continue
		}
		k := 8
		name = fmt.Sprintf("TopK k %d [8 %d] (batched rows: NaN, -Inf, ±3e38, +Inf)", k, d)
		e.run(name, func() error {
			x, err := e.tensors(device.F32, e.lseRows(d), 8, d)
			if err != nil {
				return err
			}
			vals, err := e.tensors(device.F32, nil, 8, k)
			if err != nil {
				return err
			}
			idx, err := e.tensors(device.I32, nil, 8, k)
			if err != nil {
				return err
			}
			if err := both(func() error { return e.c.TopK(vals.c, idx.c, x.c, k) }, func() error { return e.g.TopK(vals.g, idx.g, x.g, k) }); err != nil {
				return err
			}
			e.exact(name+": values", vals)
			e.exactInts(name+": indices", idx)
			return nil
		})
	}
}

// batchRows are the row counts of a batched decode step the GEMV checks
// cover: every batch-size bucket past 1 (2, 4, 8, 16; one row is the
// existing checks'), each narrow and wide instantiation's largest n and one
// n inside a bucket.
var batchRows = []int{2, 3, 5, 8, 16}

// checkBatchMatMul checks the GEMV path for every batch-size bucket and
// dtype against the CPU backend: plain (aligned rows for the 16-byte kernel,
// odd k for the generic one), then the fused forms a batched step takes —
// q, k and v of one x as one gemv16x3 launch, gate and up with SiLU·mul as
// one gemv16_glu launch — each counted as one kernel.
func checkBatchMatMul(e *opEnv, sh shapes) {
	o, k := sh.batchMatMul[0], sh.batchMatMul[1]
	for _, dt := range floatTypes {
		for _, n := range batchRows {
			for _, kk := range []int{k, 100} {
				name := fmt.Sprintf("MatMul GEMV batch w %v [%d %d] x [%d %d]", dt, o, kk, n, kk)
				e.run(name, func() error {
					x, _, err := e.random(device.F32, 1, n, kk)
					if err != nil {
						return err
					}
					w, _, err := e.random(dt, 0.05, o, kk)
					if err != nil {
						return err
					}
					out, err := e.tensors(device.F32, nil, n, o)
					if err != nil {
						return err
					}
					if err := both(func() error { return e.c.MatMul(out.c, x.c, w.c) }, func() error { return e.g.MatMulWith(out.g, x.g, w.g, cuda.PathGEMV) }); err != nil {
						return err
					}
					e.within(name, out, tolF32Dot)
					return nil
				})
			}
		}
	}
	// The automatic path: the tuner's choice per batch-size bucket, timed
	// at the bucket's largest row count; cuBLAS past the GEMV's rows.
	for _, n := range []int{3, 8, 16, cuda.GEMVMaxRows + 1} {
		name := fmt.Sprintf("MatMul auto batch w BF16 [%d %d] x [%d %d]", o, k, n, k)
		e.run(name, func() error {
			x, _, err := e.random(device.F32, 1, n, k)
			if err != nil {
				return err
			}
			w, _, err := e.random(device.BF16, 0.05, o, k)
			if err != nil {
				return err
			}
			out, err := e.tensors(device.F32, nil, n, o)
			if err != nil {
				return err
			}
			if err := both(func() error { return e.c.MatMul(out.c, x.c, w.c) }, func() error { return e.g.MatMul(out.g, x.g, w.g) }); err != nil {
				return err
			}
			e.within(name, out, tolBF16In)
			if n <= cuda.GEMVMaxRows {
				shape := fmt.Sprintf("%d×%d n=%d BF16", o, k, rowBucket(n))
				g, ok := e.g.DecodeChoices()[shape]
				choice := map[bool]string{true: "GEMV", false: "cuBLAS"}[g]
				e.rep.check(ok, "%-58s tuned as bucket %q: %s", name+": tuner", shape, choice)
			}
			return nil
		})
	}
	for _, dt := range []device.DType{device.BF16, device.F16} {
		for _, n := range []int{3, 8, 16} { // a narrow and both wide kernels
			name := fmt.Sprintf("MatMul GEMV q/k/v fused w %v [%d %d]+2×[%d %d] x [%d %d]", dt, o, k, o/4, k, n, k)
			e.run(name, func() error { return e.fusedQKV(name, dt, n, o, k) })
			name = fmt.Sprintf("MatMul GEMV gate/up + SiLU·mul fused w %v 2×[%d %d] x [%d %d]", dt, o, k, n, k)
			e.run(name, func() error { return e.fusedGLU(name, dt, n, o, k) })
		}
	}
}

// launches runs fn and returns the kernels it launched in decode-shaped
// segments.
func (e *opEnv) launches(fn func() error) (int, error) {
	_, k0, _, _ := e.g.DecodeStepStats()
	err := fn()
	_, k1, _, _ := e.g.DecodeStepStats()
	return k1 - k0, err
}

func (e *opEnv) fusedQKV(name string, dt device.DType, n, o, k int) error {
	x, _, err := e.random(device.F32, 1, n, k)
	if err != nil {
		return err
	}
	var ws, outs [3]pair
	for i, rows := range []int{o, o / 4, o / 4} {
		if ws[i], _, err = e.random(dt, 0.05, rows, k); err != nil {
			return err
		}
		if outs[i], err = e.tensors(device.F32, nil, n, rows); err != nil {
			return err
		}
	}
	for i := range 3 {
		if err := e.c.MatMul(outs[i].c, x.c, ws[i].c); err != nil {
			return err
		}
	}
	kernels, err := e.launches(func() error {
		for i := range 3 {
			if err := e.g.MatMulWith(outs[i].g, x.g, ws[i].g, cuda.PathGEMV); err != nil {
				return err
			}
		}
		return e.g.Sync()
	})
	if err != nil {
		return err
	}
	e.rep.check(kernels == 1, "%-58s %d kernel launch(es), want 1", name, kernels)
	for i, what := range []string{"q", "k", "v"} {
		e.within(name+": "+what, outs[i], tolF32Dot)
	}
	// MatMulQKV, the one op the model issues: the bits of the three MatMuls
	// on whatever paths the tuner chose for them.
	var direct [3]pair
	for i := range 3 {
		if direct[i], err = e.tensors(device.F32, nil, n, ws[i].c.Shape()[0]); err != nil {
			return err
		}
	}
	err = firstErr(e.g.MatMul(outs[0].g, x.g, ws[0].g), e.g.MatMul(outs[1].g, x.g, ws[1].g), e.g.MatMul(outs[2].g, x.g, ws[2].g),
		e.g.MatMulQKV(direct[0].g, direct[1].g, direct[2].g, x.g, ws[0].g, ws[1].g, ws[2].g), e.g.Sync())
	if err != nil {
		return err
	}
	for i, what := range []string{"q", "k", "v"} {
		e.sameOnGPU(name+": MatMulQKV "+what, direct[i], outs[i])
	}
	return nil
}

// sameOnGPU reports whether two CUDA tensors hold the same bits: one op's
// result against the ops it stands for, on the same device.
func (e *opEnv) sameOnGPU(name string, got, want pair) {
	n := device.Elems(got.g.Shape())
	a, b := make([]float32, n), make([]float32, n)
	if err := firstErr(e.g.Download(a, got.g), e.g.Download(b, want.g)); err != nil {
		e.rep.fail(name, err)
		return
	}
	if ok, at := sameBits(a, b); !ok {
		e.rep.check(false, "%-58s differs at %d: %v vs %v", name, at, a[at], b[at])
		return
	}
	e.rep.check(true, "%-58s same bits", name)
}

func (e *opEnv) fusedGLU(name string, dt device.DType, n, o, k int) error {
	x, _, err := e.random(device.F32, 1, n, k)
	if err != nil {
		return err
	}
	wg, _, err := e.random(dt, 0.05, o, k)
	if err != nil {
		return err
	}
	wu, _, err := e.random(dt, 0.05, o, k)
	if err != nil {
		return err
	}
	gate, err := e.tensors(device.F32, nil, n, o)
	if err != nil {
		return err
	}
	up, err := e.tensors(device.F32, nil, n, o)
	if err != nil {
		return err
	}
	if err := firstErr(e.c.MatMul(gate.c, x.c, wg.c), e.c.MatMul(up.c, x.c, wu.c), e.c.SiLUMul(gate.c, gate.c, up.c)); err != nil {
		return err
	}
	kernels, err := e.launches(func() error {
		return firstErr(e.g.MatMulWith(gate.g, x.g, wg.g, cuda.PathGEMV), e.g.MatMulWith(up.g, x.g, wu.g, cuda.PathGEMV),
			e.g.SiLUMul(gate.g, gate.g, up.g), e.g.Sync())
	})
	if err != nil {
		return err
	}
	e.rep.check(kernels == 1, "%-58s %d kernel launch(es), want 1", name, kernels)
	e.within(name+": up", up, tolF32Dot)
	e.within(name+": silu(gate)·up", gate, tolF32Dot)
	// MatMulSwiGLU, the one op the model issues, with its scratch and (a
	// decode step's fused launch needs none) without: the bits of MatMul,
	// MatMul and SiLUMul on the paths the tuner chose.
	out, err := e.tensors(device.F32, nil, n, o)
	if err != nil {
		return err
	}
	err = firstErr(e.g.MatMul(gate.g, x.g, wg.g), e.g.MatMul(up.g, x.g, wu.g), e.g.SiLUMul(gate.g, gate.g, up.g),
		e.g.MatMulSwiGLU(out.g, x.g, wg.g, wu.g, up.g), e.g.Sync())
	if err != nil {
		return err
	}
	e.sameOnGPU(name+": MatMulSwiGLU", out, gate)
	err = firstErr(e.g.Upload(out.g, make([]float32, n*o)), e.g.MatMulSwiGLU(out.g, x.g, wg.g, wu.g, nil), e.g.Sync())
	if err != nil {
		// Only the unfused path (the tuner chose cuBLAS) needs the scratch.
		g, _ := e.g.DecodeChoices()[fmt.Sprintf("%d×%d n=%d %v", o, k, rowBucket(n), dt)]
		e.rep.check(!g && strings.Contains(err.Error(), "needs a scratch tensor"), "%-58s without scratch: %v", name, err)
		return nil
	}
	e.sameOnGPU(name+": MatMulSwiGLU without scratch", out, gate)
	return nil
}

// rowBucket is ember-cuda's batch-size bucket of n decode rows (1, 2, 4, 8,
// 16), as DecodeChoices names them.
func rowBucket(n int) int {
	b := 1
	for b < n {
		b <<= 1
	}
	return b
}
