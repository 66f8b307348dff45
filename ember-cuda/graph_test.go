package cuda

import (
	"errors"
	"slices"
	"testing"
)

// fakeExec records what the graph cache asks of a device.
type fakeExec struct {
	runs, captures, replays, destroyed, settles int
	failCapture                                 error
	positions                                   [][]int32
	nextEvent                                   uint64
	live                                        map[uint64]bool // instantiated graphs
}

func (f *fakeExec) run(*segment) error { f.runs++; return nil }

func (f *fakeExec) capture(s *segment, blob []byte, marks []mark) (uint64, error) {
	f.captures++
	if f.failCapture != nil {
		return 0, f.failCapture
	}
	if f.live == nil {
		f.live = map[uint64]bool{}
	}
	id := uint64(1000 + f.captures)
	f.live[id] = true
	return id, nil
}

func (f *fakeExec) replay(exec uint64, pos []int32) error {
	if !f.live[exec] {
		return errors.New("replay of a destroyed graph")
	}
	f.replays++
	f.positions = append(f.positions, pos)
	return nil
}

func (f *fakeExec) destroy(e *graphEntry) {
	f.destroyed++
	delete(f.live, e.exec)
}

func (f *fakeExec) newEvent() (uint64, error) { f.nextEvent++; return 500 + f.nextEvent, nil }
func (f *fakeExec) settle() error             { f.settles++; return nil }

// decodeStep builds the segment of one decode step at position pos: a mark,
// a kernel, KV append and attention whose grid follows the bucket.
func decodeStep(s *segment, pos int) {
	s.reset()
	s.add(op{kind: opEvent, ev: 7, stage: 2, isMark: true})
	k := s.launch(0xa, dim3{1, 1, 1}, dim3{256, 1, 1}, 0)
	k.ptr(0x100).i32(2560).done()
	k = s.launch(0xb, dim3{1, 1, 1}, dim3{256, 1, 1}, 0)
	k.ptr(0x200).start(pos).done()
	bkt := bucket(pos + 1)
	splits := attnSplits(bkt, 32, 80)
	k = s.launch(0xc, dim3{32, uint32(splits), 1}, dim3{128, 1, 1}, 0)
	k.ptr(0x300).start(pos).f32(0.125).done()
	s.bucket = bkt
}

func TestGraphCacheLifecycle(t *testing.T) {
	x := &fakeExec{}
	c := newGraphCache(0x10, 16, true)
	var s segment
	// Step 1: plain. Step 2: captured and replayed. Steps 3+: replayed.
	for pos := 10; pos < 15; pos++ {
		decodeStep(&s, pos)
		marks, err := c.flush(x, &s)
		if err != nil {
			t.Fatal(err)
		}
		owned := len(marks) == 1 && marks[0].owned
		if (pos == 10) == owned {
			t.Errorf("pos %d: marks %+v (a plain run returns the segment's, a replay the graph's)", pos, marks)
		}
	}
	if x.runs != 1 || x.captures != 1 || x.replays != 4 {
		t.Errorf("runs %d captures %d replays %d; want 1, 1, 4", x.runs, x.captures, x.replays)
	}
	// Each replay fed that step's positions (KV append's, attention's) to the graph.
	if !slices.Equal(x.positions[0], []int32{11, 11}) || !slices.Equal(x.positions[3], []int32{14, 14}) {
		t.Errorf("positions %v", x.positions)
	}
	// Replays without a wait in between settle the previous replay's marks first.
	if x.settles != 3 {
		t.Errorf("settles %d, want 3", x.settles)
	}
	if c.plain != 1 || c.captured != 1 || c.replays != 4 {
		t.Errorf("counters %d %d %d", c.plain, c.captured, c.replays)
	}
	// Steps 3-5 equal step 2 but for positions: replayed without a key.
	if c.fast != 3 {
		t.Errorf("%d fast replays, want 3", c.fast)
	}
}

// TestGraphFastPath: the replay fast path takes only a step whose launches
// equal the last replayed one's, and never a destroyed graph.
func TestGraphFastPath(t *testing.T) {
	x := &fakeExec{}
	c := newGraphCache(0x10, 16, true)
	var s segment
	for pos := 10; pos < 13; pos++ { // plain, captured, fast
		decodeStep(&s, pos)
		if _, err := c.flush(x, &s); err != nil {
			t.Fatal(err)
		}
	}
	if c.fast != 1 {
		t.Fatalf("%d fast replays, want 1", c.fast)
	}
	for _, tc := range []struct {
		name   string
		change func(s *segment)
	}{
		{"a pointer argument", func(s *segment) { s.blob[s.ops[1].argsOff]++ }},
		{"a mark's stage", func(s *segment) { s.ops[0].stage = 3 }},
		{"a grid", func(s *segment) { s.ops[1].grid[0] = 2 }},
		{"one op more", func(s *segment) { s.add(opZero(&tensor{ptr: 0x400})) }},
	} {
		decodeStep(&s, 13)
		tc.change(&s)
		if s.sameLaunches(&c.prev) {
			t.Errorf("a step differing in %s takes the fast path", tc.name)
		}
	}
	decodeStep(&s, 200)
	s.ops[0].ev = 1234 // another free event: the same graph
	if !s.sameLaunches(&c.prev) {
		t.Error("a step differing only in its position and its mark's event misses the fast path")
	}
	// Another bucket: another graph, seen once (plain), then captured.
	before := x.replays
	for _, pos := range []int{300, 301} {
		decodeStep(&s, pos)
		if _, err := c.flush(x, &s); err != nil {
			t.Fatal(err)
		}
	}
	if x.replays != before+1 || c.fast != 1 || !slices.Equal(x.positions[len(x.positions)-1], []int32{301, 301}) {
		t.Errorf("replays %d (want %d), fast %d, positions %v", x.replays, before+1, c.fast, x.positions)
	}
	// After clear (a Free) nothing is replayed from the old graphs.
	c.clear(x)
	decodeStep(&s, 302)
	if _, err := c.flush(x, &s); err != nil {
		t.Fatal(err)
	}
	if x.replays != before+1 {
		t.Errorf("a step after clear replayed a destroyed graph")
	}
}

