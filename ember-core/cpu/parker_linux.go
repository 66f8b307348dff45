package cpu

import (
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// parker lets a goroutine that has spun too long sleep without missing its
// wake-up: it sets state to 1, checks its condition once more, and then
// either takes state back or sleeps in FUTEX_WAIT until a waker has set
// state to 0 (and called FUTEX_WAKE).
//
// A futex, not a channel: a goroutine that waits on a channel takes a sudog
// from the runtime's per-P caches, which drift from P to P as goroutines wake
// on other Ps and allocate a new one whenever one runs dry, so decode steps at
// two threads, whose helper parked a few times a token, showed 0.1–0.3 heap
// allocations each in ember bench. A futex wait is one blocking system call
// on the helper's own (locked) thread, allocates nothing, and its wake-up is
// a system call, not a trip through the scheduler.
type parker struct {
	state atomic.Uint32 // 1 while parked (or about to be)
}

const (
	futexWaitPrivate = 0 | 128 // FUTEX_WAIT | FUTEX_PRIVATE_FLAG
	futexWakePrivate = 1 | 128 // FUTEX_WAKE | FUTEX_PRIVATE_FLAG
)

func (k *parker) init() {}

// park sleeps until wakeUp is called, unless ready turns true first (checked
// after announcing the sleep, so a wake-up in between is not lost). It
// returns true; a closing pool wakes its helpers, which then see closed.
func (k *parker) park(ready func() bool, _ <-chan struct{}) bool {
	k.state.Store(1)
	if ready() && k.state.CompareAndSwap(1, 0) {
		return true
	}
	// Either not ready, or a waker already took state. FUTEX_WAIT returns at
	// once if state is no longer 1, and may return spuriously: check again.
	for k.state.Load() == 1 {
		syscall.Syscall6(syscall.SYS_FUTEX, uintptr(unsafe.Pointer(&k.state)), futexWaitPrivate, 1, 0, 0, 0)
	}
	return true
}

// wakeUp wakes the parker if it is parked (or about to be).
func (k *parker) wakeUp() {
	if k.state.Load() == 1 && k.state.CompareAndSwap(1, 0) {
		syscall.Syscall6(syscall.SYS_FUTEX, uintptr(unsafe.Pointer(&k.state)), futexWakePrivate, 1, 0, 0, 0)
	}
}

// nap sleeps for about d: a FUTEX_WAIT with a timeout on a word nobody
// wakes. Unlike time.Sleep it allocates nothing (a goroutine's first sleep
// makes its timer, and a P's timer heap grows on demand), so a decode step
// that waits out a descheduled helper stays allocation-free.
func nap(d time.Duration) {
	var word uint32
	ts := syscall.NsecToTimespec(d.Nanoseconds())
	syscall.Syscall6(syscall.SYS_FUTEX, uintptr(unsafe.Pointer(&word)), futexWaitPrivate, 0, uintptr(unsafe.Pointer(&ts)), 0, 0)
}
