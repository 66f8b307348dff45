package cuda

import (
	"encoding/binary"
	"hash/maphash"
	"os"
)

// Decode steps are replayed from CUDA graphs. A device collects the ops of a
// step in a segment (segment.go) instead of launching them one by one; at the
// step's end (a download, a sync, a copy or an upload) the segment is
// flushed. The first time a step's exact sequence of ops is seen it runs as
// plain launches; the second time it is captured into a graph and replayed,
// and from then on only the graph is launched, after copying the step's
// positions into the device buffer the captured kernels read them from. The
// key of a graph is everything that shapes the launches — kernels, grids,
// pointers, arguments other than positions, timing marks — so it changes
// with the device set (other buffers), the context bucket (other attention
// grids) and the session; it does not change with the position inside a
// bucket. A capture that fails leaves that step on plain launches.

// graphKey identifies a segment's launches, positions excluded.
type graphKey [2]uint64

var keySeeds = [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}

// key hashes the segment as a graph would take it (positions zeroed, their
// pointers at the params buffer) with two independent 64-bit hashes.
func (s *segment) key(params uint64) graphKey {
	blob := s.captureBlob(params)
	var k graphKey
	for i := range k {
		var h maphash.Hash
		h.SetSeed(keySeeds[i])
		var b [8]byte
		for _, o := range s.ops {
			ev := o.ev
			o.ev = 0 // marks use whatever event is free; their stage is what matters
			if o.kind == opEvent {
				o.kind = opEventExt
			}
			writeOp(&h, &o, &b)
			o.ev = ev
		}
		h.Write(blob)
		for _, off := range s.offs {
			binary.LittleEndian.PutUint32(b[:4], off)
			h.Write(b[:4])
		}
		k[i] = h.Sum64()
	}
	return k
}

func writeOp(h *maphash.Hash, o *op, b *[8]byte) {
	put := func(v uint64) {
		binary.LittleEndian.PutUint64(b[:], v)
		h.Write(b[:])
	}
	put(uint64(o.kind)<<32 | uint64(o.argc))
	put(uint64(o.argsOff)<<32 | uint64(o.offsOff))
	put(uint64(o.grid[0])<<32 | uint64(o.grid[1]))
	put(uint64(o.grid[2])<<32 | uint64(o.block[0]))
	put(uint64(o.block[1])<<32 | uint64(o.block[2]))
	put(uint64(o.shmem)<<8 | uint64(uint8(o.stage)))
	put(o.fn)
	put(o.dst)
	put(o.src)
	put(o.src2)
	put(o.bytes)
	put(o.host)
	put(o.handle)
	g := o.gemm
	put(uint64(g.transa)<<32 | uint64(g.transb))
	put(uint64(g.m)<<32 | uint64(g.n))
	put(uint64(g.k)<<32 | uint64(g.lda))
	put(uint64(g.ldb)<<32 | uint64(g.ldc))
	put(uint64(o.atype)<<32 | uint64(o.btype))
	put(uint64(o.ctype)<<32 | uint64(o.compute))
}

// graphEntry is one key's state: seen once, captured, or failed.
type graphEntry struct {
	seen    int
	exec    uint64 // CUgraphExec; 0 until captured
	failed  error  // why capture failed; the key then stays on plain launches
	marks   []mark // the graph's own timing events, recorded by each replay
	bucket  int
	lastUse uint64
	pending bool // replayed since its marks were last read
}

// executor is what the graph cache needs from a device; tests fake it.
type executor interface {
	// run launches the segment's ops as they are.
	run(s *segment) error
	// capture records the segment (with blob as its arguments and marks as its
	// timing events) into an instantiated graph without running it.
	capture(s *segment, blob []byte, marks []mark) (exec uint64, err error)
	// replay copies positions into the params buffer and launches exec.
	replay(exec uint64, positions []int32) error
	// destroy frees a graph and its timing events.
	destroy(e *graphEntry)
	// newEvent returns an event for a graph to own.
	newEvent() (uint64, error)
	// settle waits for the work issued so far and reads its timing marks, so
	// that a graph's events can be recorded again.
	settle() error
}

// graphCache holds a device's graphs.
type graphCache struct {
	entries  map[graphKey]*graphEntry
	tick     uint64
	max      int
	disabled bool   // EMBER_CUDA_GRAPHS=0, or a driver without graph support
	params   uint64 // device buffer of positions
	capacity int    // positions it holds

	// last is the entry the previous replay launched, and prev a copy of that
	// replay's segment: a step whose launches equal prev's (positions aside)
	// replays last without computing its key.
	last *graphEntry
	prev segment

	// counters, for gpu-check and tests: decode-shaped segments launched
	// plainly, graphs captured, replays, failed captures, and the replays that
	// took the fast path
	plain, captured, replays, failures, fast int
}