// TestGraphBuckets: a position inside the same bucket reuses the graph; the
// next bucket (another attention grid) needs its own.
func TestGraphBuckets(t *testing.T) {
	var s segment
	c := newGraphCache(0x10, 16, true)
	decodeStep(&s, 100)
	k1 := s.key(c.params)
	decodeStep(&s, 254) // kv length 255: bucket 256
	if s.key(c.params) != k1 {
		t.Error("two positions of one bucket have different graph keys")
	}
	decodeStep(&s, 256) // kv length 257: bucket 512
	if s.key(c.params) == k1 {
		t.Error("positions of different buckets share a graph key")
	}
	// Marks match by stage, not by the event that happens to be free.
	decodeStep(&s, 100)
	s.ops[0].ev = 99
	if s.key(c.params) != k1 {
		t.Error("the graph key depends on the mark's event")
	}
	s.ops[0].stage = 3
	if s.key(c.params) == k1 {
		t.Error("the graph key ignores the mark's stage")
	}
	// Another pointer (another session or device set) is another graph.
	decodeStep(&s, 100)
	s.blob[s.ops[1].argsOff]++
	if s.key(c.params) == k1 {
		t.Error("the graph key ignores a pointer argument")
	}
}

func TestGraphCaptureFailureFallsBack(t *testing.T) {
	x := &fakeExec{failCapture: errors.New("operation not permitted when stream is capturing")}
	c := newGraphCache(0x10, 16, true)
	var s segment
	for pos := range 5 {
		decodeStep(&s, pos)
		if _, err := c.flush(x, &s); err != nil {
			t.Fatal(err)
		}
	}
	if x.captures != 1 || x.runs != 5 || x.replays != 0 || c.failures != 1 {
		t.Errorf("captures %d runs %d replays %d failures %d; want one failed capture, then plain launches", x.captures, x.runs, x.replays, c.failures)
	}
	if x.destroyed != 1 {
		t.Errorf("the failed capture's events were not freed (%d destroys)", x.destroyed)
	}
}

func TestGraphNotCapturable(t *testing.T) {
	var s segment
	for _, tc := range []struct {
		name  string
		setup func(c *graphCache)
	}{
		{"prefill-shaped", func(*graphCache) { s.capturable = false }},
		{"graphs off", func(c *graphCache) { c.disabled = true }},
		{"too many positions", func(c *graphCache) { c.capacity = 1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := &fakeExec{}
			c := newGraphCache(0x10, 16, true)
			for pos := range 4 {
				decodeStep(&s, pos)
				tc.setup(c)
				if _, err := c.flush(x, &s); err != nil {
					t.Fatal(err)
				}
			}
			if x.runs != 4 || x.captures != 0 {
				t.Errorf("runs %d captures %d", x.runs, x.captures)
			}
			if tc.name == "prefill-shaped" && c.plain != 0 {
				t.Errorf("prefill-shaped segments counted as %d plain decode steps", c.plain)
			}
		})
	}
	t.Setenv("EMBER_CUDA_GRAPHS", "0")
	if !newGraphCache(0, 1, true).disabled {
		t.Error("EMBER_CUDA_GRAPHS=0 does not turn graphs off")
	}
	t.Setenv("EMBER_CUDA_GRAPHS", "")
	if !newGraphCache(0, 1, false).disabled {
		t.Error("a driver without graph support leaves graphs on")
	}
}

func TestGraphEviction(t *testing.T) {
	x := &fakeExec{}
	c := newGraphCache(0x10, 16, true)
	c.max = 2
	var s segment
	step := func(ptr uint64) {
		t.Helper()
		decodeStep(&s, 5)
		s.ops[1].fn = ptr // another kernel: another graph
		for range 2 {
			decodeStep(&s, 5)
			s.ops[1].fn = ptr
			if _, err := c.flush(x, &s); err != nil {
				t.Fatal(err)
			}
		}
	}
	step(1)
	step(2)
	step(3) // evicts 1, the least recently used
	if len(c.entries) != 2 || x.destroyed != 1 {
		t.Errorf("entries %d destroyed %d", len(c.entries), x.destroyed)
	}
	step(3) // both runs replay the graph kept for 3
	if x.replays != 5 {
		t.Errorf("replays %d, want 5", x.replays)
	}
	c.clear(x)
	if len(c.entries) != 0 || len(x.live) != 0 {
		t.Errorf("clear left %d entries, %d graphs", len(c.entries), len(x.live))
	}
}
