// Package cpu is Ember's CPU device: the numerical reference every other
// backend is tested against, and the backend that always works.
//
// A process may hold several CPU devices (cpu:0, cpu:1, …), each with its own
// byte budget, so that a layer split, the copies between devices and running
// out of memory are real code paths without a GPU. Weights are read in place
// from the host bytes they were loaded from (normally an mmap of the
// safetensors file); all math is float32, with the reductions that decide
// accuracy (RMSNorm's sum of squares, softmax's denominator, RoPE's angles)
// done in float64. Ops run synchronously on the calling goroutine, spread over
// the device's worker pool.
//
// The device needs no cgo. Its inner loops (dot products, the prefill GEMM
// tile, attention's weighted sums, exp) run as AVX-512 or AVX2 + FMA + F16C
// assembly on amd64 CPUs that have those extensions, the best chosen at
// start-up (EMBER_KERNELS=avx2|go caps the choice); everywhere else — other
// GOARCHes, older CPUs, the purego build tag, or EMBER_NOASM=1 — they run as
// plain Go, which is also the reference the assembly is tested against.
// Kernels says which are in use. Either way results are deterministic: the
// thread count, the rows of a MatMul and the chunking of a prefill never change
// an output's bits.
package cpu

import (
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/ember-infer/ember/ember-core/device"
)

// Options configure a CPU device.
type Options struct {
	// Name identifies the device in messages; "cpu" when empty.
	Name string
	// Budget is the bytes the device may hold; 0 means unlimited.
	Budget int64
	// Threads is the number of goroutines an op is spread over; 0 means
	// runtime.GOMAXPROCS(0).
	Threads int
}

// Device is a logical CPU device. It implements device.Device. Its methods are
// safe for concurrent use; ops on one device run one at a time, like a stream.
type Device struct {
	name    string
	budget  int64
	threads int

	memMu sync.Mutex
	used  int64

	// opMu serialises ops, transfers and Sync, and guards pool and scratch.
	opMu    sync.Mutex
	pool    *pool
	scratch []scratch // per worker
	opBuf   scratch   // for the calling goroutine before or after a parallel section
	rope    ropeCache
	rj      rangeJob
	jobs    opJobs
	// rowShape backs the shape of BatchAttention's row operands (Operand.RowIn).
	rowShape [2]int
	// batchRows holds BatchAttention's rows while it runs.
	batchRows []batchAttnRow

	stage atomic.Uint32
	times [device.NumStages]atomic.Int64
}

var _ device.Device = (*Device)(nil)

// New returns a CPU device with the given options.
func New(o Options) *Device {
	threads := o.Threads
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	name := o.Name
	if name == "" {
		name = "cpu"
	}
	d := &Device{
		name:    name,
		budget:  max(o.Budget, 0),
		threads: threads,
		pool:    newPool(threads),
		scratch: make([]scratch, threads),
	}
	// The pool's workers hold only the pool, so d can become unreachable; then
	// the workers are told to exit.
	runtime.AddCleanup(d, (*pool).close, d.pool)
	return d
}

// NewDevices returns n CPU devices named cpu:0 … cpu:n-1, each with its own
// budget (0 = unlimited) and thread count (0 = runtime.GOMAXPROCS(0)).
func NewDevices(n int, budget int64, threads int) []*Device {
	ds := make([]*Device, n)
	for i := range ds {
		ds[i] = New(Options{Name: fmt.Sprintf("cpu:%d", i), Budget: budget, Threads: threads})
	}
	return ds
}

// Name returns the device's name, e.g. "cpu:0".
func (d *Device) Name() string { return d.name }

// Threads returns the number of goroutines an op is spread over.
func (d *Device) Threads() int { return d.threads }

// MemInfo returns the budget and the part of it still free. An unlimited
// device reports a total of math.MaxInt64.
func (d *Device) MemInfo() (total, free int64) {
	d.memMu.Lock()
	defer d.memMu.Unlock()
	total = d.budget
	if total == 0 {
		total = math.MaxInt64
	}
	return total, total - d.used
}

