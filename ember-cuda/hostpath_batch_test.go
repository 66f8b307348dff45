package cuda

import (
	"testing"

	"github.com/ember-infer/ember/ember-core/device"
	"github.com/ember-infer/ember/ember-core/memplan"
	"github.com/ember-infer/ember/ember-core/qwen3"
	"github.com/ember-infer/ember/ember-cuda/fakedriver"
)

// The host path of a batched decode step (qwen3.Session.DecodeBatch) of
// fakeBatch sequences at different positions, on the fake driver:
//
//	go test -run '^$' -bench FakeDecode -benchtime 2000x ./ember-cuda/

const (
	fakeBatch    = 8
	fakeBatchTop = 8 // top-k per row, as the rollout's sampled steps take it
)

// fakeQwen3_4BBatch opens one fake GPU (with graphs) and a Qwen3-4B-shaped
// session of fakeBatch sequences: sequence 0 prefilled with
// fakeDecodePrompt tokens, sequence i holding its first fakeDecodePrompt−9i
// (so every row decodes at its own position, all in the 2048 bucket). It
// returns the sequences and their starting lengths.
func fakeQwen3_4BBatch(tb testing.TB) (*Device, *qwen3.Session, []int, []int) {
	tb.Helper()
	fakeGPUs(tb, fakedriver.Options{Graphs: true, TotalMem: 24 << 30})
	tb.Setenv("EMBER_DECODE_GEMM", "gemv")
	p, ok := memplan.LookupPreset("Qwen3-4B-Instruct-2507")
	if !ok {
		tb.Fatal("no Qwen3-4B preset")
	}
	cfg := &p.Config
	devs, err := Open([]int{0}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	d := devs[0]
	m, err := qwen3.Load(cfg, newShapeSource(cfg), []device.Device{shapeOnly{d}}, []int{cfg.NumHiddenLayers})
	if err != nil {
		d.Close()
		tb.Fatal(err)
	}
	s, err := m.NewSession(qwen3.SessionOptions{Ctx: fakeDecodeCtx, Chunk: 512, KVDType: device.BF16, Batch: fakeBatch})
	if err != nil {
		m.Close()
		d.Close()
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		s.Close()
		m.Close()
		d.Close()
	})
	if _, err := s.Prefill(make([]int32, fakeDecodePrompt)); err != nil {
		tb.Fatal(err)
	}
	seqs, lens := make([]int, fakeBatch), make([]int, fakeBatch)
	for i := range seqs {
		seqs[i], lens[i] = i, fakeDecodePrompt-9*i
		if _, err := s.CopyPrefix(i, 0, lens[i]); err != nil {
			tb.Fatal(err)
		}
	}
	return d, s, seqs, lens
}

// batchStep runs one batched decode step, first rewinding every sequence to
// its starting length when one would run out of context.
func batchStep(tb testing.TB, s *qwen3.Session, seqs, lens []int, ids []int32) {
	for _, q := range seqs {
		if s.SeqPos(q) < fakeDecodeCtx-1 {
			continue
		}
		for i, q := range seqs {
			if err := firstErrT(s.Select(q), s.Rewind(lens[i])); err != nil {
				tb.Fatal(err)
			}
		}
		break
	}
	if _, err := s.DecodeBatch(seqs, ids, fakeBatchTop); err != nil {
		tb.Fatal(err)
	}
}

func firstErrT(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// BenchmarkFakeDecodeQwen3_4BBatch8 is BenchmarkFakeDecodeQwen3_4B for a
// batched step of 8 sequences ending in top-k and log-sum-exp on the device:
// host time per step (ns/op wall, host-µs/step the process's CPU time), the
// kernels of the step (counted on its plain run), and per replayed step the
// graph launches and the kernels launched outside a graph.
func BenchmarkFakeDecodeQwen3_4BBatch8(b *testing.B) {
	d, s, seqs, lens := fakeQwen3_4BBatch(b)
	ids := make([]int32, fakeBatch)
	batchStep(b, s, seqs, lens, ids) // allocates the attention partials and the top-k buffers
	c0 := readFakeCounts()
	batchStep(b, s, seqs, lens, ids)
	plain := readFakeCounts().minus(c0)
	for range 3 { // captured, then replayed
		batchStep(b, s, seqs, lens, ids)
	}
	c1 := readFakeCounts()
	cpu0 := cpuTime()
	b.ResetTimer()
	for range b.N {
		batchStep(b, s, seqs, lens, ids)
	}
	b.StopTimer()
	cpu := cpuTime() - cpu0
	steady := readFakeCounts().minus(c1)
	if _, _, _, failures := d.GraphStats(); failures != 0 {
		b.Fatalf("%d failed captures", failures)
	}
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "host-µs/step") // CPU time: steadier than ns/op on a shared machine
	b.ReportMetric(float64(plain.kernels), "kernels/step")
	b.ReportMetric(float64(steady.graphs)/float64(b.N), "graphs/step")
	b.ReportMetric(float64(steady.kernels)/float64(b.N), "plain-kernels/step")
}

// A batched decode step of 8 sequences at their own positions is captured
// once and then replays as exactly one graph launch per step, with no kernel
// launched outside it, across steps that move every row's position (the
// positions reach the graph through the params buffer and the uploaded
// position tensor) and across a rewind within the bucket.
func TestFakeBatchDecodeOneGraphPerStep(t *testing.T) {
	d, s, seqs, lens := fakeQwen3_4BBatch(t)
	ids := make([]int32, fakeBatch)
	for range 2 { // the first allocates scratch; the second runs plainly
		batchStep(t, s, seqs, lens, ids)
	}
	_, captured0, _, _ := d.GraphStats()
	batchStep(t, s, seqs, lens, ids) // captured and replayed
	_, captured1, replays1, _ := d.GraphStats()
	if captured1-captured0 != 1 {
		t.Fatalf("the third batched step captured %d graphs, want 1", captured1-captured0)
	}
	c0 := readFakeCounts()
	const steps = 5
	for range steps {
		batchStep(t, s, seqs, lens, ids)
	}
	got := readFakeCounts().minus(c0)
	_, captured2, replays2, failures := d.GraphStats()
	if got.graphs != steps || got.kernels != 0 || replays2-replays1 != steps || captured2 != captured1 || failures != 0 {
		t.Errorf("%d replayed batched steps: the driver saw %d graph launches and %d kernel launches (want %d and 0); %d replays, %d new captures, %d failed",
			steps, got.graphs, got.kernels, steps, replays2-replays1, captured2-captured1, failures)
	}
	for i, q := range seqs {
		if want := lens[i] + 2 + 1 + steps; s.SeqPos(q) != want {
			t.Errorf("sequence %d at position %d, want %d", q, s.SeqPos(q), want)
		}
	}
}
