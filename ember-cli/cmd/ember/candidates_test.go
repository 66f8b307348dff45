package main

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/ember-infer/ember/ember-core/engine"
)

type jsonCandidate struct {
	CandidateID   int       `json:"candidate_id"`
	NumTokens     int       `json:"num_tokens"`
	SumLogprob    float64   `json:"sum_logprob"`
	AvgLogprob    float64   `json:"avg_logprob"`
	Tokens        []int32   `json:"tokens"`
	TokenLogprobs []float64 `json:"token_logprobs"`
	Text          string    `json:"text"`
	Finish        string    `json:"finish"`
	Sampled       []float64 `json:"sampled_logprobs"`
	Top           [][]struct {
		ID      int32   `json:"id"`
		Logprob float64 `json:"logprob"`
	} `json:"top_logprobs"`
}

func parseCandidates(t *testing.T, out string) []jsonCandidate {
	t.Helper()
	var cs []jsonCandidate
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var c jsonCandidate
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		cs = append(cs, c)
	}
	return cs
}

// TestRunCandidatesJSONL: -N 3 --jsonl prints three JSON lines whose sums and
// means agree with their token logprobs (to the six printed decimals), the
// same three across a two-device split with overlap, and greedy candidates
// are all the same sequence.
func TestRunCandidatesJSONL(t *testing.T) {
	isolate(t)
	m := tinyModel(t)
	args := []string{"run", "-m", m, "-p", "Hello, my name is", "-n", "6", "-N", "3", "--temp", "0.8", "--top-k", "20", "--jsonl", "--top-logprobs", "2", "-q", "--backend", "cpu"}
	out, _ := mustEmber(t, args...)
	cs := parseCandidates(t, out)
	if len(cs) != 3 {
		t.Fatalf("%d lines, want 3:\n%s", len(cs), out)
	}
	for i, c := range cs {
		if c.CandidateID != i || c.NumTokens != len(c.Tokens) || len(c.TokenLogprobs) != len(c.Tokens) || len(c.Top) != len(c.Tokens) {
			t.Errorf("candidate %d: %+v", i, c)
		}
		var sum float64
		for _, lp := range c.TokenLogprobs {
			sum += lp
			if lp > 0 {
				t.Errorf("candidate %d: logprob %g above 0", i, lp)
			}
		}
		if math.Abs(sum-c.SumLogprob) > 1e-5*float64(len(c.Tokens)) || math.Abs(sum/float64(len(c.Tokens))-c.AvgLogprob) > 1e-5 {
			t.Errorf("candidate %d: sum %g avg %g, token logprobs sum to %g", i, c.SumLogprob, c.AvgLogprob, sum)
		}
		if c.Finish != "length" && c.Finish != "eos" {
			t.Errorf("candidate %d: finish %q", i, c.Finish)
		}
	}
	split, _ := mustEmber(t, append(args, "--devices", "cpu:0,cpu:1", "--split", "2,4", "--overlap", "--chunk", "2")...)
	if split != out {
		t.Errorf("a 2+4 split with overlap gives other candidates:\n%s\nvs\n%s", split, out)
	}
	greedy, _ := mustEmber(t, "run", "-m", m, "-p", "Hello", "-n", "4", "-N", "2", "--temp", "0", "--jsonl", "-q", "--backend", "cpu")
	g := parseCandidates(t, greedy)
	if len(g) != 2 || mustJSONString(g[0].Tokens) != mustJSONString(g[1].Tokens) {
		t.Errorf("greedy candidates differ: %s", greedy)
	}
	if _, stderr, code := ember(t, "run", "-m", m, "-p", "Hello", "-N", "0"); code == 0 || !strings.Contains(stderr, "-N 0") {
		t.Errorf("-N 0: exit %d, %q", code, stderr)
	}
}

