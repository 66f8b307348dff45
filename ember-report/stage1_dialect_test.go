package report

import (
	"strings"
	"testing"
	"time"

	"github.com/ember-infer/ember/ember-core/rows"
)

// s1Run is a one-GPU run of the stage 1.1 fixture: prefill attention 60, ffn
// 30, h2d 0.5; decode d2h 0.125, sampling 0.25.
func s1Run(id string, promptLen, steps int, prefillMS, decodeMS float64) SweepRun {
	cfg := rows.Config{Mode: rows.ModeNoOverlap, GPUs: "0", Split: "36", PromptLen: promptLen, DecodeSteps: steps, ChunkLen: 512, DecodeSampling: true}
	pre, dec := cfg, cfg
	pre.Phase, dec.Phase = rows.PhasePrefill, rows.PhaseDecodePerToken
	return SweepRun{ID: id, Rows: []rows.StageRow{
		{Config: pre, WallMS: prefillMS, Stages: rows.Stages{AttentionMS: 60, FFNMS: 30, MemcpyH2DMS: 0.5}, ProfileTotalMS: 90.5},
		{Config: dec, WallMS: decodeMS, Stages: rows.Stages{MemcpyD2HMS: 0.125, SamplingMS: 0.25}, ProfileTotalMS: 0.375},
	}}
}

