package gpucheck

import (
	"bytes"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ember-infer/ember/ember-core/cpu"
	"github.com/ember-infer/ember/ember-core/device"
	"github.com/ember-infer/ember/ember-core/qwen3"
	"github.com/ember-infer/ember/ember-core/snapshot"
	"github.com/ember-infer/ember/ember-core/synth"
)

// TestModelHarness runs the model checks' harness with CPU devices on both
// sides: a split over two devices with overlap must agree with one device
// exactly, and the report must say PASS for logits and greedy tokens.
func TestModelHarness(t *testing.T) {
	for _, name := range []string{"tiny", "head_dim 128"} {
		t.Run(name, func(t *testing.T) {
			c := synth.Tiny()
			if name != "tiny" {
				c = headDim128()
			}
			dir := filepath.Join(t.TempDir(), "m")
			if err := synth.Write(dir, c, synth.Options{Seed: 1}); err != nil {
				t.Fatal(err)
			}
			snap, err := snapshot.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer snap.Close()
			r := rand.New(rand.NewPCG(1, 2))
			prompt := make([]int32, promptLen)
			for i := range prompt {
				prompt[i] = r.Int32N(int32(snap.Config.VocabSize))
			}
			ref, err := runModel(snap.Config, snap, []device.Device{cpu.New(cpu.Options{})}, []int{snap.Config.NumHiddenLayers}, false, prompt, fullModels)
			if err != nil {
				t.Fatal(err)
			}
			two := []device.Device{cpu.New(cpu.Options{Name: "cpu:0"}), cpu.New(cpu.Options{Name: "cpu:1"})}
			got, err := runModel(snap.Config, snap, two, []int{1, snap.Config.NumHiddenLayers - 1}, true, prompt, fullModels)
			if err != nil {
				t.Fatal(err)
			}
			if len(got.greedy) != greedySteps || len(ref.margin) != greedySteps || len(got.logits) != promptLen*snap.Config.VocabSize {
				t.Fatalf("run sizes: %d greedy, %d margins, %d logits", len(got.greedy), len(ref.margin), len(got.logits))
			}
			var out bytes.Buffer
			rep := &report{w: &out}
			compareRuns(rep, "split", got, ref, snap.Config.VocabSize)
			if rep.failed != 0 || !strings.Contains(out.String(), "max |Δlogit| 0 = 0.00%") || !strings.Contains(out.String(), "32 greedy tokens identical") {
				t.Errorf("report:\n%s", out.String())
			}
			// A diverging token is reported with the CPU's margin at that step.
			got.greedy[5]++
			out.Reset()
			compareRuns(rep, "split", got, ref, snap.Config.VocabSize)
			if rep.failed != 1 || !strings.Contains(out.String(), "greedy tokens differ from step 5") || !strings.Contains(out.String(), "top-2 margin") {
				t.Errorf("report:\n%s", out.String())
			}
		})
	}
}

// zeroSource serves shapeSource's shapes with zero bytes, so the CPU backend
// can load them.
type zeroSource struct{ shapeSource }

func (z zeroSource) Weight(name string) (device.DType, []int, []byte, error) {
	dt, sh, _, err := z.shapeSource.Weight(name)
	return dt, sh, make([]byte, device.Elems(sh)*dt.Size()), err
}

// TestShapeSource: the benchmark's weight source serves every tensor the
// model loads, tied and untied, on one device and split.
func TestShapeSource(t *testing.T) {
	for _, tied := range []bool{true, false} {
		c := *synth.Tiny()
		c.TieWordEmbeddings = tied
		for _, n := range []int{1, 2} {
			devs := []device.Device{cpu.New(cpu.Options{}), cpu.New(cpu.Options{})}[:n]
			m, err := qwen3.Load(&c, zeroSource{newShapeSource(&c)}, devs, qwen3.EvenSplit(c.NumHiddenLayers, n))
			if err != nil {
				t.Fatalf("tied %v, %d devices: %v", tied, n, err)
			}
			m.Close()
		}
	}
}
