package cpu

import (
	"math"
	"time"

	"github.com/ember-infer/ember/ember-core/device"
)

// ropeCache keeps the inverse frequencies of the last (headDim, theta) seen;
// a model uses one pair throughout.
type ropeCache struct {
	headDim int
	theta   float64
	inv     []float64
}

func (c *ropeCache) invFreq(headDim int, theta float64) []float64 {
	if c.headDim != headDim || c.theta != theta || len(c.inv) != headDim/2 {
		c.headDim, c.theta = headDim, theta
		c.inv = make([]float64, headDim/2)
		for j := range c.inv {
			c.inv[j] = math.Pow(theta, -float64(2*j)/float64(headDim))
		}
	}
	return c.inv
}

// RoPE rotates each headDim-wide slice of each row of x (F32) in place, NeoX
// style: for j < headDim/2, with x1 = x[j] and x2 = x[j+headDim/2],
//
//	x[j]           = x1·cos − x2·sin
//	x[j+headDim/2] = x2·cos + x1·sin
//
// at angle pos[i]·theta^(-2j/headDim) for row i (pos I32 with one entry per row).
//
// The frequencies, the angle and its cosine and sine are computed in float64
// and rounded to float32 once. Hugging Face computes inv_freq, the angle and
// cos/sin in float32, so at position p its angle can be off by up to about
// p·2⁻²⁴ radians (≈2.4e-4 at p = 4096); ours is the exact rotation rounded
// once, which is what a GPU kernel is tested against.
func (d *Device) RoPE(x device.Tensor, headDim int, pos device.Tensor, theta float64) error {
	const op = "RoPE"
	s := d.begin()
	defer d.end(s, time.Now())
	xt, err := d.operand(op, "x", x, device.OnlyF32, true)
	if err != nil {
		return err
	}
	pt, err := d.operand(op, "pos", pos, device.OnlyI32, false)
	if err != nil {
		return err
	}
	if err := device.CheckRoPE(xt.Operand(), pt.Operand(), headDim, theta); err != nil {
		return d.fail(op, err)
	}
	d.jobs.rope = ropeJob{d: d, x: xt.f32, pos: pt.i32, inv: d.rope.invFreq(headDim, theta), headDim: headDim, cols: xt.cols}
	d.forRanges(xt.rows, xt.cols, &d.jobs.rope)
	d.jobs.rope = ropeJob{}
	return nil
}

// ropeJob rotates rows of x.
type ropeJob struct {
	d             *Device
	x             []float32
	pos           []int32
	inv           []float64
	headDim, cols int
}

func (j *ropeJob) ranges(worker, lo, hi int) {
	half, c, headDim := j.headDim/2, j.cols, j.headDim
	sc := &j.d.scratch[worker]
	cos, sin := sc.floats(half), sc.floats2(half)
	for i := lo; i < hi; i++ {
		p := float64(j.pos[i])
		for k, f := range j.inv {
			sn, cs := math.Sincos(p * f)
			cos[k], sin[k] = float32(cs), float32(sn)
		}
		row := j.x[i*c : i*c+c]
		for h := 0; h < c; h += headDim {
			x1 := row[h : h+half]
			x2 := row[h+half : h+headDim]
			for k := range x1 {
				a, b := x1[k], x2[k]
				x1[k] = a*cos[k] - b*sin[k]
				x2[k] = b*cos[k] + a*sin[k]
			}
		}
	}
}
