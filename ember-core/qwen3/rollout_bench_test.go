package qwen3

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/ember-infer/ember/ember-core/config"
	"github.com/ember-infer/ember/ember-core/cpu"
	"github.com/ember-infer/ember/ember-core/device"
	"github.com/ember-infer/ember/ember-core/safetensors"
	"github.com/ember-infer/ember/ember-core/synth"
)

// rolloutBenchModel loads $EMBER_BENCH_MODEL (a synthetic Qwen3-0.6B from
// `ember synth --preset Qwen3-0.6B --seed 1 --out /tmp/q06`) on one CPU
// device with $EMBER_BENCH_THREADS threads (default 2), or else the tiny
// synthetic model.
func rolloutBenchModel(b *testing.B) *Model {
	b.Helper()
	dir := os.Getenv("EMBER_BENCH_MODEL")
	if dir == "" {
		dir = filepath.Join(b.TempDir(), "tiny")
		if err := synth.Write(dir, synth.Tiny(), synth.Options{Seed: 1}); err != nil {
			b.Fatal(err)
		}
	}
	threads := 2
	if s := os.Getenv("EMBER_BENCH_THREADS"); s != "" {
		var err error
		if threads, err = parsePositive(s); err != nil {
			b.Fatalf("EMBER_BENCH_THREADS=%q: %v", s, err)
		}
	}
	cfg, err := config.Load(filepath.Join(dir, "config.json"))
	if err != nil {
		b.Fatal(err)
	}
	set, err := safetensors.OpenSnapshot(dir)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { set.Close() })
	m, err := Load(cfg, SetSource{Set: set}, []device.Device{cpu.New(cpu.Options{Name: "cpu:0", Threads: threads})}, []int{cfg.NumHiddenLayers})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(m.Close)
	return m
}

func parsePositive(s string) (int, error) {
	n := 0
	for _, r := range s {
		if r < '0' || r > '9' {
			return 0, os.ErrInvalid
		}
		n = n*10 + int(r-'0')
	}
	if n < 1 {
		return 0, os.ErrInvalid
	}
	return n, nil
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// BenchmarkBatchDecode interleaves a one-sequence decode step with batched
// steps of eight and sixteen sequences (each at position 64) and reports the
// throughputs and their ratios to B = 1 from the medians of the same run;
// each step is rewound afterwards so every step measures the same positions.
//
//	EMBER_BENCH_MODEL=/tmp/q06 go test -run '^$' -bench BatchDecode -benchtime 20x ./ember-core/qwen3
func BenchmarkBatchDecode(b *testing.B) {
	m := rolloutBenchModel(b)
	const B, P = 16, 64
	s, err := m.NewSession(SessionOptions{Ctx: P + 2, Chunk: P, KVDType: device.BF16, Batch: B})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ids := prompt(P, m.Config.VocabSize)
	if _, err := s.Prefill(ids); err != nil {
		b.Fatal(err)
	}
	all, toks := make([]int, B), make([]int32, B)
	for i := range B {
		all[i], toks[i] = i, int32(100+i)
		if _, err := s.CopyPrefix(i, 0, P); err != nil {
			b.Fatal(err)
		}
	}
	rewind := func(seqs []int) {
		for _, q := range seqs {
			if err := s.Select(q); err != nil {
				b.Fatal(err)
			}
			if err := s.Rewind(P); err != nil {
				b.Fatal(err)
			}
		}
		if err := s.Select(0); err != nil {
			b.Fatal(err)
		}
	}
	step := func(seqs []int) time.Duration {
		t0 := time.Now()
		if _, err := s.DecodeBatch(seqs, toks[:len(seqs)], 1); err != nil {
			b.Fatal(err)
		}
		d := time.Since(t0)
		rewind(seqs)
		return d
	}
	step(all[:1]) // make the views of every shape before timing
	step(all[:8])
	step(all)
	var one, eight, sixteen []time.Duration
	b.ResetTimer()
	for range b.N {
		one = append(one, step(all[:1]))
		eight = append(eight, step(all[:8]))
		sixteen = append(sixteen, step(all))
	}
	b.StopTimer()
	t1, t8, t16 := 1/median(one).Seconds(), 8/median(eight).Seconds(), 16/median(sixteen).Seconds()
	b.ReportMetric(t1, "tok/s@B=1")
	b.ReportMetric(t8, "tok/s@B=8")
	b.ReportMetric(t16, "tok/s@B=16")
	b.ReportMetric(t8/t1, "B8/B1")
	b.ReportMetric(t16/t1, "B16/B1")
}

// BenchmarkPrefixPrefill interleaves an uncached prefill of a 2048-token
// prompt with one whose first 1024 tokens come from the prefix cache (a
// budget of exactly 16 blocks of 64 keeps the cache at that prefix), and
// reports the medians' ratio cached/uncached. Logits are equal (≤ 1e-5,
// TestPrefixCachedPrefill); this measures the time.
//
//	EMBER_BENCH_MODEL=/tmp/q06 go test -run '^$' -bench PrefixPrefill -benchtime 3x ./ember-core/qwen3
func BenchmarkPrefixPrefill(b *testing.B) {
	m := rolloutBenchModel(b)
	P, prefix := 2048, 1024
	if m.Config.MaxPositionEmbeddings < P {
		P, prefix = m.Config.MaxPositionEmbeddings, m.Config.MaxPositionEmbeddings/2
	}
	s, err := m.NewSession(SessionOptions{Ctx: P, Chunk: 512, KVDType: device.BF16})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const block = 64
	probe, err := m.NewPrefixCache(PrefixCacheOptions{Block: block, KVDType: device.BF16})
	if err != nil {
		b.Fatal(err)
	}
	budget := int64(prefix/block) * probe.BlockBytes()[0]
	probe.Close()
	pc, err := m.NewPrefixCache(PrefixCacheOptions{Block: block, KVDType: device.BF16, Budget: []int64{budget}})
	if err != nil {
		b.Fatal(err)
	}
	defer pc.Close()
	ids := prompt(P, m.Config.VocabSize)
	if _, _, err := s.PrefillCached(pc, ids); err != nil { // fills the cache with the prefix
		b.Fatal(err)
	}
	var full, cached []time.Duration
	b.ResetTimer()
	for range b.N {
		s.Reset()
		t0 := time.Now()
		if _, err := s.Prefill(ids); err != nil {
			b.Fatal(err)
		}
		full = append(full, time.Since(t0))
		t0 = time.Now()
		_, hit, err := s.PrefillCached(pc, ids)
		if err != nil {
			b.Fatal(err)
		}
		cached = append(cached, time.Since(t0))
		if hit != prefix {
			b.Fatalf("%d tokens came from the cache, want %d", hit, prefix)
		}
	}
	b.StopTimer()
	b.ReportMetric(median(full).Seconds()*1e3, "ms-uncached")
	b.ReportMetric(median(cached).Seconds()*1e3, "ms-cached")
	b.ReportMetric(median(cached).Seconds()/median(full).Seconds(), "cached/uncached")
}
