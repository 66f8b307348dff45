package engine

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/ember-infer/ember/ember-core/cpu"
	"github.com/ember-infer/ember/ember-core/device"
	"github.com/ember-infer/ember/ember-core/hub"
	"github.com/ember-infer/ember/ember-core/memplan"
	"github.com/ember-infer/ember/ember-core/qwen3"
	"github.com/ember-infer/ember/ember-core/sampling"
	"github.com/ember-infer/ember/ember-core/snapshot"
	"github.com/ember-infer/ember/ember-core/synth"
)

func TestParseDevices(t *testing.T) {
	for _, tc := range []struct {
		in      string
		backend string
		ids     []string
		err     string
	}{
		{"", "", []string{"0"}, ""},
		{"0,1", "", []string{"0", "1"}, ""},
		{"cpu:0,cpu:1", "cpu", []string{"0", "1"}, ""},
		{"cuda:0, cuda:0", "cuda", []string{"0", "0"}, ""},
		{"cpu:0,cuda:1", "", nil, "mixes backends cpu and cuda"},
		{"gpu", "", nil, `"gpu" is not a device index`},
		{"0,-1", "", nil, `"-1" is not a device index`},
	} {
		b, ids, err := ParseDevices(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseDevices(%q) error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || b != tc.backend || !reflect.DeepEqual(ids, tc.ids) {
			t.Errorf("ParseDevices(%q) = %q %v %v, want %q %v", tc.in, b, ids, err, tc.backend, tc.ids)
		}
	}
}

func TestParseSplit(t *testing.T) {
	if s, err := ParseSplit("14,14"); err != nil || !reflect.DeepEqual(s, []int{14, 14}) {
		t.Errorf("ParseSplit(14,14) = %v %v", s, err)
	}
	if s, err := ParseSplit("9+27"); err != nil || !reflect.DeepEqual(s, []int{9, 27}) {
		t.Errorf("ParseSplit(9+27) = %v %v", s, err)
	}
	if s, err := ParseSplit(""); err != nil || s != nil {
		t.Errorf("ParseSplit(\"\") = %v %v, want nil", s, err)
	}
	if _, err := ParseSplit("3,x"); err == nil || !strings.Contains(err.Error(), `--split "3,x"`) {
		t.Errorf("ParseSplit(3,x) error %v", err)
	}
}

func tinyDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := synth.Write(dir, synth.Tiny(), synth.Options{Seed: 3}); err != nil {
		t.Fatal(err)
	}
	return dir
}

func noEnv() hub.Env {
	return hub.Env{Getenv: func(string) string { return "" }, HomeDir: func() (string, error) { return "/nonexistent", nil }}
}

// TestGenerateGreedy: Generate with temperature 0 produces exactly the chain of
// argmaxes that prefill + decode give step by step, and stops at max tokens.
func TestGenerateGreedy(t *testing.T) {
	dir := tinyDir(t)
	var warned []string
	e, err := Open(Options{Model: dir, Devices: "cpu:0,cpu:1", Split: []int{2, 4}, Env: noEnv(), NeedTokenizer: true,
		Warn: func(s string) { warned = append(warned, s) }})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if e.Backend != "cpu" || len(e.Devices) != 2 || !reflect.DeepEqual(e.Model.Split, []int{2, 4}) {
		t.Fatalf("opened backend %s, %d devices, split %v", e.Backend, len(e.Devices), e.Model.Split)
	}
	if len(warned) != 0 {
		t.Errorf("explicit cpu devices warned: %v", warned)
	}
	prompt := e.Tokenizer.Encode("Hello, my name is")
	// The expected chain, by hand: argmax of each step's logits.
	s, err := e.Model.NewSession(qwen3.SessionOptions{Ctx: 64, KVDType: device.F32})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Prefill(prompt); err != nil {
		t.Fatal(err)
	}
	var want []int32
	for len(want) < 10 {
		id := sampling.Argmax(s.Logits())
		want = append(want, id)
		if e.IsEOS(id) {
			break
		}
		if _, err := s.Decode(id); err != nil {
			t.Fatal(err)
		}
	}
	s.Reset()
	smp, _ := sampling.New(sampling.Greedy(), e.Snapshot.Config.VocabSize)
	var streamed []int32
	st, err := e.Generate(s, smp, prompt, 10, func(id int32) bool { streamed = append(streamed, id); return true })
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(st.Generated, want) {
		t.Errorf("Generate = %v, step-by-step argmax = %v", st.Generated, want)
	}
	if st.Prefill.Tokens != len(prompt) || st.Steps != len(want)-1 && !st.StopEOS {
		t.Errorf("stats: prefill %d tokens, %d steps for %d generated", st.Prefill.Tokens, st.Steps, len(want))
	}
	if st.Decode.Stages[device.StageSampling] <= 0 {
		t.Errorf("greedy decode counted no sampling time (the on-device argmax)")
	}
}

