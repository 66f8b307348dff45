package cuda

/*
#include "shim.h"
*/
import "C"

import (
	"unsafe"

	"github.com/ember-infer/ember/ember-core/device"
)

// reserve takes bytes from the budget or returns *device.OutOfMemoryError.
func (d *Device) reserve(bytes int64, what string) error {
	d.memMu.Lock()
	if bytes <= d.budget-d.used {
		d.used += bytes
		d.memMu.Unlock()
		return nil
	}
	d.memMu.Unlock()
	return d.oom(bytes, what)
}

func (d *Device) unreserve(bytes int64) {
	d.memMu.Lock()
	d.used -= bytes
	d.memMu.Unlock()
}

// oom builds the typed error the milestone's OOM retry reads: what was asked,
// and what is free — the smaller of the budget's free part and the GPU's
// free memory (cuMemGetInfo), since either may be what ran out.
func (d *Device) oom(bytes int64, what string) error {
	total, free := d.MemInfo()
	if gf, _, err := d.gpuMemInfo(); err == nil {
		free = min(free, gf)
	}
	return &device.OutOfMemoryError{Device: d.name, Requested: bytes, Free: max(free, 0), Total: total, What: what}
}

// devAlloc reserves bytes against the budget and allocates them. A zero-size
// allocation has pointer 0.
func (d *Device) devAlloc(bytes int64, what string) (uint64, error) {
	if err := d.reserve(bytes, what); err != nil {
		return 0, err
	}
	if bytes == 0 {
		return 0, nil
	}
	var p C.CUdeviceptr
	r := C.ember_mem_alloc(d.phys.ctx, &p, C.size_t(bytes))
	if r != 0 {
		d.unreserve(bytes)
		if r == errOutOfMemory {
			return 0, d.oom(bytes, what)
		}
		return 0, d.errorf("Alloc", "%s: %v", what, check("cuMemAlloc", r))
	}
	return uint64(p), nil
}

func (d *Device) devFree(p uint64, bytes int64) {
	if p != 0 {
		C.ember_mem_free(d.phys.ctx, C.CUdeviceptr(p))
	}
	d.unreserve(bytes)
}

// internalAlloc allocates a buffer the device keeps until Close.
func (d *Device) internalAlloc(bytes int64, what string) (devBuf, error) {
	p, err := d.devAlloc(bytes, what)
	if err != nil {
		return devBuf{}, err
	}
	b := devBuf{ptr: p, bytes: bytes}
	d.internal = append(d.internal, b)
	return b, nil
}

// scratch returns buf grown to at least bytes. Growing waits for the work
// issued so far (which may read the old buffer) and drops the graphs that
// point at it.
func (d *Device) scratch(buf *devBuf, bytes int64, what string) error {
	if buf.bytes >= bytes {
		return nil
	}
	if err := d.syncLocked(); err != nil {
		return err
	}
	if buf.ptr != 0 || buf.bytes != 0 {
		d.graphs.clear(d)
		for i, b := range d.internal {
			if b == *buf {
				d.internal = append(d.internal[:i], d.internal[i+1:]...)
				break
			}
		}
		d.devFree(buf.ptr, buf.bytes)
		*buf = devBuf{}
	}
	b, err := d.internalAlloc(bytes, what)
	if err != nil {
		return err
	}
	*buf = b
	return nil
}

// hostBuf is pinned host memory.
type hostBuf struct {
	p unsafe.Pointer
	n int
}

func (h hostBuf) bytes() []byte { return unsafe.Slice((*byte)(h.p), h.n) }

func (d *Device) hostAlloc(n int) (hostBuf, error) {
	var p unsafe.Pointer
	if err := check("cuMemHostAlloc", C.ember_host_alloc(d.phys.ctx, &p, C.size_t(n))); err != nil {
		return hostBuf{}, d.errorf("pinned host memory", "%d bytes: %v", n, err)
	}
	return hostBuf{p: p, n: n}, nil
}

func (d *Device) hostFree(h *hostBuf) {
	if h.p != nil {
		C.ember_host_free(d.phys.ctx, h.p)
	}
	*h = hostBuf{}
}

// hostGrow returns h grown to at least n bytes; its old contents are lost.
// The caller has waited for every copy that used it.
func (d *Device) hostGrow(h *hostBuf, n int) error {
	if h.n >= n {
		return nil
	}
	d.hostFree(h)
	b, err := d.hostAlloc(max(n, 64<<10))
	if err != nil {
		return err
	}
	*h = b
	return nil
}

