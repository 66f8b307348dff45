package profile

import (
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/ember-infer/ember/ember-core/config"
	"github.com/ember-infer/ember/ember-core/cpu"
	"github.com/ember-infer/ember/ember-core/device"
	"github.com/ember-infer/ember/ember-core/qwen3"
	"github.com/ember-infer/ember/ember-core/rows"
	"github.com/ember-infer/ember/ember-core/safetensors"
	"github.com/ember-infer/ember/ember-core/synth"
)

func tinyModel(t *testing.T, budget int64) *qwen3.Model {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tiny")
	if err := synth.Write(dir, synth.Tiny(), synth.Options{Seed: 1}); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	set, err := safetensors.OpenSnapshot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { set.Close() })
	devs := []device.Device{cpu.New(cpu.Options{Name: "cpu:0", Budget: budget}), cpu.New(cpu.Options{Name: "cpu:1", Budget: budget})}
	m, err := qwen3.Load(cfg, qwen3.SetSource{Set: set}, devs, []int{3, 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

func TestRun(t *testing.T) {
	m := tinyModel(t, 0)
	for _, sampling := range []bool{false, true} {
		r, err := Run(m, Options{PromptLen: 24, DecodeSteps: 4, ChunkLen: 8, Overlap: true, Iters: 3, Warmup: 1, Sampling: sampling, Seed: 5, KVDType: device.BF16})
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Prefill) != 3 || len(r.DecodePerToken) != 3 {
			t.Fatalf("kept %d prefill and %d decode iterations, want 3 each", len(r.Prefill), len(r.DecodePerToken))
		}
		for i := range 3 {
			p, d := r.Prefill[i], r.DecodePerToken[i]
			if p.Wall <= 0 || p.Stages[device.StageP2P] <= 0 || p.Stages[device.StageAttention] <= 0 {
				t.Errorf("prefill iteration %d: %+v", i, p)
			}
			if d.Wall <= 0 || d.Stages[device.StageSampling] <= 0 || d.Stages[device.StageFFN] <= 0 {
				t.Errorf("decode iteration %d: %+v", i, d)
			}
		}
	}
}

func TestMean(t *testing.T) {
	var a, b Measurement
	a.Wall, b.Wall = 10*time.Millisecond, 20*time.Millisecond
	a.Stages[device.StageFFN], b.Stages[device.StageFFN] = 4*time.Millisecond, 8*time.Millisecond
	m := Mean([]Measurement{a, b})
	if m.Wall != 15*time.Millisecond || m.Stages[device.StageFFN] != 6*time.Millisecond {
		t.Errorf("Mean = %+v", m)
	}
}

func TestPromptDeterministic(t *testing.T) {
	a, b, c := Prompt(50, 1000, 1), Prompt(50, 1000, 1), Prompt(50, 1000, 2)
	if !reflect.DeepEqual(a, b) || reflect.DeepEqual(a, c) {
		t.Errorf("Prompt not deterministic per seed")
	}
	for _, id := range a {
		if id < 0 || id >= 1000 {
			t.Fatalf("id %d outside the vocabulary", id)
		}
	}
}

func TestOutOfMemory(t *testing.T) {
	// Weights take about 1.3 MB per device; 2 MB leaves too little for a
	// 1024-row workspace but enough for 32 rows.
	m := tinyModel(t, 2<<20)
	_, err := Run(m, Options{PromptLen: 1024, DecodeSteps: 2, ChunkLen: 1024, Iters: 1, KVDType: device.BF16})
	if !errors.Is(err, device.ErrOutOfMemory) {
		t.Fatalf("chunk 1024: %v, want out of memory", err)
	}
	if _, err := Run(m, Options{PromptLen: 64, DecodeSteps: 2, ChunkLen: 32, Iters: 1, KVDType: device.BF16}); err != nil {
		t.Fatalf("chunk 32: %v", err)
	}
	if _, err := Run(m, Options{PromptLen: 0, DecodeSteps: 2, Iters: 1}); err == nil {
		t.Error("prompt length 0 accepted")
	}
}

func TestRows(t *testing.T) {
	var a, b Measurement
	a.Wall, b.Wall = 10*time.Millisecond, 30*time.Millisecond
	a.Stages[device.StageFFN], b.Stages[device.StageFFN] = 4*time.Millisecond, 6*time.Millisecond
	a.Stages[device.StageP2P] = 2 * time.Millisecond
	r := Result{Prefill: []Measurement{a, b}, DecodePerToken: []Measurement{b}}
	base := rows.Config{Mode: rows.Mode(2, true), GPUs: "0+1", Split: rows.SplitCell([]int{3, 3}), PromptLen: 24, DecodeSteps: 4, ChunkLen: 8, Overlap: true}
	stage, samples := Rows(base, r)
	if len(stage) != 2 || len(samples) != 3 {
		t.Fatalf("%d stage rows and %d samples, want 2 and 3", len(stage), len(samples))
	}
	// Prefill mean: wall (10+30)/2 = 20 ms, ffn (4+6)/2 = 5 ms, p2p (2+0)/2 = 1 ms, total 6 ms.
	p := stage[0]
	if p.Phase != rows.PhasePrefill || p.Mode != "overlap" || p.Split != "3+3" || p.GPUs != "0+1" || p.WallMS != 20 || p.FFNMS != 5 || p.P2PMS != 1 || p.ProfileTotalMS != 6 {
		t.Errorf("prefill row %+v", p)
	}
	if d := stage[1]; d.Phase != rows.PhaseDecodePerToken || d.WallMS != 30 || d.ProfileTotalMS != 6 {
		t.Errorf("decode row %+v", d)
	}
	if samples[1].Iter != 1 || samples[1].WallMS != 30 || samples[2].Phase != rows.PhaseDecodePerToken || samples[2].Iter != 0 {
		t.Errorf("samples %+v", samples)
	}
	// --decode-steps 0: a prefill row only, as ember_stage_breakdown writes.
	stage, samples = Rows(base, Result{Prefill: []Measurement{a}})
	if len(stage) != 1 || stage[0].Phase != rows.PhasePrefill || len(samples) != 1 {
		t.Errorf("prefill-only result gave %d rows %+v and %d samples", len(stage), stage, len(samples))
	}
}

func TestRunPrefillOnly(t *testing.T) {
	m := tinyModel(t, 0)
	r, err := Run(m, Options{PromptLen: 8, DecodeSteps: 0, Iters: 2, KVDType: device.BF16})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Prefill) != 2 || len(r.DecodePerToken) != 0 {
		t.Errorf("decode steps 0: %d prefill and %d decode iterations, want 2 and 0", len(r.Prefill), len(r.DecodePerToken))
	}
}
