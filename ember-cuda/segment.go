package cuda

import (
	"bytes"
	"encoding/binary"
	"math"
	"slices"
	"time"

	"github.com/ember-infer/ember/ember-core/device"
)

// opKind mirrors the EMBER_OP_* kinds of shim.h.
type opKind int32

const (
	opKernel opKind = iota
	opEvent
	opEventExt
	opWait
	opGemm
	opH2D
	opD2H
	opD2D
	opMemset
	opPeer
)

// stageIdle marks the end of a timed stretch: the time until the next mark
// (a wait on another stream, a host sync) counts towards no stage.
const stageIdle = int8(device.NumStages)

// maxKernelArgs is EMBER_MAX_ARGS of shim.h.
const maxKernelArgs = 24

// dim3 is a CUDA grid or block size.
type dim3 [3]uint32

// op is one entry of a batch; it mirrors ember_op of shim.h field for field
// (see toC), plus stage, the stage a timing mark opens.
type op struct {
	kind                   opKind
	argc, argsOff, offsOff uint32
	grid, block            dim3
	shmem                  uint32
	fn, ev                 uint64
	dst, src, src2, bytes  uint64
	host, dctx, sctx       uint64
	handle                 uint64
	gemm                   gemmCall
	atype, btype, ctype    int32
	compute                int32
	alpha, beta            float32
	stage                  int8 // for a timing mark: the stage it opens
	isMark                 bool // an opEvent that is a timing mark
}

// dynRef is a position argument (the start of KVAppend and Attention). A
// plain launch passes it by value; a captured graph reads it from the
// device's position buffer, so that one graph serves every step of a bucket.
type dynRef struct {
	valOff, ptrOff uint32 // blob offsets of the int and of the const int* that follows it
	value          int32
}

// segment is the work a device has issued but not yet launched: kernels,
// timing marks and GEMMs, in stream order, with their packed arguments. A
// segment whose every op is decode-shaped (a decode step of one or of up to
// 16 sequences, stepRows) may be captured
// into a CUDA graph when it repeats (graph.go); any other is launched as soon
// as each op is added.
type segment struct {
	ops        []op
	blob       []byte
	offs       []uint32
	dyn        []dynRef
	capturable bool      // only decode-shaped ops so far
	bucket     int       // largest attention context bucket in the segment
	started    time.Time // when the first op was issued

	// tail describes the segment's last ops, newest last, while each is one
	// a later op may fold in (fuse.go); an op that is not ends it.
	tail      []fusable
	described int // ops described so far, to tell whether the last one was
}

func (s *segment) reset() {
	s.ops, s.blob, s.offs, s.dyn = s.ops[:0], s.blob[:0], s.offs[:0], s.dyn[:0]
	s.capturable, s.bucket, s.tail = true, 0, s.tail[:0]
}

func (s *segment) empty() bool { return len(s.ops) == 0 }

// add appends a non-kernel op.
func (s *segment) add(o op) { s.ops = append(s.ops, o) }

// kargs packs one kernel launch's arguments, each at its natural alignment
// relative to the launch's 8-aligned start in the blob; done appends the op.
type kargs struct {
	s  *segment
	op op
}

func (s *segment) launch(fn uint64, grid, block dim3, shmem uint32) kargs {
	for len(s.blob)%8 != 0 {
		s.blob = append(s.blob, 0)
	}
	return kargs{s: s, op: op{kind: opKernel, fn: fn, grid: grid, block: block, shmem: shmem,
		argsOff: uint32(len(s.blob)), offsOff: uint32(len(s.offs))}}
}

