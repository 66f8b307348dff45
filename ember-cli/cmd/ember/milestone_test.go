package main

import (
	"encoding/csv"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// beEmber makes sweep children of this test binary run ember (see TestMain).
func beEmber(t *testing.T) {
	t.Helper()
	t.Setenv("EMBER_BE_EMBER", "1")
}

func repoPath(t *testing.T, parts ...string) string {
	t.Helper()
	return filepath.Join(append([]string{repoRoot}, parts...)...)
}

// readCSV returns the rows of a CSV file as maps from header to cell.
func readCSV(t *testing.T, path string) []map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var out []map[string]string
	for _, r := range recs[1:] {
		m := map[string]string{}
		for i, h := range recs[0] {
			m[h] = r[i]
		}
		out = append(out, m)
	}
	return out
}

func num(t *testing.T, row map[string]string, col string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(row[col], 64)
	if err != nil {
		t.Fatalf("column %s: %q is not a number (row %v)", col, row[col], row)
	}
	return v
}

func mustExist(t *testing.T, dir string, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
			t.Errorf("%s: missing %s", dir, n)
		}
	}
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestMilestoneSplit runs the stage 1.2 sweep with upstream's flags on the
// tiny model over two CPU devices (--gpus 0,1 --backend cpu, as a wrapper
// for upstream's scripts would) and checks upstream's files and names, the
// llama.cpp comparison against the fake llama-bench, and the summary's sums.
func TestMilestoneSplit(t *testing.T) {
	model := tinyModel(t)
	base := isolate(t)
	beEmber(t)
	out := filepath.Join(base, "split")
	gguf := filepath.Join(base, "q.gguf")
	os.WriteFile(gguf, []byte("GGUF"), 0o644)
	bin := repoPath(t, "testdata", "llama-bench", "ok")
	_, errs := mustEmber(t, "milestone", "split", "--model", model, "--gpus", "0,1", "--backend", "cpu",
		"--prompt-len", "32", "--decode-steps", "4", "--chunk-len", "16", "--iters", "2", "--warmup", "0",
		"--splits", "2,4;3,3;2,4", "--out-dir", out, "--build-dir", "build",
		"--include-llama", "--llama-bin-dir", bin, "--llama-gguf", gguf,
		"--anchor-summary", repoPath(t, "testdata", "report", "upstream", "anchor", "stage12_split_summary.csv"),
		"--p2-note", "one-line implementation note", "--hardware", "3080Ti")
	if strings.Count(errs, "--build-dir build is ignored") != 1 || !strings.Contains(errs, "[4/4]") {
		t.Errorf("stderr:\n%s", errs)
	}
	// "2,4" twice is one split: 2 splits × 2 modes, numbered as upstream.
	mustExist(t, out, "stage12_raw_001_split_2_4_no_overlap.csv", "stage12_raw_002_split_2_4_overlap.csv",
		"stage12_raw_003_split_3_3_no_overlap.csv", "stage12_raw_004_split_3_3_overlap.csv",
		"logs/run_001_try1.log", "logs/run_004_try1.log", "logs/llama_single.log", "logs/llama_dual.log",
		"stage12_raw_rows.csv", "stage12_split_summary.csv", "stage12_transfer_vs_compute.csv",
		"stage12_bubble_vs_split.csv", "stage12_summary.md", "stage12_failures.csv",
		"stage12_vs_llama.csv", "stage12_vs_llama.md", "stage12_p2_input.md",
		"ember_stage12_report.md", "ember_stage12_bubble.csv", "stage12_raw_samples.csv")
	summary := readCSV(t, filepath.Join(out, "stage12_split_summary.csv"))
	var keys []string
	for _, r := range summary {
		keys = append(keys, r["split"]+" "+r["mode"])
		pre, dec, steps := num(t, r, "prefill_wall_ms"), num(t, r, "decode_per_token_ms"), num(t, r, "decode_steps")
		total := num(t, r, "rollout_total_ms_est")
		if math.Abs(total-(pre+dec*steps)) > 0.0005 {
			t.Errorf("split %s %s: rollout %g ≠ prefill %g + %g × decode %g", r["split"], r["mode"], total, pre, steps, dec)
		}
	}
	if want := []string{"2+4 no_overlap", "2+4 overlap", "3+3 no_overlap", "3+3 overlap"}; !reflect.DeepEqual(keys, want) {
		t.Errorf("summary keys %v, want %v", keys, want)
	}
	raw := readCSV(t, filepath.Join(out, "stage12_raw_rows.csv"))
	if len(raw) != 8 || raw[0]["gpus"] != "0+1" || raw[0]["phase"] != "decode_per_token" || raw[0]["run_id"] != "1" {
		t.Errorf("raw rows %v", raw)
	}
	// The fake llama-bench: 32 prompt tokens × 0.25 ms = 8 ms, 4 × 20 ms = 80 ms,
	// 50 tok/s; rollout 88 ms, 4000 / 88 = 45.4545 → 45.455 tok/s.
	vs := readCSV(t, filepath.Join(out, "stage12_vs_llama.csv"))
	if len(vs) != 3 || vs[1]["config"] != "CUDA0 single" || vs[2]["config"] != "CUDA0/CUDA1 dual" ||
		vs[2]["prefill_ms"] != "8.000" || vs[2]["decode_tok_s"] != "50.000" || vs[2]["decode_per_token_ms"] != "20.000" ||
		vs[2]["rollout_total_ms"] != "88.000" || vs[2]["rollout_tok_s"] != "45.455" || vs[2]["notes"] != "llama-bench split_mode=layer" {
		t.Errorf("stage12_vs_llama.csv %v", vs)
	}
	dual := read(t, filepath.Join(out, "logs", "llama_dual.log"))
	if !strings.Contains(dual, " -p 32 -n 4 -r 1 -ngl 999 -o json -dev CUDA0/CUDA1 -sm layer\n") || strings.Contains(dual, "-ts") ||
		strings.Count(dual, `"n_prompt"`) != 2 {
		t.Errorf("dual llama-bench log:\n%s", dual)
	}
	p2 := read(t, filepath.Join(out, "stage12_p2_input.md"))
	for _, want := range []string{"Model: tiny-qwen3 (2x3080Ti)", "Setting: prompt_len=32, decode_steps=4, full split sweep", "## Delta vs anchor (historical anchor)",
		"## Ember vs llama dual (same run)\n- llama dual rollout: 45.455 tok/s", "## Implementation note\n- one-line implementation note"} {
		if !strings.Contains(p2, want) {
			t.Errorf("stage12_p2_input.md lacks %q:\n%s", want, p2)
		}
	}

	// The same folder again with its own summary, copied, as the baseline:
	// every run is reused, so every delta is +0.00%, and the P2 input reads
	// the folder's earlier llama comparison.
	prev := filepath.Join(base, "prev run")
	os.MkdirAll(prev, 0o755)
	os.WriteFile(filepath.Join(prev, "stage12_split_summary.csv"), []byte(read(t, filepath.Join(out, "stage12_split_summary.csv"))), 0o644)
	_, errs = mustEmber(t, "milestone", "split", "--model", model, "--gpus", "0,1", "--backend", "cpu",
		"--prompt-len", "32", "--decode-steps", "4", "--chunk-len", "16", "--iters", "2", "--warmup", "0",
		"--splits", "2,4;3,3", "--out-dir", out, "--baseline-summary", filepath.Join(prev, "stage12_split_summary.csv"))
	if n := strings.Count(errs, "reusing finished run"); n != 4 {
		t.Errorf("reused %d runs, want 4:\n%s", n, errs)
	}
	delta := readCSV(t, filepath.Join(out, "stage12_delta_vs_prev_run.csv"))
	if len(delta) != 4 {
		t.Fatalf("%d delta rows, want 4", len(delta))
	}
	for _, r := range delta {
		if r["rollout_delta_pct"] != "+0.00%" || r["decode_delta_pct"] != "+0.00%" || r["rollout_tok_s_old"] != r["rollout_tok_s_new"] {
			t.Errorf("delta row %v", r)
		}
	}
	if p2 := read(t, filepath.Join(out, "stage12_p2_input.md")); !strings.Contains(p2, "## Delta vs previous full sweep (prev run)") || !strings.Contains(p2, "- ember/llama dual: ") {
		t.Errorf("second P2 input:\n%s", p2)
	}

	// A baseline none of whose keys this run has: files written, stderr says so, exit 1.
	_, errs, code := ember(t, "milestone", "split", "--model", model, "--gpus", "0,1", "--backend", "cpu",
		"--prompt-len", "32", "--decode-steps", "4", "--chunk-len", "16", "--iters", "2", "--warmup", "0",
		"--splits", "2,4;3,3", "--out-dir", out, "--baseline-summary", repoPath(t, "testdata", "report", "upstream", "baseline_run", "stage12_split_summary.csv"))
	if code == 0 || !strings.Contains(errs, "no (split, mode) key of the baseline") {
		t.Errorf("unmatched baseline: exit %d, stderr:\n%s", code, errs)
	}
	if md := read(t, filepath.Join(out, "stage12_delta_vs_baseline_run.md")); !strings.Contains(md, "| - | - | - | - | - | - |") {
		t.Errorf("unmatched delta md:\n%s", md)
	}

	// A failing llama-bench gives a failed row with upstream's reason, not a crash.
	out2 := filepath.Join(base, "split-llama-fails")
	failing := repoPath(t, "testdata", "llama-bench", "failing")
	mustEmber(t, "milestone", "split", "-m", model, "--gpus", "0,1", "--backend", "cpu",
		"--prompt-len", "16", "--decode-steps", "2", "--chunk-len", "8", "--iters", "1", "--warmup", "0",
		"--splits", "3,3", "--out-dir", out2, "--include-llama", "--llama-bin-dir", failing, "--llama-gguf", gguf)
	vs = readCSV(t, filepath.Join(out2, "stage12_vs_llama.csv"))
	if want := "failed: llama-bench failed rc=1; see " + filepath.Join(out2, "logs", "llama_single.log"); vs[1]["notes"] != want || vs[1]["rollout_tok_s"] != "" {
		t.Errorf("failed llama row %v, want notes %q", vs[1], want)
	}
}

