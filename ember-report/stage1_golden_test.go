package report

import (
	"strings"
	"testing"
)

// Fixture testdata/report/stage1_raw_rows.csv: two GPUs, split 18,18, 32 decode steps.
//
//	run                       prefill  decode/tok  rollout = prefill + decode × 32   share = prefill / rollout
//	S1 p128 pipeline          100      20          100 + 640 = 740                   13.5135 → 13.51
//	S2 p128 pipeline_overlap  90       20          90 + 640 = 730                    12.3288 → 12.33
//	S3 p512 pipeline          410      21          410 + 672 = 1082                  37.8928 → 37.89
//
// and one failure, p512 with overlap, out of memory at chunk 64.
func TestStage1Golden(t *testing.T) {
	files, err := Stage1(Stage1Input{
		Meta: testMeta,
		Rows: readStageFixture(t, "stage1_raw_rows.csv"),
		Failures: []Failure{{RunID: "p512_d32_o1", PromptLen: 512, DecodeSteps: 32, Overlap: true, ChunkLen: 64,
			ReturnCode: 3, ErrorHint: HintOOM, LogPath: "logs/p512_d32_o1_try4.log"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := byName(t, files)
	checkFileSet(t, got, []string{"stage1_raw_rows.csv", "stage1_summary.csv", "stage1_summary.md", "stage1_mainline_ready.csv",
		"stage1_mainline_ready.md", "p1_fig2_prefill_share.csv", "p2_stage_latency_components.csv", "stage1_failures.csv", "stage1_prefill_share.svg"})
	if string(got["stage1_raw_rows.csv"]) != string(mustRead(t, fixture("stage1_raw_rows.csv"))) {
		t.Errorf("stage1_raw_rows.csv differs from the fixture:\n%s", got["stage1_raw_rows.csv"])
	}

	// Order: gpus, split, mode (pipeline < pipeline_overlap), then prompt length.
	// Prefill attention/ffn/h2d: S1, S2 30/50/1; S3 150/200/4. Decode d2h 0.5 and sampling 0.5 everywhere.
	checkCSV(t, "stage1_summary.csv", got["stage1_summary.csv"], [][]string{
		{"gpus", "split", "mode", "decode_sampling", "prompt_len", "decode_steps", "prefill_wall_ms", "decode_per_token_ms", "rollout_total_ms_est", "prefill_share_pct", "prefill_attention_ms", "prefill_ffn_ms", "prefill_memcpy_h2d_ms", "decode_memcpy_d2h_ms", "decode_sampling_ms"},
		{"2", "18,18", "pipeline", "0", "128", "32", "100.000", "20.000", "740.000", "13.51", "30.000", "50.000", "1.000", "0.500", "0.500"},
		{"2", "18,18", "pipeline", "0", "512", "32", "410.000", "21.000", "1082.000", "37.89", "150.000", "200.000", "4.000", "0.500", "0.500"},
		{"2", "18,18", "pipeline_overlap", "0", "128", "32", "90.000", "20.000", "730.000", "12.33", "30.000", "50.000", "1.000", "0.500", "0.500"},
	})
	checkCSV(t, "p1_fig2_prefill_share.csv", got["p1_fig2_prefill_share.csv"], [][]string{
		{"gpus", "split", "mode", "decode_sampling", "prompt_len", "decode_steps", "prefill_wall_ms", "rollout_total_ms_est", "prefill_share_pct"},
		{"2", "18,18", "pipeline", "0", "128", "32", "100.000", "740.000", "13.51"},
		{"2", "18,18", "pipeline", "0", "512", "32", "410.000", "1082.000", "37.89"},
		{"2", "18,18", "pipeline_overlap", "0", "128", "32", "90.000", "730.000", "12.33"},
	})
	// Cells: p128 and p512 without overlap ran; p128 with overlap ran; p512 with overlap is the OOM.
	checkCSV(t, "stage1_mainline_ready.csv", got["stage1_mainline_ready.csv"], [][]string{
		{"prompt_len", "decode_steps", "overlap", "chunk_len", "status", "usable"},
		{"128", "32", "0", "128", "ok", "1"},
		{"128", "32", "1", "128", "ok", "1"},
		{"512", "32", "0", "512", "ok", "1"},
		{"512", "32", "1", "64", "oom", "0"},
	})
	checkCSV(t, "stage1_failures.csv", got["stage1_failures.csv"], [][]string{
		{"run_id", "prompt_len", "decode_steps", "overlap", "chunk_len", "return_code", "error_hint", "log_path"},
		{"p512_d32_o1", "512", "32", "1", "64", "3", "oom", "logs/p512_d32_o1_try4.log"},
	})

	// Components: each stage's ms and its share of the phase's wall; "other" = wall − the nine stages.
	// S1 prefill (wall 100): 0.5 4.5 30 50 5 1 0 0 4, other 100 − 95 = 5; shares are the ms themselves.
	// S1/S2 decode (wall 20): 0.1 0.9 5 10 1 0 0.5 0.5 1, other 20 − 19 = 1; share = ms × 5.
	// S2 prefill (wall 90): 0.5/90 = 0.56, 4.5/90 = 5.00, 30/90 = 33.33, 50/90 = 55.56, 5/90 = 5.56,
	//   1/90 = 1.11, 0, 0, 4/90 = 4.44, other 90 − 95 = −5 → −5/90 = −5.56.
	// S3 prefill (wall 410): 2/410 = 0.49, 18/410 = 4.39, 150/410 = 36.59, 200/410 = 48.78, 20/410 = 4.88,
	//   4/410 = 0.98, 0, 0, 4/410 = 0.98, other 410 − 398 = 12 → 12/410 = 2.93.
	// S3 decode (wall 21): 0.1/21 = 0.48, 0.9/21 = 4.29, 5/21 = 23.81, 10/21 = 47.62, 1/21 = 4.76, 0,
	//   0.5/21 = 2.38, 2.38, 1/21 = 4.76, other 21 − 19 = 2 → 9.52.
	names := []string{"embedding", "rmsnorm", "attention", "ffn", "p2p", "memcpy_h2d", "memcpy_d2h", "sampling", "lm_head", "other"}
	type phase struct {
		prompt, mode, phase string
		ms, pct             []string
	}
	decode20 := phase{ms: []string{"0.100", "0.900", "5.000", "10.000", "1.000", "0.000", "0.500", "0.500", "1.000", "1.000"},
		pct: []string{"0.50", "4.50", "25.00", "50.00", "5.00", "0.00", "2.50", "2.50", "5.00", "5.00"}}
	prefill95 := []string{"0.500", "4.500", "30.000", "50.000", "5.000", "1.000", "0.000", "0.000", "4.000"}
	phases := []phase{
		{"128", "pipeline", "prefill", append(prefill95, "5.000"), []string{"0.50", "4.50", "30.00", "50.00", "5.00", "1.00", "0.00", "0.00", "4.00", "5.00"}},
		{"128", "pipeline", "decode_per_token", decode20.ms, decode20.pct},
		{"512", "pipeline", "prefill", []string{"2.000", "18.000", "150.000", "200.000", "20.000", "4.000", "0.000", "0.000", "4.000", "12.000"},
			[]string{"0.49", "4.39", "36.59", "48.78", "4.88", "0.98", "0.00", "0.00", "0.98", "2.93"}},
		{"512", "pipeline", "decode_per_token", decode20.ms,
			[]string{"0.48", "4.29", "23.81", "47.62", "4.76", "0.00", "2.38", "2.38", "4.76", "9.52"}},
		{"128", "pipeline_overlap", "prefill", append(prefill95, "-5.000"), []string{"0.56", "5.00", "33.33", "55.56", "5.56", "1.11", "0.00", "0.00", "4.44", "-5.56"}},
		{"128", "pipeline_overlap", "decode_per_token", decode20.ms, decode20.pct},
	}
	want := [][]string{{"gpus", "split", "mode", "decode_sampling", "prompt_len", "decode_steps", "phase", "component", "ms", "pct_of_wall"}}
	for _, p := range phases {
		for i, n := range names {
			want = append(want, []string{"2", "18,18", p.mode, "0", p.prompt, "32", p.phase, n, p.ms[i], p.pct[i]})
		}
	}
	// S3's decode "other" is 21 − 19 = 2, not S1's 1.
	want[1+3*10+9][8] = "2.000"
	checkCSV(t, "p2_stage_latency_components.csv", got["p2_stage_latency_components.csv"], want)

	checkMarkdown(t, "stage1_summary.md", got["stage1_summary.md"], "Stage 1.1 milestone summary",
		"3 runs finished, 1 failed.",
		"| 2 | 18,18 | pipeline | 0 | 512 | 32 | 410.000 | 21.000 | 1082.000 | 37.89 | 150.000 | 200.000 | 4.000 | 0.500 | 0.500 |",
		"![Prefill share of rollout by prompt length](stage1_prefill_share.svg)",
		"| p512_d32_o1 | 512 | 32 | 1 | 64 | 3 | oom | logs/p512_d32_o1_try4.log |")
	checkMarkdown(t, "stage1_mainline_ready.md", got["stage1_mainline_ready.md"], "Stage 1.1 mainline readiness",
		"- mainline ready: no", "- combinations: 4", "- usable: 3 (6 raw rows)", "- failed: 1", "- out of memory: 1",
		"| 512 | 32 | 1 | 64 | oom | 0 |")
	checkSVG(t, "stage1_prefill_share.svg", got["stage1_prefill_share.svg"], TitlePrefillShare,
		"128", "512", "pipeline, 32 steps", "pipeline_overlap, 32 steps")
}

func TestStage1AllUsable(t *testing.T) {
	files, err := Stage1(Stage1Input{Meta: testMeta, Rows: readStageFixture(t, "stage1_raw_rows.csv")})
	if err != nil {
		t.Fatal(err)
	}
	got := byName(t, files)
	if !strings.Contains(string(got[Stage1MainlineReadyMD]), "- mainline ready: yes\n") {
		t.Errorf("no failures but not ready:\n%s", got[Stage1MainlineReadyMD])
	}
	checkCSV(t, Stage1Failures, got[Stage1Failures], [][]string{FailuresHeader})
}