func mustJSONString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestCandidateJSONFormat: the line for a hand-made candidate, byte for byte:
// upstream's keys in its order with six decimals, then Ember's additions.
func TestCandidateJSONFormat(t *testing.T) {
	var b strings.Builder
	c := engine.Candidate{Tokens: []int32{5, 9}, Logprobs: []float64{-0.5, -1.25}, SampledLogprobs: []float64{-0.25, 0}, Finish: "eos",
		Top: [][]engine.TokenLogprob{{{ID: 5, Logprob: -0.5}}, {{ID: 2, Logprob: -0.125}}}}
	writeCandidateJSON(&b, 3, c, "a\"<b>\n", true)
	want := `{"candidate_id":3,"num_tokens":2,"sum_logprob":-1.750000,"avg_logprob":-0.875000,"tokens":[5,9],"token_logprobs":[-0.500000,-1.250000],"text":"a\"<b>\n","finish":"eos","sampled_logprobs":[-0.250000,0.000000],"top_logprobs":[[{"id":5,"logprob":-0.500000}],[{"id":2,"logprob":-0.125000}]]}` + "\n"
	if b.String() != want {
		t.Errorf("got  %s\nwant %s", b.String(), want)
	}
	b.Reset()
	writeCandidateJSON(&b, 0, engine.Candidate{}, "", false)
	if want := `{"candidate_id":0,"num_tokens":0,"sum_logprob":0.000000,"avg_logprob":0.000000,"tokens":[],"token_logprobs":[],"text":""}` + "\n"; b.String() != want {
		t.Errorf("empty candidate: %s", b.String())
	}
}

// TestRunCandidatesMemoryBound: -N whose KV caches the host cannot hold is
// one sentence naming -N, before anything is allocated. The tiny model's KV
// for 4 candidates of 100 positions in bf16 is 4 × 6 layers × 2 (K, V) ×
// 100 × 64 (2 KV heads × 32) × 2 bytes = 614400 bytes: it runs with exactly
// that much available and not with one byte less. A huge -N (which used to
// zero memory until the process died) stops the same way.
func TestRunCandidatesMemoryBound(t *testing.T) {
	isolate(t)
	m := tinyModel(t)
	avail := int64(614400)
	old := hostAvailable
	hostAvailable = func() (int64, bool) { return avail, true }
	defer func() { hostAvailable = old }()
	args := []string{"run", "-m", m, "-p", "Hello", "-n", "2", "-N", "4", "--ctx", "100", "--jsonl", "-q", "--backend", "cpu"}
	if out, _ := mustEmber(t, args...); len(parseCandidates(t, out)) != 4 {
		t.Errorf("with 614400 bytes available: %s", out)
	}
	avail = 614399
	_, stderr, code := ember(t, args...)
	if code == 0 || !strings.Contains(stderr, "-N 4: the sequences' KV caches (100 positions each) need 600.00 KiB") {
		t.Errorf("with 614399 bytes available: exit %d, %q", code, stderr)
	}
	avail = 64 << 30
	_, stderr, code = ember(t, "run", "-m", m, "-p", "Hello", "-N", "100000000", "--jsonl", "-q", "--backend", "cpu")
	if code == 0 || !strings.Contains(stderr, "-N 100000000: ") || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
		t.Errorf("-N 100000000: exit %d, %q", code, stderr)
	}
}

// TestRunTopLogprobsNeedsJSONL: --top-logprobs without --jsonl printed text
// blocks without the alternatives it asked for; it is one sentence naming
// the flag.
func TestRunTopLogprobsNeedsJSONL(t *testing.T) {
	isolate(t)
	_, stderr, code := ember(t, "run", "-m", tinyModel(t), "-p", "Hello", "-n", "2", "-N", "2", "--top-logprobs", "3", "-q", "--backend", "cpu")
	if code == 0 || strings.TrimSpace(stderr) != "ember: --top-logprobs 3: the alternatives are printed only in --jsonl lines; add --jsonl" {
		t.Errorf("exit %d, %q", code, stderr)
	}
}