// The fixture, in sweep order (prompt lengths 512, 1024 × decode steps 64,
// 128 on GPU 0), decode 10 ms/token throughout:
//
//	id prompt steps prefill rollout              share
//	1  512    64    100     100 + 640  = 740     100/740  = 13.5135 → 13.51
//	2  512    128   100     100 + 1280 = 1380    100/1380 = 7.2464  → 7.25
//	3  1024   64    250     250 + 640  = 890     250/890  = 28.0899 → 28.09
//	4  1024   128   failed: oom at chunk 64
//
// and run 9's runtime_unavailable failure carried over from an earlier sweep.
func TestStage1Golden(t *testing.T) {
	files, err := Stage1Files(Stage1Input{
		ModelDir: "/w/testdata/models/tiny-qwen3",
		Now:      time.Date(2026, 12, 3, 7, 8, 9, 0, time.UTC),
		Runs:     []SweepRun{s1Run("1", 512, 64, 100, 10), s1Run("2", 512, 128, 100, 10), s1Run("3", 1024, 64, 250, 10)},
		Failures: []Failure{
			{RunID: "9", PromptLen: 2048, DecodeSteps: 64, ChunkLen: 512, ReturnCode: 4, ErrorHint: HintRuntimeUnavailable, LogPath: "/r/logs/run_009_try3.log"},
			{RunID: "4", PromptLen: 1024, DecodeSteps: 128, ChunkLen: 64, ReturnCode: 3, ErrorHint: HintOOM, LogPath: "/r/logs/run_004_try4.log"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := byName(t, files)
	crlf := func(lines ...string) string { return strings.Join(lines, "\r\n") + "\r\n" }
	sumHeader := "gpus,split,mode,decode_sampling,prompt_len,decode_steps,prefill_wall_ms,decode_per_token_ms,rollout_total_ms_est,prefill_share_pct,prefill_attention_ms,prefill_ffn_ms,prefill_memcpy_h2d_ms,decode_memcpy_d2h_ms,decode_sampling_ms"
	r1 := "0,36,no_overlap,1,512,64,100.000,10.000,740.000,13.51,60.000,30.000,0.500,0.125,0.250"
	r2 := "0,36,no_overlap,1,512,128,100.000,10.000,1380.000,7.25,60.000,30.000,0.500,0.125,0.250"
	r3 := "0,36,no_overlap,1,1024,64,250.000,10.000,890.000,28.09,60.000,30.000,0.500,0.125,0.250"
	want := map[string]string{
		// Grouped and sorted as text: prompt "1024" < "512", steps "128" < "64".
		"stage1_summary.csv": crlf(sumHeader, r3, r2, r1),
		// Sorted by decode steps, then prompt length, as integers.
		"stage1_mainline_ready.csv": crlf(sumHeader+",coverage_note", r1+",ok", r3+",ok", r2+",ok"),
		"p1_fig2_prefill_share.csv": crlf("prompt_len,decode_steps,mode,prefill_share_pct,prefill_wall_ms,decode_per_token_ms",
			"512,64,no_overlap,13.51,100.000,10.000", "1024,64,no_overlap,28.09,250.000,10.000", "512,128,no_overlap,7.25,100.000,10.000"),
		// By run id as an integer: 4 before 9.
		"stage1_failures.csv": crlf("run_id,prompt_len,decode_steps,overlap,chunk_len,return_code,error_hint,log_path",
			"4,1024,128,0,64,3,oom,/r/logs/run_004_try4.log", "9,2048,64,0,512,4,runtime_unavailable,/r/logs/run_009_try3.log"),
		"stage1_summary.md": "# Stage 1.1 Milestone Summary\n\n- Model: `/w/testdata/models/tiny-qwen3`\n- Generated at: `2026-12-03T07:08:09`\n\n" +
			"| gpus | split | mode | prompt_len | decode_steps | prefill_ms | decode_per_token_ms | prefill_share_% |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n" +
			"| 0 | 36 | no_overlap | 1024 | 64 | 250.000 | 10.000 | 28.09 |\n| 0 | 36 | no_overlap | 512 | 128 | 100.000 | 10.000 | 7.25 |\n| 0 | 36 | no_overlap | 512 | 64 | 100.000 | 10.000 | 13.51 |\n\n" +
			"## Key Point\n- Highest prefill share: `28.09%` (prompt_len=1024, decode_steps=64, gpus=0, mode=no_overlap).\n",
		// Missing combos by prompt length: 1024 (run 4) before 2048 (run 9); every recommendation rule fires.
		"stage1_mainline_ready.md": "# Stage 1.1 Mainline Readiness\n\n- usable summary rows: 3\n- failed combos: 2\n- oom combos: 1\n\n## Missing Combos\n" +
			"- prompt_len=1024, decode_steps=128, overlap=0, chunk_len=64, hint=oom\n- prompt_len=2048, decode_steps=64, overlap=0, chunk_len=512, hint=runtime_unavailable\n\n" +
			"## Recommendation\n- Use current tiny-qwen3 results for Stage 1.1 mainline plots/tables.\n- Mark OOM combinations as boundary points in analysis.\n" +
			"- Current rerun hit transient CUDA runtime availability errors on some missing combinations.\n" +
			"- For strict full-grid coverage, rerun missing combinations after CUDA environment is stable.\n",
	}
	for name, w := range want {
		if string(got[name]) != w {
			t.Errorf("%s:\n got %q\nwant %q", name, got[name], w)
		}
	}
	// Raw rows in sweep order with model_dir and run_id; components by run id, prefill first.
	raw := strings.Split(strings.TrimSuffix(string(got["stage1_raw_rows.csv"]), "\r\n"), "\r\n")
	if raw[0] != strings.Join(rows.StageHeader, ",")+",model_dir,run_id" || len(raw) != 7 ||
		raw[6] != "decode_per_token,no_overlap,0,36,1024,64,512,0,1,10.000,0.000,0.000,0.000,0.000,0.000,0.000,0.125,0.250,0.000,0.375,/w/testdata/models/tiny-qwen3,3" {
		t.Errorf("raw rows %q", raw)
	}
	comp := strings.Split(strings.TrimSuffix(string(got["p2_stage_latency_components.csv"]), "\r\n"), "\r\n")
	if comp[0] != "run_id,phase,mode,prompt_len,decode_steps,wall_ms,embedding_ms,rmsnorm_ms,attention_ms,ffn_ms,p2p_ms,memcpy_h2d_ms,memcpy_d2h_ms,sampling_ms,lm_head_ms,profile_total_ms" ||
		len(comp) != 7 || comp[1] != "1,prefill,no_overlap,512,64,100.000,0.000,0.000,60.000,30.000,0.000,0.500,0.000,0.000,0.000,90.500" {
		t.Errorf("components %q", comp)
	}

	// Nothing finished and nothing failed: only the markdown files and the
	// failures header; readiness says full coverage.
	files, err = Stage1Files(Stage1Input{ModelDir: "/m/x", Now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	got = byName(t, files)
	for _, name := range []string{"stage1_raw_rows.csv", "stage1_summary.csv", "stage1_mainline_ready.csv", "p1_fig2_prefill_share.csv", "p2_stage_latency_components.csv"} {
		if _, ok := got[name]; ok {
			t.Errorf("%s written without rows", name)
		}
	}
	if !strings.HasSuffix(string(got["stage1_summary.md"]), "\n\n_No data rows were generated._\n") ||
		!strings.HasSuffix(string(got["stage1_mainline_ready.md"]), "## Missing Combos\n- none\n\n## Recommendation\n- Use current x results for Stage 1.1 mainline plots/tables.\n- Full grid coverage achieved for current Stage 1.1 matrix.\n") {
		t.Errorf("empty folder markdown:\n%s\n%s", got["stage1_summary.md"], got["stage1_mainline_ready.md"])
	}
}