// maxGraphs bounds the graphs a device keeps: a handful of buckets per
// session and device set. The least recently used one goes first.
const maxGraphs = 32

func newGraphCache(params uint64, capacity int, supported bool) *graphCache {
	return &graphCache{entries: map[graphKey]*graphEntry{}, max: maxGraphs, params: params, capacity: capacity,
		disabled: !supported || os.Getenv("EMBER_CUDA_GRAPHS") == "0"}
}

// flush launches s: plainly, or from a graph. It returns the timing marks
// the launch recorded, in order: the segment's own marks for plain launches,
// the graph's for a replay.
func (c *graphCache) flush(x executor, s *segment) ([]mark, error) {
	plain := func() ([]mark, error) {
		if s.capturable {
			c.plain++ // a decode-shaped segment that ran without a graph
		}
		return segmentMarks(s), x.run(s)
	}
	if s.empty() {
		return nil, nil
	}
	if c.disabled || !s.capturable || len(s.dyn) > c.capacity {
		return plain()
	}
	c.tick++
	if e := c.last; e != nil && e.exec != 0 && s.sameLaunches(&c.prev) {
		c.fast++
		return c.replay(x, s, e)
	}
	k := s.key(c.params)
	e := c.entries[k]
	switch {
	case e == nil:
		c.evict(x)
		c.entries[k] = &graphEntry{seen: 1, bucket: s.bucket, lastUse: c.tick}
		return plain()
	case e.failed != nil:
		e.lastUse = c.tick
		return plain()
	case e.exec == 0:
		e.seen++
		e.lastUse = c.tick
		marks, err := c.capture(x, s, e)
		if err != nil {
			e.failed = err
			c.failures++
			return plain()
		}
		e.marks = marks
		c.captured++
	}
	if c.last != e {
		c.last = nil
		c.prev.copyFrom(s)
	}
	marks, err := c.replay(x, s, e)
	if err == nil {
		c.last = e
	}
	return marks, err
}

// replay launches e's graph with s's positions.
func (c *graphCache) replay(x executor, s *segment, e *graphEntry) ([]mark, error) {
	e.lastUse = c.tick
	if e.pending {
		if err := x.settle(); err != nil {
			return nil, err
		}
	}
	if err := x.replay(e.exec, s.dynValues()); err != nil {
		return nil, err
	}
	e.pending = true
	c.replays++
	return e.marks, nil
}

// capture gives the graph events of its own for the segment's marks and
// records it.
func (c *graphCache) capture(x executor, s *segment, e *graphEntry) ([]mark, error) {
	var marks []mark
	for _, o := range s.ops {
		if o.isMark {
			ev, err := x.newEvent()
			if err != nil {
				return nil, err
			}
			marks = append(marks, mark{ev: ev, stage: o.stage, owned: true})
		}
	}
	exec, err := x.capture(s, s.captureBlob(c.params), marks)
	if err != nil {
		x.destroy(&graphEntry{marks: marks})
		return nil, err
	}
	e.exec = exec
	return marks, nil
}

// evict makes room for one more entry.
func (c *graphCache) evict(x executor) {
	for len(c.entries) >= c.max {
		var oldest graphKey
		var best *graphEntry
		for k, e := range c.entries {
			if best == nil || e.lastUse < best.lastUse {
				oldest, best = k, e
			}
		}
		if best.pending {
			x.settle()
		}
		c.forget(best)
		x.destroy(best)
		delete(c.entries, oldest)
	}
}

// clear destroys every graph: after a Free, a graph may point at freed memory.
func (c *graphCache) clear(x executor) {
	for k, e := range c.entries {
		if e.pending {
			x.settle()
		}
		c.forget(e)
		x.destroy(e)
		delete(c.entries, k)
	}
}

// forget drops the fast path to e, which is about to be destroyed.
func (c *graphCache) forget(e *graphEntry) {
	if c.last == e {
		c.last = nil
	}
}

// settled notes that every replay's marks have been read.
func (c *graphCache) settled() {
	if c == nil { // a device that failed to open before making its cache
		return
	}
	for _, e := range c.entries {
		e.pending = false
	}
}

// segmentMarks returns the timing marks of a plainly launched segment.
func segmentMarks(s *segment) []mark {
	var out []mark
	for _, o := range s.ops {
		if o.isMark {
			out = append(out, mark{ev: o.ev, stage: o.stage})
		}
	}
	return out
}

// mark is a timing event recorded on a compute stream: the time from it to
// the next mark counts towards stage (none for stageIdle). owned marks belong
// to a graph and are not returned to the event pool.
type mark struct {
	ev    uint64
	stage int8
	owned bool
}
