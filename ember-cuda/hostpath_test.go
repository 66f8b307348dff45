package cuda

import (
	"fmt"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/ember-infer/ember/ember-core/config"
	"github.com/ember-infer/ember/ember-core/device"
	"github.com/ember-infer/ember/ember-core/memplan"
	"github.com/ember-infer/ember/ember-core/qwen3"
	"github.com/ember-infer/ember/ember-core/snapshot"
	"github.com/ember-infer/ember/ember-cuda/fakedriver"
)

// The host path of a decode step, measured on the working fake driver, where
// nothing runs on a GPU: what is left is Ember's own work per step (building
// the segment, keying and replaying its graph, timing marks) and the launches
// and event records it issues, which the fake driver counts.
//
//	go test -run '^$' -bench FakeDecode -benchtime 3000x -count 5 ./ember-cuda/

// shapeOnly places weights as zeroed device tensors: on the fake driver there
// is nothing to copy, and 8 GB of Qwen3-4B weights need no host memory.
type shapeOnly struct{ *Device }

func (s shapeOnly) LoadWeight(name string, dt device.DType, _ []byte, shape ...int) (device.Tensor, error) {
	return s.NewWeight(name, dt, shape...)
}

// shapeSource serves every tensor of a config as bf16, by shape only.
type shapeSource map[string][]int

func newShapeSource(c *config.Config) shapeSource {
	s := shapeSource{}
	for _, sp := range append(snapshot.Expected(c), snapshot.LMHeadSpec(c)) {
		sh := make([]int, len(sp.Shape))
		for i, d := range sp.Shape {
			sh[i] = int(d)
		}
		s[sp.Name] = sh
	}
	return s
}

func (s shapeSource) Weight(name string) (device.DType, []int, []byte, error) {
	sh, ok := s[name]
	if !ok {
		return 0, nil, nil, fmt.Errorf("no tensor %q", name)
	}
	return device.BF16, sh, nil, nil
}

// fakeDecodeCounts is what the fake driver counted over some decode steps.
type fakeDecodeCounts struct{ kernels, events, graphs int }

func readFakeCounts() fakeDecodeCounts {
	return fakeDecodeCounts{fakeCount(fakedriver.CounterKernelLaunches), fakeCount(fakedriver.CounterEventRecords),
		fakeCount(fakedriver.CounterGraphLaunches)}
}

func (a fakeDecodeCounts) minus(b fakeDecodeCounts) fakeDecodeCounts {
	return fakeDecodeCounts{a.kernels - b.kernels, a.events - b.events, a.graphs - b.graphs}
}

const (
	fakeDecodePrompt = 1536 // decode runs in the 2048 bucket
	fakeDecodeCtx    = 2048
)

// fakeQwen3_4B opens one fake GPU (with graphs) and a Qwen3-4B-shaped model
// and session on it, prefilled with fakeDecodePrompt tokens.
func fakeQwen3_4B(tb testing.TB) (*Device, *qwen3.Session) {
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
	s, err := m.NewSession(qwen3.SessionOptions{Ctx: fakeDecodeCtx, Chunk: 512, KVDType: device.BF16})
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
	return d, s
}

