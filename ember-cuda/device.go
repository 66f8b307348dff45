package cuda

/*
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ember-infer/ember/ember-core/device"
)

// physical is one GPU: its primary context, loaded kernels and event pool,
// shared by the logical devices opened on it (`--devices 0,0` opens two).
type physical struct {
	ordinal int
	dev     C.CUdevice
	ctx     C.CUcontext
	name    string
	sms     int
	cc      [2]int
	mods    *modules
	refs    int
	opened  int // logical devices opened on it so far, for their names

	evMu   sync.Mutex
	events []uint64 // free timing events of this context
}

var phys struct {
	mu  sync.Mutex
	gpu map[int]*physical
}

// acquire returns GPU ordinal's physical state, retaining its primary
// context and loading the kernels the first time.
func acquire(ordinal int) (*physical, error) {
	phys.mu.Lock()
	defer phys.mu.Unlock()
	if p := phys.gpu[ordinal]; p != nil {
		p.refs++
		return p, nil
	}
	p := &physical{ordinal: ordinal}
	if err := check("cuDeviceGet", C.ember_device_get(&p.dev, C.int(ordinal))); err != nil {
		return nil, err
	}
	p.name = deviceName(p.dev)
	p.sms = deviceAttr(p.dev, attrMultiprocessors)
	p.cc = [2]int{deviceAttr(p.dev, attrCCMajor), deviceAttr(p.dev, attrCCMinor)}
	if p.cc[0] < 8 {
		return nil, unavailable("GPU %d (%s) has compute capability %d.%d; Ember's kernels need 8.0 or newer (Ampere)", ordinal, p.name, p.cc[0], p.cc[1])
	}
	if err := check("cuDevicePrimaryCtxRetain", C.ember_primary_ctx_retain(&p.ctx, p.dev)); err != nil {
		return nil, err
	}
	mods, err := loadModules(p.ctx, os.Getenv("EMBER_CUDA_JIT") == "1")
	if err != nil {
		C.ember_primary_ctx_release(p.dev)
		return nil, fmt.Errorf("loading Ember's kernels on GPU %d (%s): %w", ordinal, p.name, err)
	}
	p.mods = mods
	p.refs = 1
	if phys.gpu == nil {
		phys.gpu = map[int]*physical{}
	}
	phys.gpu[ordinal] = p
	return p, nil
}

// retain takes one more reference to an acquired GPU.
func (p *physical) retain() {
	phys.mu.Lock()
	p.refs++
	phys.mu.Unlock()
}

func (p *physical) release() {
	phys.mu.Lock()
	defer phys.mu.Unlock()
	if p.refs--; p.refs > 0 {
		return
	}
	p.evMu.Lock()
	for _, e := range p.events {
		C.ember_event_destroy(p.ctx, C.ulonglong(e))
	}
	p.events = nil
	p.evMu.Unlock()
	p.mods.unload(p.ctx)
	C.ember_primary_ctx_release(p.dev)
	delete(phys.gpu, p.ordinal)
	for k := range peers.on { // a context made again later has no peer access yet
		if k[0] == p.ordinal || k[1] == p.ordinal {
			delete(peers.on, k)
		}
	}
}

// event takes a timing event from the pool.
func (p *physical) event() (uint64, error) {
	p.evMu.Lock()
	defer p.evMu.Unlock()
	if n := len(p.events); n > 0 {
		e := p.events[n-1]
		p.events = p.events[:n-1]
		return e, nil
	}
	var e C.ulonglong
	return uint64(e), check("cuEventCreate", C.ember_event_create(p.ctx, &e))
}

func (p *physical) putEvent(e uint64) {
	p.evMu.Lock()
	p.events = append(p.events, e)
	p.evMu.Unlock()
}

// Device is one logical CUDA device: a GPU (or a share of one, when the same
// GPU is opened twice) with its own memory budget, a compute stream that runs
// the ops in issue order, a copy stream for transfers between devices, a
// cuBLAS handle and the decode graphs. It implements device.Device; its
// methods are safe for concurrent use.
type Device struct {
	name   string
	serial int // lock order between devices
	phys   *physical

	compute, copy C.CUstream
	blas          C.cublasHandle_t

	memMu  sync.Mutex
	budget int64
	used   int64

	mu          sync.Mutex // everything below
	closed      bool
	live        map[*tensor]struct{}
	internal    []devBuf // workspace, params, error flag, scratch
	workspace   devBuf   // cuBLAS
	params      devBuf   // positions read by captured graphs
	errFlag     devBuf
	errHost     hostBuf
	attnPart    devBuf            // decode attention partials
	attnDone    devBuf            // decode attention: splits done per head
	rowTables   map[string]devBuf // BatchAttention cache tables by content
	gemmIn      devBuf            // f32 activations converted for cuBLAS
	rope        map[ropeKey]devBuf
	decodeMM    map[mmKey]bool // true: GEMV beats cuBLAS for this shape
	small       ring           // pinned staging for small uploads
	large       ring           // pinned staging for weights and big uploads
	download    hostBuf
	peerStage   hostBuf // staged copies into this device
	peerFree    uint64  // recorded when peerStage may be refilled
	peerFreeSet bool

	seg      segment
	graphs   *graphCache
	noGraphs bool // while timing with Time
	// stageTiming puts timing marks into decode steps too (SetStageTiming);
	// prefill-shaped work is always timed.
	stageTiming bool
	steps       stepStats  // decode-shaped segments flushed, for DecodeStepStats
	folded      [3]fusable // what the last fold took back (fuse.go)
	// onLaunch, when set (by tests), sees every op launched plainly.
	onLaunch func(*op)
	// gemmOverride is EMBER_DECODE_GEMM when the device opened.
	gemmOverride string
	// tuneCopies caps the weight copies the decode matmul tuner rotates over
	// (EMBER_CUDA_TUNE_COPIES when the device opened; maxTuneCopies without).
	tuneCopies int
	openStage  int8 // stage of the last mark on the compute stream; -1 none
	timeline   []mark
	p2p        []p2pSpan // copy intervals into this device, resolved at Sync
	cops       []C.ember_op

	stage atomic.Uint32
	times device.Timings
}

var (
	_ device.Device      = (*Device)(nil)
	_ device.LogSumExper = (*Device)(nil)
)

var serials atomic.Int64

// devBuf is a device allocation made outside of any tensor.
type devBuf struct {
	ptr   uint64
	bytes int64
}

type ropeKey struct {
	headDim int
	theta   float64
}

type mmKey struct {
	o, k, n int
	dt      device.DType
}

// Sizes of the buffers every device keeps.
const (
	// workspaceBytes is the cuBLAS workspace, memplan.CUBLASWorkspace: set
	// explicitly so that cuBLAS allocates nothing while a graph is captured.
	workspaceBytes = 32 << 20
	// paramSlots is the positions a captured step may read (two per layer).
	paramSlots = 4096
	// headroom is left free on a GPU when no budget is given, for what the
	// driver and cuBLAS allocate on their own.
	headroom = 256 << 20
)

// Open opens the CUDA devices ordinals (the same ordinal may repeat: each
// occurrence is a logical device with its own streams and budget). mem gives
// each device's budget in bytes: none (all of a GPU's free memory less a
// small headroom, shared evenly by the logical devices on it), one for all, or
// one per device. Failures to find a driver, cuBLAS or a GPU are
// *UnavailableError sentences.
func Open(ordinals []int, mem []int64) ([]*Device, error) {
	if len(ordinals) == 0 {
		return nil, fmt.Errorf("no CUDA devices requested")
	}
	if len(mem) > 1 && len(mem) != len(ordinals) {
		return nil, fmt.Errorf("%d memory budgets for %d devices", len(mem), len(ordinals))
	}
	count, err := initDriver()
	if err != nil {
		return nil, err
	}
	lib.mu.Lock()
	ver := lib.driverVer
	lib.mu.Unlock()
	if _, err := loadCUBLAS(ver); err != nil {
		return nil, err
	}
	sharers := map[int]int{}
	for _, o := range ordinals {
		if o < 0 || o >= count {
			return nil, unavailable("CUDA device %d does not exist: the driver sees %d GPU(s), numbered from 0", o, count)
		}
		sharers[o]++
	}
	var devs []*Device
	fail := func(err error) ([]*Device, error) {
		for _, d := range devs {
			d.Close()
		}
		return nil, err
	}
	for i, o := range ordinals {
		p, err := acquire(o)
		if err != nil {
			return fail(err)
		}
		phys.mu.Lock()
		name := fmt.Sprintf("cuda:%d", o)
		if p.opened > 0 {
			name = fmt.Sprintf("cuda:%d#%d", o, p.opened)
		}
		p.opened++
		phys.mu.Unlock()
		var budget int64
		switch len(mem) {
		case 0:
		case 1:
			budget = mem[0]
		default:
			budget = mem[i]
		}
		d, err := newDevice(p, name, budget, sharers[o])
		if err != nil { // newDevice has released p
			return fail(err)
		}
		devs = append(devs, d)
	}
	if err := enablePeers(devs); err != nil {
		return fail(err)
	}
	return devs, nil
}

// newDevice makes a logical device on p, taking over the reference the
// caller acquired: on failure the half-made device is closed, which frees
// what it got and releases p once.
func newDevice(p *physical, name string, budget int64, sharers int) (*Device, error) {
	d := &Device{name: name, serial: int(serials.Add(1)), phys: p, live: map[*tensor]struct{}{},
		rope: map[ropeKey]devBuf{}, decodeMM: map[mmKey]bool{}, openStage: -1,
		stageTiming: os.Getenv("EMBER_CUDA_STAGE_TIMING") == "1", gemmOverride: decodeGEMMOverride()}
	d.seg.reset()
	ok := false
	defer func() {
		if !ok {
			d.Close()
		}
	}()
	var err error
	if d.tuneCopies, err = tuneCopiesCap(); err != nil {
		return nil, err
	}
	if err := check("cuStreamCreate", C.ember_stream_create(p.ctx, &d.compute)); err != nil {
		return nil, err
	}
	if err := check("cuStreamCreate", C.ember_stream_create(p.ctx, &d.copy)); err != nil {
		return nil, err
	}
	free, _, err := d.gpuMemInfo()
	if err != nil {
		return nil, err
	}
	auto := budget <= 0
	if auto {
		budget = max(0, free-headroom) / int64(sharers)
	}
	d.budget = budget
	if d.workspace, err = d.internalAlloc(workspaceBytes, "the cuBLAS workspace"); err != nil {
		return nil, err
	}
	if d.params, err = d.internalAlloc(4*paramSlots, "graph positions"); err != nil {
		return nil, err
	}
	if d.errFlag, err = d.internalAlloc(256, "the error flag"); err != nil {
		return nil, err
	}
	if d.errHost, err = d.hostAlloc(64); err != nil {
		return nil, err
	}
	if err := d.zero(d.errFlag.ptr, uint64(d.errFlag.bytes)); err != nil {
		return nil, err
	}
	if err := d.startCUBLAS(); err != nil {
		return nil, err
	}
	if auto {
		// cuBLAS allocates memory of its own when its handle starts: the
		// budget is what is free after that, plus what the device itself
		// holds already.
		free, _, err := d.gpuMemInfo()
		if err != nil {
			return nil, err
		}
		d.memMu.Lock()
		d.budget = max(d.used, (free+d.used-headroom)/int64(sharers))
		d.memMu.Unlock()
	}
	d.graphs = newGraphCache(d.params.ptr, paramSlots, graphsSupported())
	ok = true
	return d, nil
}

// startCUBLAS makes the device's cuBLAS handle. A library that cannot start
// one (a cuBLAS newer than the driver supports) gives way to the next
// candidate of CUBLASLibraries while no device holds a handle of it.
func (d *Device) startCUBLAS() error {
	for {
		err := checkInt("cublasCreate", C.ember_cublas_create(d.phys.ctx, &d.blas, d.compute, C.CUdeviceptr(d.workspace.ptr), C.size_t(workspaceBytes)))
		if err == nil {
			lib.mu.Lock()
			lib.handles++
			lib.mu.Unlock()
			return nil
		}
		d.blas = nil
		failed := CUBLASLibrary()
		if !nextCUBLAS() {
			return fmt.Errorf("%s: cuBLAS (%s) could not start: %w", d.name, failed, err)
		}
	}
}

// Name returns the device's name: "cuda:0", or "cuda:0#1" for the second
// logical device opened on GPU 0 while the first is open.
func (d *Device) Name() string { return d.name }

// Ordinal returns the GPU's index as the driver numbers it.
func (d *Device) Ordinal() int { return d.phys.ordinal }

// GPUName returns the GPU's marketing name, e.g. "NVIDIA GeForce RTX 3080 Ti".
func (d *Device) GPUName() string { return d.phys.name }

// KernelImage says where the GPU's kernels came from: ImageSASS (the embedded
// fatbins, the normal case on sm_80, 86, 89 and 90), ImagePTX (the driver
// JIT-compiled the embedded PTX: a newer GPU, the emulator, or
// EMBER_CUDA_JIT=1) or ImageMix.
func (d *Device) KernelImage() string { return d.phys.mods.image() }

// Multiprocessors returns the GPU's SM count.
func (d *Device) Multiprocessors() int { return d.phys.sms }

// ComputeCapability returns the GPU's compute capability, e.g. 8, 6.
func (d *Device) ComputeCapability() (major, minor int) { return d.phys.cc[0], d.phys.cc[1] }

// MemInfo returns the device's budget and the part of it still free.
func (d *Device) MemInfo() (total, free int64) {
	d.memMu.Lock()
	defer d.memMu.Unlock()
	return d.budget, d.budget - d.used
}

// GPUMemInfo returns what the driver reports free and in total on the GPU
// (cuMemGetInfo), for every process together.
func (d *Device) GPUMemInfo() (free, total int64, err error) { return d.gpuMemInfo() }

func (d *Device) gpuMemInfo() (free, total int64, err error) {
	var f, t C.size_t
	if err := check("cuMemGetInfo", C.ember_mem_info(d.phys.ctx, &f, &t)); err != nil {
		return 0, 0, err
	}
	return int64(f), int64(t), nil
}

// SetStage names the stage that the following ops' time counts towards.
func (d *Device) SetStage(s device.Stage) {
	if s < device.NumStages {
		d.stage.Store(uint32(s))
	}
}

// SetStageTiming turns the stage timing of decode steps on or off (off by
// default; EMBER_CUDA_STAGE_TIMING=1 turns it on). Off, a decode step records
// no timing events, so its graph has no event nodes, and Timings reports none
// of its time; prefill is timed either way. Profiling turns it on.
func (d *Device) SetStageTiming(on bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stageTiming = on // a step issued half before and half after is keyed as such
}

// Timings returns the time per stage since the last ResetTimings, measured
// with CUDA events on the device's streams. It waits for work already issued
// when that work's marks have not been read yet.
func (d *Device) Timings() device.Timings {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.closed {
		d.settleLocked()
	}
	return d.times
}

// ResetTimings zeroes the stage timers.
func (d *Device) ResetTimings() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.closed {
		d.settleLocked()
	}
	d.times = device.Timings{}
}

// GraphStats reports the decode graph cache's counters: segments run as
// plain launches, graphs captured, replays, and captures that failed.
func (d *Device) GraphStats() (plain, captured, replays, failures int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	g := d.graphs
	return g.plain, g.captured, g.replays, g.failures
}

// stepStats sums what decode-shaped segments (decode steps) held and cost.
type stepStats struct {
	steps, kernels, events int
	host                   time.Duration
}

// DecodeStepStats returns, summed over the decode steps flushed so far, the
// steps, their kernel launches and event records (a replayed step's graph
// nodes), and the host time from each step's first op to its launch. A step
// is a segment of one-token ops: all of a device's work between two host
// waits.
func (d *Device) DecodeStepStats() (steps, kernels, events int, host time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.steps.steps, d.steps.kernels, d.steps.events, d.steps.host
}

// Close frees everything the device holds — tensors still allocated
// included — and releases the GPU's context when no other logical device
// uses it. A closed device refuses further work; closing twice is a no-op.
func (d *Device) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	err := d.syncLocked()
	ctx := d.phys.ctx
	if d.graphs != nil {
		d.graphs.clear(d)
	}
	if d.blas != nil { // before its workspace is freed
		C.ember_cublas_destroy(ctx, d.blas)
		d.blas = nil
		lib.mu.Lock()
		lib.handles--
		lib.mu.Unlock()
	}
	for t := range d.live {
		t.freed.Store(true)
		if t.ptr != 0 {
			C.ember_mem_free(ctx, C.CUdeviceptr(t.ptr))
		}
	}
	d.live = nil
	for _, b := range d.internal {
		if b.ptr != 0 {
			C.ember_mem_free(ctx, C.CUdeviceptr(b.ptr))
		}
	}
	d.internal = nil
	for _, r := range []*ring{&d.small, &d.large} {
		r.free(d)
	}
	for _, h := range []*hostBuf{&d.errHost, &d.download, &d.peerStage} {
		d.hostFree(h)
	}
	if d.peerFreeSet {
		C.ember_event_destroy(ctx, C.ulonglong(d.peerFree))
		d.peerFreeSet = false
	}
	for _, m := range d.timeline {
		if !m.owned {
			d.phys.putEvent(m.ev)
		}
	}
	d.timeline = nil
	d.destroyStreams()
	d.memMu.Lock()
	d.used = 0
	d.memMu.Unlock()
	d.closed = true
	d.phys.release()
	return err
}

func (d *Device) destroyStreams() {
	if d.compute != nil {
		C.ember_stream_destroy(d.phys.ctx, d.compute)
		d.compute = nil
	}
	if d.copy != nil {
		C.ember_stream_destroy(d.phys.ctx, d.copy)
		d.copy = nil
	}
}

// live checks that the device is open.
func (d *Device) usable(op string) error {
	if d.closed {
		return d.errorf(op, "the device is closed")
	}
	return nil
}

// Time runs fn reps times on the device and returns the mean GPU time per
// run, measured with events on the compute stream. Graphs are off meanwhile,
// so each run's launches are what is timed.
func (d *Device) Time(reps int, fn func() error) (time.Duration, error) {
	if reps < 1 {
		return 0, fmt.Errorf("Time: %d repetitions", reps)
	}
	d.mu.Lock()
	if err := d.flush(); err != nil {
		d.mu.Unlock()
		return 0, err
	}
	d.noGraphs = true
	start, err := d.phys.event()
	if err != nil {
		d.mu.Unlock()
		return 0, err
	}
	defer d.phys.putEvent(start)
	end, err := d.phys.event()
	if err != nil {
		d.mu.Unlock()
		return 0, err
	}
	defer d.phys.putEvent(end)
	err = d.runDirect(op{kind: opEvent, ev: start})
	d.mu.Unlock()
	if err != nil {
		return 0, err
	}
	for range reps {
		if err := fn(); err != nil {
			d.mu.Lock()
			d.noGraphs = false
			d.mu.Unlock()
			return 0, err
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.noGraphs = false
	if err := d.flush(); err != nil {
		return 0, err
	}
	if err := d.runDirect(op{kind: opEvent, ev: end}); err != nil {
		return 0, err
	}
	if err := check("cuEventSynchronize", C.ember_event_sync(d.phys.ctx, C.ulonglong(end))); err != nil {
		return 0, err
	}
	var ms C.float
	if err := check("cuEventElapsedTime", C.ember_event_elapsed(d.phys.ctx, &ms, C.ulonglong(start), C.ulonglong(end))); err != nil {
		return 0, err
	}
	return time.Duration(float64(ms) * float64(time.Millisecond) / float64(reps)), nil
}

// decodeGEMMOverride is EMBER_DECODE_GEMM, read when a device opens: "gemv"
// or "cublas" forces the decode matmul path; anything else lets the device
// time both per shape.
func decodeGEMMOverride() string { return os.Getenv("EMBER_DECODE_GEMM") }

// tuneCopiesCap is EMBER_CUDA_TUNE_COPIES, read when a device opens: the
// most weight copies the decode matmul tuner rotates over (1 to
// maxTuneCopies; maxTuneCopies when unset). The copies keep a timed weight
// out of L2; the CUDA emulator has no cache, so gpu-check --emulator sets 1.
func tuneCopiesCap() (int, error) {
	v := os.Getenv("EMBER_CUDA_TUNE_COPIES")
	if v == "" {
		return maxTuneCopies, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxTuneCopies {
		return 0, fmt.Errorf("EMBER_CUDA_TUNE_COPIES=%q: want a whole number from 1 to %d", v, maxTuneCopies)
	}
	return n, nil
}
