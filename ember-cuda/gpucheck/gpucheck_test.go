package gpucheck

import (
	"bytes"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ember-infer/ember/ember-core/sampling"
	cuda "github.com/ember-infer/ember/ember-cuda"
)

func TestRunWithoutGPU(t *testing.T) {
	t.Setenv("EMBER_LIBCUDA", filepath.Join(t.TempDir(), "libcuda.so.1"))
	var out bytes.Buffer
	if err := Run(&out, Options{}); err != nil {
		t.Fatalf("Run without a GPU: %v", err)
	}
	if !strings.HasPrefix(out.String(), "no GPU: ") || strings.Count(out.String(), "\n") != 1 {
		t.Errorf("Run without a GPU printed %q", out.String())
	}
}

// TestOnGPU runs the op and model checks (not the benchmark) where there is a GPU.
func TestOnGPU(t *testing.T) {
	devs, err := cuda.Open([]int{0}, nil)
	if err != nil {
		t.Skipf("no GPU: %v", err)
	}
	for _, d := range devs {
		d.Close()
	}
	var out bytes.Buffer
	err = Run(&out, Options{NoBench: true, Seed: 1})
	t.Log(out.String())
	if err != nil {
		t.Fatal(err)
	}
}

func TestCompareLogits(t *testing.T) {
	want := []float32{1, 2, 3, -4, 0, 1}
	got := []float32{1, 2.1, 3, -4, 0.05, 0.9}
	d, err := CompareLogits(got, want, 3)
	if err != nil {
		t.Fatal(err)
	}
	if d.Rows != 2 || d.ArgmaxAgree != 2 || math.Abs(d.MaxAbs-0.1) > 1e-6 || d.MaxRef != 4 {
		t.Errorf("diff %+v", d)
	}
	if !d.OK(0.03) || d.OK(0.02) {
		t.Errorf("rel %v against tolerances 3%% and 2%%", d.Rel())
	}
	got[1] = 5 // row 0's argmax moves
	if d, _ := CompareLogits(got, want, 3); d.ArgmaxAgree != 1 {
		t.Errorf("argmax agreement %d, want 1", d.ArgmaxAgree)
	}
	got[0] = float32(math.NaN())
	if d, _ := CompareLogits(got, want, 3); d.OK(1) {
		t.Error("a NaN logit passes")
	}
	if _, err := CompareLogits(got[:5], want, 3); err == nil {
		t.Error("mismatched lengths compare")
	}
	if s := (Diff{Rows: 2, ArgmaxAgree: 2, MaxAbs: 0.01, MaxRef: 2}).String(); !strings.Contains(s, "0.50% of max |logit| 2") {
		t.Errorf("String: %q", s)
	}
}

// TestSampleRefMatchesHostSampler checks sampleRef — what the device's
// SampleSorted is held to — against ember-core/sampling with the same seed:
// the uniform number the sampler draws is recomputed from its PCG stream.
func TestSampleRefMatchesHostSampler(t *testing.T) {
	const pcgStream = 0x9e3779b97f4a7c15 // ember-core/sampling's second seed half
	r := rand.New(rand.NewPCG(5, 6))
	for trial := range 300 {
		vocab := 50 + r.IntN(500)
		logits := make([]float32, vocab)
		for i := range logits {
			logits[i] = float32(r.NormFloat64() * 2)
		}
		// Some rows have NaN and -Inf entries (fewer than vocab-40, so that
		// the host's top-k still sorts), and a few nothing but.
		switch trial % 10 {
		case 4, 5, 6:
			for range 1 + r.IntN(vocab/4) {
				logits[r.IntN(vocab)] = [2]float32{float32(math.NaN()), float32(math.Inf(-1))}[r.IntN(2)]
			}
		case 7:
			for i := range logits {
				logits[i] = [2]float32{float32(math.NaN()), float32(math.Inf(-1))}[r.IntN(2)]
			}
		}
		p := sampling.Params{Temperature: 0.3 + r.Float32(), TopK: 1 + r.IntN(40), Seed: uint64(trial)}
		if trial%2 == 0 {
			p.TopP = 0.2 + 0.7*r.Float32()
		}
		if trial%3 == 0 {
			p.MinP = 0.2 * r.Float32()
		}
		s, err := sampling.New(p, vocab)
		if err != nil {
			t.Fatal(err)
		}
		want := s.Sample(append([]float32(nil), logits...), nil)
		u := rand.New(rand.NewPCG(p.Seed, pcgStream)).Float64()
		if got := sampleRef(logits, p.TopK, p.Temperature, p.TopP, p.MinP, u); got != want {
			t.Fatalf("trial %d %+v: sampleRef %d, host sampler %d", trial, p, got, want)
		}
	}
}
