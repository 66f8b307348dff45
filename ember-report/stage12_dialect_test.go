package report

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ember-infer/ember/ember-core/rows"
)

func upFixture(name string) string {
	return filepath.Join("..", "testdata", "report", "upstream", name)
}

// upRun makes a finished run's two rows, as ember profile writes them, with
// the fixture's stages: every prefill row has compute 1 + 9 + 120 + 230 + 30
// = 390 (embedding, rmsnorm, attention, ffn, lm_head) and transfer p2p 40 +
// h2d 2 = 42; every decode row compute 0.1 + 0.9 + 6 + 14 + 2.5 = 23.5 and
// transfer p2p 1.5 + h2d 0.05 + d2h 0.2 = 1.75, sampling 0.25.
func upRun(id, split string, overlap bool, promptLen, steps int, prefillMS, decodeMS float64) SweepRun {
	cfg := rows.Config{Mode: rows.Mode(2, overlap), GPUs: "0+1", Split: split, PromptLen: promptLen, DecodeSteps: steps, ChunkLen: 512, Overlap: overlap, DecodeSampling: true}
	pre, dec := cfg, cfg
	pre.Phase, dec.Phase = rows.PhasePrefill, rows.PhaseDecodePerToken
	return SweepRun{ID: id, Rows: []rows.StageRow{
		{Config: pre, WallMS: prefillMS, Stages: rows.Stages{EmbeddingMS: 1, RMSNormMS: 9, AttentionMS: 120, FFNMS: 230, P2PMS: 40, MemcpyH2DMS: 2, LMHeadMS: 30}, ProfileTotalMS: 432},
		{Config: dec, WallMS: decodeMS, Stages: rows.Stages{EmbeddingMS: 0.1, RMSNormMS: 0.9, AttentionMS: 6, FFNMS: 14, P2PMS: 1.5, MemcpyH2DMS: 0.05, MemcpyD2HMS: 0.2, SamplingMS: 0.25, LMHeadMS: 2.5}, ProfileTotalMS: 25.5},
	}}
}

// stage12Input is the split fixture, prompt 512 and 64 decode steps, in sweep
// order (upstream numbers runs split by split, no_overlap then overlap):
//
//	id split mode        prefill  decode/tok  rollout = prefill + decode × 64
//	1  9+27  no_overlap  400      25          400 + 1600     = 2000
//	2  9+27  overlap     300      25          300 + 1600     = 1900
//	3  12+24 no_overlap  500      31.25       500 + 2000     = 2500
//	4  12+24 overlap     350      27.123      350 + 1735.872 = 2085.872
//	5  18+18 no_overlap  450      30          450 + 1920     = 2370
//	6  18+18 overlap     failed: out of memory at chunk 64
//
// with llama.cpp's single run failed and its dual run parsed, a baseline
// with its own stage12_vs_llama.csv, an anchor and a note.
func stage12Input(t *testing.T) Stage12Input {
	t.Helper()
	base, err := LoadRefSummary(upFixture("baseline_run/stage12_split_summary.csv"), "Before P2 (v1)")
	if err != nil {
		t.Fatal(err)
	}
	anchor, err := LoadRefSummary(upFixture("anchor/stage12_split_summary.csv"), "")
	if err != nil {
		t.Fatal(err)
	}
	bvs, err := ReadRecsFile(upFixture("baseline_run/stage12_vs_llama.csv"))
	if err != nil {
		t.Fatal(err)
	}
	runs := []SweepRun{
		upRun("1", "9+27", false, 512, 64, 400, 25), upRun("2", "9+27", true, 512, 64, 300, 25),
		upRun("3", "12+24", false, 512, 64, 500, 31.25), upRun("4", "12+24", true, 512, 64, 350, 27.123),
		upRun("5", "18+18", false, 512, 64, 450, 30),
	}
	splits := map[string]string{"1": "9+27", "2": "9+27", "3": "12+24", "4": "12+24", "5": "18+18"}
	return Stage12Input{
		ModelDir: "/hf/hub/models--Qwen--Qwen3-4B/snapshots/abc123",
		Now:      time.Date(2026, 12, 3, 7, 8, 9, 0, time.UTC),
		Runs:     runs, Splits: splits,
		Failures: []Failure{{RunID: "6", Split: "18+18", Overlap: true, PromptLen: 512, DecodeSteps: 64, ChunkLen: 64, ReturnCode: 3, ErrorHint: HintOOM, LogPath: "/r/logs/run_006_try4.log"}},
		VsLlama: &VsLlamaInput{GGUF: "/m/q.gguf", SplitMode: "layer", DecodeSteps: 64,
			Single: LlamaRun{Device: "CUDA0", Failed: "missing llama-bench: /opt/llama/llama-bench"},
			// 200 ms prompt, 1400 ms for 64 tokens, llama-bench's own 45.714 tok/s.
			Dual: LlamaRun{Device: "CUDA0/CUDA1", Result: &LlamaResult{PromptAvgNs: 200e6, GenAvgNs: 1400e6, GenAvgTs: 45.714, GenTokens: 64, PromptTokens: 512}}},
		Baseline: &base, BaselineVsLlama: &bvs, Anchor: &anchor,
		P2: P2Input{Hardware: "2xcuda", PromptLen: 512, DecodeSteps: 64, Note: "overlap the copy with the next chunk"},
	}
}

