package synth_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/ember-infer/ember/ember-core/device"
	"github.com/ember-infer/ember/ember-core/engine"
	"github.com/ember-infer/ember/ember-core/qwen3"
	"github.com/ember-infer/ember/ember-core/sampling"
	"github.com/ember-infer/ember/ember-core/synth"
)

// openGreedy opens the model in dir on the CPU backend, a session of ctx
// positions and a greedy sampler; the test's cleanup closes them.
func openGreedy(t *testing.T, dir, devices string, split []int, ctx int) (*engine.Engine, *qwen3.Session, *sampling.Sampler) {
	t.Helper()
	e, err := engine.Open(engine.Options{Model: dir, Backend: "cpu", Devices: devices, Split: split, Threads: 1, NeedTokenizer: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	s, err := e.Model.NewSession(qwen3.SessionOptions{Ctx: ctx, KVDType: device.BF16})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	smp, err := sampling.New(sampling.Params{TopP: 1, RepetitionPenalty: 1}, e.Snapshot.Config.VocabSize)
	if err != nil {
		t.Fatal(err)
	}
	return e, s, smp
}

// greedy runs prompt through the model in dir on the CPU backend and
// returns the decoded greedy continuation of n tokens.
func greedy(t *testing.T, dir, devices string, split []int, prompt string, n int) string {
	t.Helper()
	e, s, smp := openGreedy(t, dir, devices, split, 256)
	st, err := e.Generate(s, smp, e.Tokenizer.Encode(prompt), n, func(int32) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	return e.Tokenizer.Decode(st.Generated, true)
}

// TestTextModelContinuesTheCorpus: the bundled tiny model, greedy, continues
// the README's prompt with the rest of the corpus's first line, word for
// word, on one device and split over two; other prompts continue as the
// corpus does at each token's first appearance.
func TestTextModelContinuesTheCorpus(t *testing.T) {
	dir := filepath.Join("..", "..", "testdata", "models", "tiny-qwen3")
	const want = " Ember. I run Qwen3 models on one or two GPUs and measure where the time goes."
	for _, d := range []struct {
		devices string
		split   []int
	}{{"cpu:0", nil}, {"cpu:0,cpu:1", []int{3, 3}}} {
		got := greedy(t, dir, d.devices, d.split, "Hello, my name is", 32)
		if !strings.HasPrefix(got, want) {
			t.Errorf("devices %s: greedy continuation %q, want it to start %q", d.devices, got, want)
		}
	}
	for prompt, want := range map[string]string{
		"The quick brown": " fox jumps over the",
		"Tabs":            "\tand\tspaces",
	} {
		if got := greedy(t, dir, "cpu:0", nil, prompt, 6); !strings.HasPrefix(got, want) {
			t.Errorf("%q continues %q, want %q", prompt, got, want)
		}
	}
}

// TestTextModelTable: every entry of the table, a token alone as the prompt,
// comes out as the greedy next token.
func TestTextModelTable(t *testing.T) {
	dir := filepath.Join("..", "..", "testdata", "models", "tiny-qwen3")
	e, s, smp := openGreedy(t, dir, "", nil, 8)
	order, next := synth.Successors(e.Tokenizer)
	if len(order) < 400 {
		t.Fatalf("the table has %d entries; the corpus gives over 400", len(order))
	}
	wrong := 0
	for _, a := range order {
		s.Reset()
		st, err := e.Generate(s, smp, []int32{a}, 1, func(int32) bool { return true })
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Generated[0]; got != next[a] {
			wrong++
			ta, _ := e.Tokenizer.Token(a)
			tb, _ := e.Tokenizer.Token(next[a])
			tg, _ := e.Tokenizer.Token(got)
			t.Errorf("%q → %q, want %q", ta, tg, tb)
		}
	}
	if wrong > 0 {
		t.Errorf("%d of %d table entries wrong", wrong, len(order))
	}
}

// TestTextModelRandom: without Options.Text the weights carry no table, so
// the same prompt does not continue the corpus.
func TestTextModelRandom(t *testing.T) {
	dir := t.TempDir()
	if err := synth.Write(dir, synth.Tiny(), synth.Options{Seed: 1}); err != nil {
		t.Fatal(err)
	}
	if got := greedy(t, dir, "cpu:0", nil, "Hello, my name is", 4); strings.HasPrefix(got, " Ember.") {
		t.Errorf("a random model continued %q", got)
	}
}
