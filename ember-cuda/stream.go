package cuda

/*
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"time"

	"github.com/ember-infer/ember/ember-core/device"
)

// Each device issues its work on one compute stream, in order. Ops are
// collected in a segment (segment.go) and launched at the next flush point —
// at once for prefill-shaped work, at the end of the step for a decode step,
// which may come from a graph (graph.go).
//
// Stage timings: when the stage of the work changes, a timing event (a mark)
// goes into the stream; the time between consecutive marks belongs to the
// stage the first opened. Marks are read when the host waits anyway (Sync,
// Download), so no op costs a host sync; a stretch closed by an idle mark
// (before a wait on another stream or a host sync) counts towards nothing.

// toC converts a batch to the shim's ember_op array, reusing d.cops.
func (d *Device) toC(ops []op) []C.ember_op {
	if cap(d.cops) < len(ops) {
		d.cops = make([]C.ember_op, len(ops))
	}
	out := d.cops[:len(ops)]
	for i := range ops {
		o, c := &ops[i], &out[i]
		*c = C.ember_op{}
		c.kind = C.int(o.kind)
		c.argc, c.args_off, c.offs_off = C.uint(o.argc), C.uint(o.argsOff), C.uint(o.offsOff)
		for j := range 3 {
			c.grid[j], c.block[j] = C.uint(o.grid[j]), C.uint(o.block[j])
		}
		c.shmem = C.uint(o.shmem)
		c.fn, c.ev = C.ulonglong(o.fn), C.ulonglong(o.ev)
		c.dst, c.src, c.src2 = C.ulonglong(o.dst), C.ulonglong(o.src), C.ulonglong(o.src2)
		c.bytes, c.host = C.ulonglong(o.bytes), C.ulonglong(o.host)
		c.dctx, c.sctx, c.handle = C.ulonglong(o.dctx), C.ulonglong(o.sctx), C.ulonglong(o.handle)
		g := o.gemm
		c.transa, c.transb = C.int(g.transa), C.int(g.transb)
		c.m, c.n, c.k = C.int(g.m), C.int(g.n), C.int(g.k)
		c.lda, c.ldb, c.ldc = C.int(g.lda), C.int(g.ldb), C.int(g.ldc)
		c.atype, c.btype, c.ctype, c.compute = C.int(o.atype), C.int(o.btype), C.int(o.ctype), C.int(o.compute)
		c.alpha, c.beta = C.float(o.alpha), C.float(o.beta)
	}
	return out
}

// launchBatch runs ops on stream s of this device's context.
func (d *Device) launchBatch(s C.CUstream, ops []op, blob []byte, offs []uint32) error {
	if len(ops) == 0 {
		return nil
	}
	if d.onLaunch != nil {
		for i := range ops {
			d.onLaunch(&ops[i])
		}
	}
	cops := d.toC(ops)
	var blobPtr *C.uchar
	if len(blob) > 0 {
		blobPtr = (*C.uchar)(&blob[0])
	}
	var offsPtr *C.uint
	if len(offs) > 0 {
		offsPtr = (*C.uint)(&offs[0])
	}
	var failed C.int
	r := C.ember_run(d.phys.ctx, s, &cops[0], C.int(len(cops)), blobPtr, offsPtr, &failed)
	if r != 0 {
		return d.launchError(ops, int(failed), int(r))
	}
	return nil
}

// launchError names the op of a batch that failed.
func (d *Device) launchError(ops []op, at, code int) error {
	what := "a batch"
	if at >= 0 && at < len(ops) {
		o := ops[at]
		what = [...]string{"a kernel launch", "an event record", "an event record", "a stream wait", "cublasGemmEx",
			"a host-to-device copy", "a device-to-host copy", "a device copy", "a memset", "a peer copy"}[o.kind]
		if o.kind == opKernel {
			for name, f := range d.phys.mods.fn {
				if uint64(uintptrOf(f)) == o.fn {
					what = "kernel " + name
				}
			}
		}
	}
	return fmt.Errorf("%s: %s failed: %w", d.name, what, &Error{Call: "launch", Code: code})
}

// runDirect launches ops on the compute stream now, keeping their timing
// marks. The caller has flushed the segment, so stream order is issue order.
func (d *Device) runDirect(ops ...op) error {
	if err := d.launchBatch(d.compute, ops, nil, nil); err != nil {
		return err
	}
	for _, o := range ops {
		if o.isMark {
			d.timeline = append(d.timeline, mark{ev: o.ev, stage: o.stage})
		}
	}
	return nil
}

// markOp returns a timing mark opening stage, or false when the stage is
// already open.
func (d *Device) markOp(stage int8) (op, bool, error) {
	if d.openStage == stage {
		return op{}, false, nil
	}
	ev, err := d.phys.event()
	if err != nil {
		return op{}, false, err
	}
	d.openStage = stage
	return op{kind: opEvent, ev: ev, stage: stage, isMark: true}, true, nil
}

// issue adds one op's launches (built by add) to the segment, after a mark
// when the stage changed. step says the op is decode-shaped (stepRows: one
// token, or one token of each sequence of a batched step); any other op ends
// the hope of capturing the segment and everything is launched at once.
//
// Decode-shaped work gets timing marks only while stage timing is on
// (SetStageTiming): a mark is an event node in every replay of the step's
// graph, four per layer.
func (d *Device) issue(step bool, add func(s *segment)) error {
	if d.seg.empty() {
		d.seg.started = time.Now()
		if step {
			d.openStage = -1 // a segment that may become a graph opens with its own mark
		}
	}
	if step && d.seg.capturable && !d.stageTiming {
		d.openStage = -1 // the next marked op opens its stage afresh
	} else {
		m, ok, err := d.markOp(int8(d.stage.Load()))
		if err != nil {
			return err
		}
		if ok {
			d.seg.add(m)
			d.seg.tail = d.seg.tail[:0] // nothing folds across a mark
		}
	}
	n := d.seg.described
	add(&d.seg)
	if d.seg.described == n { // the op did not describe itself: nothing before it folds into what follows
		d.seg.tail = d.seg.tail[:0]
	}
	if !step {
		d.seg.capturable = false
	}
	// Without graphs a decode step's ops launch as they come, but ops that a
	// later one may fold in wait for it (fuse.go).
	hold := len(d.seg.tail) > 0
	if !d.seg.capturable || (!hold && (d.graphs.disabled || d.noGraphs)) || len(d.seg.ops) > maxSegmentOps {
		return d.flush()
	}
	return nil
}

// wouldMark reports whether issuing a decode-shaped op now would put a timing
// mark before it.
func (d *Device) wouldMark(step bool) bool {
	if step && (d.seg.empty() || d.seg.capturable) && !d.stageTiming {
		return false
	}
	return d.seg.empty() && step || d.openStage != int8(d.stage.Load())
}

// maxSegmentOps flushes a runaway segment: a decode step of a 40-layer model
// is about 1000 ops.
const maxSegmentOps = 8192

// flush launches the pending segment.
func (d *Device) flush() error {
	s := &d.seg
	if s.empty() {
		return nil
	}
	defer s.reset()
	if s.capturable {
		defer d.countStep(s)
	}
	var marks []mark
	var err error
	if d.noGraphs {
		marks, err = segmentMarks(s), d.run(s)
	} else {
		marks, err = d.graphs.flush(d, s)
	}
	replayed := len(marks) > 0 && marks[0].owned
	if err != nil || replayed {
		// The segment's own marks were not recorded (a replay recorded the
		// graph's), or the timeline is no longer trustworthy.
		for _, o := range s.ops {
			if o.isMark {
				d.phys.putEvent(o.ev)
			}
		}
	}
	if err != nil {
		d.openStage = -1
		return err
	}
	if replayed {
		d.openStage = -1 // the graph's last mark is not one the segment made
	}
	d.timeline = append(d.timeline, marks...)
	return nil
}

// countStep adds a flushed decode-shaped segment to the step statistics.
func (d *Device) countStep(s *segment) {
	d.steps.steps++
	for i := range s.ops {
		switch s.ops[i].kind {
		case opKernel:
			d.steps.kernels++
		case opEvent, opEventExt:
			d.steps.events++
		}
	}
	if !s.started.IsZero() {
		d.steps.host += time.Since(s.started)
	}
}

// run implements executor: the segment's launches as they are.
func (d *Device) run(s *segment) error { return d.launchBatch(d.compute, s.ops, s.blob, s.offs) }

// capture implements executor.
func (d *Device) capture(s *segment, blob []byte, marks []mark) (uint64, error) {
	ops := append([]op(nil), s.ops...)
	i := 0
	for j := range ops {
		if ops[j].isMark {
			ops[j].kind, ops[j].ev = opEventExt, marks[i].ev
			i++
		}
	}
	cops := d.toC(ops)
	var offsPtr *C.uint
	if len(s.offs) > 0 {
		offsPtr = (*C.uint)(&s.offs[0])
	}
	var blobPtr *C.uchar
	if len(blob) > 0 {
		blobPtr = (*C.uchar)(&blob[0])
	}
	var exec C.ulonglong
	var failed C.int
	r := C.ember_capture(d.phys.ctx, d.compute, &cops[0], C.int(len(cops)), blobPtr, offsPtr, &exec, &failed)
	if r != 0 {
		return 0, d.launchError(ops, int(failed), int(r))
	}
	return uint64(exec), nil
}

// replay implements executor: positions into the params buffer, then the graph.
func (d *Device) replay(exec uint64, positions []int32) error {
	if len(positions) > 0 {
		err := d.upload(d.params.ptr, 4*len(positions), func(b []byte, off int) {
			for i := range len(b) / 4 {
				putI32(b[4*i:], positions[off/4+i])
			}
		}, false)
		if err != nil {
			return err
		}
	}
	return check("cuGraphLaunch", C.ember_graph_launch(d.phys.ctx, C.ulonglong(exec), d.compute))
}

// destroy implements executor.
func (d *Device) destroy(e *graphEntry) {
	if e.exec != 0 {
		C.ember_graph_destroy(d.phys.ctx, C.ulonglong(e.exec))
		e.exec = 0
	}
	for _, m := range e.marks {
		C.ember_event_destroy(d.phys.ctx, C.ulonglong(m.ev))
	}
	e.marks = nil
}

// newEvent implements executor.
func (d *Device) newEvent() (uint64, error) {
	var e C.ulonglong
	err := check("cuEventCreate", C.ember_event_create(d.phys.ctx, &e))
	return uint64(e), err
}

// settle implements executor.
func (d *Device) settle() error { return d.settleLocked() }

// settleLocked closes the open stretch, waits for it and reads every mark.
func (d *Device) settleLocked() error {
	if len(d.timeline) == 0 {
		return nil
	}
	m, ok, err := d.markOp(stageIdle)
	if err != nil {
		return err
	}
	if ok {
		if err := d.runDirect(m); err != nil {
			return err
		}
	}
	return d.resolve()
}

// resolve reads the marks of the timeline, whose last mark is idle, into the
// stage totals and recycles their events.
func (d *Device) resolve() error {
	tl := d.timeline
	if len(tl) == 0 {
		return nil
	}
	ctx := d.phys.ctx
	last := tl[len(tl)-1]
	if err := check("cuEventSynchronize", C.ember_event_sync(ctx, C.ulonglong(last.ev))); err != nil {
		return err
	}
	var err error
	for i := 0; i+1 < len(tl); i++ {
		if tl[i].stage == stageIdle {
			continue
		}
		var ms C.float
		if e := check("cuEventElapsedTime", C.ember_event_elapsed(ctx, &ms, C.ulonglong(tl[i].ev), C.ulonglong(tl[i+1].ev))); e != nil {
			err = firstErr(err, e)
			continue
		}
		d.times[tl[i].stage] += time.Duration(float64(ms) * float64(time.Millisecond))
	}
	for _, m := range tl {
		if !m.owned {
			d.phys.putEvent(m.ev)
		}
	}
	d.timeline = d.timeline[:0]
	d.graphs.settled()
	return err
}

// syncLocked waits for everything issued on the device, reads the timing
// marks, and reports an error a kernel raised since the last check.
//
// It also runs when newDevice fails half-way (through Close): then it only
// waits for the streams that exist and reads no error flag that does not.
func (d *Device) syncLocked() error {
	if d.closed || d.compute == nil || d.copy == nil {
		return nil
	}
	err := d.flush()
	var ops []op
	if d.errFlag.ptr != 0 && d.errHost.p != nil {
		ops = append(ops, op{kind: opD2H, src: d.errFlag.ptr, host: uint64(uintptr(d.errHost.p)), bytes: 4})
	}
	m, ok, merr := d.markOp(stageIdle)
	err = firstErr(err, merr)
	if ok {
		ops = append([]op{m}, ops...)
	}
	err = firstErr(err, d.runDirect(ops...))
	err = firstErr(err, check("cuStreamSynchronize", C.ember_stream_sync(d.phys.ctx, d.compute)))
	err = firstErr(err, check("cuStreamSynchronize", C.ember_stream_sync(d.phys.ctx, d.copy)))
	err = firstErr(err, d.resolve(), d.resolveP2P(), d.kernelError())
	return err
}

// kernelError reports (and clears) the flags kernels raised; the flag was
// copied to errHost by the last sync.
func (d *Device) kernelError() error {
	if d.errHost.p == nil {
		return nil
	}
	b := d.errHost.bytes()
	flags := getI32(b)
	if flags == 0 {
		return nil
	}
	putI32(b, 0)
	zeroErr := d.zero(d.errFlag.ptr, 4)
	if flags&errEmbeddingID != 0 {
		return firstErr(d.errorf("Embedding", "a token id is outside the embedding table (rows left unchanged)"), zeroErr)
	}
	return firstErr(d.errorf("kernel", "error flags %#x", flags), zeroErr)
}

// errEmbeddingID is EMBER_ERR_EMBEDDING_ID of common.cuh.
const errEmbeddingID = 1

// Sync waits until all work issued on the device is done.
func (d *Device) Sync() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.usable("Sync"); err != nil {
		return err
	}
	return d.syncLocked()
}

// p2pSpan is a copy's interval on a copy stream, between two events of p's
// context. A span of another GPU holds a reference to it (retain) until read.
type p2pSpan struct {
	p    *physical
	a, b uint64
}

// resolveP2P adds the copy intervals of CopyFrom into this device to the p2p
// stage; the copy stream has been synchronised.
func (d *Device) resolveP2P() error {
	var err error
	for _, iv := range d.p2p {
		var ms C.float
		if e := check("cuEventElapsedTime", C.ember_event_elapsed(iv.p.ctx, &ms, C.ulonglong(iv.a), C.ulonglong(iv.b))); e != nil {
			err = firstErr(err, e)
		} else {
			d.times[device.StageP2P] += time.Duration(float64(ms) * float64(time.Millisecond))
		}
		iv.p.putEvent(iv.a)
		iv.p.putEvent(iv.b)
		if iv.p != d.phys {
			iv.p.release()
		}
	}
	d.p2p = d.p2p[:0]
	return err
}
