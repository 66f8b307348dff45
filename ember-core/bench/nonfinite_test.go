package bench

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

// nanEmbed is a CPU device whose single-token embeddings (decode steps) come
// out NaN from its nth such call on.
type nanEmbed struct {
	device.Device
	n, calls int
}

func (d *nanEmbed) Embedding(out, table, ids device.Tensor) error {
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

// TestRunNonFiniteDecode: ember bench's decode loop stops at the first step
// whose logits have no finite maximum, naming it, instead of timing garbage
// (it used to fail one step later on "token id -1 is outside the vocabulary").
// Calls: 1 is the warm-up decode, 2 the first timed step, 3 the second.
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
	dev := &nanEmbed{Device: cpu.New(cpu.Options{Name: "cpu:0"}), n: 3}
	m, err := qwen3.Load(cfg, qwen3.SetSource{Set: set}, []device.Device{dev}, []int{cfg.NumHiddenLayers})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	_, err = Run(m, Options{Threads: 1, PromptLen: 8, DecodeSteps: 4, PrefillRuns: 1, KVDType: device.BF16})
	var nf *engine.NonFiniteError
	if !errors.As(err, &nf) || nf.Step != 2 || !strings.Contains(err.Error(), "decode step 2: ") {
		t.Fatalf("err %v, want a non-finite error at decode step 2", err)
	}
}
