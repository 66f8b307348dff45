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

// Operand describes the tensor for the shared operand checks.
func (t *tensor) Operand() device.Operand {
	return device.Operand{DType: t.dt, Shape: t.shape, Rows: t.rows, Cols: t.cols,
		Lo: t.ptr, Hi: t.ptr + t.size(), Freed: t.dead(), ReadOnly: t.readOnly, Name: t.name}
}

// operand checks that t is a live tensor of this device with a dtype in want,
// and writable when write is set.
func (d *Device) operand(op, role string, t device.Tensor, want device.DTypes, write bool) (*tensor, error) {
	// What device.CheckOperand accepts, without building an Operand: a decode
	// step checks some 2000 operands. Anything else gets its sentence.
	if c, ok := t.(*tensor); ok && c != nil && c.dev == d && want.Has(c.dt) && !(write && c.readOnly) && !c.dead() {
		return c, nil
	}
	c, err := device.CheckOperand[*tensor](d, "CUDA", role, t, want, write)
	if err != nil {
		return nil, d.fail(op, err)
	}
	return c, nil
}

// errorf returns an error naming the op and the device.
func (d *Device) errorf(op, format string, args ...any) error {
	return fmt.Errorf("%s on %s: %s", op, d.name, fmt.Sprintf(format, args...))
}

// fail prefixes err, one of the shared checks' sentences, with the op and the
// device.
func (d *Device) fail(op string, err error) error {
	return fmt.Errorf("%s on %s: %w", op, d.name, err)
}
