package cpu

import (
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
	ot, err := d.operand(op, "out", out, device.OnlyF32, true)
	if err != nil {
		return err
	}
	tt, err := d.operand(op, "table", table, device.AnyFloat, false)
	if err != nil {
		return err
	}
	it, err := d.operand(op, "ids", ids, device.OnlyI32, false)
	if err != nil {
		return err
	}
	if err := device.CheckEmbedding(ot.Operand(), tt.Operand(), it.Operand()); err != nil {
		return d.fail(op, err)
	}
	n, hidden := it.elems(), tt.cols
	for i, id := range it.i32 {
		if id < 0 || int(id) >= tt.rows {
			return d.errorf(op, "ids[%d] = %d is outside table %v", i, id, tt)
		}
	}
	d.jobs.embed = embedJob{out: ot.f32, ids: it.i32, table: tt}
	d.forRanges(n, hidden, &d.jobs.embed)
	d.jobs.embed = embedJob{}
	return nil
}

// embedJob gathers rows of an embedding table.
type embedJob struct {
	out   []float32
	ids   []int32
	table *tensor
}

func (j *embedJob) ranges(_, lo, hi int) {
	hidden := j.table.cols
	for i := lo; i < hi; i++ {
		r := int(j.ids[i]) * hidden
		dst := j.out[i*hidden : i*hidden+hidden]
		switch j.table.dt {
		case device.F32:
			copy(dst, j.table.f32[r:r+hidden])
		default:
			decode16(dst, j.table.u16[r:r+hidden], j.table.dt == device.BF16)
		}
	}
}

// elementwise checks out, a and b for a same-size F32 elementwise op.
func (d *Device) elementwise(op string, out, a, b device.Tensor, an, bn string) (o, x, y *tensor, err error) {
	if o, err = d.operand(op, "out", out, device.OnlyF32, true); err != nil {
		return
	}
	if x, err = d.operand(op, an, a, device.OnlyF32, false); err != nil {
		return
	}
	if y, err = d.operand(op, bn, b, device.OnlyF32, false); err != nil {
		return
	}
	if err = device.CheckElementwise(o.Operand(), x.Operand(), y.Operand(), an, bn); err != nil {
		err = d.fail(op, err)
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
	d.jobs.ew = elementwiseJob{out: ot.f32, a: gt.f32, b: ut.f32, silu: true}
	d.forRanges(len(ot.f32), 1, &d.jobs.ew)
	d.jobs.ew = elementwiseJob{}
	return nil
}

// elementwiseJob is SiLUMul (silu set: out = silu(a)·b) or Add (out = a+b).
type elementwiseJob struct {
	out, a, b []float32
	silu      bool
}

func (j *elementwiseJob) ranges(_, lo, hi int) {
	a, b, o := j.a[lo:hi], j.b[lo:hi], j.out[lo:hi]
	b, o = b[:len(a)], o[:len(a)]
	if j.silu {
		siluMulF32(o, a, b)
		return
	}
	for i, x := range a {
		o[i] = x + b[i]
	}
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
	d.jobs.ew = elementwiseJob{out: ot.f32, a: at.f32, b: bt.f32}
	d.forRanges(len(ot.f32), 1, &d.jobs.ew)
	d.jobs.ew = elementwiseJob{}
	return nil
}
