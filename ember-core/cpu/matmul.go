package cpu

import (
	"time"

	"github.com/ember-infer/ember/ember-core/device"
)

// matmulScratchFloats is the f32 scratch a worker fills with decoded weight
// rows per task: about 128 KiB, so a block stays in L2 while every input row
// of a prefill chunk is multiplied against it.
const matmulScratchFloats = 32 << 10

// MatMul computes out [n, o] = x [n, k] · wᵀ for w [o, k] (F32, F16 or BF16).
// Work is split over blocks of weight rows (output columns). With one input
// row (decode) F16/BF16 weights are widened on the fly inside the dot product;
// with more, each block is widened once into the worker's scratch and reused
// for all n rows, so prefill does not pay the conversion per token. Both paths
// sum in the same order, so a row's result does not depend on n or on Threads.
func (d *Device) MatMul(out, x, w device.Tensor) error {
	const op = "MatMul"
	s := d.begin()
	defer d.end(s, time.Now())
	ct, err := d.operand(op, "out", out, onlyF32, true)
	if err != nil {
		return err
	}
	xt, err := d.operand(op, "x", x, onlyF32, false)
	if err != nil {
		return err
	}
	wt, err := d.operand(op, "w", w, anyFloat, false)
	if err != nil {
		return err
	}
	n, k := xt.rows, xt.cols
	o := wt.rows
	if wt.cols != k {
		return d.errorf(op, "x is %v but w is %v; the inner sizes differ (%d vs %d)", xt, wt, k, wt.cols)
	}
	if ct.rows != n || ct.cols != o {
		return d.errorf(op, "out is %v but x %v · wᵀ %v is [%d %d]", ct, xt, wt, n, o)
	}
	if overlaps(ct, xt) || overlaps(ct, wt) {
		return d.errorf(op, "out %v may not alias its inputs", ct)
	}
	if n == 0 || o == 0 {
		return nil
	}
	if k == 0 {
		clear(ct.f32)
		return nil
	}

	rowsPer := max(1, min(64, matmulScratchFloats/k))
	rowsPer = max(1, min(rowsPer, (o+4*d.threads-1)/(4*d.threads))) // enough blocks to balance
	blocks := (o + rowsPer - 1) / rowsPer
	X, Out := xt.f32, ct.f32
	convert := n > 1 && wt.dt != device.F32
	bf := wt.dt == device.BF16

	d.pool.run(blocks, func(worker, b int) {
		j0 := b * rowsPer
		j1 := min(j0+rowsPer, o)
		switch {
		case wt.dt == device.F32:
			W := wt.f32
			for i := range n {
				xi := X[i*k : i*k+k]
				oi := Out[i*o : i*o+o]
				for j := j0; j < j1; j++ {
					oi[j] = dotF32(xi, W[j*k:j*k+k])
				}
			}
		case convert:
			buf := d.scratch[worker].floats((j1 - j0) * k)
			decode16(buf, wt.u16[j0*k:j1*k], bf)
			for i := range n {
				xi := X[i*k : i*k+k]
				oi := Out[i*o : i*o+o]
				for j := j0; j < j1; j++ {
					oi[j] = dotF32(xi, buf[(j-j0)*k:(j-j0)*k+k])
				}
			}
		default: // one row, 16-bit weights
			xi := X[:k]
			W := wt.u16
			for j := j0; j < j1; j++ {
				if bf {
					Out[j] = dotBF16(xi, W[j*k:j*k+k])
				} else {
					Out[j] = dotF16(xi, W[j*k:j*k+k])
				}
			}
		}
	})
	return nil
}