// reserve takes bytes from the budget or returns *device.OutOfMemoryError.
func (d *Device) reserve(bytes int64, what string) error {
	d.memMu.Lock()
	defer d.memMu.Unlock()
	if limit := d.limit(); limit > 0 && bytes > limit-d.used {
		return &device.OutOfMemoryError{Device: d.name, Requested: bytes, Free: limit - d.used, Total: limit, What: what}
	}
	d.used += bytes
	return nil
}

// shapeSize validates shape and returns its rows, columns and byte size.
func (d *Device) shapeSize(op string, dt device.DType, shape []int) (rows, cols int, bytes int64, err error) {
	if rows, cols, bytes, err = device.CheckShape(dt, shape); err != nil {
		err = d.fail(op, err)
	}
	return
}

// Alloc reserves a zeroed tensor against the budget; it fails with
// *device.OutOfMemoryError when the budget cannot hold it.
func (d *Device) Alloc(dt device.DType, shape ...int) (device.Tensor, error) {
	rows, cols, bytes, err := d.shapeSize("Alloc", dt, shape)
	if err != nil {
		return nil, err
	}
	t := &tensor{dev: d, dt: dt, shape: append([]int(nil), shape...), rows: rows, cols: cols, bytes: bytes}
	if err := d.reserve(bytes, t.String()); err != nil {
		return nil, err
	}
	n := rows * cols
	switch dt {
	case device.F32:
		t.f32 = make([]float32, n)
	case device.I32:
		t.i32 = make([]int32, n)
	default:
		t.u16 = make([]uint16, n)
	}
	return t, nil
}

// LoadWeight places the read-only weight name on the device. On a
// little-endian host with data aligned for dt, the tensor is a view of data
// (no copy), so data must outlive it; otherwise it is a decoded copy. Either
// way it counts against the budget like Alloc, and a weight that does not fit
// fails with *device.OutOfMemoryError whose What is name.
func (d *Device) LoadWeight(name string, dt device.DType, data []byte, shape ...int) (device.Tensor, error) {
	rows, cols, bytes, err := d.shapeSize("LoadWeight", dt, shape)
	if err != nil {
		return nil, err
	}
	if int64(len(data)) != bytes {
		return nil, d.errorf("LoadWeight", "weight %q is %v %v, which needs %d bytes, but %d were given", name, dt, shape, bytes, len(data))
	}
	if err := d.reserve(bytes, name); err != nil {
		return nil, err
	}
	t := &tensor{dev: d, dt: dt, shape: append([]int(nil), shape...), rows: rows, cols: cols, bytes: bytes, readOnly: true, name: name}
	n := rows * cols
	p := unsafe.Pointer(unsafe.SliceData(data))
	inPlace := littleEndian && n > 0 && uintptr(p)%uintptr(dt.Size()) == 0
	switch dt {
	case device.F32:
		if inPlace {
			t.f32 = unsafe.Slice((*float32)(p), n)
		} else {
			t.f32 = make([]float32, n)
			for i := range t.f32 {
				t.f32[i] = math.Float32frombits(le32(data[4*i:]))
			}
		}
	case device.I32:
		if inPlace {
			t.i32 = unsafe.Slice((*int32)(p), n)
		} else {
			t.i32 = make([]int32, n)
			for i := range t.i32 {
				t.i32[i] = int32(le32(data[4*i:]))
			}
		}
	default:
		if inPlace {
			t.u16 = unsafe.Slice((*uint16)(p), n)
		} else {
			t.u16 = make([]uint16, n)
			for i := range t.u16 {
				t.u16[i] = uint16(data[2*i]) | uint16(data[2*i+1])<<8
			}
		}
	}
	return t, nil
}

