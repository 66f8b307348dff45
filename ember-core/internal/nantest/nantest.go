// Package nantest gives tests a tiny Qwen3 model whose decode steps turn
// non-finite from a chosen step on, to check that a decode loop stops there.
package nantest

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/ember-infer/ember/ember-core/config"
	"github.com/ember-infer/ember/ember-core/cpu"
	"github.com/ember-infer/ember/ember-core/device"
	"github.com/ember-infer/ember/ember-core/qwen3"
	"github.com/ember-infer/ember/ember-core/safetensors"
	"github.com/ember-infer/ember/ember-core/synth"
)

// Device is a CPU device whose embedding of a single token (a decode step)
// comes out NaN from its Nth such call on: the prompt's logits stay finite
// and that call's step's do not.
type Device struct {
	device.Device
	N, calls int
}

// Embedding embeds as the CPU does, then overwrites a single-token embedding
// with NaN from the Nth call on.
func (d *Device) Embedding(out, table, ids device.Tensor) error {
	if err := d.Device.Embedding(out, table, ids); err != nil {
		return err
	}
	if ids.Shape()[0] != 1 {
		return nil
	}
	if d.calls++; d.calls < d.N {
		return nil
	}
	nan := make([]float32, device.Elems(out.Shape()))
	for i := range nan {
		nan[i] = float32(math.NaN())
	}
	return d.Upload(out, nan)
}

// TinyModel synthesises the tiny model (seed 1) into a temporary folder and
// loads it on one Device whose single-token embeddings turn NaN from call n
// on. Everything is closed when the test ends.
func TinyModel(t testing.TB, n int) *qwen3.Model {
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
	dev := &Device{Device: cpu.New(cpu.Options{Name: "cpu:0"}), N: n}
	m, err := qwen3.Load(cfg, qwen3.SetSource{Set: set}, []device.Device{dev}, []int{cfg.NumHiddenLayers})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}
