package report

import (
	"strings"
	"testing"
	"time"
)

// The stage 1.4 fixture, worked by hand: the 9+27 overlap row has prefill
// 100 ms and 2.5 ms per token, so 128 decode steps are 320 ms; 2 prompts × 3
// candidates = 6 requests. The 1024-token prefix row costs 40 ms once and
// 300 ms of suffixes over 10 docs (30 ms per request).
//
//	naive        6 × (100 + 320)            = 2520 per round → 7560 after 3
//	prefix_only  40 + 6 × (30 + 320)        = 2140 per round → 6420
//	locality     r1 2520, r2 refresh (k=2) 2520, r3 6 × (50 + 320) = 2220 → 7260
//
// 7560 ms = 0.002100 h (×2 GPUs 0.004200); 6420 ms = 0.001783 h (0.003567);
// 7260 ms = 0.002017 h (0.004033). Reductions: 1140/7560 = 15.079 %,
// 300/7560 = 3.968 %.
func stage14Fixture(t *testing.T) Stage14Input {
	t.Helper()
	base, err := ReadDictCSV([]byte("split,mode,prompt_len,decode_steps,prefill_wall_ms,decode_per_token_ms\n" +
		"9+27,no_overlap,2048,128,130.000,2.600\n" +
		"9+27,overlap,2048,128,100.000,2.500\n" +
		"18+18,overlap,2048,128,90.000,2.400\n"))
	if err != nil {
		t.Fatal(err)
	}
	prefix, err := ReadDictCSV([]byte("prefix_len,num_docs,cache_prefix_once_ms,cache_suffix_total_ms\r\n512,10,20.000,400.000\r\n1024,10,40.000,300.000\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	return Stage14Input{Base: base, BaseName: "stage12_split_summary.csv", Split: "9+27", Mode: "overlap", PromptLen: 2048, DecodeSteps: 128,
		NumPrompts: 2, NumCandidates: 3, NumRounds: 3, NumGPUs: 2, Prefix: prefix, PrefixName: "stage13_prefix_cache_sweep.csv", PrefixLen: 1024,
		LocalityRatio: 0.5, RefreshK: 2, PolicyName: "update_locality", Now: time.Date(2026, 12, 3, 6, 40, 5, 0, time.UTC)}
}

func fileMap(fs []File) map[string]string {
	m := map[string]string{}
	for _, f := range fs {
		m[f.Name] = string(f.Data)
	}
	return m
}

func TestStage14Golden(t *testing.T) {
	files, err := Stage14(stage14Fixture(t))
	if err != nil {
		t.Fatal(err)
	}
	got := fileMap(files)
	wantSummary := "num_rounds,strategy,cumulative_ms,cumulative_wall_hours,cumulative_gpu_hours,reduction_vs_naive_pct\r\n" +
		"3,naive,7560.000,0.002100,0.004200,0.000\r\n" +
		"3,prefix_only,6420.000,0.001783,0.003567,15.079\r\n" +
		"3,update_locality,7260.000,0.002017,0.004033,3.968\r\n"
	if got["stage14_summary.csv"] != wantSummary {
		t.Errorf("stage14_summary.csv:\n%q\nwant\n%q", got["stage14_summary.csv"], wantSummary)
	}
	// 2520 ms = 0.000700 h; 2140 ms = 0.000594 h (0.001189 on 2 GPUs); the
	// third round's locality 2220 ms brings it to 7260.
	wantRounds := "round,strategy,round_ms,cumulative_ms,cumulative_wall_hours,cumulative_gpu_hours\r\n" +
		"1,naive,2520.000,2520.000,0.000700,0.001400\r\n" +
		"1,prefix_only,2140.000,2140.000,0.000594,0.001189\r\n" +
		"1,update_locality,2520.000,2520.000,0.000700,0.001400\r\n" +
		"2,naive,2520.000,5040.000,0.001400,0.002800\r\n" +
		"2,prefix_only,2140.000,4280.000,0.001189,0.002378\r\n" +
		"2,update_locality,2520.000,5040.000,0.001400,0.002800\r\n" +
		"3,naive,2520.000,7560.000,0.002100,0.004200\r\n" +
		"3,prefix_only,2140.000,6420.000,0.001783,0.003567\r\n" +
		"3,update_locality,2220.000,7260.000,0.002017,0.004033\r\n"
	if got["stage14_per_round.csv"] != wantRounds {
		t.Errorf("stage14_per_round.csv:\n%s\nwant\n%s", got["stage14_per_round.csv"], wantRounds)
	}
	wantMD := "# Stage 1.4 Cumulative Cost Simulation\n\n" +
		"- Generated at: `2026-12-03T06:40:05`\n" +
		"- Base row: split=9+27, mode=overlap, prompt_len=2048, decode_steps=128\n" +
		"- Base timing source: base timing from stage12_split_summary.csv (split=9+27, mode=overlap)\n" +
		"- Requests per round: num_prompts=2, num_candidates=3, total=6\n" +
		"- Locality assumptions: recompute_ratio=0.5, periodic_refresh_k=2\n" +
		"- Prefix assumptions: prefix reuse constants from stage13_prefix_cache_sweep.csv: prefix_once=40.000ms, suffix_per_req=30.000ms\n" +
		"- Policy assumptions: locality ratio from --locality-recompute-ratio + --periodic-refresh-k\n\n" +
		"| strategy | cumulative_ms | cumulative_wall_hours | cumulative_gpu_hours | reduction_vs_naive_% |\n| --- | --- | --- | --- | --- |\n" +
		"| naive | 7560.000 | 0.002100 | 0.004200 | 0.000 |\n" +
		"| prefix_only | 6420.000 | 0.001783 | 0.003567 | 15.079 |\n" +
		"| update_locality | 7260.000 | 0.002017 | 0.004033 | 3.968 |\n"
	if got["stage14_summary.md"] != wantMD {
		t.Errorf("stage14_summary.md:\n%s\nwant\n%s", got["stage14_summary.md"], wantMD)
	}
	wantP1 := "# Stage1.4 P1 Input (2026-12-03)\n\n" +
		"Setting: rounds=3, prompts=2, candidates=3, split=9+27, mode=overlap\n" +
		"Base timing: prefill_full_ms=100.000, decode_per_token_ms=2.500, decode_total_ms=320.000\n" +
		"Prefix constants: prefix_once_ms=40.000, suffix_per_req_ms=30.000\n" +
		"Locality constants: recompute_ratio=0.500, periodic_refresh_k=2\n\n" +
		"## 30-round cumulative (or configured rounds)\n" +
		"- naive: cumulative_gpu_hours=0.004200, reduction_vs_naive=0.000%\n" +
		"- prefix_only: cumulative_gpu_hours=0.003567, reduction_vs_naive=15.079%\n" +
		"- update_locality: cumulative_gpu_hours=0.004033, reduction_vs_naive=3.968%\n"
	if got["stage14_p1_input.md"] != wantP1 {
		t.Errorf("stage14_p1_input.md:\n%s\nwant\n%s", got["stage14_p1_input.md"], wantP1)
	}
}

// TestStage14Paths: without a prefix sweep prefix_only is naive; a policy
// file sets each round's ratio (round 1: 1.0, 2: 0.25, 3: 0.5: locality
// 2520 + 6 × (25 + 320) = 2070 + 2220 = 6810); and the lookups fail with
// upstream's messages.
func TestStage14Paths(t *testing.T) {
	in := stage14Fixture(t)
	in.Prefix = nil
	files, err := Stage14(in)
	if err != nil {
		t.Fatal(err)
	}
	if s := fileMap(files)["stage14_summary.csv"]; !strings.Contains(s, "3,prefix_only,7560.000,0.002100,0.004200,0.000\r\n") {
		t.Errorf("no prefix sweep: %s", s)
	}
	in = stage14Fixture(t)
	in.Policy, _ = ReadDictCSV([]byte("policy,round,recompute_ratio\nother,1,0.1\nupdate_locality,1,1.0\nupdate_locality,2,0.25\nupdate_locality,3,0.5\n"))
	in.PolicyFileName = "stage33_policy_per_round.csv"
	files, err = Stage14(in)
	if err != nil {
		t.Fatal(err)
	}
	got := fileMap(files)
	if s := got["stage14_summary.csv"]; !strings.Contains(s, "3,update_locality,6810.000,") {
		t.Errorf("policy ratios: %s", s)
	}
	if !strings.Contains(got["stage14_summary.md"], "- Policy assumptions: locality ratio from stage33_policy_per_round.csv policy=update_locality\n") {
		t.Errorf("policy note missing:\n%s", got["stage14_summary.md"])
	}
	in.NumRounds = 4
	if _, err := Stage14(in); err == nil || err.Error() != "policy='update_locality' missing rounds in stage33_policy_per_round.csv: 4" {
		t.Errorf("missing round: %v", err)
	}
	in = stage14Fixture(t)
	in.Split = "12+24"
	if _, err := Stage14(in); err == nil || err.Error() != "failed to find stage12 row for split=12+24, mode=overlap, prompt_len=2048, decode_steps=128" {
		t.Errorf("missing row: %v", err)
	}
	in = stage14Fixture(t)
	in.PrefixLen = 1000
	if _, err := Stage14(in); err == nil || err.Error() != "prefix_len=1000 not found in stage13_prefix_cache_sweep.csv" {
		t.Errorf("missing prefix row: %v", err)
	}
}

func TestPyRepr(t *testing.T) {
	for v, want := range map[float64]string{0.5: "0.5", 1: "1.0", 0: "0.0", 1e-5: "1e-05", 0.0001: "0.0001", 1.5e16: "1.5e+16", 123.25: "123.25"} {
		if got := pyRepr(v); got != want {
			t.Errorf("pyRepr(%g) = %q, want %q", v, got, want)
		}
	}
}