// ring is a few pinned staging buffers used in turn for uploads, each with an
// event recorded after the copy that read it: the host fills a slot only once
// the GPU is done with it, so uploads do not wait for each other.
type ring struct {
	slots []slot
	next  int
}

type slot struct {
	buf  hostBuf
	ev   uint64
	busy bool
}

// Ring sizes: small uploads (positions, token ids) and weights.
const (
	smallSlots, smallSlotBytes = 8, 256 << 10
	largeSlots, largeSlotBytes = 2, 16 << 20
)

// take returns the next slot of r, allocating the ring on first use and
// waiting for the slot's last copy.
func (d *Device) take(r *ring, count, size int) (*slot, error) {
	if r.slots == nil {
		slots := make([]slot, 0, count)
		for range count {
			b, err := d.hostAlloc(size)
			if err != nil {
				(&ring{slots: slots}).free(d) // no slot of a half-made ring is ever used
				return nil, err
			}
			var e C.ulonglong
			if err := check("cuEventCreate", C.ember_event_create(d.phys.ctx, &e)); err != nil {
				d.hostFree(&b)
				(&ring{slots: slots}).free(d)
				return nil, err
			}
			slots = append(slots, slot{buf: b, ev: uint64(e)})
		}
		r.slots, r.next = slots, 0
	}
	s := &r.slots[r.next]
	r.next = (r.next + 1) % len(r.slots)
	if s.busy {
		if err := check("cuEventSynchronize", C.ember_event_sync(d.phys.ctx, C.ulonglong(s.ev))); err != nil {
			return nil, err
		}
		s.busy = false
	}
	return s, nil
}

func (r *ring) free(d *Device) {
	for i := range r.slots {
		d.hostFree(&r.slots[i].buf)
		C.ember_event_destroy(d.phys.ctx, C.ulonglong(r.slots[i].ev))
	}
	r.slots = nil
}

// upload copies n bytes to dst through the staging rings on the compute
// stream; fill writes bytes [off, off+len(b)) of the source into b.
func (d *Device) upload(dst uint64, n int, fill func(b []byte, off int), timed bool) error {
	r, count, size := &d.small, smallSlots, smallSlotBytes
	if n > smallSlotBytes {
		r, count, size = &d.large, largeSlots, largeSlotBytes
	}
	for off := 0; off < n; off += size {
		m := min(size, n-off)
		s, err := d.take(r, count, size)
		if err != nil {
			return err
		}
		fill(s.buf.bytes()[:m], off)
		ops := make([]op, 0, 3)
		if timed && off == 0 {
			o, ok, err := d.markOp(int8(device.StageMemcpyH2D))
			if err != nil {
				return err
			}
			if ok {
				ops = append(ops, o)
			}
		}
		ops = append(ops,
			op{kind: opH2D, dst: dst + uint64(off), host: uint64(uintptr(s.buf.p)), bytes: uint64(m)},
			op{kind: opEvent, ev: s.ev})
		if err := d.runDirect(ops...); err != nil {
			return err
		}
		s.busy = true
	}
	return nil
}

// zero clears bytes at p on the compute stream.
func (d *Device) zero(p, bytes uint64) error {
	if bytes == 0 {
		return nil
	}
	return d.runDirect(op{kind: opMemset, dst: p, bytes: bytes})
}

// shapeSize validates a shape and returns its rows, columns and byte size.
func (d *Device) shapeSize(op string, dt device.DType, shape []int) (rows, cols int, bytes int64, err error) {
	if rows, cols, bytes, err = device.CheckShape(dt, shape); err != nil {
		err = d.fail(op, err)
	}
	return
}

// newTensor allocates a tensor's memory and tracks it until Free or Close.
func (d *Device) newTensor(op string, dt device.DType, shape []int, readOnly bool, name string) (*tensor, error) {
	rows, cols, bytes, err := d.shapeSize(op, dt, shape)
	if err != nil {
		return nil, err
	}
	t := &tensor{dev: d, dt: dt, shape: append([]int(nil), shape...), rows: rows, cols: cols, bytes: bytes, readOnly: readOnly, name: name}
	what := name
	if what == "" {
		what = t.String()
	}
	if t.ptr, err = d.devAlloc(bytes, what); err != nil {
		return nil, err
	}
	d.live[t] = struct{}{}
	return t, nil
}

