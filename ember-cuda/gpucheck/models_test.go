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

// A greedy divergence passes only where the CUDA run takes the CPU's
// runner-up and the CPU's top-2 margin is below max |logit| / 256. The
// prompt logits [0 10 -5 2] make the bound 10/256 = 0.0390625; the CPU chose
// 1, 2, 3 with runner-ups 3, 0, 2 and margins 0.5, m, 1 at the three steps.
func TestNearTie(t *testing.T) {
	ref := func(m float32) *run {
		return &run{logits: []float32{0, 10, -5, 2}, greedy: []int32{1, 2, 3}, margin: []float32{0.5, m, 1}, second: []int32{3, 0, 2}}
	}
	gotRun := func(g ...int32) *run { return &run{logits: []float32{0, 10, -5, 2}, greedy: g} }
	for _, c := range []struct {
		name   string
		got    *run
		margin float32
		pass   bool
		says   string
	}{
		{"identical", gotRun(1, 2, 3), 0.03, true, "3 greedy tokens identical"},
		{"runner-up below the bound", gotRun(1, 0, 1), 0.03, true,
			"identical for 1 steps, then a near tie: step 1 takes the CPU's runner-up 0 (CPU 2), top-2 margin 0.03 < 0.03906 (max |logit| / 256); later steps not compared"},
		{"runner-up at the bound", gotRun(1, 0, 3), 0.0390625, false,
			"differ from step 1: 0 (the CPU's runner-up) vs 2; the CPU's top-2 margin there was 0.03906, a near tie only below 0.03906"},
		{"runner-up above the bound", gotRun(1, 0, 3), 0.05, false, "top-2 margin there was 0.05, a near tie only below 0.03906"},
		{"not the runner-up", gotRun(1, 3, 3), 0.001, false, "differ from step 1: 3 (not the CPU's runner-up) vs 2"},
		{"first step, margin 0.5", gotRun(3, 2, 3), 0.001, false, "differ from step 0: 3 (the CPU's runner-up) vs 1; the CPU's top-2 margin there was 0.5"},
	} {
		var out bytes.Buffer
		rep := &report{w: &out}
		compareRuns(rep, "m", c.got, ref(c.margin), 4)
		// the logits line passes in every case; the greedy line decides
		if (rep.failed == 0) != c.pass || !strings.Contains(out.String(), c.says) {
			t.Errorf("%s: %d failed, report:\n%s\nwant it to say %q", c.name, rep.failed, out.String(), c.says)
		}
	}
	// margin: top-1 minus top-2 and the top-2's index, whichever order they come in
	for _, c := range []struct {
		l      []float32
		m      float32
		second int
	}{{[]float32{1, 3, 2}, 1, 2}, {[]float32{3, 1, 2}, 1, 2}, {[]float32{2, 1, 3}, 1, 0}, {[]float32{5, 5, 1}, 0, 1}} {
		if m, s := margin(c.l); m != c.m || s != c.second {
			t.Errorf("margin(%v) = %v, %d; want %v, %d", c.l, m, s, c.m, c.second)
		}
	}
}
