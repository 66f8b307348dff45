package cpu

import (
	"time"

	"github.com/ember-infer/ember/ember-core/device"
)

// Upload copies host values into dst: src is []float32 for an F32, F16 or BF16
// tensor (narrowed with round to nearest even) and []int32 for an I32 tensor,
// with exactly as many elements. Its time counts as memcpy_h2d.
func (d *Device) Upload(dst device.Tensor, src any) error {
	const op = "Upload"
	s := d.beginTransfer(device.StageMemcpyH2D)
	defer d.end(s, time.Now())
	t, err := d.operand(op, "dst", dst, device.AnyDType, true)
	if err != nil {
		return err
	}
	switch v := src.(type) {
	case []float32:
		if t.dt == device.I32 {
			return d.errorf(op, "dst is %v but src is []float32; an I32 tensor takes []int32", t)
		}
		if len(v) != t.elems() {
			return d.errorf(op, "dst %v holds %d values but src has %d", t, t.elems(), len(v))
		}
		switch t.dt {
		case device.F32:
			copy(t.f32, v)
		default:
			encode16(t.u16, v, t.dt == device.BF16)
		}
	case []int32:
		if t.dt != device.I32 {
			return d.errorf(op, "dst is %v but src is []int32; a float tensor takes []float32", t)
		}
		if len(v) != t.elems() {
			return d.errorf(op, "dst %v holds %d values but src has %d", t, t.elems(), len(v))
		}
		copy(t.i32, v)
	default:
		return d.errorf(op, "src is a %T; want []float32 or []int32 for dst %v", src, t)
	}
	return nil
}

// Download copies src into dst: []float32 for an F32, F16 or BF16 tensor
// (widened exactly), []int32 for an I32 tensor, with exactly as many elements.
// Its time counts as memcpy_d2h.
func (d *Device) Download(dst any, src device.Tensor) error {
	const op = "Download"
	s := d.beginTransfer(device.StageMemcpyD2H)
	defer d.end(s, time.Now())
	t, err := d.operand(op, "src", src, device.AnyDType, false)
	if err != nil {
		return err
	}
	switch v := dst.(type) {
	case []float32:
		if t.dt == device.I32 {
			return d.errorf(op, "src is %v but dst is []float32; an I32 tensor downloads into []int32", t)
		}
		if len(v) != t.elems() {
			return d.errorf(op, "src %v holds %d values but dst has room for %d", t, t.elems(), len(v))
		}
		switch t.dt {
		case device.F32:
			copy(v, t.f32)
		default:
			decode16(v, t.u16, t.dt == device.BF16)
		}
	case []int32:
		if t.dt != device.I32 {
			return d.errorf(op, "src is %v but dst is []int32; a float tensor downloads into []float32", t)
		}
		if len(v) != t.elems() {
			return d.errorf(op, "src %v holds %d values but dst has room for %d", t, t.elems(), len(v))
		}
		copy(v, t.i32)
	default:
		return d.errorf(op, "dst is a %T; want []float32 or []int32 for src %v", dst, t)
	}
	return nil
}

// CopyFrom copies src, which may live on another CPU device, into dst (same
// dtype and element count). Its time counts as p2p on this device, the
// destination. The caller orders it after the op that wrote src, as it would
// with a GPU's streams.
func (d *Device) CopyFrom(dst, src device.Tensor) error {
	const op = "CopyFrom"
	s := d.beginTransfer(device.StageP2P)
	defer d.end(s, time.Now())
	t, err := d.operand(op, "dst", dst, device.AnyDType, true)
	if err != nil {
		return err
	}
	if src == nil {
		return d.errorf(op, "src is nil")
	}
	c, ok := src.(*tensor)
	if !ok || c == nil {
		return d.errorf(op, "src is a %T, not a CPU tensor", src)
	}
	if c.dead() {
		return d.errorf(op, "src (%v on %s) has been freed", c, c.dev.name)
	}
	if c.dt != t.dt || c.elems() != t.elems() {
		return d.errorf(op, "dst is %v but src is %v on %s; dtype and element count must match", t, c, c.dev.name)
	}
	if c == t {
		return nil
	}
	switch t.dt {
	case device.F32:
		copy(t.f32, c.f32)
	case device.I32:
		copy(t.i32, c.i32)
	default:
		copy(t.u16, c.u16)
	}
	return nil
}
