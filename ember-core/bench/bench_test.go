package bench

import (
	"math"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/ember-infer/ember/ember-core/config"
	"github.com/ember-infer/ember/ember-core/cpu"
	"github.com/ember-infer/ember/ember-core/device"
	"github.com/ember-infer/ember/ember-core/qwen3"
	"github.com/ember-infer/ember/ember-core/safetensors"
	"github.com/ember-infer/ember/ember-core/synth"
)

// benchModel loads $EMBER_BENCH_MODEL (e.g. a synthetic Qwen3-0.6B written by
// `ember synth --preset Qwen3-0.6B`), or else a tiny synthetic model.
func benchModel(tb testing.TB) *qwen3.Model {
	tb.Helper()
	dir := os.Getenv("EMBER_BENCH_MODEL")
	if dir == "" {
		dir = filepath.Join(tb.TempDir(), "tiny")
		if err := synth.Write(dir, synth.Tiny(), synth.Options{Seed: 1}); err != nil {
			tb.Fatal(err)
		}
	}
	cfg, err := config.Load(filepath.Join(dir, "config.json"))
	if err != nil {
		tb.Fatal(err)
	}
	set, err := safetensors.OpenSnapshot(dir)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { set.Close() })
	m, err := qwen3.Load(cfg, qwen3.SetSource{Set: set}, []device.Device{cpu.New(cpu.Options{Name: "cpu:0"})}, []int{cfg.NumHiddenLayers})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(m.Close)
	return m
}

// BenchmarkDecode reports decode tok/s and the effective weight bandwidth as a
// fraction of the read bandwidth measured in the same process, with threads =
// GOMAXPROCS (so -cpu 1,2 measures the scaling). allocs/op covers the whole
// DecodeGreedy step; one step before the timer makes the session's views.
//
//	EMBER_BENCH_MODEL=/tmp/q06 go test -run '^$' -bench Decode -cpu 1,2 -benchtime 64x ./ember-core/bench
func BenchmarkDecode(b *testing.B) {
	m := benchModel(b)
	s, err := m.NewSession(qwen3.SessionOptions{Ctx: b.N + 9, KVDType: device.BF16})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Prefill([]int32{1, 2, 3, 4}); err != nil {
		b.Fatal(err)
	}
	next, _, err := s.DecodeGreedy(5)
	if err != nil {
		b.Fatal(err)
	}
	wb := WeightBytesPerToken(m)
	b.SetBytes(wb)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if next, _, err = s.DecodeGreedy(next); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	tokS := float64(b.N) / b.Elapsed().Seconds()
	bw := ReadBandwidth(runtime.GOMAXPROCS(0), 256<<20)
	b.ReportMetric(tokS, "tok/s")
	b.ReportMetric(float64(wb)*tokS/bw, "bw-fraction")
}

