package memplan

import (
	"math"
	"math/bits"
)

// Bounds on the numbers a user gives the planner: far above any real run
// (Qwen3 goes to 262,144 positions), low enough that every size the planner
// derives from them is exact in int64 once mulChecked accepts the KV cache.
const (
	MaxCtx   = 1 << 30
	MaxBatch = 1 << 20
)

// mulChecked returns the product of non-negative factors, and false when it
// does not fit in an int64 (a size wrapping to 0 or below printed "KV 0 B …
// FITS yes" for --batch 2^62).
func mulChecked(factors ...int64) (int64, bool) {
	p := uint64(1)
	for _, f := range factors {
		if f < 0 {
			return 0, false
		}
		hi, lo := bits.Mul64(p, uint64(f))
		if hi != 0 || lo > math.MaxInt64 {
			return 0, false
		}
		p = lo
	}
	return int64(p), true
}

// kvChecked is KVBytes, and false when the size overflows int64.
func (m *Model) kvChecked(layers, seq, batch int) (int64, bool) {
	c := m.Config
	return mulChecked(int64(layers), int64(seq), int64(c.NumKeyValueHeads), int64(c.HeadDim), 2, int64(m.KVDTypeBytes), int64(batch))
}
