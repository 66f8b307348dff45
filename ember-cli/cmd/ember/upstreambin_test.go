package main

import (
	"encoding/json"
	"math"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ember-infer/ember/ember-core/engine"
)

// The binaries' CSV headers, as upstream's sources print them
// (benchmarks/prefix_cache_benchmark.cpp at 8a44035,
// benchmarks/multi_candidate_rollout.cpp at 31ddd71).
const (
	prefixBinHeader = "gpus,split,mode,prompt_len,prefix_len,suffix_len,num_docs,iters,warmup," +
		"no_cache_total_ms,with_cache_total_ms,cache_prefix_once_ms,cache_suffix_total_ms," +
		"no_cache_per_doc_ms,with_cache_per_doc_ms,speedup_x,savings_pct,theoretical_savings_pct"
	multiBinHeader = "mode,prompt_len,gen_len,num_candidates,gpus,split,prefill_ms,decode_ms,total_ms,total_gen_tokens,gen_tok_s," +
		"temperature,top_p,top_k"
)

// TestUpstreamPrompts: the token ids are libstdc++'s std::mt19937(1234)
// through uniform_int_distribution<int>(0, 151935) (ember-core/mt19937's
// testdata/golden.cpp prints them: 29098 75613 94520 124259 66506 93001
// 119324 117197 …): the prefix takes the first draws, then each doc's suffix
// in turn.
func TestUpstreamPrompts(t *testing.T) {
	prefix, prompts := upstreamPrompts(1234, 151936, 6, 4, 2)
	if want := []int32{29098, 75613, 94520, 124259}; !slices.Equal(prefix, want) {
		t.Errorf("prefix %v, want %v", prefix, want)
	}
	want := [][]int32{{29098, 75613, 94520, 124259, 66506, 93001}, {29098, 75613, 94520, 124259, 119324, 117197}}
	if len(prompts) != 2 || !slices.Equal(prompts[0], want[0]) || !slices.Equal(prompts[1], want[1]) {
		t.Errorf("prompts %v, want %v", prompts, want)
	}
	if got := upstreamRandomPrompt(1234, 5, 151936); !slices.Equal(got, []int32{29098, 75613, 94520, 124259, 66506}) {
		t.Errorf("multi-candidate prompt %v", got)
	}
	// A one-token vocabulary still draws from [0, 1], as upstream's max(1, V−1).
	if got := upstreamRandomPrompt(1234, 6, 1); !slices.Equal(got, []int32{0, 0, 1, 1, 0, 1}) {
		t.Errorf("vocab 1 prompt %v", got)
	}
}

func TestUpstreamSplit(t *testing.T) {
	for _, c := range []struct {
		layers, devices int
		flag            string
		split           []int
		cell            string
		err             string
	}{
		{36, 1, "", nil, "36", ""},
		{36, 1, "9,27", nil, "36", ""},
		{36, 2, "", []int{18, 18}, "18+18", ""},
		{27, 2, "", []int{13, 14}, "13+14", ""},
		{36, 2, "9,27", []int{9, 27}, "9+27", ""},
		{36, 2, "9+27", []int{9, 27}, "9+27", ""},
		{36, 2, "9,20", nil, "", "invalid --split"},
		{36, 2, "0,36", nil, "", "invalid --split"},
		{36, 2, "1,2,33", nil, "", "--split expects A,B"},
		{36, 1, "x", nil, "", "--split"},
	} {
		split, cell, err := upstreamSplit(c.layers, c.devices, c.flag)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%d layers, %d devices, %q: error %v, want %q", c.layers, c.devices, c.flag, err, c.err)
			}
			continue
		}
		if err != nil || !slices.Equal(split, c.split) || cell != c.cell {
			t.Errorf("%d layers, %d devices, %q: %v %q %v, want %v %q", c.layers, c.devices, c.flag, split, cell, err, c.split, c.cell)
		}
	}
	if got := upstreamSplitCell(" 9, 27 "); got != "9+27" {
		t.Errorf("split cell %q", got)
	}
	if got := upstreamSplitCell(""); got != "" {
		t.Errorf("split cell %q, want empty", got)
	}
}