// put appends the size low bytes of v (little-endian) at the next offset
// aligned to align, and returns that offset relative to the launch's start.
func (k *kargs) put(align int, v uint64, size int) uint32 {
	s := k.s
	// align is 4 or 8, and the launch starts 8-aligned.
	for len(s.blob)&(align-1) != 0 {
		s.blob = append(s.blob, 0)
	}
	off := uint32(len(s.blob)) - k.op.argsOff
	if size == 4 {
		s.blob = binary.LittleEndian.AppendUint32(s.blob, uint32(v))
	} else {
		s.blob = binary.LittleEndian.AppendUint64(s.blob, v)
	}
	s.offs = append(s.offs, off)
	k.op.argc++
	return off
}

func (k *kargs) ptr(p uint64) *kargs { k.put(8, p, 8); return k }
func (k *kargs) u64(v uint64) *kargs { k.put(8, v, 8); return k }
func (k *kargs) i64(v int64) *kargs  { return k.u64(uint64(v)) }
func (k *kargs) i32(v int) *kargs {
	k.put(4, uint64(uint32(int32(v))), 4)
	return k
}
func (k *kargs) f32(v float32) *kargs {
	k.put(4, uint64(math.Float32bits(v)), 4)
	return k
}
func (k *kargs) f64(v float64) *kargs {
	k.put(8, math.Float64bits(v), 8)
	return k
}
func (k *kargs) tensor(t *tensor) *kargs { return k.ptr(t.ptr) }

// start packs a position as (int start, const int* start_ptr), the pair the
// kernels resolve with start_of().
func (k *kargs) start(v int) *kargs {
	valOff := k.op.argsOff + k.put(4, uint64(uint32(int32(v))), 4)
	ptrOff := k.op.argsOff + k.put(8, 0, 8)
	k.s.dyn = append(k.s.dyn, dynRef{valOff: valOff, ptrOff: ptrOff, value: int32(v)})
	return k
}

func (k *kargs) done() { k.s.ops = append(k.s.ops, k.op) }

// captureBlob returns the segment's arguments as a graph takes them: every
// position zeroed and its pointer aimed at slot i of the device buffer at
// params, which is filled with dynValues before each replay.
func (s *segment) captureBlob(params uint64) []byte {
	b := append([]byte(nil), s.blob...)
	for i, d := range s.dyn {
		binary.LittleEndian.PutUint32(b[d.valOff:], 0)
		binary.LittleEndian.PutUint64(b[d.ptrOff:], params+4*uint64(i))
	}
	return b
}

// dynValues returns the positions in slot order.
func (s *segment) dynValues() []int32 {
	v := make([]int32, len(s.dyn))
	for i, d := range s.dyn {
		v[i] = d.value
	}
	return v
}

// copyFrom makes s a copy of t.
func (s *segment) copyFrom(t *segment) {
	s.ops = append(s.ops[:0], t.ops...)
	s.blob = append(s.blob[:0], t.blob...)
	s.offs = append(s.offs[:0], t.offs...)
	s.dyn = append(s.dyn[:0], t.dyn...)
	s.capturable, s.bucket, s.tail = t.capturable, t.bucket, s.tail[:0]
}

// sameLaunches reports whether s would be captured into the same graph as t:
// the same ops with the same arguments, timing marks matched by stage (not by
// the event that happened to be free) and positions, which a graph reads from
// the params buffer, left out. It is the key's equality, without hashing.
func (s *segment) sameLaunches(t *segment) bool {
	if len(s.ops) != len(t.ops) || len(s.blob) != len(t.blob) || len(s.dyn) != len(t.dyn) ||
		s.bucket != t.bucket || !slices.Equal(s.offs, t.offs) {
		return false
	}
	for i := range s.ops {
		a, b := s.ops[i], t.ops[i]
		a.ev, b.ev = 0, 0
		if a != b {
			return false
		}
	}
	at := 0
	for i, d := range s.dyn {
		e := t.dyn[i]
		if d.valOff != e.valOff || d.ptrOff != e.ptrOff || !bytes.Equal(s.blob[at:d.valOff], t.blob[at:d.valOff]) {
			return false
		}
		at = int(d.valOff) + 4
	}
	return bytes.Equal(s.blob[at:], t.blob[at:])
}