// TestMilestoneStage1 checks the stage 1.1 folder and its resume: re-running
// the same --out-dir after losing one run reuses the others and ends with the
// same raw rows for them.
func TestMilestoneStage1(t *testing.T) {
	model := tinyModel(t)
	base := isolate(t)
	beEmber(t)
	out := filepath.Join(base, "stage1")
	args := []string{"milestone", "stage1", "-m", model, "--gpus", "cpu:0,cpu:1", "--backend", "cpu",
		"--prompt-lens", "16,32", "--decode-steps", "2", "--chunk-len", "8", "--iters", "1", "--warmup", "0", "--out-dir", out}
	mustEmber(t, args...)
	mustExist(t, out, "stage_raw_001.csv", "stage_raw_004.csv", "logs/run_001_try1.log", "stage1_raw_rows.csv", "stage1_summary.csv", "stage1_summary.md",
		"stage1_mainline_ready.csv", "stage1_mainline_ready.md", "p1_fig2_prefill_share.csv", "p2_stage_latency_components.csv", "stage1_failures.csv",
		"ember_stage1_report.md", "stage1_prefill_share.svg")
	summary := readCSV(t, filepath.Join(out, "stage1_summary.csv"))
	if len(summary) != 4 {
		t.Fatalf("%d summary rows, want 2 prompt lengths × 1 decode × 2 overlaps", len(summary))
	}
	for _, r := range summary {
		pre, dec, steps := num(t, r, "prefill_wall_ms"), num(t, r, "decode_per_token_ms"), num(t, r, "decode_steps")
		if total := num(t, r, "rollout_total_ms_est"); math.Abs(total-(pre+dec*steps)) > 0.0005 {
			t.Errorf("rollout %g ≠ %g + %g × %g", total, pre, steps, dec)
		}
		if r["gpus"] != "0+1" || r["split"] != "3+3" {
			t.Errorf("row %v", r)
		}
	}
	before := readCSV(t, filepath.Join(out, "stage1_raw_rows.csv"))
	if before[0]["run_id"] != "1" || !filepath.IsAbs(before[0]["model_dir"]) {
		t.Errorf("raw row %v", before[0])
	}

	// Lose one finished run, as a sweep killed before it would have; re-run.
	if err := os.Remove(filepath.Join(out, "stage_raw_004.csv")); err != nil {
		t.Fatal(err)
	}
	_, errs := mustEmber(t, args...)
	if n := strings.Count(errs, "reusing finished run"); n != 3 {
		t.Errorf("re-run reused %d runs, want 3:\n%s", n, errs)
	}
	after := readCSV(t, filepath.Join(out, "stage1_raw_rows.csv"))
	if len(after) != len(before) {
		t.Fatalf("%d raw rows after resume, %d before", len(after), len(before))
	}
	for i := range before {
		if before[i]["run_id"] == "4" {
			continue // the rerun run has new timings
		}
		if !reflect.DeepEqual(before[i], after[i]) {
			t.Errorf("reused row %d changed:\n%v\n%v", i, before[i], after[i])
		}
	}
}

