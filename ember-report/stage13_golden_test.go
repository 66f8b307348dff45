package report

import (
	"strings"
	"testing"
	"time"
)

// The stage 1.3 fixture, by hand: 4 docs of 2048 tokens sharing 1024. Without
// the cache 1000 ms; with it 100 ms for the prefix once and 600 ms of
// suffixes = 700 ms. Per doc 250 and 175 ms; speedup 1000/700 = 1.429;
// savings 30 %; the theoretical savings 1024 × 3 / (4 × 2048) = 37.5 %.
var stage13Run1024 = Stage13Run{GPUs: "0+1", Split: "9+27", Mode: "overlap", PromptLen: 2048, PrefixLen: 1024, NumDocs: 4, Iters: 1,
	NoCacheTotalMS: 1000, WithCacheTotalMS: 700, CachePrefixOnceMS: 100, CacheSuffixTotalMS: 600}

const stage13Raw1024 = "0+1,9+27,overlap,2048,1024,1024,4,1,0,1000.000,700.000,100.000,600.000,250.000,175.000,1.429,30.000,37.500"

func TestStage13RunCSV(t *testing.T) {
	want := strings.Join(Stage13Header, ",") + "\n" + stage13Raw1024 + "\n"
	if got := string(stage13Run1024.CSV()); got != want {
		t.Errorf("raw CSV:\n%s\nwant\n%s", got, want)
	}
}

// TestStage13Golden: runs come back in run order (1024, then 0) and the
// sweep sorts them by prefix_len; the failed 512 run is listed.
func TestStage13Golden(t *testing.T) {
	zero := Stage13Run{GPUs: "0+1", Split: "9+27", Mode: "overlap", PromptLen: 2048, NumDocs: 4, Iters: 1,
		NoCacheTotalMS: 1000, WithCacheTotalMS: 1000, CacheSuffixTotalMS: 1000}
	var rows []Stage13Row
	for _, r := range []Stage13Run{stage13Run1024, zero} {
		lines := strings.Split(strings.TrimSpace(string(r.CSV())), "\n")
		rows = append(rows, Stage13Row{Header: strings.Split(lines[0], ","), Cells: strings.Split(lines[1], ",")})
	}
	files := fileMap(Stage13(Stage13Input{ModelDir: "/m/q4b", PromptLen: 2048, NumDocs: 4, Overlap: true, Rows: rows,
		Failures: []Stage13Failure{{512, "1", "/r/logs/run_002.log"}}, Now: time.Date(2026, 12, 3, 7, 1, 2, 0, time.UTC)}))
	zeroRaw := "0+1,9+27,overlap,2048,0,2048,4,1,0,1000.000,1000.000,0.000,1000.000,250.000,250.000,1.000,0.000,0.000"
	if want := strings.Join(Stage13Header, ",") + "\r\n" + zeroRaw + "\r\n" + stage13Raw1024 + "\r\n"; files["stage13_prefix_cache_sweep.csv"] != want {
		t.Errorf("sweep:\n%q\nwant\n%q", files["stage13_prefix_cache_sweep.csv"], want)
	}
	wantMD := "# Stage 1.3 Prefix Cache Sweep\n\n- Model: `/m/q4b`\n- Prompt length: `2048`\n- Docs per run: `4`\n- Generated at: `2026-12-03T07:01:02`\n\n" +
		"| prefix_len | suffix_len | no_cache_total_ms | with_cache_total_ms | speedup_x | savings_% | theoretical_savings_% |\n| --- | --- | --- | --- | --- | --- | --- |\n" +
		"| 0 | 2048 | 1000.000 | 1000.000 | 1.000 | 0.000 | 0.000 |\n" +
		"| 1024 | 1024 | 1000.000 | 700.000 | 1.429 | 30.000 | 37.500 |\n\n" +
		"## Key Point\n- Best measured savings: prefix_len=1024 -> `30.000%` (`1.429x`).\n- Shared-prefix ~1k tokens result: savings `30.000%`, speedup `1.429x`.\n"
	if files["stage13_prefix_cache_summary.md"] != wantMD {
		t.Errorf("summary:\n%s\nwant\n%s", files["stage13_prefix_cache_summary.md"], wantMD)
	}
	wantP1 := "# Stage1.3 P1 Input (2026-12-03)\n\nModel: /m/q4b\nSetting: prompt_len=2048, num_docs=4, mode=overlap\n\n" +
		"## Best point\n- prefix_len=1024, savings=30.000%, speedup=1.429x\n\n" +
		"## Shared prefix ~1k tokens\n- prefix_len=1024, savings=30.000%, speedup=1.429x\n- no_cache_total_ms=1000.000, with_cache_total_ms=700.000\n"
	if files["stage13_p1_input.md"] != wantP1 {
		t.Errorf("p1:\n%s\nwant\n%s", files["stage13_p1_input.md"], wantP1)
	}
	if want := "prefix_len,return_code,log_path\r\n512,1,/r/logs/run_002.log\r\n"; files["stage13_failures.csv"] != want {
		t.Errorf("failures: %q", files["stage13_failures.csv"])
	}
	// Every run failed: only the failures file, with its header.
	only := Stage13(Stage13Input{Failures: []Stage13Failure{{0, "empty_csv", "l"}}})
	if len(only) != 1 || string(only[0].Data) != "prefix_len,return_code,log_path\r\n0,empty_csv,l\r\n" {
		t.Errorf("all failed: %+v", only)
	}
}

