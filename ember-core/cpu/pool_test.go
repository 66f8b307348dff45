package cpu

import (
	"fmt"
	"os/exec"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// countJob counts how often each task runs and checks worker ids.
type countJob struct {
	t       *testing.T
	threads int
	runs    []atomic.Int32
	bad     atomic.Int32
}

func (j *countJob) run(worker, task int) {
	if worker < 0 || worker >= j.threads {
		j.bad.Add(1)
	}
	j.runs[task].Add(1)
}

// TestPoolRunsEveryTaskOnce hands thousands of jobs of varied sizes to pools
// of 1–4 workers, with the normal spin and with none (every wait parks, so the
// wake-up paths run every time), and checks each task ran exactly once on a
// valid worker before run returned.
func TestPoolRunsEveryTaskOnce(t *testing.T) {
	for _, spin := range []time.Duration{spinFor, 0} {
		for threads := 1; threads <= 4; threads++ {
			t.Run(fmt.Sprintf("spin=%v/threads=%d", spin, threads), func(t *testing.T) {
				defer func(s time.Duration) { spinFor = s }(spinFor)
				spinFor = spin
				p := newPool(threads)
				defer p.close()
				j := &countJob{t: t, threads: threads, runs: make([]atomic.Int32, 64)}
				for r := range 3000 {
					tasks := r % 65
					for i := range j.runs {
						j.runs[i].Store(0)
					}
					p.run(tasks, j)
					for i := range j.runs {
						want := int32(0)
						if i < tasks {
							want = 1
						}
						if got := j.runs[i].Load(); got != want {
							t.Fatalf("run %d (%d tasks): task %d ran %d times, want %d", r, tasks, i, got, want)
						}
					}
					if r%500 == 0 {
						time.Sleep(time.Duration(r/500) * 100 * time.Microsecond) // let helpers park
					}
				}
				if n := j.bad.Load(); n != 0 {
					t.Fatalf("%d tasks ran on a worker outside [0, %d)", n, threads)
				}
				wantRegions := int64(0)
				if threads > 1 {
					for r := range 3000 {
						if r%65 > 1 {
							wantRegions++
						}
					}
				}
				if got := p.regions.Load(); got != wantRegions {
					t.Fatalf("regions = %d, want %d (runs of 2+ tasks)", got, wantRegions)
				}
			})
		}
	}
}

// TestPoolWorkersExit checks that closing a pool ends its helpers whether
// they are spinning or parked.
func TestPoolWorkersExit(t *testing.T) {
	for _, spin := range []time.Duration{time.Hour, 0} {
		before := runtime.NumGoroutine()
		defer func(s time.Duration) { spinFor = s }(spinFor)
		spinFor = spin
		p := newPool(4)
		j := &countJob{t: t, threads: 4, runs: make([]atomic.Int32, 8)}
		p.run(8, j)
		p.close()
		deadline := time.Now().Add(10 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > before {
			t.Fatalf("spin %v: %d goroutines after close, %d before", spin, n, before)
		}
	}
}

// spinJob burns about per of CPU per task.
type spinJob struct{ per time.Duration }

func (j *spinJob) run(_, _ int) {
	t0 := time.Now()
	for time.Since(t0) < j.per {
	}
}

// BenchmarkPoolRun is one op handed to the pool: tasks = threads, each about
// 20 µs of work (a decode matmul's share is 50–500 µs), so ns/op minus 20 µs
// is the hand-out cost. The "hogs" cases run the same beside as many busy
// processes as the machine has cores, the condition where a pool that only
// spins collapses (its helpers keep cores that the others' time slices need):
// its time should stay a small multiple of the work, not grow to the
// scheduler's slice per op.
//
//	go test -run '^$' -bench PoolRun -cpu 1,2 ./ember-core/cpu
func BenchmarkPoolRun(b *testing.B) {
	for _, hogs := range []int{0, runtime.NumCPU()} {
		for _, spin := range []time.Duration{spinFor, 200 * time.Microsecond, 0} {
			b.Run(fmt.Sprintf("hogs=%d/spin=%v", hogs, spin), func(b *testing.B) {
				defer func(s time.Duration) { spinFor = s }(spinFor)
				spinFor = spin
				for range hogs {
					c := exec.Command("sh", "-c", "while :; do :; done")
					if err := c.Start(); err != nil {
						b.Skipf("cannot start a busy process: %v", err)
					}
					defer func() { c.Process.Kill(); c.Wait() }()
				}
				threads := runtime.GOMAXPROCS(0)
				p := newPool(threads)
				defer p.close()
				j := &spinJob{per: 20 * time.Microsecond}
				b.ReportAllocs()
				for b.Loop() {
					p.run(threads, j)
				}
			})
		}
	}
}

// TestNapAllocatesNothing: the caller's wait for a descheduled helper (run's
// close) sleeps with nap, which on Linux must not allocate as time.Sleep does
// (a goroutine's first sleep makes its timer), or a decode step that hits it
// would allocate. Each sleep is a fresh goroutine's first.
func TestNapAllocatesNothing(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("nap is time.Sleep off Linux")
	}
	firstSleep := func(sleep func(time.Duration)) uint64 {
		got := make(chan uint64)
		go func() {
			var a, b runtime.MemStats
			runtime.ReadMemStats(&a)
			sleep(time.Microsecond)
			runtime.ReadMemStats(&b)
			got <- b.Mallocs - a.Mallocs
		}()
		return <-got
	}
	if n := firstSleep(time.Sleep); n == 0 {
		t.Log("time.Sleep allocated nothing either (the runtime changed?)")
	}
	// The count is the process's: a goroutine blocked in a system call may
	// have the runtime start an OS thread for its P (several allocations of
	// the runtime's) now and then, while an allocation of nap's own would
	// come back every time. So nap fails only if five first naps all allocate.
	var counts []uint64
	for range 5 {
		n := firstSleep(nap)
		if n == 0 {
			return
		}
		counts = append(counts, n)
	}
	t.Fatalf("a goroutine's first nap allocated %v times in five tries, want 0", counts)
}