// TestMilestoneOOM: with a device budget where chunk 512 overflows and 128
// fits, the sweep retries with the chunk halved, logs it, and succeeds at 128;
// with a budget nothing fits, the failure row says oom with the smallest chunk.
//
// Budget arithmetic for the tiny model on two devices split 3+3, bf16, ctx
// 516 (512 prompt + 4 decode): weights per device ≈ 3 layers × 459,392 B +
// 262,144 B (embedding on cpu:0, the tied lm_head copy on cpu:1) ≈ 1.64 MB;
// KV = 3 layers × 2 × 516 × 64 × 2 B ≈ 0.40 MB; workspace ≈ 6.2 KB per chunk
// row (two residual slots, h, q, k, v, attn, gate, up in f32 + positions):
// 3.2 MB at 512, 1.6 MB at 256, 0.8 MB at 128. A 3 MiB budget therefore fits
// chunk 128 (≈ 2.84 MB) but not 256 (≈ 3.63 MB); 1.5 MiB fits nothing.
func TestMilestoneOOM(t *testing.T) {
	model := tinyModel(t)
	base := isolate(t)
	beEmber(t)
	out := filepath.Join(base, "oom")
	common := []string{"-m", model, "--gpus", "cpu:0,cpu:1", "--backend", "cpu", "--prompt-lens", "512", "--decode-steps", "4",
		"--chunk-len", "512", "--min-chunk-len", "64", "--iters", "1", "--warmup", "0"}
	_, errs := mustEmber(t, append([]string{"milestone", "stage1", "--device-mem", "3MiB", "--out-dir", out}, common...)...)
	if !strings.Contains(errs, "out of memory at chunk 512; retrying with chunk 256") || !strings.Contains(errs, "retrying with chunk 128") {
		t.Errorf("no retries reported:\n%s", errs)
	}
	raw := readCSV(t, filepath.Join(out, "stage1_raw_rows.csv"))
	if len(raw) != 4 {
		t.Fatalf("%d raw rows, want 2 runs × 2 phases", len(raw))
	}
	for _, r := range raw {
		if r["chunk_len"] != "128" {
			t.Errorf("run finished at chunk %s, want 128", r["chunk_len"])
		}
	}
	log := read(t, filepath.Join(out, "logs", "run_001_try1.log"))
	if !strings.Contains(log, "out of memory on cpu:") || !strings.Contains(log, "retrying with chunk 256") {
		t.Errorf("first try's log:\n%s", log)
	}

	// Every run failing under --continue-on-error (the default) exits 0, as
	// upstream, with a loud line; the folder is written.
	out2 := filepath.Join(base, "oom-all")
	_, errs, code := ember(t, append([]string{"milestone", "stage1", "--device-mem", "1536KiB", "--out-dir", out2}, common...)...)
	if code != 0 || !strings.Contains(errs, "WARNING: 2 of 2 runs FAILED") {
		t.Errorf("a sweep where nothing fits: exit %d, stderr:\n%s", code, errs)
	}
	fails := readCSV(t, filepath.Join(out2, "stage1_failures.csv"))
	if len(fails) != 2 {
		t.Fatalf("%d failure rows, want 2", len(fails))
	}
	for _, f := range fails {
		if f["error_hint"] != "oom" || f["chunk_len"] != "64" || f["return_code"] != "3" {
			t.Errorf("failure row %v, want oom at chunk 64 with status 3", f)
		}
	}
	if md := read(t, filepath.Join(out2, "stage1_mainline_ready.md")); !strings.Contains(md, "- oom combos: 2\n") || !strings.Contains(md, "- Mark OOM combinations as boundary points in analysis.") {
		t.Errorf("mainline md:\n%s", md)
	}
	// A re-run of that folder with another matrix keeps the failures of runs
	// outside it (runs 3 and 4, prompt 512, of the sweep 16,512; prompt 16 alone
	// is runs 1 and 2), as upstream.
	mustEmber(t, append([]string{"milestone", "stage1", "--device-mem", "1536KiB", "--out-dir", out2}, append(common[:len(common):len(common)], "--prompt-lens", "16,512")...)...)
	_, errs = mustEmber(t, append([]string{"milestone", "stage1", "--device-mem", "3MiB", "--out-dir", out2, "--no-skip-existing"}, append(common[:len(common):len(common)], "--prompt-lens", "16")...)...)
	var ids []string
	for _, f := range readCSV(t, filepath.Join(out2, "stage1_failures.csv")) {
		ids = append(ids, f["run_id"]+":"+f["prompt_len"])
	}
	if want := []string{"3:512", "4:512"}; !reflect.DeepEqual(ids, want) {
		t.Errorf("carried failures %v, want %v", ids, want)
	}
	// --stop-on-error stops at the first failure, non-zero.
	if _, _, code := ember(t, append([]string{"milestone", "stage1", "--device-mem", "1536KiB", "--stop-on-error", "--out-dir", filepath.Join(base, "stop")}, common...)...); code == 0 {
		t.Error("--stop-on-error with a failed run exited 0")
	}
}