// The stage 2.1 fixture: 2 candidates of 3 tokens each; prefill 20 ms and
// decode 40 ms = 60 ms total; 6 tokens → 100 tok/s. Candidate averages
// -1.5 and -0.5 (mean -1.0); candidate 1 has the best sum, -1.5.
func TestStage21Golden(t *testing.T) {
	r := Stage21Run{PromptLen: 16, GenLen: 3, NumCandidates: 2, GPUs: "0", Split: "9+27", PrefillMS: 20, DecodeMS: 40,
		TotalGenTokens: 6, Temperature: 0.7, TopP: 0.9, TopK: 40}
	wantRow := "multi_candidate_rollout,16,3,2,0,9+27,20.000,40.000,60.000,6,100.000,0.700,0.900,40"
	if got := string(r.CSV()); got != strings.Join(Stage21Header, ",")+"\n"+wantRow+"\n" {
		t.Errorf("csv: %s", got)
	}
	jsonl := `{"candidate_id":0,"num_tokens":3,"sum_logprob":-4.500000,"avg_logprob":-1.500000,"tokens":[1,2,3],"token_logprobs":[-1.000000,-2.000000,-1.500000],"text":"a"}
{"candidate_id":1,"num_tokens":3,"sum_logprob":-1.500000,"avg_logprob":-0.500000,"tokens":[4,5,6],"token_logprobs":[-0.500000,-0.500000,-0.500000],"text":"b"}
`
	files, err := Stage21(Stage21Input{ModelDir: "/m", Header: Stage21Header, Row: r.Row(), Candidates: []byte(jsonl), Now: time.Date(2026, 12, 3, 7, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	got := fileMap(files)
	wantMD := "# Stage 2.1 Multi-Candidate Rollout\n\n- Model: `/m`\n- Generated at: `2026-12-03T07:00:00`\n\n| metric | value |\n| --- | --- |\n" +
		"| prompt_len | `16` |\n| gen_len | `3` |\n| num_candidates | `2` |\n| gpus | `0` |\n| split | `9+27` |\n| prefill_ms | `20.000` |\n| decode_ms | `40.000` |\n" +
		"| total_ms | `60.000` |\n| total_gen_tokens | `6` |\n| gen_tok_s | `100.000` |\n| temperature | `0.700` |\n| top_p | `0.900` |\n| top_k | `40` |\n\n" +
		"## Candidate Stats\n- mean(avg_logprob): `-1.000000`\n- best candidate id: `1`\n- best sum_logprob: `-1.500000`\n"
	if got["stage21_summary.md"] != wantMD {
		t.Errorf("summary:\n%s\nwant\n%s", got["stage21_summary.md"], wantMD)
	}
	wantP1 := "# P1/P4 Input — Multi-Candidate Rollout\n\n- Rollout throughput: `100.000` tok/s (total_gen_tokens=6, total_ms=60.000).\n" +
		"- Multi-candidate setting: num_candidates=`2`, gen_len=`3`.\n- Mean per-candidate avg_logprob: `-1.000000`.\n"
	if got["stage21_p1_input.md"] != wantP1 {
		t.Errorf("p1:\n%s\nwant\n%s", got["stage21_p1_input.md"], wantP1)
	}
	if _, err := Stage21(Stage21Input{Candidates: []byte("{bad\n")}); err == nil {
		t.Error("a broken candidates line was accepted")
	}
}
