package report

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// splitFixtureInput is the stage 1.2 input of the golden test: four runs of
// testdata/report/stage12_raw_rows.csv (prompt 512, 64 decode steps), two
// failures, a failed single-device and a parsed dual-device llama-bench run, a
// baseline with samples and an anchor without.
func splitFixtureInput(t *testing.T) SplitInput {
	t.Helper()
	dual, err := ParseLlamaBench(mustRead(t, fixture("llama_bench_dual.json")))
	if err != nil {
		t.Fatal(err)
	}
	dual.Label = "dual-device"
	// The single-device run exits 1 having printed only "[" (llama-bench prints
	// the array's opening before loading the model); the runner records why.
	single := &LlamaResult{Label: "single-device"}
	if _, err := ParseLlamaBench(mustRead(t, fixture("llama_bench_failed_stdout.txt"))); err == nil {
		t.Fatal("the failed run's output parsed")
	}
	stderr := strings.Split(strings.TrimSpace(string(mustRead(t, fixture("llama_bench_failed_stderr.txt")))), "\n")
	single.Failed = "exit status 1: " + stderr[len(stderr)-1]

	base, err := LoadReference(fixture("baseline/stage12_split_summary.csv"), "Before P2 (v1)")
	if err != nil {
		t.Fatal(err)
	}
	anchor, err := LoadReference(fixture("anchor/stage12_split_summary.csv"), "")
	if err != nil {
		t.Fatal(err)
	}
	return SplitInput{
		Meta:    testMeta,
		Rows:    readStageFixture(t, "stage12_raw_rows.csv"),
		Samples: readSampleFixture(t, "stage12_raw_samples.csv"),
		Failures: []Failure{
			{RunID: "r05", PromptLen: 512, DecodeSteps: 64, Overlap: true, ChunkLen: 128, ReturnCode: 2, ErrorHint: HintOOM, LogPath: "logs/r05_try3.log"},
			{RunID: "r06", PromptLen: 512, DecodeSteps: 64, ChunkLen: 512, ReturnCode: 1, ErrorHint: HintRuntimeUnavailable, LogPath: "logs/r06_try1.log"},
		},
		LlamaSingle: single,
		LlamaDual:   &dual,
		Baseline:    &base,
		Anchor:      &anchor,
		P2Note:      "overlap the GPU0→GPU1 copy with the next chunk",
	}
}

