//go:build !linux

package cpu

import (
	"sync/atomic"
	"time"
)

// parker lets a goroutine that has spun too long sleep without missing its
// wake-up: it sets parked, checks its condition once more, and then either
// takes parked back or, if a waker took it first, receives the waker's token.
// (On Linux a futex serves instead: parker_linux.go says why.)
type parker struct {
	parked atomic.Bool
	wake   chan struct{} // capacity 1: at most one token is ever in flight
}

func (k *parker) init() { k.wake = make(chan struct{}, 1) }

// park sleeps until wakeUp is called, unless ready turns true first (checked
// after announcing the sleep, so a wake-up in between is not lost), or quit
// closes. It returns false only for quit.
func (k *parker) park(ready func() bool, quit <-chan struct{}) bool {
	k.parked.Store(true)
	if ready() && k.parked.CompareAndSwap(true, false) {
		return true
	}
	// Either not ready, or a waker already took parked and sends a token.
	select {
	case <-k.wake:
		return true
	case <-quit:
		return false
	}
}

// wakeUp wakes the parker if it is parked (or about to be).
func (k *parker) wakeUp() {
	if k.parked.Load() && k.parked.CompareAndSwap(true, false) {
		k.wake <- struct{}{}
	}
}

// nap sleeps for about d (parker_linux.go's allocates nothing; here it is
// time.Sleep).
func nap(d time.Duration) { time.Sleep(d) }
