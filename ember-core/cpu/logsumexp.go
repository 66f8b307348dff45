package cpu

import (
	"math"
	"time"

	"github.com/ember-infer/ember/ember-core/device"
)

// LogSumExp writes log Σ_j exp(x[i][j]) of each row of x (F32 [n, d]) into
// out (F32 with n entries). The exponentials are float32 (the softmax's
// expShiftF32) relative to the row's largest number and summed in float64, so
// the result is within a few float32 ulps of the exact value. NaN entries
// weigh nothing; a row of -Inf and NaN gives -Inf, a row holding +Inf gives +Inf.
func (d *Device) LogSumExp(out, x device.Tensor) error {
	const op = "LogSumExp"
	s := d.begin()
	defer d.end(s, time.Now())
	ot, err := d.operand(op, "out", out, device.OnlyF32, true)
	if err != nil {
		return err
	}
	xt, err := d.operand(op, "x", x, device.OnlyF32, false)
	if err != nil {
		return err
	}
	if ot.elems() != xt.rows {
		return d.errorf(op, "out is %v but x %v has %d rows; out needs one value per row", ot, xt, xt.rows)
	}
	d.jobs.lse = lseJob{d: d, x: xt.f32, out: ot.f32, cols: xt.cols}
	d.forRanges(xt.rows, xt.cols, &d.jobs.lse)
	d.jobs.lse = lseJob{}
	return nil
}

type lseJob struct {
	d    *Device
	x    []float32
	out  []float32
	cols int
}

// lseFloor is how far below the row's maximum a logit is clamped before the
// exponential: exp(-87) is still a normal float32, so the kernel never sees
// -Inf or an exponent it would have to underflow, and what the clamp adds
// (at most d · e^-87 of the sum) is far below float32 resolution.
const lseFloor = 87

func (j *lseJob) ranges(worker, lo, hi int) {
	c := j.cols
	w := j.d.scratch[worker].floats(c)
	for i := lo; i < hi; i++ {
		j.out[i] = logSumExpRow(j.x[i*c:i*c+c], w)
	}
}

// logSumExpRow is one row's log Σ exp, using w (len(row)) as scratch.
func logSumExpRow(row, w []float32) float32 {
	negInf := float32(math.Inf(-1))
	m := negInf
	for _, v := range row {
		if v > m { // NaN never compares greater
			m = v
		}
	}
	if m == negInf || math.IsInf(float64(m), 1) {
		return m
	}
	// NaN and -Inf entries stay out of the sum; the rest are clamped at
	// the floor.
	floor := m - lseFloor
	n := 0
	for _, v := range row {
		if v != v || v == negInf {
			continue
		}
		w[n] = max(v, floor)
		n++
	}
	var sum float64
	expShiftF32(w[:n], m)
	for _, e := range w[:n] {
		sum += float64(e)
	}
	return float32(float64(m) + math.Log(sum))
}