// TestReportDeltaMalformed: a bad summary is one error naming file, line and column.
func TestReportDeltaMalformed(t *testing.T) {
	base := isolate(t)
	good := repoPath(t, "testdata", "report", "baseline", "stage12_split_summary.csv")
	bad := filepath.Join(base, "bad.csv")
	b, _ := os.ReadFile(good)
	// Line 2 is "12,24",pipeline,512,64,520.000,…: make its prefill_wall_ms non-numeric.
	os.WriteFile(bad, []byte(strings.Replace(string(b), "520.000", "fast", 1)), 0o644)
	_, errs, code := ember(t, "report", "delta", "--baseline", good, "--current", bad)
	if code == 0 || !strings.Contains(errs, bad) || !strings.Contains(errs, "line 2") || !strings.Contains(errs, "prefill_wall_ms") {
		t.Errorf("non-numeric cell: exit %d, %q", code, errs)
	}
	missing := filepath.Join(base, "missing.csv")
	os.WriteFile(missing, []byte("split,mode\n18,18,pipeline\n"), 0o644)
	_, errs, code = ember(t, "report", "delta", "--baseline", missing, "--current", good)
	if code == 0 || !strings.Contains(errs, missing) || !strings.Contains(errs, "column") {
		t.Errorf("missing column: exit %d, %q", code, errs)
	}
	out, _ := mustEmber(t, "report", "delta", "--baseline", good, "--current", good, "--out-dir", base)
	if !strings.Contains(out, "| 12+24 | no_overlap | 24.922 -> 24.922 | +0.00% |") {
		t.Errorf("delta of a summary with itself:\n%s", out)
	}
	mustExist(t, base, "stage12_delta_vs_baseline.csv", "stage12_delta_vs_baseline.md", "ember_stage12_delta_vs_baseline.csv", "ember_stage12_delta_vs_baseline.md")
	other := repoPath(t, "testdata", "report", "upstream", "anchor", "stage12_split_summary.csv")
	if _, errs, code := ember(t, "report", "delta", "--baseline", other, "--current", good); code == 0 || !strings.Contains(errs, "no (split, mode) key") {
		t.Errorf("unmatched delta: exit %d, %q", code, errs)
	}
}