func TestStage12Golden(t *testing.T) {
	res, err := Stage12Files(stage12Input(t))
	if err != nil {
		t.Fatal(err)
	}
	got := byName(t, res.Files)
	for _, name := range []string{"stage12_raw_rows.csv", "stage12_split_summary.csv", "stage12_transfer_vs_compute.csv", "stage12_bubble_vs_split.csv",
		"stage12_summary.md", "stage12_failures.csv", "stage12_vs_llama.csv", "stage12_vs_llama.md",
		"stage12_delta_vs_before_p2_v1.csv", "stage12_delta_vs_before_p2_v1.md", "stage12_p2_input.md",
		"ember_stage12_report.md", "ember_stage12_bubble.csv", "ember_stage12_delta_vs_before_p2_v1.csv", "ember_stage12_delta_vs_before_p2_v1.md"} {
		if _, ok := got[name]; !ok {
			t.Errorf("no %s", name)
		}
	}
	// The anchor gets no delta files (upstream only reads it for the P2 input).
	for name := range got {
		if strings.Contains(name, "anchor") {
			t.Errorf("unexpected %s", name)
		}
	}
	crlf := func(lines ...string) string { return strings.Join(lines, "\r\n") + "\r\n" }
	want := map[string]string{
		// Keys sorted as text: "12+24" < "18+18" < "9+27". Per row: tok/s = 64000 / rollout,
		// share = prefill / rollout × 100: 64000/2500 = 25.600, 20.00; 64000/2085.872 = 30.6826 → 30.683,
		// 350/2085.872 = 16.7796 → 16.78; 64000/2370 = 27.0042 → 27.004, 450/2370 = 18.987 → 18.99;
		// 64000/2000 = 32.000, 20.00; 64000/1900 = 33.6842 → 33.684, 300/1900 = 15.789 → 15.79.
		"stage12_split_summary.csv": crlf(
			"split,mode,prompt_len,decode_steps,prefill_wall_ms,decode_per_token_ms,rollout_total_ms_est,rollout_tok_s_est,prefill_share_pct,prefill_compute_ms,prefill_transfer_ms,decode_compute_per_tok_ms,decode_transfer_per_tok_ms",
			"12+24,no_overlap,512,64,500.000,31.250,2500.000,25.600,20.00,390.000,42.000,23.500,1.750",
			"12+24,overlap,512,64,350.000,27.123,2085.872,30.683,16.78,390.000,42.000,23.500,1.750",
			"18+18,no_overlap,512,64,450.000,30.000,2370.000,27.004,18.99,390.000,42.000,23.500,1.750",
			"9+27,no_overlap,512,64,400.000,25.000,2000.000,32.000,20.00,390.000,42.000,23.500,1.750",
			"9+27,overlap,512,64,300.000,25.000,1900.000,33.684,15.79,390.000,42.000,23.500,1.750"),
		// 42/390 = 0.10769 → 0.1077; 1.75/23.5 = 0.074468 → 0.0745; the ms cells are the summary's.
		"stage12_transfer_vs_compute.csv": crlf(
			"split,mode,prefill_transfer_compute_ratio,decode_transfer_compute_ratio,prefill_transfer_ms,prefill_compute_ms,decode_transfer_per_tok_ms,decode_compute_per_tok_ms",
			"12+24,no_overlap,0.1077,0.0745,42.000,390.000,1.750,23.500",
			"12+24,overlap,0.1077,0.0745,42.000,390.000,1.750,23.500",
			"18+18,no_overlap,0.1077,0.0745,42.000,390.000,1.750,23.500",
			"9+27,no_overlap,0.1077,0.0745,42.000,390.000,1.750,23.500",
			"9+27,overlap,0.1077,0.0745,42.000,390.000,1.750,23.500"),
		// 12+24: 2500/2085.872 = 1.19854 → 1.1985, (2500−2085.872)/2500 = 16.565% → 16.57;
		// 9+27: 2000/1900 = 1.05263 → 1.0526, 100/2000 = 5.00%; 18+18 has no overlap row.
		"stage12_bubble_vs_split.csv": crlf(
			"split,no_overlap_total_ms,overlap_total_ms,overlap_speedup_x,bubble_hidden_pct_est",
			"12+24,2500.000,2085.872,1.1985,16.57",
			"9+27,2000.000,1900.000,1.0526,5.00"),
		"stage12_failures.csv": crlf(
			"run_id,split,overlap,prompt_len,decode_steps,chunk_len,return_code,error_hint,log_path",
			"6,18+18,1,512,64,64,3,oom,/r/logs/run_006_try4.log"),
		// Ember's row is the best summary row (9+27 overlap): decode 1000/25 = 40.000 tok/s.
		// Dual: prefill 200e6 ns = 200.000 ms, 1400 ms / 64 = 21.875 ms/token, llama-bench's
		// 45.714 tok/s, rollout 200 + 1400 = 1600 ms, 64000/1600 = 40.000 tok/s.
		"stage12_vs_llama.csv": crlf(
			"engine,config,prefill_ms,decode_tok_s,decode_per_token_ms,rollout_total_ms,rollout_tok_s,notes",
			"ember,split=9+27 mode=overlap,300.000,40.000,25.000,1900.000,33.684,best split from stage12 sweep",
			"llama.cpp,CUDA0 single,,,,,,failed: missing llama-bench: /opt/llama/llama-bench",
			"llama.cpp,CUDA0/CUDA1 dual,200.000,45.714,21.875,1600.000,40.000,llama-bench split_mode=layer"),
		// Keys both have: 12+24 no_overlap: 25 → 25.6 = +2.40%, decode 31.2501 → 31.25 = −0.00032% → "-0.00%";
		// 18+18 no_overlap: old rollout 0 → n/a, decode 30 → 30 = +0.00%;
		// 9+27 overlap: 40 → 33.684 = −15.79%, decode 24 → 25 = +4.1667% → +4.17%. 6+30 is the baseline's only.
		"stage12_delta_vs_before_p2_v1.csv": crlf(
			"split,mode,rollout_tok_s_old,rollout_tok_s_new,rollout_delta_pct,decode_ms_old,decode_ms_new,decode_delta_pct",
			"12+24,no_overlap,25.000,25.600,+2.40%,31.250,31.250,-0.00%",
			"18+18,no_overlap,0.000,27.004,n/a,30.000,30.000,+0.00%",
			"9+27,overlap,40.000,33.684,-15.79%,24.000,25.000,+4.17%"),
	}
	for name, w := range want {
		if string(got[name]) != w {
			t.Errorf("%s:\n got %q\nwant %q", name, got[name], w)
		}
	}

	// Raw rows: sorted by split, mode, phase as text (decode_per_token before
	// prefill), run_id last.
	raw := strings.Split(strings.TrimSuffix(string(got["stage12_raw_rows.csv"]), "\r\n"), "\r\n")
	if raw[0] != strings.Join(rows.StageHeader, ",")+",run_id" || len(raw) != 11 {
		t.Fatalf("raw rows header %q, %d lines", raw[0], len(raw))
	}
	if w := "decode_per_token,no_overlap,0+1,12+24,512,64,512,0,1,31.250,0.100,0.900,6.000,14.000,1.500,0.050,0.200,0.250,2.500,25.500,3"; raw[1] != w {
		t.Errorf("raw row 1 %q, want %q", raw[1], w)
	}
	if w := "prefill,overlap,0+1,9+27,512,64,512,1,1,300.000,1.000,9.000,120.000,230.000,40.000,2.000,0.000,0.000,30.000,432.000,2"; raw[10] != w {
		t.Errorf("raw row 10 %q, want %q", raw[10], w)
	}

	wantMD := map[string]string{
		"stage12_summary.md": "# Stage 1.2 Pipeline Split Profiling\n\n- Model: `/hf/hub/models--Qwen--Qwen3-4B/snapshots/abc123`\n- Generated at: `2026-12-03T07:08:09`\n\n" +
			"## Throughput vs Split\n| split | mode | total_ms | tok/s_est | prefill_share_% |\n| --- | --- | --- | --- | --- |\n" +
			"| 12+24 | no_overlap | 2500.000 | 25.600 | 20.00 |\n| 12+24 | overlap | 2085.872 | 30.683 | 16.78 |\n| 18+18 | no_overlap | 2370.000 | 27.004 | 18.99 |\n" +
			"| 9+27 | no_overlap | 2000.000 | 32.000 | 20.00 |\n| 9+27 | overlap | 1900.000 | 33.684 | 15.79 |\n\n" +
			"## Key Point\n- Best rollout tok/s split: `9+27` in `overlap` mode (`33.684 tok/s`, total `1900.000 ms`).\n\n" +
			"## Bubble vs Split\n| split | no_overlap_ms | overlap_ms | speedup_x | hidden_% |\n| --- | --- | --- | --- | --- |\n" +
			"| 12+24 | 2500.000 | 2085.872 | 1.1985 | 16.57 |\n| 9+27 | 2000.000 | 1900.000 | 1.0526 | 5.00 |\n",
		// Ratios: old 30 / 50 = 60.00% (the baseline folder's vs_llama); new 33.684 / 40 = 84.21%.
		"stage12_delta_vs_before_p2_v1.md": "# stage1.2 delta vs Before P2 (v1)\n\n## Per-split deltas (old -> new)\n" +
			"| split | mode | rollout_tok/s | delta | decode_ms/token | delta |\n| --- | --- | --- | --- | --- | --- |\n" +
			"| 12+24 | no_overlap | 25.000 -> 25.600 | +2.40% | 31.250 -> 31.250 | -0.00% |\n" +
			"| 18+18 | no_overlap | 0.000 -> 27.004 | n/a | 30.000 -> 30.000 | +0.00% |\n" +
			"| 9+27 | overlap | 40.000 -> 33.684 | -15.79% | 24.000 -> 25.000 | +4.17% |\n\n" +
			"## Best config\n- old best: `9+27 overlap` rollout `40.000` tok/s, decode `24.000` ms/token\n" +
			"- new best: `9+27 overlap` rollout `33.684` tok/s, decode `25.000` ms/token\n" +
			"- best-to-best rollout change: `-15.79%`\n- best-to-best decode change: `+4.17%`\n\n" +
			"## Ember vs llama dual (from each report)\n- old: ember `30.000` / llama dual `50.000` = `60.00%`\n" +
			"- new: ember `33.684` / llama dual `40.000` = `84.21%`\n\n" +
			"## Note\n- llama numbers are rerun-dependent; cross-date ratio change includes llama-side variance.\n",
		// Anchor: 9+27 no_overlap 20 tok/s, 40 ms/token: 20 → 33.684 = +68.42%, 40 → 25 = −37.50%.
		"stage12_p2_input.md": "# Stage1.2 P2 Input (2026-12-03)\n\nModel: Qwen/Qwen3-4B (2xcuda)\nSetting: prompt_len=512, decode_steps=64, full split sweep\n\n" +
			"## Best config (new)\n- split/mode: 9+27 overlap\n- rollout: 33.684 tok/s\n- decode: 25.000 ms/token\n- prefill: 300.000 ms\n\n" +
			"## Delta vs previous full sweep (Before P2 (v1))\n- old best: 9+27 overlap, rollout 40.000 tok/s, decode 24.000 ms/token\n" +
			"- new best: 9+27 overlap, rollout 33.684 tok/s, decode 25.000 ms/token\n- best rollout delta: -15.79%\n- best decode delta: +4.17%\n\n" +
			"## Delta vs anchor (historical anchor)\n- old anchor best: 9+27 no_overlap, rollout 20.000 tok/s, decode 40.000 ms/token\n" +
			"- new best: 9+27 overlap, rollout 33.684 tok/s, decode 25.000 ms/token\n- rollout change: +68.42%\n- decode change: -37.50%\n\n" +
			"## Ember vs llama dual (same run)\n- llama dual rollout: 40.000 tok/s\n- ember best rollout: 33.684 tok/s\n- ember/llama dual: 84.21%\n\n" +
			"## Implementation note\n- overlap the copy with the next chunk\n",
		"stage12_vs_llama.md": "# Stage 1.2 Ember vs llama.cpp\n\n- GGUF: `/m/q.gguf`\n- llama split_mode: `layer`\n- llama tensor_split: `auto/none`\n\n" +
			"| engine | config | prefill_ms | decode_tok_s | decode_per_token_ms | rollout_total_ms | rollout_tok_s | notes |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n" +
			"| ember | split=9+27 mode=overlap | 300.000 | 40.000 | 25.000 | 1900.000 | 33.684 | best split from stage12 sweep |\n" +
			"| llama.cpp | CUDA0 single |  |  |  |  |  | failed: missing llama-bench: /opt/llama/llama-bench |\n" +
			"| llama.cpp | CUDA0/CUDA1 dual | 200.000 | 45.714 | 21.875 | 1600.000 | 40.000 | llama-bench split_mode=layer |\n\n" +
			"- Note: llama-bench and ember_stage_breakdown are different harnesses; compare as practical baseline, not strict apples-to-apples kernel microbenchmark.\n",
	}
	for name, w := range wantMD {
		if string(got[name]) != w {
			t.Errorf("%s:\n got %q\nwant %q", name, got[name], w)
		}
	}
	if res.DeltaMatched != 3 {
		t.Errorf("DeltaMatched %d, want 3", res.DeltaMatched)
	}
}

