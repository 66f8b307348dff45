package bench

import (
	"path/filepath"
	"runtime"
	"testing"

	"github.com/ember-infer/ember/ember-core/config"
	"github.com/ember-infer/ember/ember-core/cpu"
	"github.com/ember-infer/ember/ember-core/device"
	"github.com/ember-infer/ember/ember-core/memplan"
	"github.com/ember-infer/ember/ember-core/qwen3"
	"github.com/ember-infer/ember/ember-core/safetensors"
	"github.com/ember-infer/ember/ember-core/synth"
)

// TestDecodeParallelRegions counts the ops a decode step hands to the CPU
// device's helper threads, on Qwen3-0.6B's layer shapes (two layers, a 4096
// vocabulary): per layer Q/K/V (one fused op), attention, O, gate/up with
// SiLU (one fused op) and down, then the lm_head: 5·layers + 1. Norms, RoPE,
// the residual adds, the KV append and the argmax are below the grain and run
// on the caller. Each extra hand-out costs a decode step a few microseconds
// of the second core, so a change that splits or unfuses an op shows here.
func TestDecodeParallelRegions(t *testing.T) {
	p, ok := memplan.LookupPreset("Qwen3-0.6B")
	if !ok {
		t.Fatal("no Qwen3-0.6B preset")
	}
	c := p.Config
	c.NumHiddenLayers, c.VocabSize = 2, 4096
	dir := filepath.Join(t.TempDir(), "q06-2l")
	if err := synth.Write(dir, &c, synth.Options{Seed: 1}); err != nil {
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
	defer set.Close()
	d := cpu.New(cpu.Options{Name: "cpu:0", Threads: 2})
	m, err := qwen3.Load(cfg, qwen3.SetSource{Set: set}, []device.Device{d}, []int{cfg.NumHiddenLayers})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	s, err := m.NewSession(qwen3.SessionOptions{Ctx: 128, KVDType: device.F16})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Prefill([]int32{1, 2, 3, 4}); err != nil {
		t.Fatal(err)
	}
	next := int32(5)
	for step := range 3 {
		before := d.ParallelRegions()
		if next, _, err = s.DecodeGreedy(next); err != nil {
			t.Fatal(err)
		}
		got := d.ParallelRegions() - before
		if want := int64(5*cfg.NumHiddenLayers + 1); got != want {
			t.Fatalf("decode step %d handed %d ops to the helper threads, want %d (5 per layer and the lm_head)", step, got, want)
		}
	}
	// With the ops fanning out (the tiny model's do not), a step still
	// allocates nothing, counted over 8 steps with both threads running (as
	// testing.AllocsPerRun would run them on one). The count includes the Go
	// runtime's own: a helper that parks hands its P to another OS thread,
	// and the runtime may start one (about six allocations) while its idle
	// threads settle, so up to five rounds are tried; code that allocates
	// per step fails every round.
	var n uint64
	for range 5 {
		runtime.GC()
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		for range 8 {
			if next, _, err = s.DecodeGreedy(next); err != nil {
				t.Fatal(err)
			}
		}
		runtime.ReadMemStats(&m1)
		if n = m1.Mallocs - m0.Mallocs; n == 0 {
			break
		}
	}
	if n != 0 {
		t.Errorf("8 decode steps on 2 threads allocated %d times, in each of 5 rounds", n)
	}
}
