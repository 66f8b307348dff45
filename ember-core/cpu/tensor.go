package cpu

import (
	"fmt"
	"sync/atomic"
	"unsafe"

	"github.com/ember-infer/ember/ember-core/device"
)

// tensor is the CPU backend's device.Tensor: a Go slice of the dtype's storage
// type (float32, int32, or the raw uint16 bits of F16/BF16), owned by one Device.
type tensor struct {
	dev      *Device
	dt       device.DType
	shape    []int
	rows     int // product of all dims but the last (1 for a scalar)
	cols     int // the last dim (1 for a scalar)
	bytes    int64
	readOnly bool    // a LoadWeight view of host memory that may be a read-only mmap
	name     string  // weight name, for messages
	parent   *tensor // for a View, the allocated tensor whose memory it shares

	f32 []float32
	i32 []int32
	u16 []uint16

	freed atomic.Bool
}

// DType returns the element type.
func (t *tensor) DType() device.DType { return t.dt }

// Shape returns the logical shape. Callers must not modify it.
func (t *tensor) Shape() []int { return t.shape[:len(t.shape):len(t.shape)] }

// Bytes returns the bytes the tensor holds against its device's budget: 0 for
// a view.
func (t *tensor) Bytes() int64 { return t.bytes }

// Device returns the device that owns the tensor.
func (t *tensor) Device() device.Device { return t.dev }

func (t *tensor) elems() int { return t.rows * t.cols }

// dead reports whether the tensor's memory has been freed (for a view, its parent's).
func (t *tensor) dead() bool {
	return t.freed.Load() || (t.parent != nil && t.parent.freed.Load())
}

// String describes the tensor for error messages, e.g. "BF16 [1024 3072]".
func (t *tensor) String() string { return fmt.Sprintf("%s %v", t.dt, t.shape) }

// F32 returns the float32 storage of a CPU F32 tensor, or nil for any other
// tensor. The slice aliases device memory: writes change the tensor.
func F32(t device.Tensor) []float32 {
	if c, ok := t.(*tensor); ok && c.dt == device.F32 && !c.dead() {
		return c.f32
	}
	return nil
}

// I32 returns the int32 storage of a CPU I32 tensor, or nil for any other
// tensor. The slice aliases device memory: writes change the tensor.
func I32(t device.Tensor) []int32 {
	if c, ok := t.(*tensor); ok && c.dt == device.I32 && !c.dead() {
		return c.i32
	}
	return nil
}

// span returns the address range of t's storage.
func (t *tensor) span() (lo, hi uintptr) {
	var p unsafe.Pointer
	var n int
	switch {
	case t.f32 != nil:
		p, n = unsafe.Pointer(unsafe.SliceData(t.f32)), 4*len(t.f32)
	case t.i32 != nil:
		p, n = unsafe.Pointer(unsafe.SliceData(t.i32)), 4*len(t.i32)
	case t.u16 != nil:
		p, n = unsafe.Pointer(unsafe.SliceData(t.u16)), 2*len(t.u16)
	}
	return uintptr(p), uintptr(p) + uintptr(n)
}

// Operand describes the tensor for the shared operand checks.
func (t *tensor) Operand() device.Operand {
	lo, hi := t.span()
	return device.Operand{DType: t.dt, Shape: t.shape, Rows: t.rows, Cols: t.cols,
		Lo: uint64(lo), Hi: uint64(hi), Freed: t.dead(), ReadOnly: t.readOnly, Name: t.name}
}

// operand checks that t is a live tensor of this device with a dtype in want,
// and that it is writable when write is set.
func (d *Device) operand(op, role string, t device.Tensor, want device.DTypes, write bool) (*tensor, error) {
	c, err := device.CheckOperand[*tensor](d, "CPU", role, t, want, write)
	if err != nil {
		return nil, d.fail(op, err)
	}
	return c, nil
}

// errorf returns an error naming the op and the device, e.g.
// "MatMul on cpu:0: x is F32 [3 5] but w is BF16 [7 4]; the inner sizes differ".
func (d *Device) errorf(op, format string, args ...any) error {
	return fmt.Errorf("%s on %s: %s", op, d.name, fmt.Sprintf(format, args...))
}

// fail prefixes err, one of the shared checks' sentences, with the op and the
// device.
func (d *Device) fail(op string, err error) error {
	return fmt.Errorf("%s on %s: %w", op, d.name, err)
}