// TestMilestoneSplitsChecked: --splits the model cannot take are refused
// before any run starts, with upstream's words.
func TestMilestoneSplitsChecked(t *testing.T) {
	model := tinyModel(t)
	base := isolate(t)
	beEmber(t)
	for _, tc := range []struct{ splits, want string }{
		{"3,3;5,5", `invalid split "5,5", expected A+B=6`},
		{"2,2,2", `invalid split item "2,2,2", expected A,B`},
	} {
		out := filepath.Join(base, "sweep")
		_, errs, code := ember(t, "milestone", "split", "-m", model, "--gpus", "cpu:0,cpu:1", "--splits", tc.splits, "--prompt-len", "8", "--decode-steps", "2", "--out-dir", out)
		if code == 0 || !strings.Contains(errs, "--splits") || !strings.Contains(errs, tc.want) {
			t.Errorf("--splits %q: exit %d, stderr %q; want an error containing %q", tc.splits, code, errs, tc.want)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("--splits %q: the sweep started (%s exists)", tc.splits, out)
		}
	}
	// A baseline that does not exist is refused before the sweep, as upstream's "csv not found".
	out := filepath.Join(base, "nobase")
	if _, errs, code := ember(t, "milestone", "split", "-m", model, "--gpus", "0,1", "--backend", "cpu", "--prompt-len", "8", "--decode-steps", "2",
		"--baseline-summary", filepath.Join(base, "nope.csv"), "--out-dir", out); code == 0 || !strings.Contains(errs, "csv not found") {
		t.Errorf("missing baseline: exit %d, %q", code, errs)
	}
}