// The fixture's runs, all prompt_len 512 and decode_steps 64. Every prefill
// row has compute 1 + 9 + 120 + 230 + 30 = 390 (embedding, rmsnorm, attention,
// ffn, lm_head); the two-GPU runs transfer p2p 40 + h2d 2 = 42, the single GPU
// h2d 2 only. Every decode row has compute 0.1 + 0.9 + 6 + 14 + 2.5 = 23.5;
// two-GPU runs transfer p2p 1.5 + h2d 0.05 + d2h 0.2 = 1.75, the single GPU
// 0.05 + 0.2 = 0.25. Stage sums (compute + transfer + sampling): prefill
// 432 (two GPUs) or 392, decode 23.5 + 1.75 + 0.25 = 25.5 or 23.5 + 0.25 + 0.25 = 24.
//
//	run                      prefill  decode/tok  rollout = prefill + decode × 64
//	36 single                400      25          400 + 1600    = 2000
//	12,24 pipeline           500      31.25       500 + 2000    = 2500
//	18,18 pipeline           450      30          450 + 1920    = 2370
//	18,18 pipeline_overlap   350      27.123      350 + 1735.872 = 2085.872
func TestSplitGolden(t *testing.T) {
	files, err := Split(splitFixtureInput(t))
	if err != nil {
		t.Fatal(err)
	}
	got := byName(t, files)
	checkFileSet(t, got, []string{
		"stage12_raw_rows.csv", "stage12_raw_samples.csv", "stage12_split_summary.csv", "stage12_transfer_vs_compute.csv",
		"stage12_bubble_vs_split.csv", "stage12_summary.md", "stage12_failures.csv",
		"stage12_rollout_tok_s.svg", "stage12_prefill_stages.svg", "stage12_decode_stages.svg",
		"stage12_vs_llama.csv", "stage12_vs_llama.md",
		"stage12_delta_vs_before_p2_v1.csv", "stage12_delta_vs_before_p2_v1.md",
		"stage12_delta_vs_anchor.csv", "stage12_delta_vs_anchor.md",
		"stage12_p2_input.md",
	})

	// The raw files are the inputs, rewritten: same bytes as the fixtures.
	for _, name := range []string{"stage12_raw_rows.csv", "stage12_raw_samples.csv"} {
		if string(got[name]) != string(mustRead(t, fixture(name))) {
			t.Errorf("%s differs from the fixture:\n%s", name, got[name])
		}
	}

	// Order: splits as numbers (12,24 < 18,18 < 36), then mode.
	// tok/s = 64 × 1000 / rollout: 64000/2500 = 25.600; 64000/2370 = 27.00422 → 27.004;
	// 64000/2085.872 = 30.68261 → 30.683; 64000/2000 = 32.000.
	// share = prefill / rollout: 500/2500 = 20.00; 450/2370 = 18.987 → 18.99;
	// 350/2085.872 = 16.7796 → 16.78; 400/2000 = 20.00.
	checkCSV(t, "stage12_split_summary.csv", got["stage12_split_summary.csv"], [][]string{
		{"split", "mode", "prompt_len", "decode_steps", "prefill_wall_ms", "decode_per_token_ms", "rollout_total_ms_est", "rollout_tok_s_est", "prefill_share_pct", "prefill_compute_ms", "prefill_transfer_ms", "decode_compute_per_tok_ms", "decode_transfer_per_tok_ms"},
		{"12,24", "pipeline", "512", "64", "500.000", "31.250", "2500.000", "25.600", "20.00", "390.000", "42.000", "23.500", "1.750"},
		{"18,18", "pipeline", "512", "64", "450.000", "30.000", "2370.000", "27.004", "18.99", "390.000", "42.000", "23.500", "1.750"},
		{"18,18", "pipeline_overlap", "512", "64", "350.000", "27.123", "2085.872", "30.683", "16.78", "390.000", "42.000", "23.500", "1.750"},
		{"36", "single", "512", "64", "400.000", "25.000", "2000.000", "32.000", "20.00", "390.000", "2.000", "23.500", "0.250"},
	})

	// transfer pct = transfer / (compute + transfer): 42/432 = 9.7222 → 9.72; 1.75/25.25 = 6.9307 → 6.93;
	// 2/392 = 0.5102 → 0.51; 0.25/23.75 = 1.0526 → 1.05.
	// ratio = transfer / compute: 42/390 = 0.10769 → 0.1077; 1.75/23.5 = 0.074468 → 0.0745;
	// 2/390 = 0.005128 → 0.0051; 0.25/23.5 = 0.010638 → 0.0106.
	two := []string{"390.000", "42.000", "9.72", "0.1077", "23.500", "1.750", "6.93", "0.0745"}
	checkCSV(t, "stage12_transfer_vs_compute.csv", got["stage12_transfer_vs_compute.csv"], [][]string{
		{"split", "mode", "prompt_len", "decode_steps", "prefill_compute_ms", "prefill_transfer_ms", "prefill_transfer_pct", "prefill_transfer_to_compute", "decode_compute_per_tok_ms", "decode_transfer_per_tok_ms", "decode_transfer_pct", "decode_transfer_to_compute"},
		append([]string{"12,24", "pipeline", "512", "64"}, two...),
		append([]string{"18,18", "pipeline", "512", "64"}, two...),
		append([]string{"18,18", "pipeline_overlap", "512", "64"}, two...),
		{"36", "single", "512", "64", "390.000", "2.000", "0.51", "0.0051", "23.500", "0.250", "1.05", "0.0106"},
	})

	// bubble = max(0, wall − stage sum), pct of wall; overlap = max(0, stage sum − wall).
	// 12,24: prefill 500 − 432 = 68 (13.60%), decode 31.25 − 25.5 = 5.75 (18.40%).
	// 18,18 pipeline: 450 − 432 = 18 (4.00%), 30 − 25.5 = 4.5 (15.00%).
	// 18,18 overlap: prefill 432 − 350 = 82 hidden, bubble 0; decode 27.123 − 25.5 = 1.623 (1.623/27.123 = 5.984%).
	// 36: 400 − 392 = 8 (2.00%), 25 − 24 = 1 (4.00%).
	checkCSV(t, "stage12_bubble_vs_split.csv", got["stage12_bubble_vs_split.csv"], [][]string{
		{"split", "mode", "prompt_len", "decode_steps", "prefill_wall_ms", "prefill_stage_sum_ms", "prefill_bubble_ms", "prefill_bubble_pct", "prefill_overlap_ms", "decode_wall_per_tok_ms", "decode_stage_sum_per_tok_ms", "decode_bubble_per_tok_ms", "decode_bubble_pct", "decode_overlap_per_tok_ms"},
		{"12,24", "pipeline", "512", "64", "500.000", "432.000", "68.000", "13.60", "0.000", "31.250", "25.500", "5.750", "18.40", "0.000"},
		{"18,18", "pipeline", "512", "64", "450.000", "432.000", "18.000", "4.00", "0.000", "30.000", "25.500", "4.500", "15.00", "0.000"},
		{"18,18", "pipeline_overlap", "512", "64", "350.000", "432.000", "0.000", "0.00", "82.000", "27.123", "25.500", "1.623", "5.98", "0.000"},
		{"36", "single", "512", "64", "400.000", "392.000", "8.000", "2.00", "0.000", "25.000", "24.000", "1.000", "4.00", "0.000"},
	})

	checkCSV(t, "stage12_failures.csv", got["stage12_failures.csv"], [][]string{
		{"run_id", "prompt_len", "decode_steps", "overlap", "chunk_len", "return_code", "error_hint", "log_path"},
		{"r05", "512", "64", "1", "128", "2", "oom", "logs/r05_try3.log"},
		{"r06", "512", "64", "0", "512", "1", "runtime_unavailable", "logs/r06_try1.log"},
	})

	// Ember: prefill tok/s = 512 × 1000 / prefill: 1024.000, 512000/450 = 1137.778, 512000/350 = 1462.857, 1280.000;
	// decode tok/s = 1000 / decode: 32.000, 33.333, 1000/27.123 = 36.869, 40.000.
	// Best Ember rollout is 36 single at 32.000 tok/s: 32/25.6 = 1.2500, 32/27.004 = 1.18501 → 1.1850,
	// 32/30.683 = 1.04292 → 1.0429, 32/32 = 1.0000.
	// llama dual: prompt avg_ns 150000000 → 150.000 ms, avg_ts 3413.333333; gen avg_ns 1280000000 over
	// 64 tokens → 20.000 ms/token, avg_ts 50; rollout 150 + 20 × 64 = 1430.000, 64000/1430 = 44.7552 → 44.755;
	// 32/44.755 = 0.71500 → 0.7150.
	na := []string{"n/a", "n/a", "n/a", "n/a", "n/a", "n/a", "n/a", "n/a", "n/a"}
	checkCSV(t, "stage12_vs_llama.csv", got["stage12_vs_llama.csv"], [][]string{
		{"engine", "config", "prompt_len", "decode_steps", "prefill_ms", "prefill_tok_s", "decode_per_token_ms", "decode_tok_s", "rollout_total_ms_est", "rollout_tok_s_est", "ember_best_over_this", "status"},
		{"ember", "split=12,24 mode=pipeline", "512", "64", "500.000", "1024.000", "31.250", "32.000", "2500.000", "25.600", "1.2500", "ok"},
		{"ember", "split=18,18 mode=pipeline", "512", "64", "450.000", "1137.778", "30.000", "33.333", "2370.000", "27.004", "1.1850", "ok"},
		{"ember", "split=18,18 mode=pipeline_overlap", "512", "64", "350.000", "1462.857", "27.123", "36.869", "2085.872", "30.683", "1.0429", "ok"},
		{"ember", "split=36 mode=single", "512", "64", "400.000", "1280.000", "25.000", "40.000", "2000.000", "32.000", "1.0000", "ok"},
		append(append([]string{"llama.cpp", "single-device"}, na...), "failed: exit status 1: main: error: failed to load model '/m/q4b-bf16.gguf'"),
		{"llama.cpp", "dual-device split_mode=layer tensor_split=0.50/0.50", "512", "64", "150.000", "3413.333", "20.000", "50.000", "1430.000", "44.755", "0.7150", "ok"},
	})

	// Baseline (testdata/report/baseline): percent delta = (current − baseline) / baseline × 100.
	// 12,24: 500 vs 520: −20/520 = −3.846% → -3.85%; 31.25 vs 32: −2.34375% → -2.34%;
	//        2500 vs 2568: −68/2568 = −2.648% → -2.65%; 25.6 vs 24.922: 0.678/24.922 = +2.7205% → +2.72%.
	// 18,18 pipeline: not in the baseline → n/a. 24,12: only in the baseline → n/a.
	// 18,18 overlap: equal → +0.00%. 36 single: baseline prefill 0 → n/a; 25 vs 25 → +0.00%;
	//        2000 vs 1600 → +25.00%; 32 vs 40 → -20.00%.
	// Samples (18,18 overlap only). Prefill: baseline 350..354, current 345..349, medians 352 and 347;
	// every current sample is below every baseline one, so the two-sided Mann-Whitney p is
	// 2 / C(10,5) = 2/252 = 0.0079 → "p=0.008", and the change (347 − 352)/352 = −1.42%.
	// Decode: baseline 27.0, 27.2, …, 27.8 and current 27.1, 27.3, …, 27.9 interleave: U = 10 of 25,
	// P(U ≤ 10) = 87/252 (partitions of 0..10 into ≤5 parts ≤5: 1+1+2+3+5+7+9+11+14+16+18),
	// two-sided p = 174/252 = 0.690 → noise "~". Medians 27.4 and 27.5.
	// Rollout tok/s per iter = 64000 / (prefill_i + decode_i × 64): baseline
	// 64000/2078 = 30.799, /2091.8 = 30.596, /2105.6 = 30.395, /2119.4 = 30.197, /2133.2 = 30.002;
	// current /2079.4 = 30.778, /2093.2 = 30.575, /2107 = 30.375, /2120.8 = 30.177, /2134.6 = 29.982:
	// they interleave as the decode samples do (p = 0.690); medians 30.395 and 30.375.
	// Five samples give no finite 95% interval for a median (the widest, min..max, covers
	// 1 − 2/2^5 = 93.75%), so the intervals print as ±∞.
	nas := func(n int) []string { return strings.Split(strings.Repeat("n/a,", n-1)+"n/a", ",") }
	deltaHeader := []string{"split", "mode", "prompt_len", "decode_steps",
		"baseline_prefill_wall_ms", "current_prefill_wall_ms", "delta_prefill_wall_ms_pct",
		"baseline_decode_per_token_ms", "current_decode_per_token_ms", "delta_decode_per_token_ms_pct",
		"baseline_rollout_total_ms_est", "current_rollout_total_ms_est", "delta_rollout_total_ms_est_pct",
		"baseline_rollout_tok_s_est", "current_rollout_tok_s_est", "delta_rollout_tok_s_est_pct",
		"median_baseline_prefill_wall_ms", "ci_baseline_prefill_wall_ms", "median_current_prefill_wall_ms", "ci_current_prefill_wall_ms", "change_prefill_wall_ms",
		"median_baseline_decode_per_token_ms", "ci_baseline_decode_per_token_ms", "median_current_decode_per_token_ms", "ci_current_decode_per_token_ms", "change_decode_per_token_ms",
		"median_baseline_rollout_tok_s_est", "ci_baseline_rollout_tok_s_est", "median_current_rollout_tok_s_est", "ci_current_rollout_tok_s_est", "change_rollout_tok_s_est"}
	row := func(key []string, plain []string, stats []string) []string {
		return append(append(key, plain...), stats...)
	}
	checkCSV(t, "stage12_delta_vs_before_p2_v1.csv", got["stage12_delta_vs_before_p2_v1.csv"], [][]string{
		deltaHeader,
		row([]string{"12,24", "pipeline", "512", "64"},
			[]string{"520.000", "500.000", "-3.85%", "32.000", "31.250", "-2.34%", "2568.000", "2500.000", "-2.65%", "24.922", "25.600", "+2.72%"}, nas(15)),
		row([]string{"18,18", "pipeline", "512", "64"},
			[]string{"n/a", "450.000", "n/a", "n/a", "30.000", "n/a", "n/a", "2370.000", "n/a", "n/a", "27.004", "n/a"}, nas(15)),
		row([]string{"18,18", "pipeline_overlap", "512", "64"},
			[]string{"350.000", "350.000", "+0.00%", "27.123", "27.123", "+0.00%", "2085.872", "2085.872", "+0.00%", "30.683", "30.683", "+0.00%"},
			[]string{"352.000", "±∞", "347.000", "±∞", "-1.42% (p=0.008 n=5)",
				"27.400", "±∞", "27.500", "±∞", "~ (p=0.690 n=5)",
				"30.395", "±∞", "30.375", "±∞", "~ (p=0.690 n=5)"}),
		row([]string{"24,12", "pipeline", "512", "64"},
			[]string{"600.000", "n/a", "n/a", "35.000", "n/a", "n/a", "2840.000", "n/a", "n/a", "22.535", "n/a", "n/a"}, nas(15)),
		row([]string{"36", "single", "512", "64"},
			[]string{"0.000", "400.000", "n/a", "25.000", "25.000", "+0.00%", "1600.000", "2000.000", "+25.00%", "40.000", "32.000", "-20.00%"}, nas(15)),
	})

	// Anchor (testdata/report/anchor, label from its folder): only 18,18 pipeline, no samples.
	// 450 vs 900 → -50.00%; 30 vs 40 → -25.00%; 2370 vs 3460: −1090/3460 = −31.503% → -31.50%;
	// 27.004 vs 18.497: 8.507/18.497 = +45.991% → +45.99%.
	checkCSV(t, "stage12_delta_vs_anchor.csv", got["stage12_delta_vs_anchor.csv"], [][]string{
		deltaHeader,
		row([]string{"12,24", "pipeline", "512", "64"},
			[]string{"n/a", "500.000", "n/a", "n/a", "31.250", "n/a", "n/a", "2500.000", "n/a", "n/a", "25.600", "n/a"}, nas(15)),
		row([]string{"18,18", "pipeline", "512", "64"},
			[]string{"900.000", "450.000", "-50.00%", "40.000", "30.000", "-25.00%", "3460.000", "2370.000", "-31.50%", "18.497", "27.004", "+45.99%"}, nas(15)),
		row([]string{"18,18", "pipeline_overlap", "512", "64"},
			[]string{"n/a", "350.000", "n/a", "n/a", "27.123", "n/a", "n/a", "2085.872", "n/a", "n/a", "30.683", "n/a"}, nas(15)),
		row([]string{"36", "single", "512", "64"},
			[]string{"n/a", "400.000", "n/a", "n/a", "25.000", "n/a", "n/a", "2000.000", "n/a", "n/a", "32.000", "n/a"}, nas(15)),
	})

	checkMarkdown(t, "stage12_summary.md", got["stage12_summary.md"], "Stage 1.2 split profile",
		"4 runs finished, 2 failed.",
		"Best rollout: split 36, mode single: 32.000 tok/s (prefill 400.000 ms, decode 25.000 ms/token, prompt 512, 64 decode steps).",
		"| 18,18 | pipeline_overlap | 512 | 64 | 350.000 | 27.123 | 2085.872 | 30.683 | 16.78 | 390.000 | 42.000 | 23.500 | 1.750 |",
		"| 18,18 | pipeline_overlap | 512 | 64 | 350.000 | 432.000 | 0.000 | 0.00 | 82.000 | 27.123 | 25.500 | 1.623 | 5.98 | 0.000 |",
		"| r05 | 512 | 64 | 1 | 128 | 2 | oom | logs/r05_try3.log |",
		"![Rollout tok/s by split and mode](stage12_rollout_tok_s.svg)",
		"![Prefill stage breakdown by split](stage12_prefill_stages.svg)",
		"![Decode stage breakdown per token by split](stage12_decode_stages.svg)")
	checkMarkdown(t, "stage12_vs_llama.md", got["stage12_vs_llama.md"], "Stage 1.2 vs llama.cpp",
		"| llama.cpp | dual-device split_mode=layer tensor_split=0.50/0.50 | 512 | 64 | 150.000 | 3413.333 | 20.000 | 50.000 | 1430.000 | 44.755 | 0.7150 | ok |",
		"- llama.cpp single-device: failed: exit status 1: main: error: failed to load model '/m/q4b-bf16.gguf'",
		"- llama.cpp dual-device: qwen3 4B BF16, CUDA on NVIDIA GeForce RTX 3080 Ti, NVIDIA GeForce RTX 3080 Ti")
	checkMarkdown(t, "stage12_delta_vs_before_p2_v1.md", got["stage12_delta_vs_before_p2_v1.md"], "Stage 1.2 delta vs Before P2 (v1)",
		"- baseline: Before P2 (v1) ("+fixture("baseline/stage12_split_summary.csv")+")",
		"| 12,24 | pipeline | 512 | 64 | 520.000 → 500.000 | -3.85% | 32.000 → 31.250 | -2.34% | 2568.000 → 2500.000 | -2.65% | 24.922 → 25.600 | +2.72% |",
		"| 18,18 | pipeline_overlap | prefill_wall_ms | 352.000 ±∞ | 347.000 ±∞ | -1.42% (p=0.008 n=5) |",
		"| 18,18 | pipeline_overlap | decode_per_token_ms | 27.400 ±∞ | 27.500 ±∞ | ~ (p=0.690 n=5) |")
	if strings.Contains(string(got["stage12_delta_vs_anchor.md"]), "Medians of per-iteration samples") {
		t.Error("the anchor has no samples, yet its delta markdown has a statistics section")
	}
	// P2: best 36 single 32.000 tok/s. Previous best is 36 single at 40.000: (32 − 40)/40 = -20.00%,
	// also the same config. Anchor best is 18,18 pipeline at 18.497: (32 − 18.497)/18.497 = +73.001%
	// → +73.00%; the anchor lacks 36 single, so no same-config line. Ember/llama dual = 0.7150 (above).
	checkMarkdown(t, "stage12_p2_input.md", got["stage12_p2_input.md"], "Stage 1.2 P2 input",
		"- split 36, mode single, prompt 512, 64 decode steps: rollout 32.000 tok/s (rollout 2000.000 ms, prefill 400.000 ms, decode 25.000 ms/token)",
		"## Delta vs previous (Before P2 (v1))",
		"- best vs best: 40.000 tok/s (split 36, mode single) → 32.000 tok/s: -20.00%",
		"- same config (split 36, mode single): 40.000 tok/s → 32.000 tok/s: -20.00%",
		"## Delta vs anchor (anchor)",
		"- best vs best: 18.497 tok/s (split 18,18, mode pipeline) → 32.000 tok/s: +73.00%",
		"- ember best 32.000 tok/s / llama.cpp dual 44.755 tok/s = 0.7150",
		"overlap the GPU0→GPU1 copy with the next chunk")
	if strings.Count(string(got["stage12_p2_input.md"]), "- same config") != 1 {
		t.Errorf("stage12_p2_input.md: want one same-config line (the anchor lacks 36 single):\n%s", got["stage12_p2_input.md"])
	}

	checkSVG(t, "stage12_rollout_tok_s.svg", got["stage12_rollout_tok_s.svg"], TitleRollout, "12,24", "18,18", "36", "pipeline", "pipeline_overlap", "single")
	checkSVG(t, "stage12_prefill_stages.svg", got["stage12_prefill_stages.svg"], TitlePrefillStages, "attention", "ffn", "p2p", "lm_head")
	checkSVG(t, "stage12_decode_stages.svg", got["stage12_decode_stages.svg"], TitleDecodeStages, "attention", "sampling", "memcpy_d2h")
}

