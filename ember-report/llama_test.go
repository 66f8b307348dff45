package report

import (
	"errors"
	"strings"
	"testing"
)

func TestParseLlamaBench(t *testing.T) {
	got, err := ParseLlamaBench(mustRead(t, fixture("llama_bench_dual.json")))
	if err != nil {
		t.Fatal(err)
	}
	want := LlamaResult{PromptTokens: 512, GenTokens: 64, PromptAvgNs: 150000000, PromptAvgTs: 3413.333333,
		GenAvgNs: 1280000000, GenAvgTs: 50, Model: "qwen3 4B BF16", Backends: "CUDA",
		GPUInfo: "NVIDIA GeForce RTX 3080 Ti, NVIDIA GeForce RTX 3080 Ti", SplitMode: "layer", TensorSplit: "0.50/0.50"}
	if got != want {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	// 150000000 ns = 150 ms; 1280000000 ns / 64 tokens = 20 ms; 150 + 20 × 64 = 1430 ms; 64000/1430 = 44.755.
	if got.PrefillMS() != 150 || got.DecodePerTokenMS() != 20 || got.RolloutTotalMS() != 1430 || got.RolloutTokS() != 44.755 {
		t.Errorf("derived %v %v %v %v", got.PrefillMS(), got.DecodePerTokenMS(), got.RolloutTotalMS(), got.RolloutTokS())
	}
}

func TestParseLlamaBenchShapes(t *testing.T) {
	entry := func(np, ng, depth int, ns, ts string) string {
		return `{"model_type":"m","n_prompt":` + itoa(np) + `,"n_gen":` + itoa(ng) + `,"n_depth":` + itoa(depth) + `,"avg_ns":` + ns + `,"avg_ts":` + ts + `}`
	}
	// A log line before the array, a -pg entry (both > 0) and a depth entry are skipped.
	mixed := "load time = 12 ms\n[" + entry(512, 64, 0, "9", "9") + "," + entry(512, 0, 512, "8", "8") + "," +
		entry(256, 0, 0, "2000000", "128000") + "," + entry(0, 16, 0, "160000000", "100") + "]\n"
	got, err := ParseLlamaBench([]byte(mixed))
	if err != nil {
		t.Fatal(err)
	}
	// Prompt 2000000 ns = 2 ms; gen 160000000 ns / 16 = 10 ms; rollout 2 + 10 × 16 = 162; 16000/162 = 98.765.
	if got.PromptTokens != 256 || got.GenTokens != 16 || got.PrefillMS() != 2 || got.DecodePerTokenMS() != 10 || got.RolloutTokS() != 98.765 {
		t.Errorf("mixed: %+v rollout %v", got, got.RolloutTokS())
	}

	for _, c := range []struct{ name, in, msg string }{
		{"failed run", string(mustRead(t, fixture("llama_bench_failed_stdout.txt"))), "unexpected end of JSON input"},
		{"no JSON", "main: error: failed to load model\n", "no JSON array"},
		{"empty array", "[]", "no prompt-only entry"},
		{"no gen entry", "[" + entry(512, 0, 0, "1", "1") + "]", "no gen-only entry"},
		{"no prompt entry", "[" + entry(0, 64, 0, "1", "1") + "]", "no prompt-only entry"},
		{"missing avg_ns", `[{"n_prompt":512,"n_gen":0,"avg_ts":1}]`, "entry 0 lacks"},
		{"wrong type", `[{"n_prompt":"512","n_gen":0,"avg_ns":1,"avg_ts":1}]`, "cannot unmarshal"},
	} {
		_, err := ParseLlamaBench([]byte(c.in))
		if !errors.Is(err, ErrLlamaBench) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: error %v, want ErrLlamaBench with %q", c.name, err, c.msg)
		}
	}
}

// TestParseLlamaBenchUpstream: the split script's reading of llama-bench's
// output: the JSON between the first "[" and the last "]" of stdout and
// stderr, the last prompt-only and the last gen-only entry.
func TestParseLlamaBenchUpstream(t *testing.T) {
	out := "load: 1 GPU\n[\n" +
		`{"n_prompt": 512, "n_gen": 0, "avg_ns": 1e8, "avg_ts": 5120},` + "\n" +
		`{"n_prompt": 0, "n_gen": 64, "avg_ns": 2e9, "avg_ts": 32},` + "\n" +
		`{"n_prompt": 512, "n_gen": 0, "avg_ns": 2e8, "avg_ts": 2560},` + "\n" +
		`{"n_prompt": 0, "n_gen": 64, "avg_ns": 1.6e9, "avg_ts": 40}` + "\n]\n\nstderr: done [ok]"
	// The last "]" is stderr's "[ok]": as upstream, the payload then ends there and does not parse.
	if _, err := ParseLlamaBenchUpstream(out, "x.log"); err == nil || !strings.HasPrefix(err.Error(), "unexpected llama-bench JSON") {
		t.Errorf("payload to the last ]: %v", err)
	}
	r, err := ParseLlamaBenchUpstream(strings.TrimSuffix(out, "\n\nstderr: done [ok]"), "x.log")
	if err != nil {
		t.Fatal(err)
	}
	// The later entries win: 200 ms prompt, 1600 ms for 64 tokens at 40 tok/s.
	// Per token 1600/64 = 25 ms; rollout 200 + 1600 = 1800 ms; 64000/1800 = 35.5556 tok/s.
	m := r.upstreamMetrics(64)
	if m.prefillMS != 200 || m.decodeTotalMS != 1600 || m.decodeTokS != 40 || m.decodePerTokMS != 25 || m.rolloutMS != 1800 || pyFixed(m.rolloutTokS, 3) != "35.556" {
		t.Errorf("metrics %+v", m)
	}
	for _, c := range []struct{ in, want string }{
		{"no json here", "failed to locate JSON payload in llama-bench output"},
		{`[{"n_prompt": 512, "n_gen": 0, "avg_ns": 1, "avg_ts": 1}]`, "llama-bench output missing prompt/gen entries; see x.log"},
	} {
		if _, err := ParseLlamaBenchUpstream(c.in, "x.log"); err == nil || err.Error() != c.want {
			t.Errorf("%q: %v, want %q", c.in, err, c.want)
		}
	}
}
