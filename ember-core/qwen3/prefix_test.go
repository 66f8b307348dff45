package qwen3

import (
	"fmt"
	"testing"

	"github.com/ember-infer/ember/ember-core/device"
)

// TestPrefixCachedPrefill: a prefill that takes whole blocks of its prefix
// from the cache gives the logits of a full prefill (≤ 1e-5), and so does the
// decode step after it; on one device and split over two with chunked,
// overlapped prefill.
func TestPrefixCachedPrefill(t *testing.T) {
	tm := load(t, "head128")
	V, L := tm.cfg.VocabSize, tm.cfg.NumHiddenLayers
	a := prompt(19, V)
	b := append(append([]int32(nil), a[:10]...), prompt(30, V)[20:29]...) // shares 10 tokens with a
	for _, tc := range []struct {
		devs  int
		split []int
		chunk int
		ovl   bool
	}{{1, []int{L}, 0, false}, {2, []int{1, L - 1}, 3, true}} {
		t.Run(fmt.Sprint(tc.split), func(t *testing.T) {
			devs := devices(tc.devs, 0)
			opt := SessionOptions{Ctx: 32, Chunk: tc.chunk, Overlap: tc.ovl, KVDType: device.BF16}
			full := func(ids []int32) (prefill, next []float32) {
				_, s := openSession(t, tm, devs, tc.split, opt)
				if _, err := s.Prefill(ids); err != nil {
					t.Fatal(err)
				}
				prefill = append(prefill, s.Logits()...)
				if _, err := s.Decode(7); err != nil {
					t.Fatal(err)
				}
				return prefill, append(next, s.Logits()...)
			}
			m, s := openSession(t, tm, devs, tc.split, opt)
			pc, err := m.NewPrefixCache(PrefixCacheOptions{Block: 4, KVDType: device.BF16})
			if err != nil {
				t.Fatal(err)
			}
			defer pc.Close()
			for _, step := range []struct {
				name string
				ids  []int32
				hit  int
			}{{"a cold", a, 0}, {"b shares 10 tokens", b, 8}, {"a again", a, 16}} {
				_, hit, err := s.PrefillCached(pc, step.ids)
				if err != nil {
					t.Fatal(err)
				}
				if hit != step.hit {
					t.Errorf("%s: %d tokens from the cache, want %d", step.name, hit, step.hit)
				}
				wantPrefill, wantNext := full(step.ids)
				within(t, step.name+" prefill", s.Logits(), wantPrefill, 1e-5)
				if _, err := s.Decode(7); err != nil {
					t.Fatal(err)
				}
				within(t, step.name+" decode after it", s.Logits(), wantNext, 1e-5)
			}
		})
	}
}

// TestPrefixCacheBudget: with room for three blocks per device the cache
// holds exactly three blocks' bytes (worked out from the shapes), keeps a
// chain's parents, and evicts the least recently used leaf for a new prompt.
func TestPrefixCacheBudget(t *testing.T) {
	tm := load(t, "head128")
	V := tm.cfg.VocabSize
	split := []int{1, 2}
	m, s := openSession(t, tm, devices(2, 0), split, SessionOptions{Ctx: 32, KVDType: device.BF16})
	// One block of 4 tokens: layers × (K, V) × 4 rows × kv_heads·head_dim (2·128) × 2 bytes.
	block := []int64{1 * 2 * 4 * 256 * 2, 2 * 2 * 4 * 256 * 2}
	pc, err := m.NewPrefixCache(PrefixCacheOptions{Block: 4, KVDType: device.BF16, Budget: []int64{3 * block[0], 3 * block[1]}})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if got := pc.BlockBytes(); fmt.Sprint(got) != fmt.Sprint(block) {
		t.Fatalf("BlockBytes() = %v, want %v", got, block)
	}
	if _, _, err := s.PrefillCached(pc, prompt(21, V)); err != nil { // five whole blocks
		t.Fatal(err)
	}
	used := pc.Used()
	for k := range used {
		if used[k] != 3*block[k] {
			t.Errorf("device %d holds %d bytes, want 3 blocks = %d", k, used[k], 3*block[k])
		}
	}
	if st := pc.Stats(); st.StoredBlocks != 3 || st.Evicted != 0 {
		t.Errorf("stats %+v, want 3 stored and none evicted", st)
	}
	other := prompt(30, V)[21:30] // a different first block
	if _, hit, err := s.PrefillCached(pc, other); err != nil || hit != 0 {
		t.Fatalf("a new prompt: hit %d, err %v", hit, err)
	}
	if st := pc.Stats(); st.StoredBlocks != 5 || st.Evicted != 2 {
		t.Errorf("stats %+v, want 5 stored and 2 evicted", st)
	}
	// The first prompt's first block (a parent, more recent than its leaf) survived.
	if _, hit, err := s.PrefillCached(pc, prompt(21, V)); err != nil || hit != 4 {
		t.Errorf("the first prompt again: hit %d, err %v; want 4", hit, err)
	}
	if _, err := m.NewPrefixCache(PrefixCacheOptions{Budget: []int64{1, 2, 3}}); err == nil {
		t.Error("three budgets for two devices were accepted")
	}
}
