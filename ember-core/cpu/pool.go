package cpu

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// pool runs the tasks of one op on a device's worker goroutines. Workers are
// started on the first parallel op and live until the Device is garbage
// collected (a cleanup closes quit); they reference only the pool, never the
// Device, so that cleanup can run.
//
// Handing out an op costs well under a microsecond while the machine has the
// cores: each helper, pinned to its OS thread, spins on the job counter gen
// for up to spinFor after finishing its last task, and the caller spins until
// the op's tasks are done. Only a helper that has spun that long without work
// parks (parker_linux.go: a futex; a channel elsewhere), and only a caller that has waited that long
// parks until the last task's finisher wakes it, so that a machine with more
// runnable threads than cores keeps its cores for whoever has work: spinning
// is bounded, waiting falls back to the scheduler. The caller never waits for
// a helper that has not started: tasks are claimed from a shared counter, the
// caller claims too, and the op is done when its tasks are (a helper that
// wakes late finds none left). It waits only for a helper caught between
// seeing a job and claiming from it, a window of a few instructions.
//
// Tasks are claimed dynamically, so which worker runs a task varies from run
// to run. Results never depend on it: every op makes each output element the
// work of exactly one task, computed in a fixed order. That is what makes
// Threads=1 and Threads=N agree bitwise.
type pool struct {
	threads int
	spin    time.Duration // spinFor when the pool was made
	once    sync.Once
	helpers []helper // workers 1..threads-1
	quit    chan struct{}
	closed  atomic.Bool

	// gen is odd while a job is open (2·jobs+1) and even between jobs. The
	// caller writes job and tasks, then opens gen; helpers read them only
	// after seeing gen open and announcing it in their helper.in.
	gen   atomic.Uint64
	job   job
	tasks int64
	next  atomic.Int64 // next task to claim
	done  atomic.Int64 // tasks finished

	caller parker // the calling goroutine, waiting for done == tasks

	// regions counts the jobs handed to helpers (Device.ParallelRegions).
	regions atomic.Int64
}

// helper is one helper worker's state, padded to its own cache lines.
type helper struct {
	_  [64]byte
	in atomic.Uint64 // the open gen the helper is taking tasks from, or 0
	parker
	_ [64]byte
}

// spinFor is how long a helper spins for its next job, and the caller for the
// helpers' tasks, before parking: longer than the gap between two ops of a
// decode step (a few microseconds; the longest, the argmax and embedding
// between two tokens, tens), so that a step parks at most once per token,
// and short enough that on a contended machine, where spinning only takes
// time slices from the thread being waited for, little is lost to it. (In
// BenchmarkPoolRun at a load average of 5–8 on two cores, parking at once was
// usually fastest and 200 µs no better than 50; with idle cores the spin is
// what saves the 30–50 µs futex wake-up per op.) A variable so that tests can
// make every wait park (a pool reads it when made).
var spinFor = 50 * time.Microsecond

// spinUntil calls ok until it returns true or about spin has passed and
// reports which.
func spinUntil(spin time.Duration, ok func() bool) bool {
	if ok() {
		return true
	}
	var t0 time.Time
	for i := 0; ; i++ {
		for range 16 {
			if ok() {
				return true
			}
		}
		switch {
		case i == 0:
			t0 = time.Now()
		case i&15 == 0 && time.Since(t0) >= spin:
			return ok()
		}
	}
}

// job is the parallel part of one op: run(worker, task) does task task on
// worker worker. Ops keep their job in the Device (d.jobs) and pass a pointer,
// so that starting one allocates nothing — a closure handed to the workers
// would escape to the heap on every call.
type job interface {
	run(worker, task int)
}

func newPool(threads int) *pool {
	p := &pool{threads: threads, spin: spinFor, quit: make(chan struct{})}
	p.caller.init()
	return p
}

func (p *pool) start() {
	p.helpers = make([]helper, p.threads-1)
	for i := range p.helpers {
		p.helpers[i].init()
		go p.worker(i + 1)
	}
}

func (p *pool) worker(w int) {
	runtime.LockOSThread()
	h := &p.helpers[w-1]
	var seen uint64 // the last gen this worker took part in
	fresh := func() bool { g := p.gen.Load(); return g&1 == 1 && g != seen || p.closed.Load() }
	for {
		if !spinUntil(p.spin, fresh) && !h.park(fresh, p.quit) {
			return
		}
		if p.closed.Load() {
			return
		}
		g := p.gen.Load()
		if g&1 == 0 || g == seen {
			continue
		}
		// Announce, then check the job is still open: either the caller's
		// closing sees h.in == g and waits for us, or we see it closed.
		h.in.Store(g)
		if p.gen.Load() == g {
			seen = g
			p.drain(w)
		}
		h.in.Store(0)
	}
}