// TestWriteUpstreamCandidate: one line worked by hand. The logprobs are kept
// as float32 (-0.1 is -0.100000001490116…, -2.5 exact), summed in float64:
// -2.600000001490116 → "-2.600000", mean -1.300000000745058 → "-1.300000".
// Only ", \, newline, CR and tab are escaped; other bytes pass as they are.
func TestWriteUpstreamCandidate(t *testing.T) {
	var b strings.Builder
	writeUpstreamCandidate(&b, 3, engine.Candidate{Tokens: []int32{7, 11}, Logprobs: []float64{-0.1, -2.5}}, "a\"b\\c\nd\re\tf\x01<é>")
	want := `{"candidate_id":3,"num_tokens":2,"sum_logprob":-2.600000,"avg_logprob":-1.300000,"tokens":[7,11],"token_logprobs":[-0.100000,-2.500000],"text":"a\"b\\c\nd\re\tf` + "\x01" + `<é>"}` + "\n"
	if b.String() != want {
		t.Errorf("got  %q\nwant %q", b.String(), want)
	}
	b.Reset()
	writeUpstreamCandidate(&b, 0, engine.Candidate{}, "")
	if want := `{"candidate_id":0,"num_tokens":0,"sum_logprob":0.000000,"avg_logprob":0.000000,"tokens":[],"token_logprobs":[],"text":""}` + "\n"; b.String() != want {
		t.Errorf("empty candidate %q", b.String())
	}
}

var fixed3 = regexp.MustCompile(`^-?[0-9]+\.[0-9]{3}$`)

// TestPrefixCacheBenchmarkVerb: the binary's header and row on stdout; the
// integer cells as given; theoretical savings 32 × (4 − 1) / (4 × 64) =
// 37.5 %; with_cache = once + suffixes to the printed decimals; --csv writes
// the same two lines to the file and nothing to stdout.
func TestPrefixCacheBenchmarkVerb(t *testing.T) {
	dir := isolate(t)
	for _, c := range []struct {
		gpus, split, mode, cellGPUs, cellSplit string
		extra                                  []string
	}{
		{"cpu:0", "", "overlap", "0", "6", nil},
		{"cpu:0,cpu:1", "", "no_overlap", "0+1", "3+3", []string{"--no-overlap"}},
		{"cpu:0,cpu:1", "2,4", "overlap", "0+1", "2+4", []string{"--split", "2,4", "--chunk-len", "16"}},
	} {
		args := append([]string{"prefix-cache-benchmark", "-m", tinyModel(t), "--backend", "cpu", "--gpus", c.gpus,
			"--prompt-len", "64", "--prefix-len", "32", "--num-docs", "4", "--iters", "2", "--warmup", "1"}, c.extra...)
		stdout, _ := mustEmber(t, args...)
		lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
		if len(lines) != 2 || lines[0] != prefixBinHeader {
			t.Fatalf("%v: stdout %q", c.extra, stdout)
		}
		cells := strings.Split(lines[1], ",")
		if len(cells) != 18 {
			t.Fatalf("row %q: %d cells", lines[1], len(cells))
		}
		if got := strings.Join(cells[:9], ","); got != c.cellGPUs+","+c.cellSplit+","+c.mode+",64,32,32,4,2,1" {
			t.Errorf("%v: leading cells %q", c.extra, got)
		}
		for _, v := range cells[9:] {
			if !fixed3.MatchString(v) {
				t.Errorf("cell %q is not fixed with 3 decimals", v)
			}
		}
		if cells[17] != "37.500" {
			t.Errorf("theoretical_savings_pct %s, want 37.500", cells[17])
		}
		if d := cell(t, cells[10]) - cell(t, cells[11]) - cell(t, cells[12]); math.Abs(d) > 0.0015 {
			t.Errorf("with_cache %s is not once %s + suffixes %s", cells[10], cells[11], cells[12])
		}
		csvPath := filepath.Join(dir, "p.csv")
		stdout, _ = mustEmber(t, append(args, "--csv", csvPath)...)
		if stdout != "" {
			t.Errorf("--csv: stdout %q", stdout)
		}
		if got := readFile(t, csvPath); !strings.HasPrefix(got, prefixBinHeader+"\n"+strings.Join(cells[:9], ",")+",") || strings.Count(got, "\n") != 2 {
			t.Errorf("--csv file %q", got)
		}
	}
}

