package profile

import (
	"errors"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ember-infer/ember/ember-core/config"
	"github.com/ember-infer/ember/ember-core/cpu"
	"github.com/ember-infer/ember/ember-core/device"
	"github.com/ember-infer/ember/ember-core/engine"
	"github.com/ember-infer/ember/ember-core/qwen3"
	"github.com/ember-infer/ember/ember-core/safetensors"
	"github.com/ember-infer/ember/ember-core/synth"
)

// nanDecode is a CPU device whose embedding of a single token (a decode
// step) comes out NaN from the nth such call on: the prompt's logits stay
// finite and decode step n's do not.
type nanDecode struct {
	device.Device
	n, calls int
}

func (d *nanDecode) Embedding(out, table, ids device.Tensor) error {
	if err := d.Device.Embedding(out, table, ids); err != nil {
		return err
	}
	if ids.Shape()[0] != 1 {
		return nil
	}
	if d.calls++; d.calls < d.n {
		return nil
	}
	nan := make([]float32, device.Elems(out.Shape()))
	for i := range nan {
		nan[i] = float32(math.NaN())
	}
	return d.Upload(out, nan)
}

// TestRunNonFiniteDecode: profile's own decode loop fails at the step whose
// logits are not finite, greedy (the device's argmax finds no maximum) and
// sampled (the host's check), naming the iteration; it used to time them.
func TestRunNonFiniteDecode(t *testing.T) {
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
	defer set.Close()
	for _, tc := range []struct {
		sampling bool
		want     string
	}{
		{false, "warm-up iteration 1 of 1: decode step 2: the device's argmax found no finite maximum: non-finite logits"},
		{true, "warm-up iteration 1 of 1: decode step 2: logit 0 is NaN: non-finite logits"},
	} {
		dev := &nanDecode{Device: cpu.New(cpu.Options{Name: "cpu:0"}), n: 2}
		m, err := qwen3.Load(cfg, qwen3.SetSource{Set: set}, []device.Device{dev}, []int{cfg.NumHiddenLayers})
		if err != nil {
			t.Fatal(err)
		}
		_, err = Run(m, Options{PromptLen: 8, DecodeSteps: 4, ChunkLen: 8, Iters: 2, Warmup: 1, Sampling: tc.sampling, Seed: 5, KVDType: device.BF16})
		m.Close()
		var nf *engine.NonFiniteError
		if !errors.As(err, &nf) || nf.Step != 2 || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("sampling %v: err %v, want %q…", tc.sampling, err, tc.want)
		}
	}
}