func TestAutoSplits(t *testing.T) {
	// Python's round halves to even: 6 × 0.25 = 1.5 → 2, 6 × 0.75 = 4.5 → 4;
	// 36: 9, 11.88 → 12, 18, 24.12 → 24, 27.
	for layers, want := range map[int][][]int{6: {{2, 4}, {3, 3}, {4, 2}}, 36: {{9, 27}, {12, 24}, {18, 18}, {24, 12}, {27, 9}}, 2: {{1, 1}}} {
		if got := autoSplits(layers); !reflect.DeepEqual(got, want) {
			t.Errorf("autoSplits(%d) = %v, want %v", layers, got, want)
		}
	}
}

// TestProfileDialect: ember profile writes ember_stage_breakdown's CSV.
func TestProfileDialect(t *testing.T) {
	model := tinyModel(t)
	base := isolate(t)
	csv2 := filepath.Join(base, "two.csv")
	mustEmber(t, "profile", "--model", model, "--backend", "cpu", "--gpus", "0,1", "--split", "2,4", "--prompt-len", "16", "--decode-steps", "2",
		"--chunk-len", "8", "--iters", "1", "--warmup", "0", "--pipeline", "--overlap", "--decode-with-sampling", "--csv", csv2)
	rs := readCSV(t, csv2)
	if len(rs) != 2 || rs[0]["phase"] != "prefill" || rs[0]["mode"] != "overlap" || rs[0]["gpus"] != "0+1" || rs[0]["split"] != "2+4" ||
		rs[0]["overlap"] != "1" || rs[0]["decode_sampling"] != "1" || rs[0]["chunk_len"] != "8" || rs[1]["phase"] != "decode_per_token" {
		t.Errorf("two devices: %v", rs)
	}
	if head := strings.SplitN(read(t, csv2), "\n", 2)[0]; head != "phase,mode,gpus,split,prompt_len,decode_steps,chunk_len,overlap,decode_sampling,wall_ms,embedding_ms,rmsnorm_ms,attention_ms,ffn_ms,p2p_ms,memcpy_h2d_ms,memcpy_d2h_ms,sampling_ms,lm_head_ms,profile_total_ms" {
		t.Errorf("header %q", head)
	}
	// One device: --split is ignored (every layer on it), mode no_overlap even
	// with --overlap, whose column still says 1; --decode-steps 0: prefill only.
	csv1 := filepath.Join(base, "one.csv")
	mustEmber(t, "profile", "--model", model, "--backend", "cpu", "--gpus", "0", "--split", "3,3", "--prompt-len", "8", "--decode-steps", "0",
		"--iters", "1", "--warmup", "0", "--overlap", "--csv", csv1)
	rs = readCSV(t, csv1)
	if len(rs) != 1 || rs[0]["mode"] != "no_overlap" || rs[0]["gpus"] != "0" || rs[0]["split"] != "6" || rs[0]["overlap"] != "1" || rs[0]["decode_steps"] != "0" {
		t.Errorf("one device: %v", rs)
	}
	// A CUDA backend that cannot start, here for want of a driver, reads as
	// upstream's runtime_unavailable (its scripts match "cuda runtime not
	// available" in the output) and exits 4.
	t.Setenv("EMBER_LIBCUDA", filepath.Join(base, "no", "libcuda.so.1"))
	if _, errs, code := ember(t, "profile", "--model", model, "--backend", "cuda", "--gpus", "0", "--prompt-len", "8", "--decode-steps", "1"); code != exitUnavailable ||
		!strings.HasPrefix(errs, "ember: CUDA runtime not available: no CUDA driver: ") {
		t.Errorf("cuda without a driver: exit %d, %q", code, errs)
	}
}