// drain runs tasks until none is left to claim.
func (p *pool) drain(w int) {
	for {
		i := p.next.Add(1) - 1
		if i >= p.tasks {
			return
		}
		p.job.run(w, int(i))
		if p.done.Add(1) == p.tasks && w != 0 {
			p.caller.wakeUp()
		}
	}
}

// run calls j.run(worker, task) for every task in [0, tasks) and returns when
// all are done. worker is in [0, threads) and no two concurrent calls share
// one, so a job may use per-worker scratch. The caller's goroutine is worker 0.
// run must not be called concurrently (the device's op lock sees to that).
func (p *pool) run(tasks int, j job) {
	if min(p.threads, tasks) <= 1 {
		for i := range tasks {
			j.run(0, i)
		}
		return
	}
	p.once.Do(p.start)
	p.regions.Add(1)
	p.job, p.tasks = j, int64(tasks)
	p.next.Store(0)
	p.done.Store(0)
	g := p.gen.Add(1) // open
	for i := range p.helpers {
		p.helpers[i].wakeUp()
	}
	p.drain(0)
	finished := func() bool { return p.done.Load() == p.tasks }
	if !spinUntil(p.spin, finished) {
		for !finished() {
			p.caller.park(finished, nil)
		}
	}
	p.gen.Add(1) // closed
	// A helper that announced g before the close may still read job and tasks
	// (it claims nothing: all are taken); wait until it has looked.
	for i := range p.helpers {
		h := &p.helpers[i]
		left := func() bool { return h.in.Load() != g }
		for !spinUntil(p.spin, left) {
			nap(20 * time.Microsecond) // it was descheduled in that window
		}
	}
	p.job = nil
}

func (p *pool) close() {
	p.closed.Store(true)
	close(p.quit)
	for i := range p.helpers { // a parked helper wakes, sees closed and returns
		p.helpers[i].wakeUp()
	}
}

// scratch is one worker's reusable buffers; they only grow.
type scratch struct {
	f []float32
	g []float32
	h []float32
	i []int32
	u []uint16
	b []float32 // dotBatchPanel's f32 panel
}

func (s *scratch) batchPanel(n int) []float32 {
	if cap(s.b) < n {
		s.b = make([]float32, n)
	}
	return s.b[:n]
}

func (s *scratch) halves(n int) []uint16 {
	if cap(s.u) < n {
		s.u = make([]uint16, n)
	}
	return s.u[:n]
}

func (s *scratch) floats(n int) []float32 {
	if cap(s.f) < n {
		s.f = make([]float32, n)
	}
	return s.f[:n]
}

func (s *scratch) floats2(n int) []float32 {
	if cap(s.g) < n {
		s.g = make([]float32, n)
	}
	return s.g[:n]
}

func (s *scratch) floats3(n int) []float32 {
	if cap(s.h) < n {
		s.h = make([]float32, n)
	}
	return s.h[:n]
}

func (s *scratch) ints(n int) []int32 {
	if cap(s.i) < n {
		s.i = make([]int32, n)
	}
	return s.i[:n]
}

// grainElems is about the least work (in elements touched) worth handing to
// another worker: an op of fewer than two grains runs on the caller alone, a
// larger one in about one range per grain, at most four per thread. A decode
// step's small ops (a 1024-float add, a head norm, RoPE of one row) are well
// under a grain, so they cost no hand-out at all.
var grainElems = 16 << 10 // a variable so that tests can make small ops fan out
// ranger is an op whose work is items [0, total) that can be done in any
// split: ranges(worker, lo, hi) does items lo…hi-1.
type ranger interface {
	ranges(worker, lo, hi int)
}

// rangeJob runs a ranger's items in consecutive ranges of grain items.
type rangeJob struct {
	r            ranger
	grain, total int
}

func (j *rangeJob) run(worker, t int) {
	lo := t * j.grain
	j.r.ranges(worker, lo, min(lo+j.grain, j.total))
}

// forRanges splits [0, total) into consecutive ranges of at least
// grainElems/per items (per = elements of work per item) and calls r.ranges on
// each, in parallel over the pool; under two grains of work, on the caller in
// one call.
func (d *Device) forRanges(total, per int, r ranger) {
	if total <= 0 {
		return
	}
	work := total * max(per, 1)
	tasks := min(work/grainElems, 4*d.threads, total)
	if d.threads == 1 || tasks < 2 {
		r.ranges(0, 0, total)
		return
	}
	grain := (total + tasks - 1) / tasks
	tasks = (total + grain - 1) / grain
	d.rj = rangeJob{r: r, grain: grain, total: total}
	d.pool.run(tasks, &d.rj)
	d.rj = rangeJob{}
}
