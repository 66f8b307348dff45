package memplan

import (
	"errors"
	"testing"
)

// TestPrefixCacheBytes: a 1000-token prefix cache on the small model split
// 1+3 costs, per device, its layers × 1000 positions × (K, V) × 2 kv heads ×
// 16 head dims × 2 bytes: 128,000 and 384,000 bytes, added to each total.
func TestPrefixCacheBytes(t *testing.T) {
	m := FromConfig("small", small(), 2, false)
	o := smallOpts(1<<30, 1<<30)
	o.Split = []int{1, 3}
	without, err := Compute(m, o)
	if err != nil {
		t.Fatal(err)
	}
	o.PrefixCacheTokens = 1000
	with, err := Compute(m, o)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []int64{128_000, 384_000} {
		d := with.Devices[i]
		if d.PrefixCache != want {
			t.Errorf("device %d: prefix cache %d bytes, want %d", i, d.PrefixCache, want)
		}
		if d.Total-without.Devices[i].Total != want {
			t.Errorf("device %d: total grew by %d, want %d", i, d.Total-without.Devices[i].Total, want)
		}
	}
	o.PrefixCacheTokens = -1
	if _, err := Compute(m, o); err == nil {
		t.Error("a negative prefix cache was accepted")
	}
}

// TestPlanSizesDoNotWrap: sizes are int64 products; the small model's KV is
// 128 bytes a token a layer, so a prefix cache of 2^52 tokens is 2^59 bytes
// on the one-layer device and 3 × 2^59 on the other: counted, and not fitting.
// At 2^55 tokens the three-layer device would need 3 × 2^62 bytes, past
// int64 (the product wrapped); a plan of 4 EiB or more is refused as bad
// input. So is a batch of 2^62 sequences, whose sizes wrapped to 0 and "fit".
func TestPlanSizesDoNotWrap(t *testing.T) {
	m := FromConfig("small", small(), 2, false)
	o := smallOpts(1<<30, 1<<30)
	o.Split = []int{1, 3}
	o.PrefixCacheTokens = 1 << 52
	p, err := Compute(m, o)
	if err != nil {
		t.Fatal(err)
	}
	if p.Fits || p.Devices[0].PrefixCache != 1<<59 || p.Devices[1].PrefixCache != 3<<59 {
		t.Errorf("2^52 tokens: fits %v, prefix cache %d and %d bytes", p.Fits, p.Devices[0].PrefixCache, p.Devices[1].PrefixCache)
	}
	o.PrefixCacheTokens = 1 << 55
	if p, err := Compute(m, o); !errors.Is(err, ErrInput) {
		t.Errorf("2^55 tokens: err %v, plan %+v", err, p)
	}
	o.PrefixCacheTokens, o.Batch = 0, 1<<62
	if p, err := Compute(m, o); !errors.Is(err, ErrInput) {
		t.Errorf("batch 2^62: err %v, plan %+v", err, p)
	}
}
