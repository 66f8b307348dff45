package cuda

import (
	"fmt"
	"sync/atomic"

	"github.com/ember-infer/ember/ember-core/device"
)

// tensor is the CUDA backend's device.Tensor: device memory at ptr owned by
// one Device.
type tensor struct {
	dev      *Device
	dt       device.DType
	shape    []int
	rows     int // product of all dims but the last (1 for a scalar)
	cols     int // the last dim (1 for a scalar)
	ptr      uint64
	bytes    int64   // held against the budget; 0 for a view
	readOnly bool    // a weight
	name     string  // weight name, for messages
	parent   *tensor // for a view, the allocation it shares

	freed atomic.Bool
}

// DType returns the element type.
func (t *tensor) DType() device.DType { return t.dt }

// Shape returns the logical shape. Callers must not modify it.
func (t *tensor) Shape() []int { return t.shape[:len(t.shape):len(t.shape)] }

// Bytes returns the bytes held against the device's budget: 0 for a view.
func (t *tensor) Bytes() int64 { return t.bytes }

// Device returns the device that owns the tensor.
func (t *tensor) Device() device.Device { return t.dev }

func (t *tensor) elems() int { return t.rows * t.cols }

// size is the tensor's extent in bytes (its view's, for a view).
func (t *tensor) size() uint64 { return uint64(t.elems() * t.dt.Size()) }

func (t *tensor) dead() bool {
	return t.freed.Load() || (t.parent != nil && t.parent.freed.Load())
}

// String describes the tensor for messages, e.g. "BF16 [1024 3072]".
func (t *tensor) String() string { return fmt.Sprintf("%s %v", t.dt, t.shape) }

// overlaps reports whether a and b share memory.
func overlaps(a, b *tensor) bool {
	return a.ptr < b.ptr+b.size() && b.ptr < a.ptr+a.size()
}

// partlyOverlaps reports whether a and b share memory without being exactly
// the same memory: what an elementwise op writing a while reading b cannot allow.
func partlyOverlaps(a, b *tensor) bool {
	return overlaps(a, b) && (a.ptr != b.ptr || a.size() != b.size())
}

// dtypes is a set of dtypes, for operand checks.
type dtypes uint8

const (
	onlyF32  dtypes = 1 << device.F32
	onlyI32  dtypes = 1 << device.I32
	anyFloat dtypes = 1<<device.F32 | 1<<device.F16 | 1<<device.BF16
)

func (s dtypes) has(dt device.DType) bool { return dt < 8 && s&(1<<dt) != 0 }

func (s dtypes) String() string {
	switch s {
	case onlyF32:
		return "F32"
	case onlyI32:
		return "I32"
	case anyFloat:
		return "F32, F16 or BF16"
	}
	return fmt.Sprintf("dtypes(%#x)", uint8(s))
}

// operand checks that t is a live tensor of this device with a dtype in want,
// and writable when write is set.
func (d *Device) operand(op, role string, t device.Tensor, want dtypes, write bool) (*tensor, error) {
	if t == nil {
		return nil, d.errorf(op, "%s is nil", role)
	}
	c, ok := t.(*tensor)
	if !ok {
		return nil, d.errorf(op, "%s is a %T, not a CUDA tensor", role, t)
	}
	if c == nil {
		return nil, d.errorf(op, "%s is a nil tensor", role)
	}
	if c.dev != d {
		return nil, d.errorf(op, "%s (%v) lives on %s; copy it here with CopyFrom first", role, c, c.dev.name)
	}
	if c.dead() {
		return nil, d.errorf(op, "%s (%v) has been freed", role, c)
	}
	if !want.has(c.dt) {
		return nil, d.errorf(op, "%s is %v but must be %v", role, c, want)
	}
	if write && c.readOnly {
		return nil, d.errorf(op, "%s (%v) is the read-only weight %q", role, c, c.name)
	}
	return c, nil
}

// errorf returns an error naming the op and the device.
func (d *Device) errorf(op, format string, args ...any) error {
	return fmt.Errorf("%s on %s: %s", op, d.name, fmt.Sprintf(format, args...))
}