// TestMultiCandidateRolloutVerb: the binary's header and row (split empty
// when not given, temperature and top_p as C++ prints floats), and a JSONL
// line per candidate whose sums agree with its logprobs; total_gen_tokens is
// the candidates' tokens.
func TestMultiCandidateRolloutVerb(t *testing.T) {
	dir := isolate(t)
	jsonl := filepath.Join(dir, "c.jsonl")
	stdout, _ := mustEmber(t, "multi-candidate-rollout", "-m", tinyModel(t), "--backend", "cpu", "--gpus", "cpu:0",
		"--prompt-len", "16", "--gen-len", "6", "--num-candidates", "3", "--temperature", "0.8", "--top-p", "0.95", "--top-k", "20",
		"--candidates-jsonl", jsonl)
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	if len(lines) != 2 || lines[0] != multiBinHeader {
		t.Fatalf("stdout %q", stdout)
	}
	cells := strings.Split(lines[1], ",")
	if len(cells) != 14 || strings.Join(cells[:6], ",") != "multi_candidate_rollout,16,6,3,0," || strings.Join(cells[11:], ",") != "0.800,0.950,20" {
		t.Fatalf("row %q", lines[1])
	}
	total := 0
	for i, line := range strings.Split(strings.TrimSuffix(readFile(t, jsonl), "\n"), "\n") {
		var c struct {
			ID       int       `json:"candidate_id"`
			N        int       `json:"num_tokens"`
			Sum      float64   `json:"sum_logprob"`
			Avg      float64   `json:"avg_logprob"`
			Tokens   []int     `json:"tokens"`
			Logprobs []float64 `json:"token_logprobs"`
		}
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			t.Fatalf("line %d %q: %v", i, line, err)
		}
		var s float64
		for _, lp := range c.Logprobs {
			s += lp
		}
		if c.ID != i || c.N != len(c.Tokens) || len(c.Logprobs) != c.N || c.N < 1 || c.N > 6 || math.Abs(s-c.Sum) > 1e-5*float64(c.N+1) ||
			math.Abs(c.Avg-c.Sum/float64(c.N)) > 1.5e-6 {
			t.Errorf("candidate line %q", line)
		}
		total += c.N
	}
	if cells[9] != strconv.Itoa(total) {
		t.Errorf("total_gen_tokens %s, candidates hold %d", cells[9], total)
	}
}

func TestUpstreamBinErrors(t *testing.T) {
	isolate(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"prefix-cache-benchmark"}, "--model is required"},
		{[]string{"prefix-cache-benchmark", "-m", tinyModel(t), "--prompt-len", "8", "--prefix-len", "9"}, "--prefix-len must satisfy 0 <= prefix_len <= prompt_len"},
		{[]string{"prefix-cache-benchmark", "-m", tinyModel(t), "--num-docs", "0"}, "--num-docs must be > 0"},
		{[]string{"prefix-cache-benchmark", "-m", tinyModel(t), "--backend", "cpu", "--gpus", "cpu:0,cpu:1", "--split", "2,2"}, "invalid --split"},
		{[]string{"multi-candidate-rollout", "-m", tinyModel(t), "--gen-len", "0"}, "--gen-len must be > 0"},
		{[]string{"multi-candidate-rollout", "-m", tinyModel(t), "--backend", "cpu", "--gpus", "cpu:0,cpu:1,cpu:2"}, "benchmark supports only 1 or 2 GPUs"},
	} {
		_, stderr, code := ember(t, c.args...)
		if code == 0 || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", c.args, code, stderr, c.want)
		}
	}
}
