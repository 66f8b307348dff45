package gpucheck

import (
	"fmt"
	"math"

	"github.com/ember-infer/ember/ember-core/device"
	"github.com/ember-infer/ember/ember-core/sampling"
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