// TestMilestoneStage1OneDeviceSplit: on one device upstream passes --split
// and the profile ignores it (the split column is the layer total); the run
// is still reused by a re-run.
func TestMilestoneStage1OneDeviceSplit(t *testing.T) {
	model := tinyModel(t)
	base := isolate(t)
	beEmber(t)
	args := []string{"milestone", "stage1", "-m", model, "--gpus", "0", "--backend", "cpu", "--split", "3,3", "--prompt-lens", "8", "--decode-steps", "1",
		"--iters", "1", "--warmup", "0", "--out-dir", filepath.Join(base, "one"), "--model-label", "8B"}
	mustEmber(t, args...)
	if md := read(t, filepath.Join(base, "one", "stage1_mainline_ready.md")); !strings.Contains(md, "- Use current 8B results for Stage 1.1 mainline plots/tables.\n") {
		t.Errorf("--model-label not used:\n%s", md)
	}
	if log := read(t, filepath.Join(base, "one", "logs", "run_001_try1.log")); !strings.Contains(log, "--split 3,3") {
		t.Errorf("--split not passed:\n%s", log)
	}
	if r := readCSV(t, filepath.Join(base, "one", "stage1_summary.csv")); len(r) != 1 || r[0]["split"] != "6" || r[0]["gpus"] != "0" {
		t.Errorf("summary %v", r)
	}
	if _, errs := mustEmber(t, args...); !strings.Contains(errs, "reusing finished run 1") {
		t.Errorf("not reused:\n%s", errs)
	}
}

