package cpu

import (
	"math"
	"time"

	"github.com/ember-infer/ember/ember-core/device"
)

// weightF32 returns w's values as float32: w's own storage when it is F32,
// else a widened copy in buf.
func weightF32(w *tensor, buf *scratch) []float32 {
	if w.dt == device.F32 {
		return w.f32
	}
	f := buf.floats(w.elems())
	decode16(f, w.u16, w.dt == device.BF16)
	return f
}

// rmsNormRow writes x / sqrt(mean(x²) + eps) * w into out (which may be x).
// The sum of squares is accumulated in float64 (Hugging Face reduces in
// float32; float64 makes the result independent of the summation order and
// within an ulp of exact), the scale is rounded to float32 once, and the
// products are float32 in HF's order: (x · scale) · w.
func rmsNormRow(out, x, w []float32, eps float32) {
	// Four float64 sums, interleaved, so the adds do not wait on each other
	// (one chain cost 4 cycles a value: a decode step's q/k head norms
	// 7 µs a layer).
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		a, b, c, e := float64(x[i]), float64(x[i+1]), float64(x[i+2]), float64(x[i+3])
		s0 += a * a
		s1 += b * b
		s2 += c * c
		s3 += e * e
	}
	for ; i < len(x); i++ {
		s0 += float64(x[i]) * float64(x[i])
	}
	ss := (s0 + s1) + (s2 + s3)
	scale := float32(1 / math.Sqrt(ss/float64(len(x))+float64(eps)))
	w = w[:len(x)]
	out = out[:len(x)]
	for i, v := range x {
		out[i] = (v * scale) * w[i]
	}
}

// RMSNorm computes out[i] = x[i] / sqrt(mean(x[i]²) + eps) * w for each row of
// x (F32 [n, d]), with w [d] of any float dtype. out may alias x.
func (d *Device) RMSNorm(out, x, w device.Tensor, eps float32) error {
	const op = "RMSNorm"
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
	wt, err := d.operand(op, "w", w, device.AnyFloat, false)
	if err != nil {
		return err
	}
	if err := device.CheckRMSNorm(ot.Operand(), xt.Operand(), wt.Operand()); err != nil {
		return d.fail(op, err)
	}
	n, c := xt.rows, xt.cols
	d.jobs.norm = normJob{out: ot.f32, x: xt.f32, w: weightF32(wt, &d.opBuf), cols: c, eps: eps}
	d.forRanges(n, c, &d.jobs.norm)
	d.jobs.norm = normJob{}
	return nil
}

// HeadRMSNorm applies RMSNorm with weight w [headDim] to every headDim-wide
// slice of each row of x (F32), in place: Qwen3's q_norm and k_norm.
func (d *Device) HeadRMSNorm(x, w device.Tensor, headDim int, eps float32) error {
	const op = "HeadRMSNorm"
	s := d.begin()
	defer d.end(s, time.Now())
	xt, err := d.operand(op, "x", x, device.OnlyF32, true)
	if err != nil {
		return err
	}
	wt, err := d.operand(op, "w", w, device.AnyFloat, false)
	if err != nil {
		return err
	}
	if err := device.CheckHeadRMSNorm(xt.Operand(), wt.Operand(), headDim); err != nil {
		return d.fail(op, err)
	}
	d.jobs.norm = normJob{out: xt.f32, x: xt.f32, w: weightF32(wt, &d.opBuf), cols: headDim, eps: eps}
	d.forRanges(xt.elems()/headDim, headDim, &d.jobs.norm)
	d.jobs.norm = normJob{}
	return nil
}

// normJob RMS-normalises rows of cols values (whole rows for RMSNorm, heads
// for HeadRMSNorm).
type normJob struct {
	out, x, w []float32
	cols      int
	eps       float32
}

func (j *normJob) ranges(_, lo, hi int) {
	c := j.cols
	for i := lo; i < hi; i++ {
		rmsNormRow(j.out[i*c:i*c+c], j.x[i*c:i*c+c], j.w, j.eps)
	}
}