// TestStage12Edges: what upstream writes when little is there. No run
// finished: no raw, summary, transfer or bubble CSV, the markdown says so,
// the failures CSV has its header; no P2 input (no best row) even with a note.
// A baseline sharing no key gives a delta markdown with the "-" row and no
// CSV, and DeltaMatched 0.
func TestStage12Edges(t *testing.T) {
	base, err := LoadRefSummary(upFixture("anchor/stage12_split_summary.csv"), "")
	if err != nil {
		t.Fatal(err)
	}
	res, err := Stage12Files(Stage12Input{ModelDir: "/m/tiny", Now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Baseline: &base, P2: P2Input{Note: "n"}})
	if err != nil {
		t.Fatal(err)
	}
	got := byName(t, res.Files)
	for _, name := range []string{"stage12_raw_rows.csv", "stage12_split_summary.csv", "stage12_transfer_vs_compute.csv", "stage12_bubble_vs_split.csv", "stage12_delta_vs_anchor.csv", "stage12_p2_input.md"} {
		if _, ok := got[name]; ok {
			t.Errorf("%s written", name)
		}
	}
	if w := "# Stage 1.2 Pipeline Split Profiling\n\n- Model: `/m/tiny`\n- Generated at: `2026-01-02T03:04:05`\n\n_No summary rows generated._\n"; string(got["stage12_summary.md"]) != w {
		t.Errorf("summary md %q", got["stage12_summary.md"])
	}
	if w := "run_id,split,overlap,prompt_len,decode_steps,chunk_len,return_code,error_hint,log_path\r\n"; string(got["stage12_failures.csv"]) != w {
		t.Errorf("failures %q", got["stage12_failures.csv"])
	}
	if w := "# stage1.2 delta vs anchor\n\n## Per-split deltas (old -> new)\n| split | mode | rollout_tok/s | delta | decode_ms/token | delta |\n| --- | --- | --- | --- | --- | --- |\n| - | - | - | - | - | - |\n"; string(got["stage12_delta_vs_anchor.md"]) != w {
		t.Errorf("delta md %q", got["stage12_delta_vs_anchor.md"])
	}
	if res.DeltaMatched != 0 {
		t.Errorf("DeltaMatched %d", res.DeltaMatched)
	}

	// --decode-steps 0: a prefill row only; decode 0, rollout = prefill, tok/s 0.
	r := upRun("1", "3+3", false, 64, 0, 12.5, 0)
	r.Rows = r.Rows[:1]
	res, err = Stage12Files(Stage12Input{Runs: []SweepRun{r}, Splits: map[string]string{"1": "3+3"}})
	if err != nil {
		t.Fatal(err)
	}
	got = byName(t, res.Files)
	if w := "3+3,no_overlap,64,0,12.500,0.000,12.500,0.000,100.00,390.000,42.000,0.000,0.000\r\n"; !strings.HasSuffix(string(got["stage12_split_summary.csv"]), w) {
		t.Errorf("prefill-only summary %q", got["stage12_split_summary.csv"])
	}
	// With no overlap pair the markdown says the bubble cannot be estimated, and no bubble CSV.
	if _, ok := got["stage12_bubble_vs_split.csv"]; ok || !strings.Contains(string(got["stage12_summary.md"]), "- missing overlap/no_overlap pairs, cannot estimate bubble\n") {
		t.Errorf("bubble without pairs: %q", got["stage12_summary.md"])
	}
}