func TestOpenErrors(t *testing.T) {
	dir := tinyDir(t)
	_, err := Open(Options{Model: dir, Devices: "0,1", Split: []int{3, 4}, Env: noEnv()})
	if err == nil || !strings.Contains(err.Error(), "covers 7 layers but the model has 6") {
		t.Errorf("bad split: %v", err)
	}
	_, err = Open(Options{Model: dir, Backend: "cuda", Env: noEnv()})
	if err == nil || !strings.Contains(err.Error(), `--backend "cuda" is not available`) {
		t.Errorf("missing backend: %v", err)
	}
	var warned string
	e, err := Open(Options{Model: dir, Env: noEnv(), Warn: func(s string) { warned = s }})
	if err != nil {
		t.Fatal(err)
	}
	e.Close()
	if !strings.Contains(warned, "using the CPU backend") {
		t.Errorf("backend auto without CUDA warned %q", warned)
	}
	warned = ""
	e, err = Open(Options{Model: dir, Devices: "0,1", Env: noEnv(), Warn: func(s string) { warned += s + "\n" }})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(e.Model.Split, []int{3, 3}) || !strings.Contains(warned, "split 3+3 chosen by the planner") {
		t.Errorf("default split %v, notes %q; want the planner's 3+3", e.Model.Split, warned)
	}
	e.Close()
	_, err = Open(Options{Model: dir, Devices: "0,1", DeviceMem: []int64{1 << 20}, Env: noEnv()})
	if !errors.Is(err, device.ErrOutOfMemory) {
		t.Errorf("1 MiB devices: %v, want out of memory", err)
	}
	_, err = Open(Options{Model: "Qwen/Qwen3-0.6B", Env: noEnv()})
	var nf *hub.NotFoundError
	if !errors.As(err, &nf) {
		t.Errorf("missing model: %v, want *hub.NotFoundError", err)
	}
}

// drawingDevice is a CPU device that also draws tokens itself
// (device.TokenSampler), always the best candidate, counting its draws.
type drawingDevice struct {
	*cpu.Device
	draws *int
}

func (d drawingDevice) SampleSorted(out, vals, idx device.Tensor, temp, topP, minP float32, u float64) error {
	*d.draws++
	_, k := device.Rows(idx)
	ids := make([]int32, k)
	if err := d.Download(ids, idx); err != nil {
		return err
	}
	return d.Upload(out, ids[:1])
}

// TestGenerateSamplesOnDevice: with top-k sampling and a device that draws,
// decode steps draw on the device; with a repetition penalty they cannot.
func TestGenerateSamplesOnDevice(t *testing.T) {
	dir := tinyDir(t)
	draws := 0
	Backends["drawing"] = func(ids []string, mem []int64, threads int) ([]device.Device, error) {
		var out []device.Device
		for _, id := range ids {
			out = append(out, drawingDevice{cpu.New(cpu.Options{Name: "drawing:" + id}), &draws})
		}
		return out, nil
	}
	defer delete(Backends, "drawing")
	e, err := Open(Options{Model: dir, Backend: "drawing", Devices: "0,1", Env: noEnv()})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	s, err := e.Model.NewSession(qwen3.SessionOptions{Ctx: 64, KVDType: device.BF16})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	prompt := e.Tokenizer.Encode("Hello")
	smp, _ := sampling.New(sampling.Params{Temperature: 0.7, TopK: 20, TopP: 0.95, Seed: 1}, e.Snapshot.Config.VocabSize)
	st, err := e.Generate(s, smp, prompt, 6, nil)
	if err != nil {
		t.Fatal(err)
	}
	if draws != st.Steps || st.Steps == 0 {
		t.Errorf("%d device draws for %d decode steps", draws, st.Steps)
	}
	s.Reset()
	draws = 0
	smp, _ = sampling.New(sampling.Params{Temperature: 0.7, TopK: 20, RepetitionPenalty: 1.1, Seed: 1}, e.Snapshot.Config.VocabSize)
	if _, err := e.Generate(s, smp, prompt, 6, nil); err != nil {
		t.Fatal(err)
	}
	if draws != 0 {
		t.Errorf("with a repetition penalty the device drew %d tokens; the penalty needs the host", draws)
	}
}

// TestPlannerSplitFallsBackToSmallestStep: when no split fits the devices with
// a 512-token chunk's activations, the default split is one whose weights and
// caches fit with the smallest step, so the model still loads.
func TestPlannerSplitFallsBackToSmallestStep(t *testing.T) {
	dir := tinyDir(t)
	snap, err := snapshot.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	pm, err := memplan.FromSnapshot(snap)
	if err != nil {
		t.Fatal(err)
	}
	big := int64(64 << 20)
	one, err := memplan.Compute(pm, memplan.Options{Ctx: 256, Batch: 1, Chunk: 1, Split: []int{5, 1},
		Devices: []memplan.Device{{ID: 0, Capacity: big}, {ID: 1, Capacity: big}}})
	if err != nil {
		t.Fatal(err)
	}
	small := one.Devices[1].Total + 1024 // room for one layer, lm_head and caches at chunk 1
	at512, err := memplan.Compute(pm, memplan.Options{Ctx: 256, Batch: 1, Chunk: 512,
		Devices: []memplan.Device{{ID: 0, Capacity: big}, {ID: 1, Capacity: small}}})
	if err != nil {
		t.Fatal(err)
	}
	if at512.Fits {
		t.Fatalf("the fixture is wrong: split %v fits at chunk 512", at512.Split)
	}
	e, err := Open(Options{Model: dir, Devices: "0,1", DeviceMem: []int64{big, small}, Ctx: 256, Chunk: 512, Env: noEnv()})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer e.Close()
	if e.Model.Split[1] != 1 {
		t.Errorf("split %v, want the last device to take one layer", e.Model.Split)
	}
}
