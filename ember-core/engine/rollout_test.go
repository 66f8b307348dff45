package engine

import (
	"fmt"
	"math"
	"reflect"
	"testing"

	"github.com/ember-infer/ember/ember-core/device"
	"github.com/ember-infer/ember/ember-core/qwen3"
	"github.com/ember-infer/ember/ember-core/sampling"
)

// logSoftmax64 is log_softmax(x)[tok] in float64, from the definition.
func logSoftmax64(x []float32, tok int32) float64 {
	m := math.Inf(-1)
	for _, v := range x {
		m = math.Max(m, float64(v))
	}
	var z float64
	for _, v := range x {
		z += math.Exp(float64(v) - m)
	}
	return float64(x[tok]) - m - math.Log(z)
}

// TestRolloutMatchesGenerate: each of three candidates is the sequence
// Generate makes alone with that candidate's seed (Seed + i), with the
// device drawing from its top-k and, with a repetition penalty, the host
// drawing from the logits; on one device and split over two with chunked,
// overlapped prefill. Each token's raw logprob is the float64 log_softmax of
// the logits a one-sequence session gives at that step (≤ 1e-5).
func TestRolloutMatchesGenerate(t *testing.T) {
	dir := tinyDir(t)
	for _, tc := range []struct {
		devices string
		split   []int
		chunk   int
		overlap bool
	}{{"cpu:0", []int{6}, 0, false}, {"cpu:0,cpu:1", []int{2, 4}, 3, true}} {
		e, err := Open(Options{Model: dir, Devices: tc.devices, Split: tc.split, Env: noEnv(), NeedTokenizer: true})
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		V := e.Snapshot.Config.VocabSize
		prompt := e.Tokenizer.Encode("Hello, my name is")
		for _, p := range []sampling.Params{
			{Temperature: 0.8, TopK: 20, TopP: 0.9, Seed: 5},
			{Temperature: 0.8, TopK: 20, RepetitionPenalty: 1.3, Seed: 5},
			{},
		} {
			name := fmt.Sprintf("%s/%+v", tc.devices, p)
			opt := qwen3.SessionOptions{Ctx: 64, Chunk: tc.chunk, Overlap: tc.overlap, KVDType: device.F32}
			opt.Batch = 3
			s, err := e.Model.NewSession(opt)
			if err != nil {
				t.Fatal(err)
			}
			cands, st, err := e.Rollout(s, prompt, RolloutOptions{N: 3, MaxNew: 8, Params: p, TopLogprobs: 2})
			s.Close()
			if err != nil {
				t.Fatal(err)
			}
			wantDevice := p.RepetitionPenalty == 0
			if st.OnDevice != wantDevice {
				t.Errorf("%s: drew on the device %v, want %v", name, st.OnDevice, wantDevice)
			}
			opt.Batch = 1
			one, err := e.Model.NewSession(opt)
			if err != nil {
				t.Fatal(err)
			}
			for i, c := range cands {
				q := p
				q.Seed += uint64(i)
				smp, _ := sampling.New(q, V)
				one.Reset()
				g, err := e.Generate(one, smp, prompt, 8, nil)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(c.Tokens, g.Generated) {
					t.Errorf("%s candidate %d: %v, Generate alone gives %v", name, i, c.Tokens, g.Generated)
					continue
				}
				// Replay the tokens in a one-sequence session for the reference logits.
				one.Reset()
				if _, err := one.Prefill(prompt); err != nil {
					t.Fatal(err)
				}
				for j, tok := range c.Tokens {
					logits := one.Logits()
					if want := logSoftmax64(logits, tok); math.Abs(c.Logprobs[j]-want) > 1e-5 {
						t.Errorf("%s candidate %d token %d: logprob %g, log_softmax %g", name, i, j, c.Logprobs[j], want)
					}
					best := sampling.TopK(logits, 2, nil)
					for a, alt := range c.Top[j] {
						if alt.ID != best[a] || math.Abs(alt.Logprob-logSoftmax64(logits, best[a])) > 1e-5 {
							t.Errorf("%s candidate %d token %d: alternative %d is %+v, want %d at %g", name, i, j, a, alt, best[a], logSoftmax64(logits, best[a]))
						}
					}
					if p.Temperature == 0 && c.SampledLogprobs[j] != 0 {
						t.Errorf("%s: greedy token's sampled logprob %g, want 0", name, c.SampledLogprobs[j])
					}
					if j+1 < len(c.Tokens) {
						if _, err := one.Decode(tok); err != nil {
							t.Fatal(err)
						}
					}
				}
				if len(c.Tokens) == 8 && c.Finish != "length" || len(c.Tokens) < 8 && c.Finish != "eos" {
					t.Errorf("%s candidate %d: %d tokens, finish %q", name, i, len(c.Tokens), c.Finish)
				}
			}
			one.Close()
		}
	}
}

// TestRolloutStopsEachCandidate: a stop rule ends candidate 1 after two
// tokens while the others run to MaxNew; the prefix cache serves a repeated
// prompt.
func TestRolloutStopsEachCandidate(t *testing.T) {
	dir := tinyDir(t)
	e, err := Open(Options{Model: dir, Devices: "cpu:0", Env: noEnv(), NeedTokenizer: true})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	s, err := e.Model.NewSession(qwen3.SessionOptions{Ctx: 128, KVDType: device.BF16, Batch: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	pc, err := e.Model.NewPrefixCache(qwen3.PrefixCacheOptions{Block: 4, KVDType: device.BF16})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	prompt := e.Tokenizer.Encode("The quick brown fox jumps over the lazy dog, again and again.")
	o := RolloutOptions{N: 3, MaxNew: 5, Params: sampling.Params{Temperature: 1, TopK: 50, Seed: 9}, Cache: pc,
		Stop: func(i int, gen []int32) bool { return i == 1 && len(gen) == 2 }}
	first, st, err := e.Rollout(s, prompt, o)
	if err != nil {
		t.Fatal(err)
	}
	if st.CachedTokens != 0 {
		t.Errorf("a cold cache served %d tokens", st.CachedTokens)
	}
	for i, c := range first {
		want, finish := 5, "length"
		if i == 1 {
			want, finish = 2, "stop"
		}
		if e.IsEOS(c.Tokens[len(c.Tokens)-1]) {
			continue
		}
		if len(c.Tokens) != want || c.Finish != finish {
			t.Errorf("candidate %d: %d tokens, %q; want %d, %q", i, len(c.Tokens), c.Finish, want, finish)
		}
	}
	again, st, err := e.Rollout(s, prompt, o)
	if err != nil {
		t.Fatal(err)
	}
	if want := (len(prompt) - 1) / 4 * 4; st.CachedTokens != want {
		t.Errorf("the repeated prompt took %d tokens from the cache, want %d", st.CachedTokens, want)
	}
	if !reflect.DeepEqual(first, again) {
		t.Errorf("the cached rollout differs:\n%+v\n%+v", first, again)
	}
}