func TestUpstreamSlugAndLabels(t *testing.T) {
	for in, want := range map[string]string{
		"Before P2 (v1)": "before_p2_v1", "stage1_split_profile_20260101_120000": "stage1_split_profile_20260101_120000",
		"  --Fused-RMSNorm-- ": "--fused-rmsnorm--", "___": "baseline", "": "baseline", "día 3": "d_a_3", "a__b..c": "a_b_c",
	} {
		if got := UpstreamSlug(in); got != want {
			t.Errorf("UpstreamSlug(%q) = %q, want %q", in, got, want)
		}
	}
	if got := LabelOf("/r/reports/stage1_split_profile_x/stage12_split_summary.csv"); got != "stage1_split_profile_x" {
		t.Errorf("LabelOf = %q", got)
	}
	if got := PrettyModelName("/c/hub/models--Qwen--Qwen3-8B/snapshots/0123"); got != "Qwen/Qwen3-8B" {
		t.Errorf("PrettyModelName = %q", got)
	}
	if got := PrettyModelName("/w/testdata/models/tiny-qwen3"); got != "tiny-qwen3" {
		t.Errorf("PrettyModelName = %q", got)
	}
	// Python's f"{v:+.2f}%" keeps the sign of a value that rounds to zero.
	if got := fmtPct(pctDelta(3, 2.99999)); got != "-0.00%" {
		t.Errorf("fmtPct = %q", got)
	}
	if got := fmtPct(pctDelta(0, 1)); got != "n/a" {
		t.Errorf("fmtPct(old 0) = %q", got)
	}
}

