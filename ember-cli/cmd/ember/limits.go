package main

import (
	"fmt"
	"runtime"
)

// threadsPerCPU bounds --threads: more goroutines per core than this only
// contend (bench --threads 5000 ran for minutes), so a larger count is a
// typo, not a setting.
const threadsPerCPU = 4

// checkThreads refuses a --threads that no machine would run well: negative,
// or more than threadsPerCPU per CPU of this machine (0 means all cores).
func checkThreads(n int) error {
	limit := max(threadsPerCPU*runtime.NumCPU(), 16)
	switch {
	case n < 0:
		return fmt.Errorf("--threads %d: want a positive thread count, or 0 for all cores", n)
	case n > limit:
		return fmt.Errorf("--threads %d: this machine has %d CPUs; want at most %d (0 = all cores)", n, runtime.NumCPU(), limit)
	}
	return nil
}

// checkGreedy refuses --greedy counts the session cannot hold: the first
// token comes from the prompt's logits, each later one takes a position, so
// n tokens after a prompt of promptLen need promptLen + n - 1 positions.
func checkGreedy(n, promptLen, positions int) error {
	switch {
	case n < 0:
		return fmt.Errorf("--greedy %d: want 0 or more tokens", n)
	case n > 0 && n-1 > positions-promptLen:
		return fmt.Errorf("--greedy %d: after the %d-token prompt the context of %d positions holds at most %d greedy tokens", n, promptLen, positions, max(positions-promptLen+1, 0))
	}
	return nil
}
