package cpu

import (
	"sync"
	"sync/atomic"
)

// pool runs the tasks of one op on a device's worker goroutines. Workers are
// started on the first parallel op and live until the Device is garbage
// collected (a cleanup closes quit); they reference only the pool, never the
// Device, so that cleanup can run.
//
// Tasks are claimed dynamically from a shared counter, so which worker runs a
// task varies from run to run. Results never depend on it: every op makes each
// output element the work of exactly one task, computed in a fixed order.
// That is what makes Threads=1 and Threads=N agree bitwise.
type pool struct {
	threads int
	once    sync.Once
	wake    []chan struct{} // one per helper worker (workers 1..threads-1)
	quit    chan struct{}
	done    sync.WaitGroup

	// The current job, written by run before it wakes the helpers.
	job   job
	tasks int64
	next  atomic.Int64
}

// job is the parallel part of one op: run(worker, task) does task task on
// worker worker. Ops keep their job in the Device (d.jobs) and pass a pointer,
// so that starting one allocates nothing — a closure handed to the workers
// would escape to the heap on every call.
type job interface {
	run(worker, task int)
}

func newPool(threads int) *pool {
	return &pool{threads: threads, quit: make(chan struct{})}
}

func (p *pool) start() {
	p.wake = make([]chan struct{}, p.threads-1)
	for i := range p.wake {
		p.wake[i] = make(chan struct{}, 1)
		go p.worker(i + 1)
	}
}

func (p *pool) worker(w int) {
	for {
		select {
		case <-p.wake[w-1]:
			p.drain(w)
			p.done.Done()
		case <-p.quit:
			return
		}
	}
}

func (p *pool) drain(w int) {
	for {
		i := p.next.Add(1) - 1
		if i >= p.tasks {
			return
		}
		p.job.run(w, int(i))
	}
}

// run calls j.run(worker, task) for every task in [0, tasks) and returns when
// all are done. worker is in [0, threads) and no two concurrent calls share
// one, so a job may use per-worker scratch. The caller's goroutine is worker 0.
// run must not be called concurrently (the device's op lock sees to that).
func (p *pool) run(tasks int, j job) {
	workers := min(p.threads, tasks)
	if workers <= 1 {
		for i := range tasks {
			j.run(0, i)
		}
		return
	}
	p.once.Do(p.start)
	p.job, p.tasks = j, int64(tasks)
	p.next.Store(0)
	p.done.Add(workers - 1)
	for w := 1; w < workers; w++ {
		p.wake[w-1] <- struct{}{}
	}
	p.drain(0)
	p.done.Wait()
	p.job = nil
}

func (p *pool) close() { close(p.quit) }

// scratch is one worker's reusable buffers; they only grow.
type scratch struct {
	f []float32
	g []float32
	h []float32
	i []int32
	u []uint16
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
// another goroutine; smaller ops run on the caller alone.
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

// forRanges splits [0, total) into consecutive ranges of about grainElems/per
// items each (per = elements of work per item) and calls r.ranges on each
// range, in parallel over the pool.
func (d *Device) forRanges(total, per int, r ranger) {
	if total <= 0 {
		return
	}
	grain := max(1, grainElems/max(per, 1))
	grain = max(1, min(grain, (total+d.threads-1)/d.threads))
	tasks := (total + grain - 1) / grain
	d.rj = rangeJob{r: r, grain: grain, total: total}
	d.pool.run(tasks, &d.rj)
	d.rj = rangeJob{}
}
