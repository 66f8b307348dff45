package cpu

import (
	"math"
	"time"

	"github.com/ember-infer/ember/ember-core/device"
)

// Embedding gathers out[i] = table[ids[i]] for table [vocab, hidden] of any
// float dtype (widened exactly), ids I32 with n entries and out F32 [n, hidden].
// An id outside [0, vocab) is an error and leaves out unchanged.
func (d *Device) Embedding(out, table, ids device.Tensor) error {
	const op = "Embedding"
	s := d.begin()
	defer d.end(s, time.Now())
	ot, err := d.operand(op, "out", out, onlyF32, true)
	if err != nil {
		return err
	}
	tt, err := d.operand(op, "table", table, anyFloat, false)
	if err != nil {
		return err
	}
	it, err := d.operand(op, "ids", ids, onlyI32, false)
	if err != nil {
		return err
	}
	n, hidden := it.elems(), tt.cols
	if ot.rows != n || ot.cols != hidden {
		return d.errorf(op, "out is %v but %d ids of table %v give [%d %d]", ot, n, tt, n, hidden)
	}
	if overlaps(ot, tt) || overlaps(ot, it) {
		return d.errorf(op, "out %v may not alias table", ot)
	}
	for i, id := range it.i32 {
		if id < 0 || int(id) >= tt.rows {
			return d.errorf(op, "ids[%d] = %d is outside table %v", i, id, tt)
		}
	}
	I, O := it.i32, ot.f32
	d.forRanges(n, hidden, func(_, lo, hi int) {
		for i := lo; i < hi; i++ {
			r := int(I[i]) * hidden
			dst := O[i*hidden : i*hidden+hidden]
			switch tt.dt {
			case device.F32:
				copy(dst, tt.f32[r:r+hidden])
			default:
				decode16(dst, tt.u16[r:r+hidden], tt.dt == device.BF16)
			}
		}
	})
	return nil
}

// elementwise checks out, a and b for a same-size F32 elementwise op.
func (d *Device) elementwise(op string, out, a, b device.Tensor, an, bn string) (o, x, y *tensor, err error) {
	if o, err = d.operand(op, "out", out, onlyF32, true); err != nil {
		return
	}
	if x, err = d.operand(op, an, a, onlyF32, false); err != nil {
		return
	}
	if y, err = d.operand(op, bn, b, onlyF32, false); err != nil {
		return
	}
	if x.elems() != y.elems() || o.elems() != x.elems() {
		err = d.errorf(op, "out is %v, %s is %v and %s is %v; all three must have as many elements", o, an, x, bn, y)
	} else if partlyOverlaps(o, x) || partlyOverlaps(o, y) {
		err = d.errorf(op, "out %v partly overlaps an input; it may only be %s or %s itself", o, an, bn)
	}
	return
}

// SiLUMul computes out = silu(gate) · up elementwise, silu(x) = x / (1 + e^−x)
// (evaluated in float64, rounded once). All three are F32 with as many
// elements; out may alias gate or up.
func (d *Device) SiLUMul(out, gate, up device.Tensor) error {
	const op = "SiLUMul"
	s := d.begin()
	defer d.end(s, time.Now())
	ot, gt, ut, err := d.elementwise(op, out, gate, up, "gate", "up")
	if err != nil {
		return err
	}
	O, G, U := ot.f32, gt.f32, ut.f32
	d.forRanges(len(O), 1, func(_, lo, hi int) {
		g, u, o := G[lo:hi], U[lo:hi], O[lo:hi]
		for i, x := range g {
			o[i] = float32(float64(x)/(1+math.Exp(-float64(x)))) * u[i]
		}
	})
	return nil
}

// Add computes out = a + b elementwise for F32 tensors with as many elements;
// out may alias a or b.
func (d *Device) Add(out, a, b device.Tensor) error {
	const op = "Add"
	s := d.begin()
	defer d.end(s, time.Now())
	ot, at, bt, err := d.elementwise(op, out, a, b, "a", "b")
	if err != nil {
		return err
	}
	O, A, B := ot.f32, at.f32, bt.f32
	d.forRanges(len(O), 1, func(_, lo, hi int) {
		a, b, o := A[lo:hi], B[lo:hi], O[lo:hi]
		for i, x := range a {
			o[i] = x + b[i]
		}
	})
	return nil
}