// BenchmarkPrefill reports prefill tok/s for a 512-token prompt in one chunk,
// its GFLOP/s (PrefillFLOPs) and that as a fraction of FMAPeak measured in the
// same process with threads = GOMAXPROCS.
//
//	EMBER_BENCH_MODEL=/tmp/q06 go test -run '^$' -bench Prefill -cpu 1,2 -benchtime 2x ./ember-core/bench
func BenchmarkPrefill(b *testing.B) {
	m := benchModel(b)
	const n = 512
	s, err := m.NewSession(qwen3.SessionOptions{Ctx: n, Chunk: n, KVDType: device.BF16})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ids := make([]int32, n)
	for i := range ids {
		ids[i] = int32(i % m.Config.VocabSize)
	}
	b.ResetTimer()
	for range b.N {
		s.Reset()
		if _, err := s.Prefill(ids); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	secs := b.Elapsed().Seconds()
	gflops := PrefillFLOPs(m.Config, n) * float64(b.N) / secs / 1e9
	b.ReportMetric(float64(n*b.N)/secs, "tok/s")
	b.ReportMetric(gflops, "GFLOP/s")
	b.ReportMetric(gflops/(FMAPeak(runtime.GOMAXPROCS(0))/1e9), "fma-fraction")
}

// BenchmarkReadBandwidth reports ReadBandwidth with GOMAXPROCS threads.
func BenchmarkReadBandwidth(b *testing.B) {
	for range b.N {
		b.ReportMetric(ReadBandwidth(runtime.GOMAXPROCS(0), 256<<20)/1e9, "GB/s")
	}
}

// BenchmarkFMAPeak reports FMAPeak with GOMAXPROCS threads.
func BenchmarkFMAPeak(b *testing.B) {
	for range b.N {
		b.ReportMetric(FMAPeak(runtime.GOMAXPROCS(0))/1e9, "GFLOP/s")
	}
}

// TestWeightBytesPerToken: for the tiny model on one device, a decode step reads
// every layer tensor, the final norm, the (tied) lm_head = embedding once, and
// one embedding row, all bf16. Worked from the shapes (H=128, Q=KV·2=128,
// KV=64, I=384, hd=32, vocab 1024, 6 layers):
// layer = 2·128 (norms) + 128·128·2 (q, o) + 64·128·2 (k, v) + 2·32 + 3·384·128 = 229696 elements.
func TestWeightBytesPerToken(t *testing.T) {
	m := benchModel(t)
	if os.Getenv("EMBER_BENCH_MODEL") != "" {
		t.Skip("EMBER_BENCH_MODEL is set; the worked numbers are for the tiny model")
	}
	layer := int64(2*128 + 128*128*2 + 64*128*2 + 2*32 + 3*384*128)
	want := 2 * (6*layer + 128 + 1024*128 + 128)
	if got := WeightBytesPerToken(m); got != want {
		t.Errorf("WeightBytesPerToken = %d, want %d", got, want)
	}
}

func TestRunReportsConsistentFigures(t *testing.T) {
	m := benchModel(t)
	r, err := Run(m, Options{Threads: 1, PromptLen: 16, DecodeSteps: 4, KVDType: device.BF16, BandwidthBytes: 16 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if r.PrefillTokS <= 0 || r.DecodeTokS <= 0 || r.ReadBandwidthGBs <= 0 || r.Threads != 1 {
		t.Fatalf("result %+v", r)
	}
	if got := float64(r.WeightBytesPerToken) * r.DecodeTokS / 1e9 / r.ReadBandwidthGBs; got != r.DecodeBandwidthFraction {
		t.Errorf("fraction %g, recomputed %g", r.DecodeBandwidthFraction, got)
	}
	if got := r.PrefillGFLOPs / r.FMAPeakGFLOPs; got != r.PrefillFMAFraction || !(r.FMAPeakGFLOPs > 0) {
		t.Errorf("prefill fraction %g of peak %g, recomputed %g", r.PrefillFMAFraction, r.FMAPeakGFLOPs, got)
	}
	if r.Kernels != cpu.Kernels() {
		t.Errorf("kernels %q, want %q", r.Kernels, cpu.Kernels())
	}
	if _, err := Run(m, Options{PromptLen: 0, DecodeSteps: 1}); err == nil {
		t.Error("a zero-length prompt was accepted")
	}
}

// TestPrefillFLOPs works the count out for the tiny model (H=128, Q=128,
// KV=64, I=384, 6 layers, vocab 1024) and a 4-token prompt: per token and
// layer 2·(128·128·2 + 128·64·2 + 3·128·384) = 393216; attention 2·2·128·(1+2+3+4)
// = 5120 per layer; lm_head once, 2·128·1024.
func TestPrefillFLOPs(t *testing.T) {
	m := benchModel(t)
	if os.Getenv("EMBER_BENCH_MODEL") != "" {
		t.Skip("EMBER_BENCH_MODEL is set; the worked numbers are for the tiny model")
	}
	want := 6*(4*393216+5120) + 2*128*1024.0
	if got := PrefillFLOPs(m.Config, 4); got != want {
		t.Errorf("PrefillFLOPs = %v, want %v", got, want)
	}
}

func TestProbes(t *testing.T) {
	if p := FMAPeak(1); !(p > 1e8) || math.IsInf(p, 0) {
		t.Errorf("FMAPeak(1) = %g flop/s", p)
	}
	if bw := ReadBandwidth(2, 4<<20); !(bw > 1e8) || math.IsInf(bw, 0) {
		t.Errorf("ReadBandwidth = %g B/s", bw)
	}
}

// TestDecodeAllocatesNothing: after its first step (which makes the session's
// decode views), a greedy decode step allocates nothing.
func TestDecodeAllocatesNothing(t *testing.T) {
	m := benchModel(t)
	// The first step after a prefill allocates nothing either: its views are
	// made with the session (ember bench counts allocations from it). The
	// count is the process's: an allocation of the engine's comes back in
	// every session, one of the runtime's or of another test's garbage (a
	// collection, a cleanup, under the load of a full test run) does not, so
	// the first step fails only when three fresh sessions all allocate.
	var (
		s      *qwen3.Session
		next   int32
		err    error
		firsts []uint64
	)
	for range 3 {
		if s, err = m.NewSession(qwen3.SessionOptions{Ctx: 64, KVDType: device.BF16}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Prefill([]int32{1, 2, 3}); err != nil {
			t.Fatal(err)
		}
		first := mallocs(func() {
			if next, _, err = s.DecodeGreedy(4); err != nil {
				t.Fatal(err)
			}
		})
		if firsts = append(firsts, first); first == 0 {
			break
		}
		s.Close()
		s = nil
	}
	if s == nil {
		t.Fatalf("the first decode step allocates %v times in three sessions", firsts)
	}
	defer s.Close()
	allocs := testing.AllocsPerRun(20, func() {
		if next, _, err = s.DecodeGreedy(next); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("a decode step allocates %v times", allocs)
	}
}

// mallocs returns the heap allocations fn makes in one run, counted as
// testing.AllocsPerRun counts them (GOMAXPROCS 1 meanwhile), but without its
// warm-up run.
func mallocs(fn func()) uint64 {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	runtime.GC() // finish a collection in progress before counting
	var a, b runtime.MemStats
	runtime.ReadMemStats(&a)
	fn()
	runtime.ReadMemStats(&b)
	return b.Mallocs - a.Mallocs
}

// TestDecodeBatchAllocatesNothing: after its first step (which makes the
// session's views for the batch size), a batched decode step of four
// sequences with top-k on the device allocates nothing either.
func TestDecodeBatchAllocatesNothing(t *testing.T) {
	m := benchModel(t)
	s, err := m.NewSession(qwen3.SessionOptions{Ctx: 64, KVDType: device.BF16, Batch: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Prefill([]int32{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	seqs, toks := []int{0, 1, 2, 3}, []int32{4, 5, 6, 7}
	for i := 1; i < 4; i++ {
		if _, err := s.CopyPrefix(i, 0, 3); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.DecodeBatch(seqs, toks, 2); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(20, func() {
		if _, err := s.DecodeBatch(seqs, toks, 2); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("a batched decode step allocates %v times", allocs)
	}
}
