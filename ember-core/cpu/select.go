package cpu

import (
	"time"

	"github.com/ember-infer/ember/ember-core/device"
)

// ArgMax writes, for each row of x (F32 [n, d]), the index of its largest value
// into out (I32 with n entries): the first one on ties; NaN never wins, and a
// row that is all NaN (or empty) gets -1, as sampling.Argmax does.
func (d *Device) ArgMax(out, x device.Tensor) error {
	const op = "ArgMax"
	s := d.begin()
	defer d.end(s, time.Now())
	ot, err := d.operand(op, "out", out, device.OnlyI32, true)
	if err != nil {
		return err
	}
	xt, err := d.operand(op, "x", x, device.OnlyF32, false)
	if err != nil {
		return err
	}
	if err := device.CheckArgMax(ot.Operand(), xt.Operand()); err != nil {
		return d.fail(op, err)
	}
	d.jobs.sel = selectJob{x: xt.f32, idx: ot.i32, cols: xt.cols}
	d.forRanges(xt.rows, xt.cols, &d.jobs.sel)
	d.jobs.sel = selectJob{}
	return nil
}

// selectJob is ArgMax (k == 0) or TopK over rows of x.
type selectJob struct {
	d       *Device
	x, vals []float32
	idx     []int32
	cols, k int
}

func (j *selectJob) ranges(worker, lo, hi int) {
	c, X := j.cols, j.x
	if j.k == 0 {
		for i := lo; i < hi; i++ {
			best, bv := -1, float32(0)
			for col, v := range X[i*c : i*c+c] {
				if v == v && (best < 0 || v > bv) {
					best, bv = col, v
				}
			}
			j.idx[i] = int32(best)
		}
		return
	}
	k := j.k
	h := j.d.scratch[worker].ints(k)
	for i := lo; i < hi; i++ {
		row := X[i*c : i*c+c]
		topK(row, h)
		for col, ix := range h {
			j.idx[i*k+col] = ix
			j.vals[i*k+col] = row[ix]
		}
	}
}

// TopK writes the k largest values of each row of x (F32 [n, d]) in
// descending order into vals (F32 [n, k]) and their column indices into idx
// (I32 [n, k]). Equal values rank by lower index; NaN ranks below every
// number, -Inf included. 1 ≤ k ≤ d.
func (d *Device) TopK(vals, idx, x device.Tensor, k int) error {
	const op = "TopK"
	s := d.begin()
	defer d.end(s, time.Now())
	vt, err := d.operand(op, "vals", vals, device.OnlyF32, true)
	if err != nil {
		return err
	}
	it, err := d.operand(op, "idx", idx, device.OnlyI32, true)
	if err != nil {
		return err
	}
	xt, err := d.operand(op, "x", x, device.OnlyF32, false)
	if err != nil {
		return err
	}
	if err := device.CheckTopK(vt.Operand(), it.Operand(), xt.Operand(), k); err != nil {
		return d.fail(op, err)
	}
	n, c := xt.rows, xt.cols
	d.jobs.sel = selectJob{d: d, x: xt.f32, vals: vt.f32, idx: it.i32, cols: c, k: k}
	d.forRanges(n, c, &d.jobs.sel)
	d.jobs.sel = selectJob{}
	return nil
}

// above reports whether x[i] ranks strictly above x[j]: larger value first,
// NaN last, lower index on ties.
func above(x []float32, i, j int32) bool {
	a, b := x[i], x[j]
	an, bn := a != a, b != b
	if an != bn {
		return bn
	}
	if !an && a != b {
		return a > b
	}
	return i < j
}

// topK fills h (len k ≤ len(x)) with the indices of the k best elements of x,
// best first. It keeps the best seen so far in a heap whose root is the worst
// of them, so an element costs one comparison unless it beats the root, then
// heap-sorts the survivors.
func topK(x []float32, h []int32) {
	k := len(h)
	down := func(r, size int) {
		for {
			c := 2*r + 1
			if c >= size {
				return
			}
			if c+1 < size && above(x, h[c], h[c+1]) {
				c++ // the worse child
			}
			if !above(x, h[r], h[c]) {
				return
			}
			h[r], h[c] = h[c], h[r]
			r = c
		}
	}
	for i := range k {
		h[i] = int32(i)
	}
	for r := k/2 - 1; r >= 0; r-- {
		down(r, k)
	}
	// Every later index is above the kept ones, so a tie with the root
	// loses and an element beats it exactly when it is a number and the
	// root is NaN or smaller: one comparison with the root's value, kept in
	// a register, instead of above's reloads and NaN tests per element.
	root := x[h[0]]
	for i := k; i < len(x); i++ {
		if v := x[i]; v > root || (root != root && v == v) {
			h[0] = int32(i)
			down(0, k)
			root = x[h[0]]
		}
	}
	// Pop the worst to the back until the heap is empty: best first.
	for size := k - 1; size > 0; size-- {
		h[0], h[size] = h[size], h[0]
		down(0, size)
	}
}