// Alloc reserves a zeroed tensor against the budget; it fails with
// *device.OutOfMemoryError when the budget (or the GPU) cannot hold it.
func (d *Device) Alloc(dt device.DType, shape ...int) (device.Tensor, error) {
	return d.allocZeroed("Alloc", dt, shape, false, "")
}

// allocZeroed allocates a tensor and clears it in stream order.
func (d *Device) allocZeroed(op string, dt device.DType, shape []int, readOnly bool, name string) (device.Tensor, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.usable(op); err != nil {
		return nil, err
	}
	t, err := d.newTensor(op, dt, shape, readOnly, name)
	if err != nil {
		return nil, err
	}
	if err := firstErr(d.flush(), d.zero(t.ptr, uint64(t.bytes))); err != nil {
		d.freeLocked(t)
		return nil, err
	}
	return t, nil
}

// LoadWeight copies the read-only weight name (little-endian bytes of dt)
// to the device through pinned staging buffers. It counts against the budget
// like Alloc; a weight that does not fit fails with *device.OutOfMemoryError
// whose What is name. data may be released once LoadWeight returns.
func (d *Device) LoadWeight(name string, dt device.DType, data []byte, shape ...int) (device.Tensor, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.usable("LoadWeight"); err != nil {
		return nil, err
	}
	_, _, bytes, err := d.shapeSize("LoadWeight", dt, shape)
	if err != nil {
		return nil, err
	}
	if int64(len(data)) != bytes {
		return nil, d.errorf("LoadWeight", "weight %q is %v %v, which needs %d bytes, but %d were given", name, dt, shape, bytes, len(data))
	}
	t, err := d.newTensor("LoadWeight", dt, shape, true, name)
	if err != nil {
		return nil, err
	}
	// upload copies data into pinned staging slots before it returns, so the
	// caller may release data at once while the copies overlap the next weight's.
	err = firstErr(d.flush(), d.upload(t.ptr, len(data), func(b []byte, off int) { copy(b, data[off:]) }, false))
	if err != nil {
		d.freeLocked(t)
		return nil, err
	}
	return t, nil
}

// NewWeight allocates a read-only weight of zeros without host data, for
// weights generated on the device (FillUniform).
func (d *Device) NewWeight(name string, dt device.DType, shape ...int) (device.Tensor, error) {
	return d.allocZeroed("NewWeight", dt, shape, true, name)
}

// Free returns t's memory to its device and budget once the work issued
// before has finished with it. Freeing twice, freeing a view, or freeing nil
// or another backend's tensor is a no-op. Views of t become unusable.
func (d *Device) Free(t device.Tensor) {
	c, ok := t.(*tensor)
	if !ok || c == nil || c.parent != nil {
		return
	}
	o := c.dev
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed || c.freed.Load() {
		return
	}
	o.syncLocked()
	o.graphs.clear(o) // a graph may point at this memory
	o.freeLocked(c)
}

func (d *Device) freeLocked(t *tensor) {
	if t.freed.Swap(true) {
		return
	}
	delete(d.live, t)
	d.devFree(t.ptr, t.bytes)
}

// View returns rows [row, row+n) of t's first dimension as a tensor sharing
// t's memory. It uses no budget (its Bytes is 0), Free on it is a no-op, and
// it becomes unusable when t is freed. A view of a weight is read-only too.
func (d *Device) View(t device.Tensor, row, n int) (device.Tensor, error) {
	const op = "View"
	c, err := d.operand(op, "t", t, device.AnyDType, false)
	if err != nil {
		return nil, err
	}
	if err := device.CheckView(c.Operand(), row, n); err != nil {
		return nil, d.fail(op, err)
	}
	shape, lo, _ := device.ViewRows(c.shape, row, n)
	v := &tensor{dev: d, dt: c.dt, shape: shape, readOnly: c.readOnly, name: c.name, parent: c,
		ptr: c.ptr + uint64(lo*c.dt.Size())}
	v.rows, v.cols = device.Elems(shape[:len(shape)-1]), shape[len(shape)-1]
	if c.parent != nil {
		v.parent = c.parent
	}
	return v, nil
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
