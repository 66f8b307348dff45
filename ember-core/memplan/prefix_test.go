package memplan

import "testing"

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