// TestSplitRebuild checks that a folder written by WriteSplit rebuilds to the
// same files from its own raw CSVs, and that its summary reads back as a
// reference whose delta against itself is +0.00% everywhere.
func TestSplitRebuild(t *testing.T) {
	in := splitFixtureInput(t)
	in.LlamaSingle, in.LlamaDual, in.Baseline, in.Anchor, in.P2Note = nil, nil, nil, nil, ""
	dir := t.TempDir()
	if err := WriteSplit(dir, in); err != nil {
		t.Fatal(err)
	}
	want, _ := Split(in)
	for _, f := range want {
		if b := mustRead(t, filepath.Join(dir, f.Name)); string(b) != string(f.Data) {
			t.Errorf("%s on disk differs from the built file", f.Name)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != len(want) {
		t.Errorf("%d entries in the folder (temp files left?), want %d", len(entries), len(want))
	}
	in.Rows = readStageFixtureAt(t, filepath.Join(dir, SplitRawRows))
	again, err := Split(in)
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if string(again[i].Data) != string(want[i].Data) {
			t.Errorf("%s changed when rebuilt from the written raw rows", want[i].Name)
		}
	}
	ref, err := LoadReference(filepath.Join(dir, SplitSummaryCSV), "")
	if err != nil {
		t.Fatal(err)
	}
	if ref.Label != filepath.Base(dir) || len(ref.Samples) != len(in.Samples) {
		t.Errorf("reference label %q with %d samples, want %q with %d", ref.Label, len(ref.Samples), filepath.Base(dir), len(in.Samples))
	}
	d := Compare(ref, ref)
	for _, r := range d.Table().Rows {
		for i := 6; i < 16; i += 3 {
			if r[i] != "+0.00%" {
				t.Errorf("self delta %v: column %s is %q", r[:2], DeltaHeader[i], r[i])
			}
		}
	}
}

func TestSplitErrors(t *testing.T) {
	rs := readStageFixture(t, "stage12_raw_rows.csv")
	dup := append(append(rs[:0:0], rs...), rs[0])
	if _, err := Split(SplitInput{Rows: dup}); err == nil || !strings.Contains(err.Error(), "two prefill rows") {
		t.Errorf("duplicate row: %v", err)
	}
	if _, err := Split(SplitInput{Rows: rs[:3]}); err == nil || !strings.Contains(err.Error(), "no decode_per_token row") {
		t.Errorf("lone prefill row: %v", err)
	}
	// Same split and mode but another overlap: the summary could not tell them apart.
	twin := append(rs[:0:0], rs...)
	for _, r := range rs[4:6] { // 18,18 pipeline_overlap
		r.Mode = "pipeline"
		twin = append(twin, r)
	}
	twin = append(twin[:4], twin[6:]...)
	if _, err := Split(SplitInput{Rows: append(twin, rs[4:6]...)}); err == nil || !strings.Contains(err.Error(), "distinct modes") {
		t.Errorf("summary key clash: %v", err)
	}
	if _, err := Split(SplitInput{Rows: rs, Failures: []Failure{{RunID: "x", ErrorHint: "segfault"}}}); err == nil {
		t.Error("an unknown error hint was accepted")
	}
	// No rows at all still gives every file, with empty tables and charts.
	files, err := Split(SplitInput{Meta: testMeta, Failures: []Failure{{RunID: "r1", ErrorHint: HintOOM}}})
	if err != nil {
		t.Fatal(err)
	}
	got := byName(t, files)
	checkSVG(t, SplitRolloutSVG, got[SplitRolloutSVG], TitleRollout+" (no data)")
	if !strings.Contains(string(got[SplitSummaryMD]), "0 runs finished, 1 failed.") {
		t.Errorf("empty summary:\n%s", got[SplitSummaryMD])
	}
	var nf *os.PathError
	if _, err := LoadReference(fixture("nope/stage12_split_summary.csv"), ""); !errors.As(err, &nf) {
		t.Errorf("missing reference: %v", err)
	}
}

func readStageFixtureAt(t *testing.T, path string) []rowsStage {
	t.Helper()
	rs, err := rowsReadStageFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}
