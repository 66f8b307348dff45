package cpu

import (
	"math"
	"time"

	"github.com/ember-infer/ember/ember-core/device"
)

// ropeCache keeps the inverse frequencies of the last (headDim, theta) seen
// (a model uses one pair throughout), and the cosines and sines of the last
// single-row position: a decode step rotates q and k of every layer at one
// position, which would otherwise take 2·layers·headDim/2 Sincos calls a
// token (64 per call, 2.5 µs, at Qwen3's head size).
type ropeCache struct {
	headDim  int
	theta    float64
	inv      []float64
	pos      int32 // of cos and sin, when have
	have     bool
	cos, sin []float32
}

func (c *ropeCache) invFreq(headDim int, theta float64) []float64 {
	if c.headDim != headDim || c.theta != theta || len(c.inv) != headDim/2 {
		c.headDim, c.theta = headDim, theta
		c.inv = make([]float64, headDim/2)
		for j := range c.inv {
			c.inv[j] = math.Pow(theta, -float64(2*j)/float64(headDim))
		}
		c.have = false
		c.cos, c.sin = make([]float32, headDim/2), make([]float32, headDim/2)
	}
	return c.inv
}

// at returns the cosines and sines at pos for the frequencies invFreq last
// returned.
func (c *ropeCache) at(pos int32) (cos, sin []float32) {
	if !c.have || c.pos != pos {
		ropeAngles(c.cos, c.sin, pos, c.inv)
		c.pos, c.have = pos, true
	}
	return c.cos, c.sin
}

// ropeAngles fills cos and sin at position pos: each angle in float64,
// rounded to float32 once.
func ropeAngles(cos, sin []float32, pos int32, inv []float64) {
	p := float64(pos)
	for k, f := range inv {
		sn, cs := math.Sincos(p * f)
		cos[k], sin[k] = float32(cs), float32(sn)
	}
}

// rotate rotates each headDim-wide slice of row by the angles in cos, sin.
func rotate(row, cos, sin []float32, headDim int) {
	half := headDim / 2
	for h := 0; h < len(row); h += headDim {
		x1 := row[h : h+half]
		x2 := row[h+half : h+headDim]
		for k := range x1 {
			a, b := x1[k], x2[k]
			x1[k] = a*cos[k] - b*sin[k]
			x2[k] = b*cos[k] + a*sin[k]
		}
	}
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
	inv := d.rope.invFreq(headDim, theta)
	if xt.rows == 1 {
		cos, sin := d.rope.at(pt.i32[0])
		rotate(xt.f32, cos, sin, headDim)
		return nil
	}
	d.jobs.rope = ropeJob{d: d, x: xt.f32, pos: pt.i32, inv: inv, headDim: headDim, cols: xt.cols}
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
		ropeAngles(cos, sin, j.pos[i], j.inv)
		rotate(j.x[i*c:i*c+c], cos, sin, headDim)
	}
}
