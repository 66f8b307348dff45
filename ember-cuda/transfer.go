package cuda

/*
#include "shim.h"
*/
import "C"

import (
	"unsafe"

	"github.com/ember-infer/ember/ember-core/device"
)

// Upload copies host values into dst through pinned staging memory, ordered
// with the ops around it: src is []float32 for an F32, F16 or BF16 tensor
// (narrowed with round to nearest even on the host) and []int32 for an I32
// tensor, with exactly as many elements. It returns once src may be reused;
// the copy itself runs in stream order and its time counts as memcpy_h2d.
func (d *Device) Upload(dst device.Tensor, src any) error {
	const opName = "Upload"
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.usable(opName); err != nil {
		return err
	}
	t, err := d.operand(opName, "dst", dst, device.AnyDType, true)
	if err != nil {
		return err
	}
	var fill func(b []byte, off int)
	switch v := src.(type) {
	case []float32:
		if t.dt == device.I32 {
			return d.errorf(opName, "dst is %v but src is []float32; an I32 tensor takes []int32", t)
		}
		if len(v) != t.elems() {
			return d.errorf(opName, "dst %v holds %d values but src has %d", t, t.elems(), len(v))
		}
		es := t.dt.Size()
		fill = func(b []byte, off int) {
			encode(b, v[off/es:off/es+len(b)/es], t.dt == device.BF16, t.dt == device.F16)
		}
	case []int32:
		if t.dt != device.I32 {
			return d.errorf(opName, "dst is %v but src is []int32; a float tensor takes []float32", t)
		}
		if len(v) != t.elems() {
			return d.errorf(opName, "dst %v holds %d values but src has %d", t, t.elems(), len(v))
		}
		fill = func(b []byte, off int) {
			for i := range len(b) / 4 {
				putI32(b[4*i:], v[off/4+i])
			}
		}
	default:
		return d.errorf(opName, "src is a %T; want []float32 or []int32 for dst %v", src, t)
	}
	if err := d.flush(); err != nil {
		return err
	}
	return d.upload(t.ptr, int(t.size()), fill, true)
}

// Download copies src into dst ([]float32 for an F32, F16 or BF16 tensor,
// widened exactly; []int32 for an I32 tensor), waiting for all work issued
// before it. Its time counts as memcpy_d2h. An error a kernel raised since
// the last wait (an embedding id out of range) is returned here.
func (d *Device) Download(dst any, src device.Tensor) error {
	const opName = "Download"
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.usable(opName); err != nil {
		return err
	}
	t, err := d.operand(opName, "src", src, device.AnyDType, false)
	if err != nil {
		return err
	}
	switch v := dst.(type) {
	case []float32:
		if t.dt == device.I32 {
			return d.errorf(opName, "src is %v but dst is []float32; an I32 tensor downloads into []int32", t)
		}
		if len(v) != t.elems() {
			return d.errorf(opName, "src %v holds %d values but dst has room for %d", t, t.elems(), len(v))
		}
	case []int32:
		if t.dt != device.I32 {
			return d.errorf(opName, "src is %v but dst is []int32; a float tensor downloads into []float32", t)
		}
		if len(v) != t.elems() {
			return d.errorf(opName, "src %v holds %d values but dst has room for %d", t, t.elems(), len(v))
		}
	default:
		return d.errorf(opName, "dst is a %T; want []float32 or []int32 for src %v", dst, t)
	}
	n := int(t.size())
	if err := d.flush(); err != nil {
		return err
	}
	if err := d.hostGrow(&d.download, n); err != nil {
		return err
	}
	var ops []op
	m, ok, err := d.markOp(int8(device.StageMemcpyD2H))
	if err != nil {
		return err
	}
	if ok {
		ops = append(ops, m)
	}
	if n > 0 {
		ops = append(ops, op{kind: opD2H, src: t.ptr, host: uint64(uintptr(d.download.p)), bytes: uint64(n)})
	}
	ops = append(ops, op{kind: opD2H, src: d.errFlag.ptr, host: uint64(uintptr(d.errHost.p)), bytes: 4})
	m, ok, err = d.markOp(stageIdle)
	if err != nil {
		return err
	}
	if ok {
		ops = append(ops, m)
	}
	if err := d.runDirect(ops...); err != nil {
		return err
	}
	if err := check("cuStreamSynchronize", C.ember_stream_sync(d.phys.ctx, d.compute)); err != nil {
		return err
	}
	if err := firstErr(d.resolve(), d.kernelError()); err != nil {
		return err
	}
	b := d.download.bytes()[:n]
	switch v := dst.(type) {
	case []float32:
		decode(v, b, t.dt == device.BF16, t.dt == device.F16)
	case []int32:
		for i := range v {
			v[i] = getI32(b[4*i:])
		}
	}
	return nil
}

