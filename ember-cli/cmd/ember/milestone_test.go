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

// TestMilestoneSplit runs the stage 1.2 sweep on the tiny model over two
// logical CPU devices and checks every file docs/design.md lists, and that the
// summary's numbers add up.
func TestMilestoneSplit(t *testing.T) {
	model := tinyModel(t)
	base := isolate(t)
	beEmber(t)
	out := filepath.Join(base, "split")
	_, errs := mustEmber(t, "milestone", "split", "-m", model, "--gpus", "cpu:0,cpu:1", "--backend", "cpu",
		"--prompt-lens", "32", "--decode-steps", "4", "--chunk-len", "16", "--iters", "2", "--warmup", "0",
		"--splits", "2,4;3,3", "--out-dir", out,
		"--include-llama", "--llama-bin-dir", repoPath(t, "testdata", "llama-bench", "ok"), "--llama-gguf", "/m/q4b-bf16.gguf",
		"--baseline-summary", repoPath(t, "testdata", "report", "baseline", "stage12_split_summary.csv"), "--baseline-label", "Old Run",
		"--anchor-summary", repoPath(t, "testdata", "report", "anchor", "stage12_split_summary.csv"), "--anchor-label", "anchor",
		"--p2-note", "one-line implementation note")
	if !strings.Contains(errs, "[4/4]") || !strings.Contains(errs, "ETA") {
		t.Errorf("no progress on stderr:\n%s", errs)
	}
	mustExist(t, out, "stage12_raw_rows.csv", "stage12_split_summary.csv", "stage12_transfer_vs_compute.csv",
		"stage12_bubble_vs_split.csv", "stage12_summary.md", "stage12_failures.csv", "logs",
		"stage12_vs_llama.csv", "stage12_vs_llama.md", "stage12_delta_vs_old_run.csv", "stage12_delta_vs_old_run.md",
		"stage12_delta_vs_anchor.csv", "stage12_p2_input.md", "logs/sweep.log")
	summary := readCSV(t, filepath.Join(out, "stage12_split_summary.csv"))
	if len(summary) != 4 {
		t.Fatalf("%d summary rows, want 2 splits × 2 modes", len(summary))
	}
	for _, r := range summary {
		pre, dec, steps := num(t, r, "prefill_wall_ms"), num(t, r, "decode_per_token_ms"), num(t, r, "decode_steps")
		total := num(t, r, "rollout_total_ms_est")
		// Cells are rounded to 3 decimals: allow the rounding of each term.
		if math.Abs(total-(pre+dec*steps)) > 0.0005*(2+steps) {
			t.Errorf("split %s %s: rollout %g ≠ prefill %g + %g × decode %g", r["split"], r["mode"], total, pre, steps, dec)
		}
		if tps := num(t, r, "rollout_tok_s_est"); math.Abs(tps-steps*1000/total) > 0.01*tps {
			t.Errorf("split %s %s: tok/s %g, want %g", r["split"], r["mode"], tps, steps*1000/total)
		}
		if r["mode"] != "pipeline" && r["mode"] != "pipeline_overlap" {
			t.Errorf("mode %q", r["mode"])
		}
	}
	raw := readCSV(t, filepath.Join(out, "stage12_raw_rows.csv"))
	if len(raw) != 8 {
		t.Errorf("%d raw rows, want 4 runs × 2 phases", len(raw))
	}
	vs, _ := os.ReadFile(filepath.Join(out, "stage12_vs_llama.csv"))
	if !strings.Contains(string(vs), "3413.333") {
		t.Errorf("stage12_vs_llama.csv lacks llama-bench's prompt avg_ts:\n%s", vs)
	}
	md, _ := os.ReadFile(filepath.Join(out, "stage12_summary.md"))
	for _, want := range []string{"model: " + model, "backend: cpu", "devices: cpu:0,cpu:1", "milestone split"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("stage12_summary.md lacks %q", want)
		}
	}
	p2, _ := os.ReadFile(filepath.Join(out, "stage12_p2_input.md"))
	if !strings.Contains(string(p2), "one-line implementation note") {
		t.Errorf("p2 input lacks the note:\n%s", p2)
	}
	svgs, _ := filepath.Glob(filepath.Join(out, "*.svg"))
	if len(svgs) < 2 {
		t.Errorf("charts: %v", svgs)
	}

	// A failing llama-bench gives a failed row, not a crash.
	out2 := filepath.Join(base, "split-llama-fails")
	mustEmber(t, "milestone", "split", "-m", model, "--gpus", "cpu:0,cpu:1", "--backend", "cpu",
		"--prompt-lens", "16", "--decode-steps", "2", "--chunk-len", "8", "--iters", "1", "--warmup", "0",
		"--splits", "3,3", "--out-dir", out2,
		"--include-llama", "--llama-bin-dir", repoPath(t, "testdata", "llama-bench", "failing"), "--llama-gguf", "/m/q4b-bf16.gguf")
	vs, _ = os.ReadFile(filepath.Join(out2, "stage12_vs_llama.csv"))
	if !strings.Contains(string(vs), "failed: ") {
		t.Errorf("a failing llama-bench left no failed row:\n%s", vs)
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
	mustExist(t, out, "stage1_raw_rows.csv", "stage1_summary.csv", "stage1_summary.md", "stage1_mainline_ready.csv",
		"stage1_mainline_ready.md", "p1_fig2_prefill_share.csv", "p2_stage_latency_components.csv", "stage1_failures.csv", "logs")
	summary := readCSV(t, filepath.Join(out, "stage1_summary.csv"))
	if len(summary) != 4 {
		t.Fatalf("%d summary rows, want 2 prompt lengths × 1 decode × 2 overlaps", len(summary))
	}
	for _, r := range summary {
		pre, dec, steps := num(t, r, "prefill_wall_ms"), num(t, r, "decode_per_token_ms"), num(t, r, "decode_steps")
		if total := num(t, r, "rollout_total_ms_est"); math.Abs(total-(pre+dec*steps)) > 0.002 {
			t.Errorf("rollout %g ≠ %g + %g × %g", total, pre, steps, dec)
		}
		if share := num(t, r, "prefill_share_pct"); math.Abs(share-100*pre/(pre+dec*steps)) > 0.01 {
			t.Errorf("prefill share %g, want %g", share, 100*pre/(pre+dec*steps))
		}
	}
	before := readCSV(t, filepath.Join(out, "stage1_raw_rows.csv"))

	// Lose one finished run, as a sweep killed before it would have; re-run.
	if err := os.Remove(filepath.Join(out, "runs", "p32_d2_o1.csv")); err != nil {
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
		if before[i]["prompt_len"] == "32" && before[i]["overlap"] == "1" {
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
		"--chunk-len", "512", "--min-chunk-len", "64", "--iters", "1", "--warmup", "0", "--pipeline-2gpu"}
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
	log, err := os.ReadFile(filepath.Join(out, "logs", "p512_d4_o0.try1.log"))
	if err != nil || !strings.Contains(string(log), "out of memory on cpu:") || !strings.Contains(string(log), "retrying with chunk 256") {
		t.Errorf("first try's log (%v):\n%s", err, log)
	}

	out2 := filepath.Join(base, "oom-all")
	// Every run failing is a failed sweep, but its folder is still written.
	if _, errs, code := ember(t, append([]string{"milestone", "stage1", "--device-mem", "1536KiB", "--out-dir", out2}, common...)...); code == 0 || !strings.Contains(errs, "every run of the sweep failed") {
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
	if !strings.Contains(out, "+0.00%") {
		t.Errorf("delta of a summary with itself:\n%s", out)
	}
	mustExist(t, base, "stage12_delta_vs_baseline.csv", "stage12_delta_vs_baseline.md")
}

// TestMilestoneSplitsChecked: --splits the model cannot take are refused
// before any run starts, naming the split and the model's layer count.
func TestMilestoneSplitsChecked(t *testing.T) {
	model := tinyModel(t)
	base := isolate(t)
	beEmber(t)
	for _, tc := range []struct{ splits, want string }{
		{"3,3;5,5", "covers 10 layers but the model has 6"},
		{"2,2,2", "has 3 parts but there are 2 devices"},
	} {
		out := filepath.Join(base, "sweep")
		_, errs, code := ember(t, "milestone", "split", "-m", model, "--gpus", "cpu:0,cpu:1", "--splits", tc.splits, "--prompt-lens", "8", "--decode-steps", "2", "--out-dir", out)
		if code == 0 || !strings.Contains(errs, "--splits") || !strings.Contains(errs, tc.want) {
			t.Errorf("--splits %q: exit %d, stderr %q; want an error containing %q", tc.splits, code, errs, tc.want)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("--splits %q: the sweep started (%s exists)", tc.splits, out)
		}
	}
}