// cpuTime returns the CPU time the process has used: on a shared machine a
// steadier measure of host work than the wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkFakeDecodeQwen3_4B reports the host time of a steady decode step
// (graph replays) as ns/op (and the process's CPU time per step, cpu-ns/op), and per decode token the kernels and event
// records of the step (the nodes of its graph, counted on the first, plain
// step) and the launches that remain once it replays.
func BenchmarkFakeDecodeQwen3_4B(b *testing.B) {
	d, s := fakeQwen3_4B(b)
	c0 := readFakeCounts()
	if _, _, err := s.DecodeGreedy(0); err != nil {
		b.Fatal(err)
	}
	plain := readFakeCounts().minus(c0)
	for range 3 { // captured, then replayed
		if _, _, err := s.DecodeGreedy(0); err != nil {
			b.Fatal(err)
		}
	}
	c1 := readFakeCounts()
	cpu0 := cpuTime()
	b.ResetTimer()
	for range b.N {
		if s.Pos() >= fakeDecodeCtx-1 {
			b.StopTimer()
			if err := s.Rewind(fakeDecodePrompt); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		if _, _, err := s.DecodeGreedy(0); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	cpu := cpuTime() - cpu0
	steady := readFakeCounts().minus(c1)
	if _, captured, _, failures := d.GraphStats(); captured != 1 || failures != 0 {
		b.Fatalf("%d graphs captured, %d failed captures; want 1 and 0", captured, failures)
	}
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(plain.kernels), "kernels/token")
	b.ReportMetric(float64(plain.events), "events/token")
	b.ReportMetric(float64(steady.kernels+steady.graphs)/float64(b.N), "launches/step")
}

// DecodeStepStats (what gpu-check prints on hardware) counts the kernels and
// events the fake driver sees launched and recorded when a decode step is
// captured, and the same for each step that replays the graph.
func TestFakeDecodeStepStats(t *testing.T) {
	d, s := fakeQwen3_4B(t)
	// The first step allocates the attention partials, which flushes it
	// half-way; the second runs plainly, the third is captured and replayed.
	for range 2 {
		if _, _, err := s.DecodeGreedy(0); err != nil {
			t.Fatal(err)
		}
	}
	steps0, k0, e0, _ := d.DecodeStepStats()
	c0 := readFakeCounts()
	if _, _, err := s.DecodeGreedy(0); err != nil {
		t.Fatal(err)
	}
	captured := readFakeCounts().minus(c0)
	steps1, k1, e1, _ := d.DecodeStepStats()
	if steps1-steps0 != 1 || k1-k0 != captured.kernels || e1-e0 > captured.events || captured.graphs != 1 {
		t.Errorf("the captured step: stats say %d steps, %d kernels, %d events; the driver saw %d kernels, %d events, %d graph launches",
			steps1-steps0, k1-k0, e1-e0, captured.kernels, captured.events, captured.graphs)
	}
	c1 := readFakeCounts()
	for range 3 {
		if _, _, err := s.DecodeGreedy(0); err != nil {
			t.Fatal(err)
		}
	}
	replays := readFakeCounts().minus(c1)
	steps2, k2, _, host := d.DecodeStepStats()
	if steps2-steps1 != 3 || k2-k1 != 3*captured.kernels || host <= 0 || replays.kernels != 0 || replays.graphs != 3 {
		t.Errorf("three replays: %d steps, %d kernels, host %v (want 3, %d, > 0); the driver saw %d kernels and %d graph launches (want 0, 3)",
			steps2-steps1, k2-k1, host, 3*captured.kernels, replays.kernels, replays.graphs)
	}
	// A Qwen3-4B decode token: 36 layers of 8 kernels (TestFakeDecodeFolds),
	// the embedding, the first norm, lm_head and argmax.
	if captured.kernels != 36*8+4 {
		t.Errorf("%d kernels per decode token, want %d", captured.kernels, 36*8+4)
	}
}

// A Qwen3-4B decode token, with graphs and without: each layer's ops fold
// into eight kernels.
func TestFakeDecodeFolds(t *testing.T) {
	for _, graphs := range []bool{true, false} {
		t.Run(fmt.Sprintf("graphs=%v", graphs), func(t *testing.T) {
			if !graphs {
				t.Setenv("EMBER_CUDA_GRAPHS", "0")
			}
			d, s := fakeQwen3_4B(t)
			if _, _, err := s.DecodeGreedy(0); err != nil { // allocates the attention partials
				t.Fatal(err)
			}
			got := recordKernels(d)
			if _, _, err := s.DecodeGreedy(0); err != nil {
				t.Fatal(err)
			}
			layer := []string{"gemv16x3_bf16", "qk_rope_append_wbf16_kvbf16", "attn_decode_bf16_d4",
				"gemv16_bf16", "add_rmsnorm_bf16", "gemv16_glu_bf16", "gemv16_bf16", "add_rmsnorm_bf16"}
			want := []string{"embedding_bf16", "rmsnorm_bf16"}
			for range 36 {
				want = append(want, layer...)
			}
			// The last layer's closing add_rmsnorm is the final norm; lm_head, argmax.
			want = append(want, "gemv16_bf16", "argmax_rows_f32")
			if !slices.Equal(*got, want) {
				t.Errorf("%d kernels per token, want %d:\n%v", len(*got), len(want), *got)
			}
		})
	}
}