// lockPair locks two devices in a fixed order (a may be b).
func lockPair(a, b *Device) func() {
	if a == b {
		a.mu.Lock()
		return a.mu.Unlock
	}
	first, second := a, b
	if b.serial < a.serial {
		first, second = b, a
	}
	first.mu.Lock()
	second.mu.Lock()
	return func() {
		second.mu.Unlock()
		first.mu.Unlock()
	}
}

// CopyFrom copies src, which may live on another CUDA device, into dst (same
// dtype and element count), on this device's copy stream. The copy starts
// after all work issued earlier on both devices (events on both compute
// streams) and later work on both waits for it, so neither host goroutine
// blocks. Between GPUs with peer access it is a peer copy; without, it is
// staged through pinned host memory; between two logical devices on one GPU
// it is a device copy. Its time counts as p2p on this device.
func (d *Device) CopyFrom(dst, src device.Tensor) error {
	const opName = "CopyFrom"
	if src == nil {
		return d.errorf(opName, "src is nil")
	}
	c, ok := src.(*tensor)
	if !ok || c == nil {
		return d.errorf(opName, "src is a %T, not a CUDA tensor", src)
	}
	from := c.dev
	unlock := lockPair(d, from)
	defer unlock()
	if err := firstErr(d.usable(opName), from.usable(opName)); err != nil {
		return err
	}
	t, err := d.operand(opName, "dst", dst, device.AnyDType, true)
	if err != nil {
		return err
	}
	if c.dead() {
		return d.errorf(opName, "src (%v on %s) has been freed", c, from.name)
	}
	if c.dt != t.dt || c.elems() != t.elems() {
		return d.errorf(opName, "dst is %v but src is %v on %s; dtype and element count must match", t, c, from.name)
	}
	if c == t || t.size() == 0 {
		return nil
	}
	if err := firstErr(from.flush(), d.flush()); err != nil {
		return err
	}
	// Ready: src written (from's compute stream) and dst no longer read (ours).
	srcReady, err := from.phys.event()
	if err != nil {
		return err
	}
	defer from.phys.putEvent(srcReady)
	dstReady, err := d.phys.event()
	if err != nil {
		return err
	}
	defer d.phys.putEvent(dstReady)
	if err := firstErr(from.runDirect(op{kind: opEvent, ev: srcReady}), d.runDirect(op{kind: opEvent, ev: dstReady})); err != nil {
		return err
	}
	done, err := d.copyAfter(t, c, srcReady, dstReady)
	if err != nil {
		return err
	}
	defer d.phys.putEvent(done)
	// Later work on either device waits for the copy; the wait is idle time, not a stage's.
	devs := []*Device{d}
	if from != d {
		devs = append(devs, from)
	}
	for _, dev := range devs {
		ops := []op{{kind: opWait, ev: done}}
		m, ok, err := dev.markOp(stageIdle)
		if err != nil {
			return err
		}
		if ok {
			ops = append([]op{m}, ops...)
		}
		if err := dev.runDirect(ops...); err != nil {
			return err
		}
	}
	return nil
}