// TestOldEmberBaseline: a summary Ember wrote before it spoke upstream's
// dialect ("12,24" pipeline) is read with upstream keys, so it matches.
func TestOldEmberBaseline(t *testing.T) {
	ref, err := LoadRefSummary(fixture("baseline/stage12_split_summary.csv"), "")
	if err != nil {
		t.Fatal(err)
	}
	if ref.Label != "baseline" || ref.Rows[0]["split"] != "12+24" || ref.Rows[0]["mode"] != "no_overlap" || ref.Rows[1]["mode"] != "overlap" {
		t.Errorf("label %q rows %v", ref.Label, ref.Rows[:2])
	}
}

// TestOldEmberReference: Ember's statistical delta reads the same old
// summary and its samples under upstream keys too.
func TestOldEmberReference(t *testing.T) {
	ref, err := LoadReference(fixture("baseline/stage12_split_summary.csv"), "")
	if err != nil {
		t.Fatal(err)
	}
	if k := ref.Summary[1].Key; k.Split != "18+18" || k.Mode != "overlap" {
		t.Errorf("summary key %v", k)
	}
	if len(ref.Samples) == 0 || ref.Samples[0].Split != "18+18" || ref.Samples[0].Mode != "overlap" {
		t.Errorf("samples %v", ref.Samples[:1])
	}
}
