package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	report "github.com/ember-infer/ember/ember-report"
)

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestMilestonePrefixCache: two prefix lengths run in the order given and the
// sweep lists them by prefix_len; every raw row adds up (with = once +
// suffixes, to the printed 3 decimals) and its theoretical savings are
// upstream's formula worked by hand: 32 × (2 − 1) / (2 × 48) = 33.333 %,
// and 48 × 1 / (2 × 48) = 50 % for the whole prompt.
func TestMilestonePrefixCache(t *testing.T) {
	dir := isolate(t)
	out := filepath.Join(dir, "s13")
	stdout, _ := mustEmber(t, "milestone", "prefix-cache", "-m", tinyModel(t), "--backend", "cpu", "--gpus", "cpu:0,cpu:1", "--split", "2,4",
		"--prompt-len", "48", "--prefix-lens", "32,0,48", "--num-docs", "2", "--chunk-len", "16", "--out-dir", out)
	if !strings.Contains(stdout, "[run 1] prefix_len=32\n[run 2] prefix_len=0\n") || !strings.Contains(stdout, "(0 failed runs)") {
		t.Errorf("stdout:\n%s", stdout)
	}
	sweep, err := readDict(readFile(t, filepath.Join(out, "stage13_prefix_cache_sweep.csv")))
	if err != nil {
		t.Fatal(err)
	}
	if len(sweep) != 3 || sweep[0]["prefix_len"] != "0" || sweep[1]["prefix_len"] != "32" || sweep[2]["prefix_len"] != "48" {
		t.Fatalf("sweep rows %v", sweep)
	}
	for _, r := range sweep {
		if r["gpus"] != "0+1" || r["split"] != "2+4" || r["mode"] != "overlap" || r["num_docs"] != "2" {
			t.Errorf("row %v", r)
		}
		if d := cell(t, r["with_cache_total_ms"]) - cell(t, r["cache_prefix_once_ms"]) - cell(t, r["cache_suffix_total_ms"]); d > 0.0015 || d < -0.0015 {
			t.Errorf("prefix %s: with_cache %s is not once %s + suffixes %s", r["prefix_len"], r["with_cache_total_ms"], r["cache_prefix_once_ms"], r["cache_suffix_total_ms"])
		}
	}
	if sweep[1]["theoretical_savings_pct"] != "33.333" || sweep[1]["suffix_len"] != "16" {
		t.Errorf("prefix 32 row %v", sweep[1])
	}
	// The whole prompt shared: nothing is left to prefill per doc.
	if sweep[2]["suffix_len"] != "0" || sweep[2]["cache_suffix_total_ms"] != "0.000" || sweep[2]["theoretical_savings_pct"] != "50.000" {
		t.Errorf("prefix 48 row %v", sweep[2])
	}
	for _, f := range []string{"stage13_raw_001_prefix_32.csv", "stage13_raw_002_prefix_0.csv", "stage13_prefix_cache_summary.md", "stage13_p1_input.md", "logs/run_001.log", "logs/run_002.log"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
	if got := readFile(t, filepath.Join(out, "stage13_failures.csv")); got != "prefix_len,return_code,log_path\r\n" {
		t.Errorf("failures %q", got)
	}
}

// TestMilestoneMultiCandidate: the CSV row and the candidates agree (tokens
// summed, gen_len each unless EOS), and the same seed gives the same
// candidates on one device and split over two.
func TestMilestoneMultiCandidate(t *testing.T) {
	dir := isolate(t)
	run := func(name string, extra ...string) (map[string]string, string) {
		out := filepath.Join(dir, name)
		args := append([]string{"milestone", "multi-candidate", "-m", tinyModel(t), "--backend", "cpu", "--prompt-len", "12", "--gen-len", "6",
			"--num-candidates", "3", "--out-dir", out}, extra...)
		mustEmber(t, args...)
		rows, err := readDict(readFile(t, filepath.Join(out, "stage21_multi_candidate.csv")))
		if err != nil || len(rows) != 1 {
			t.Fatalf("csv rows %v, %v", rows, err)
		}
		return rows[0], readFile(t, filepath.Join(out, "stage21_candidates.jsonl"))
	}
	one, c1 := run("one", "--gpus", "cpu:0")
	two, c2 := run("two", "--gpus", "cpu:0,cpu:1", "--split", "2,4", "--chunk-len", "4")
	if c1 != c2 {
		t.Errorf("candidates differ across the split:\n%s\n%s", c1, c2)
	}
	cands := parseCandidates(t, c1)
	total := 0
	for _, c := range cands {
		total += c.NumTokens
		if c.Finish != "" || c.Sampled != nil {
			t.Errorf("stage21_candidates.jsonl carries Ember's keys: %+v", c)
		}
	}
	for _, r := range []map[string]string{one, two} {
		if r["mode"] != "multi_candidate_rollout" || r["num_candidates"] != "3" || r["gen_len"] != "6" || r["total_gen_tokens"] != strconv.Itoa(total) ||
			r["temperature"] != "0.700" || r["top_p"] != "0.900" || r["top_k"] != "40" {
			t.Errorf("row %v (candidates hold %d tokens)", r, total)
		}
	}
	if one["gpus"] != "0" || two["gpus"] != "0+1" || two["split"] != "2+4" || one["split"] != "9+27" {
		t.Errorf("gpus/split cells: %v / %v", one, two)
	}
}

func readDict(s string) ([]map[string]string, error) {
	rows, err := report.ReadDictCSV([]byte(s))
	out := make([]map[string]string, len(rows))
	for i, r := range rows {
		out[i] = r
	}
	return out, err
}

func cell(t *testing.T, v string) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		t.Fatalf("cell %q: %v", v, err)
	}
	return f
}