// copyDir copies the files of src into a new dst.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if err := os.WriteFile(filepath.Join(dst, e.Name()), []byte(read(t, filepath.Join(src, e.Name()))), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestMilestoneContinuesUpstreamFolder: a folder upstream's split script left
// (testdata/report/upstream/split_folder: runs 1 and 2 of split 3+3, prompt
// 16, 2 decode steps, chunk 8, sampling on) is continued: both runs are
// reused and the summary is computed from their cells.
//
//	run         prefill  decode/tok  rollout = prefill + 1 × 2  tok/s = 2000 / rollout  share
//	no_overlap  10       1           12                         166.667                83.33
//	overlap     8        1           10                         200.000                80.00
//
// prefill compute 0.5 + 1 + 4 + 3 + 0.5 = 9, transfer 0.25 + 0.125 + 0 = 0.375;
// decode compute 0.125 + 0.125 + 0.25 + 0.25 + 0.075 = 0.825, transfer 0.05 + 0 + 0.025 = 0.075;
// ratios 0.375 / 9 = 0.04167 → 0.0417 and 0.075 / 0.825 = 0.0909;
// speedup 12 / 10 = 1.2000, hidden (12 − 10) / 12 = 16.667 % → 16.67.
func TestMilestoneContinuesUpstreamFolder(t *testing.T) {
	model := tinyModel(t)
	base := isolate(t)
	beEmber(t)
	out := filepath.Join(base, "upstream")
	copyDir(t, repoPath(t, "testdata", "report", "upstream", "split_folder"), out)
	args := []string{"milestone", "split", "-m", model, "--gpus", "0,1", "--backend", "cpu", "--splits", "3,3", "--prompt-len", "16", "--decode-steps", "2",
		"--chunk-len", "8", "--iters", "1", "--warmup", "0", "--out-dir", out}
	_, errs := mustEmber(t, args...)
	if strings.Count(errs, "reusing finished run") != 2 {
		t.Fatalf("runs not reused:\n%s", errs)
	}
	crlf := func(lines ...string) string { return strings.Join(lines, "\r\n") + "\r\n" }
	for name, want := range map[string]string{
		"stage12_split_summary.csv": crlf("split,mode,prompt_len,decode_steps,prefill_wall_ms,decode_per_token_ms,rollout_total_ms_est,rollout_tok_s_est,prefill_share_pct,prefill_compute_ms,prefill_transfer_ms,decode_compute_per_tok_ms,decode_transfer_per_tok_ms",
			"3+3,no_overlap,16,2,10.000,1.000,12.000,166.667,83.33,9.000,0.375,0.825,0.075",
			"3+3,overlap,16,2,8.000,1.000,10.000,200.000,80.00,9.000,0.375,0.825,0.075"),
		"stage12_transfer_vs_compute.csv": crlf("split,mode,prefill_transfer_compute_ratio,decode_transfer_compute_ratio,prefill_transfer_ms,prefill_compute_ms,decode_transfer_per_tok_ms,decode_compute_per_tok_ms",
			"3+3,no_overlap,0.0417,0.0909,0.375,9.000,0.075,0.825", "3+3,overlap,0.0417,0.0909,0.375,9.000,0.075,0.825"),
		"stage12_bubble_vs_split.csv": crlf("split,no_overlap_total_ms,overlap_total_ms,overlap_speedup_x,bubble_hidden_pct_est", "3+3,12.000,10.000,1.2000,16.67"),
	} {
		if got := read(t, filepath.Join(out, name)); got != want {
			t.Errorf("%s:\n got %q\nwant %q", name, got, want)
		}
	}
	// A run whose file measured other settings (4 decode steps) is measured again.
	p := filepath.Join(out, "stage12_raw_002_split_3_3_overlap.csv")
	os.WriteFile(p, []byte(strings.ReplaceAll(read(t, p), ",16,2,8,", ",16,4,8,")), 0o644)
	_, errs = mustEmber(t, args...)
	if !strings.Contains(errs, "not reusing run 2") || !strings.Contains(errs, "reusing finished run 1") {
		t.Errorf("mismatched run reused:\n%s", errs)
	}
	if r := readCSV(t, p); r[0]["decode_steps"] != "2" {
		t.Errorf("run 2 not remeasured: %v", r[0])
	}
}