func le32(b []byte) uint32 {
	_ = b[3]
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

// Free returns t's bytes to the budget of the device that owns it. Freeing
// twice, freeing a view, or freeing nil or a tensor of another backend is a
// no-op. Views of t become unusable.
func (d *Device) Free(t device.Tensor) {
	c, ok := t.(*tensor)
	if !ok || c == nil || c.parent != nil || c.freed.Swap(true) {
		return
	}
	o := c.dev
	o.memMu.Lock()
	o.used -= c.bytes
	o.memMu.Unlock()
	// Drop the storage so the garbage collector (or the mmap's owner) can have it.
	o.opMu.Lock()
	c.f32, c.i32, c.u16 = nil, nil, nil
	o.opMu.Unlock()
}

// View returns rows [row, row+n) of t's first dimension as a tensor sharing
// t's memory. It uses no budget (its Bytes is 0), Free on it is a no-op, and
// it becomes unusable when t is freed. A view of a weight is read-only too.
func (d *Device) View(t device.Tensor, row, n int) (device.Tensor, error) {
	const op = "View"
	d.opMu.Lock()
	defer d.opMu.Unlock()
	c, err := d.operand(op, "t", t, device.AnyDType, false)
	if err != nil {
		return nil, err
	}
	if err := device.CheckView(c.Operand(), row, n); err != nil {
		return nil, d.fail(op, err)
	}
	shape, lo, hi := device.ViewRows(c.shape, row, n)
	v := &tensor{dev: d, dt: c.dt, shape: shape, readOnly: c.readOnly, name: c.name, parent: c}
	v.rows, v.cols = device.Elems(shape[:len(shape)-1]), shape[len(shape)-1]
	switch c.dt {
	case device.F32:
		v.f32 = c.f32[lo:hi:hi]
	case device.I32:
		v.i32 = c.i32[lo:hi:hi]
	default:
		v.u16 = c.u16[lo:hi:hi]
	}
	if c.parent != nil {
		v.parent = c.parent
	}
	return v, nil
}

// Sync waits for any op in flight on another goroutine; ops themselves are
// synchronous.
func (d *Device) Sync() error {
	d.opMu.Lock()
	defer d.opMu.Unlock() // holding the op lock at all is the wait
	return nil
}

// SetStage names the stage that the following ops' time counts towards. A
// stage outside the known ones is ignored.
func (d *Device) SetStage(s device.Stage) {
	if s < device.NumStages {
		d.stage.Store(uint32(s))
	}
}

// Timings returns the time spent per stage since the last ResetTimings.
func (d *Device) Timings() device.Timings {
	var t device.Timings
	for i := range t {
		t[i] = time.Duration(d.times[i].Load())
	}
	return t
}

// ResetTimings zeroes the stage timers.
func (d *Device) ResetTimings() {
	for i := range d.times {
		d.times[i].Store(0)
	}
}

// begin locks the device for one op and returns the stage its time goes to.
func (d *Device) begin() device.Stage {
	d.opMu.Lock()
	return device.Stage(d.stage.Load())
}

// beginTransfer locks the device for a transfer, whose time always goes to s.
func (d *Device) beginTransfer(s device.Stage) device.Stage {
	d.opMu.Lock()
	return s
}

// end adds the time since t0 to stage s and unlocks the device.
func (d *Device) end(s device.Stage, t0 time.Time) {
	d.times[s].Add(int64(time.Since(t0)))
	d.opMu.Unlock()
}

// opJobs holds each op's parallel job. Ops run one at a time, so one of each
// is enough; keeping them here means starting an op allocates nothing.
type opJobs struct {
	matmul    matmulJob
	attn      attnJob
	batchAttn batchAttnJob
	encode    encodeJob
	embed     embedJob
	ew        elementwiseJob
	norm      normJob
	rope      ropeJob
	sel       selectJob
	lse       lseJob
}

// ParallelRegions returns how many ops' work this device has handed to its
// helper workers since it was made (ops that ran on the calling goroutine
// alone do not count): what a fused op or a grain saves shows here.
func (d *Device) ParallelRegions() int64 { return d.pool.regions.Load() }