// TestMilestoneCumulative: the stage 1.4 folder from a stage 1.2 folder and
// a stage 1.3 sweep given as folders. By hand: prefill 100 ms, 2 ms per
// token × 10 steps = 20 ms; 1 prompt × 2 candidates; 2 rounds: naive 2 × 120
// = 240 per round → 480; prefix: 10 + 2 × (30 + 20) = 110 per round → 220
// (54.167 % less); locality (ratio 0.5, no refresh): 240 + 2 × 70 = 380
// (20.833 % less).
func TestMilestoneCumulative(t *testing.T) {
	dir := isolate(t)
	s12, s13, out := filepath.Join(dir, "s12"), filepath.Join(dir, "s13"), filepath.Join(dir, "s14")
	for d, f := range map[string]string{
		filepath.Join(s12, "stage12_split_summary.csv"):      "split,mode,prompt_len,decode_steps,prefill_wall_ms,decode_per_token_ms\n9+27,overlap,64,10,100.000,2.000\n",
		filepath.Join(s13, "stage13_prefix_cache_sweep.csv"): "prefix_len,num_docs,cache_prefix_once_ms,cache_suffix_total_ms\r\n1024,4,10.000,120.000\r\n",
	} {
		if err := os.MkdirAll(filepath.Dir(d), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(d, []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mustEmber(t, "milestone", "cumulative", "--stage12-summary", s12, "--prefix-sweep", s13, "--prompt-len", "64", "--decode-steps", "10",
		"--num-prompts", "1", "--num-candidates", "2", "--num-rounds", "2", "--num-gpus", "1", "--out-dir", out)
	want := "num_rounds,strategy,cumulative_ms,cumulative_wall_hours,cumulative_gpu_hours,reduction_vs_naive_pct\r\n" +
		"2,naive,480.000,0.000133,0.000133,0.000\r\n" +
		"2,prefix_only,220.000,0.000061,0.000061,54.167\r\n" +
		"2,update_locality,380.000,0.000106,0.000106,20.833\r\n"
	if got := readFile(t, filepath.Join(out, "stage14_summary.csv")); got != want {
		t.Errorf("stage14_summary.csv:\n%s\nwant\n%s", got, want)
	}
	if _, stderr, code := ember(t, "milestone", "cumulative", "--stage12-summary", s12, "--split", "18+18"); code == 0 ||
		!strings.Contains(stderr, "failed to find stage12 row for split=18+18, mode=overlap, prompt_len=2048, decode_steps=128") {
		t.Errorf("missing row: exit %d, %s", code, stderr)
	}
	if _, stderr, code := ember(t, "milestone", "cumulative"); code == 0 || !strings.Contains(stderr, "either --stage12-summary or --base-profile-csv must be provided") {
		t.Errorf("no input: exit %d, %s", code, stderr)
	}
}

// TestMilestonePrefixCacheBadPrefixLens: a --prefix-lens value that is not a
// length says so naming the flag and the value (it read "--prefix-lens is
// empty"), an empty list says it is empty (upstream's sentence), and one past
// --prompt-len is upstream's out-of-range sentence.
func TestMilestonePrefixCacheBadPrefixLens(t *testing.T) {
	isolate(t)
	m := tinyModel(t)
	for _, tc := range []struct{ lens, want string }{
		{"-4", `--prefix-lens "-4": want non-negative integers separated by commas`},
		{"8,abc", `--prefix-lens "8,abc": want non-negative integers separated by commas`},
		{" , ", "--prefix-lens is empty"},
		{"8,17", "prefix_len out of range: 17"},
	} {
		_, stderr, code := ember(t, "milestone", "prefix-cache", "-m", m, "--backend", "cpu", "--gpus", "cpu:0", "--prompt-len", "16",
			"--num-docs", "2", "--prefix-lens", tc.lens)
		if code == 0 || strings.TrimSpace(stderr) != "ember: "+tc.want {
			t.Errorf("--prefix-lens %q: exit %d, %q; want %q", tc.lens, code, stderr, tc.want)
		}
	}
}

// TestMilestoneMultiCandidateMemoryBound: --num-candidates past what memory
// holds is one sentence naming the flag (it zeroed memory until the process
// died).
func TestMilestoneMultiCandidateMemoryBound(t *testing.T) {
	dir := isolate(t)
	_, stderr, code := ember(t, "milestone", "multi-candidate", "-m", tinyModel(t), "--backend", "cpu", "--gpus", "cpu:0", "--prompt-len", "12",
		"--gen-len", "4", "--num-candidates", "100000000", "--out-dir", filepath.Join(dir, "mc"))
	if code == 0 || !strings.HasPrefix(stderr, "ember: --num-candidates 100000000: the sequences' KV caches (24 positions each) need ") {
		t.Errorf("exit %d, %q", code, stderr)
	}
	// The drop-in verb for upstream's binary too (it died of an out-of-memory
	// fault).
	_, stderr, code = ember(t, "multi-candidate-rollout", "-m", tinyModel(t), "--backend", "cpu", "--gpus", "cpu:0", "--prompt-len", "12",
		"--gen-len", "4", "--num-candidates", "100000000")
	if code == 0 || !strings.HasPrefix(stderr, "ember: --num-candidates 100000000: the sequences' KV caches (24 positions each) need ") {
		t.Errorf("multi-candidate-rollout: exit %d, %q", code, stderr)
	}
}

// TestMilestonePrefixCacheDocsMemory: the docs' prompts are drawn up front,
// 4 bytes a token: 3 docs of 16 tokens are 192 bytes. With 191 bytes
// available --num-docs 3 is one sentence naming the flag (a huge --num-docs
// allocated until the process died); with 192 it runs.
func TestMilestonePrefixCacheDocsMemory(t *testing.T) {
	dir := isolate(t)
	avail := int64(191)
	old := hostAvailable
	hostAvailable = func() (int64, bool) { return avail, true }
	defer func() { hostAvailable = old }()
	args := []string{"milestone", "prefix-cache", "-m", tinyModel(t), "--backend", "cpu", "--gpus", "cpu:0", "--prompt-len", "16",
		"--prefix-lens", "8", "--num-docs", "3", "--out-dir", filepath.Join(dir, "pc")}
	_, stderr, code := ember(t, args...)
	if code == 0 || strings.TrimSpace(stderr) != "ember: --num-docs 3: the docs' 16-token prompts need 192 B, more than the 191 B of memory this machine has available" {
		t.Errorf("191 bytes: exit %d, %q", code, stderr)
	}
	avail = 192
	mustEmber(t, args...)
	// The drop-in verb for upstream's binary too.
	avail = 191
	args = []string{"prefix-cache-benchmark", "-m", tinyModel(t), "--backend", "cpu", "--gpus", "cpu:0", "--prompt-len", "16", "--prefix-len", "8", "--num-docs", "3"}
	_, stderr, code = ember(t, args...)
	if code == 0 || strings.TrimSpace(stderr) != "ember: --num-docs 3: the docs' 16-token prompts need 192 B, more than the 191 B of memory this machine has available" {
		t.Errorf("prefix-cache-benchmark, 191 bytes: exit %d, %q", code, stderr)
	}
	avail = 192
	mustEmber(t, args...)
}