// copyAfter issues the copy of src into dst after the two ready events and
// returns an event recorded when it is done.
func (d *Device) copyAfter(dst, src *tensor, srcReady, dstReady uint64) (uint64, error) {
	from := src.dev
	n := dst.size()
	done, err := d.phys.event()
	if err != nil {
		return 0, err
	}
	start, err := d.phys.event()
	if err != nil {
		return 0, err
	}
	end, err := d.phys.event()
	if err != nil {
		return 0, err
	}
	waits := []op{{kind: opWait, ev: srcReady}, {kind: opWait, ev: dstReady}}
	switch {
	case from.phys == d.phys || d.peerAccess(from):
		kind := opD2D
		if from.phys != d.phys {
			kind = opPeer
		}
		ops := append(waits,
			op{kind: opEvent, ev: start},
			op{kind: kind, dst: dst.ptr, src: src.ptr, bytes: n, dctx: ctxInt(d.phys.ctx), sctx: ctxInt(from.phys.ctx)},
			op{kind: opEvent, ev: end},
			op{kind: opEvent, ev: done})
		if err := d.launchBatch(d.copy, ops, nil, nil); err != nil {
			return 0, err
		}
		d.p2p = append(d.p2p, p2pSpan{p: d.phys, a: start, b: end})
		return done, nil
	}
	// Staged: device-to-host on the source's copy stream, then host-to-device
	// on ours. The staging buffer is refilled only after its last upload: the
	// source's copy stream waits for it, and growing it waits on the host.
	if d.peerFreeSet {
		if d.peerStage.n < int(n) {
			if err := check("cuEventSynchronize", C.ember_event_sync(d.phys.ctx, C.ulonglong(d.peerFree))); err != nil {
				return 0, err
			}
		}
		waits = append(waits, op{kind: opWait, ev: d.peerFree})
	}
	if err := d.hostGrow(&d.peerStage, int(n)); err != nil {
		return 0, err
	}
	host := uint64(uintptr(d.peerStage.p))
	s0, err := from.phys.event()
	if err != nil {
		return 0, err
	}
	s1, err := from.phys.event()
	if err != nil {
		return 0, err
	}
	staged, err := from.phys.event()
	if err != nil {
		return 0, err
	}
	defer from.phys.putEvent(staged)
	down := append(waits,
		op{kind: opEvent, ev: s0},
		op{kind: opD2H, src: src.ptr, host: host, bytes: n},
		op{kind: opEvent, ev: s1},
		op{kind: opEvent, ev: staged})
	if err := from.launchBatch(from.copy, down, nil, nil); err != nil {
		return 0, err
	}
	if !d.peerFreeSet {
		var e C.ulonglong
		if err := check("cuEventCreate", C.ember_event_create(d.phys.ctx, &e)); err != nil {
			return 0, err
		}
		d.peerFree, d.peerFreeSet = uint64(e), true
	}
	up := []op{
		{kind: opWait, ev: staged},
		{kind: opEvent, ev: start},
		{kind: opH2D, dst: dst.ptr, host: host, bytes: n},
		{kind: opEvent, ev: end},
		{kind: opEvent, ev: done},
		{kind: opEvent, ev: d.peerFree},
	}
	if err := d.launchBatch(d.copy, up, nil, nil); err != nil {
		return 0, err
	}
	// s0 and s1 belong to the source GPU's context, which must outlive them
	// even if every device on it closes before this one reads them.
	from.phys.retain()
	d.p2p = append(d.p2p, p2pSpan{p: from.phys, a: s0, b: s1}, p2pSpan{p: d.phys, a: start, b: end})
	return done, nil
}

func ctxInt(c C.CUcontext) uint64 { return uint64(uintptr(unsafe.Pointer(c))) }

// peers records which pairs of GPUs have peer access enabled.
var peers struct {
	on map[[2]int]bool
}

func (d *Device) peerAccess(from *Device) bool {
	phys.mu.Lock()
	defer phys.mu.Unlock()
	return peers.on[[2]int{from.phys.ordinal, d.phys.ordinal}]
}

// enablePeers turns on peer access between every two distinct GPUs of devs
// that support it, both ways; pairs without it copy through host memory.
func enablePeers(devs []*Device) error {
	phys.mu.Lock()
	defer phys.mu.Unlock()
	if peers.on == nil {
		peers.on = map[[2]int]bool{}
	}
	for _, a := range devs {
		for _, b := range devs {
			pa, pb := a.phys, b.phys
			key := [2]int{pa.ordinal, pb.ordinal}
			if pa == pb || peers.on[key] {
				continue
			}
			var can C.int
			if C.ember_can_access_peer(&can, pb.dev, pa.dev) != 0 || can == 0 {
				continue
			}
			// Access from b's context to a's memory: b reads a's buffers.
			r := C.ember_enable_peer(pb.ctx, pa.ctx)
			const alreadyEnabled = 704 // CUDA_ERROR_PEER_ACCESS_ALREADY_ENABLED
			if r != 0 && r != alreadyEnabled {
				return check("cuCtxEnablePeerAccess", r)
			}
			peers.on[key] = true
		}
	}
	return nil
}

// PeerAccess reports whether copies from GPU a to GPU b go peer to peer.
func PeerAccess(a, b int) bool {
	phys.mu.Lock()
	defer phys.mu.Unlock()
	return peers.on[[2]int{a, b}]
}
