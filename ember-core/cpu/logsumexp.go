package cpu

import (
	"math"
	"time"

	"github.com/ember-infer/ember/ember-core/device"
)

// LogSumExp writes log Σ_j exp(x[i][j]) of each row of x (F32 [n, d]) into
// out (F32 with n entries). The exponentials are float32 (the softmax's
// expShiftF32) relative to the row's largest number and summed in float64
// (sum4's four chains, not one add's latency per element of a 151,936-wide
// vocabulary row), so
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
	m := rowMax(row)
	if m == negInf || math.IsInf(float64(m), 1) {
		return m
	}
	// Every entry below the floor (-Inf included) is clamped to it: what
	// that adds is at most d·e^-87 to a sum of at least 1 (the maximum's
	// term), below float64 resolution. A NaN entry would make the sum NaN;
	// such a row is summed again without its NaNs, which weigh nothing.
	floor := m - lseFloor
	w = w[:len(row)]
	for i, v := range row {
		if v < floor {
			v = floor
		}
		w[i] = v
	}
	expShiftF32(w, m)
	if sum := sum4(w); sum == sum {
		return float32(float64(m) + math.Log(sum))
	}
	n := 0
	for _, v := range row {
		if v == v {
			w[n] = max(v, floor)
			n++
		}
	}
	expShiftF32(w[:n], m)
	return float32(float64(m) + math.Log(sum4(w[:n])))
}

// rowMax returns the largest number in row (NaN never compares greater), or
// -Inf when there is none.
func rowMax(row []float32) float32 {
	m := float32(math.Inf(-1))
	for _, v := range row {
		if v > m {
			m = v
		}
	}
	return m
}

// sum4 returns Σ w in float64 over four chains: element i goes to chain
// i%4, and the chains are added (c0+c1)+(c2+c3).
func sum4(w []float32) float64 {
	var c0, c1, c2, c3 float64
	i := 0
	for ; i+4 <= len(w); i += 4 {
		c0 += float64(w[i])
		c1 += float64(w[i+1])
		c2 += float64(w[i+2])
		c3 += float64(w[i+3])
	}
	switch len(w) - i {
	case 3:
		c2 += float64(w[i+2])
		fallthrough
	case 2:
		c1 += float64(w[i+1])
		fallthrough
	case 1:
		c0 += float64(w[i])
	}
	return (c0 + c1) + (c2 + c3)
}
