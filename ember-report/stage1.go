package report

import (
	"bytes"
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/ember-infer/ember/ember-core/rows"
)

// File names of a stage 1.1 milestone folder (reports/stage1_milestone_<timestamp>/).
const (
	// Stage1RawRows holds every run's raw stage rows (rows.StageHeader).
	Stage1RawRows = "stage1_raw_rows.csv"
	// Stage1RawSamples holds the per-iteration samples (rows.SampleHeader), when there are any.
	Stage1RawSamples = "stage1_raw_samples.csv"
	// Stage1Summary is the summary, one row per run (Stage1SummaryHeader).
	Stage1Summary = "stage1_summary.csv"
	// Stage1SummaryMD is the markdown of Stage1Summary.
	Stage1SummaryMD = "stage1_summary.md"
	// Stage1MainlineReady is the matrix coverage (MainlineHeader).
	Stage1MainlineReady = "stage1_mainline_ready.csv"
	// Stage1MainlineReadyMD is the coverage's markdown, with its verdict and counts.
	Stage1MainlineReadyMD = "stage1_mainline_ready.md"
	// Stage1Fig2 is the data of P1's figure 2, prefill share (Fig2Header).
	Stage1Fig2 = "p1_fig2_prefill_share.csv"
	// Stage1P2Components is P2's stage latency components (ComponentsHeader).
	Stage1P2Components = "p2_stage_latency_components.csv"
	// Stage1Failures lists the runs that failed for good (FailuresHeader).
	Stage1Failures = "stage1_failures.csv"
	// Stage1PrefillShareSVG charts the prefill share by prompt length.
	Stage1PrefillShareSVG = "stage1_prefill_share.svg"
	// EmberStage1MD is Ember's own markdown of a stage 1.1 folder: command,
	// backend, devices, the chart and the stage breakdown of every run.
	EmberStage1MD = "ember_stage1_report.md"
)

// Stage1Input is what a stage 1.1 sweep hands the report: the finished runs
// in sweep order, the failures (those of this sweep and those an earlier
// sweep of the folder recorded for runs outside this one's matrix), the
// per-iteration samples, and the resolved snapshot folder.
type Stage1Input struct {
	Meta     Meta
	ModelDir string
	// ModelLabel names the results in stage1_mainline_ready.md; "" is
	// PrettyModelName(ModelDir). (Upstream's text always said "8B".)
	ModelLabel string
	Now        time.Time
	Runs       []SweepRun
	Failures   []Failure
	Samples    []rows.SampleRow
}

// Stage1RawRowsOf is stage1_raw_rows.csv as the milestone script builds it:
// every finished run's rows in sweep order, with model_dir and run_id added.
func Stage1RawRowsOf(runs []SweepRun, modelDir string) RecTable {
	var all []Rec
	for _, r := range runs {
		for _, rec := range stageRecs(r.Rows) {
			rec["model_dir"], rec["run_id"] = modelDir, r.ID
			all = append(all, rec)
		}
	}
	return RecTable{Header: append(slices.Clone(rows.StageHeader), "model_dir", "run_id"), Rows: all}
}

// Stage1SummaryHeader is the header of stage1_summary.csv.
var Stage1SummaryHeader = []string{"gpus", "split", "mode", "decode_sampling", "prompt_len", "decode_steps",
	"prefill_wall_ms", "decode_per_token_ms", "rollout_total_ms_est", "prefill_share_pct",
	"prefill_attention_ms", "prefill_ffn_ms", "prefill_memcpy_h2d_ms", "decode_memcpy_d2h_ms", "decode_sampling_ms"}

// Stage1SummaryOf is the milestone script's summarize: rows grouped by (gpus,
// split, mode, decode_sampling, prompt_len, decode_steps) as text, groups in
// text order (so prompt 1024 sorts before 512), groups without a prefill row
// left out; the stage cells are copied as they are.
func Stage1SummaryOf(raw []Rec) []Rec {
	var out []Rec
	for _, g := range groupRecs(raw, []string{"gpus", "split", "mode", "decode_sampling", "prompt_len", "decode_steps"}, "phase") {
		pre, ok := g.by[rows.PhasePrefill]
		if !ok {
			continue
		}
		dec := g.by[rows.PhaseDecodePerToken]
		steps := get(pre, "decode_steps", "0")
		preMS, decMS, total := rolloutEst(pre, dec)
		share := 0.0
		if total > 0 {
			share = preMS / total * 100
		}
		out = append(out, Rec{
			"gpus": g.key[0], "split": g.key[1], "mode": get(pre, "mode", ""), "decode_sampling": get(pre, "decode_sampling", ""),
			"prompt_len": get(pre, "prompt_len", "0"), "decode_steps": steps,
			"prefill_wall_ms": pyFixed(preMS, 3), "decode_per_token_ms": pyFixed(decMS, 3),
			"rollout_total_ms_est": pyFixed(total, 3), "prefill_share_pct": pyFixed(share, 2),
			"prefill_attention_ms": get(pre, "attention_ms", "0"), "prefill_ffn_ms": get(pre, "ffn_ms", "0"),
			"prefill_memcpy_h2d_ms": get(pre, "memcpy_h2d_ms", "0"),
			"decode_memcpy_d2h_ms":  get(dec, "memcpy_d2h_ms", "0"), "decode_sampling_ms": get(dec, "sampling_ms", "0"),
		})
	}
	return out
}

// Stage1SummaryMarkdown is stage1_summary.md as the script writes it.
func Stage1SummaryMarkdown(modelDir string, now time.Time, summary []Rec) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Stage 1.1 Milestone Summary\n\n- Model: `%s`\n- Generated at: `%s`\n\n", modelDir, pyNow(now))
	if len(summary) == 0 {
		b.WriteString("_No data rows were generated._\n")
		return b.String()
	}
	b.WriteString("| gpus | split | mode | prompt_len | decode_steps | prefill_ms | decode_per_token_ms | prefill_share_% |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, r := range summary {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", r["gpus"], r["split"], r["mode"], r["prompt_len"], r["decode_steps"],
			r["prefill_wall_ms"], r["decode_per_token_ms"], r["prefill_share_pct"])
	}
	best := summary[0]
	for _, r := range summary[1:] {
		if pyFloat(r["prefill_share_pct"]) > pyFloat(best["prefill_share_pct"]) {
			best = r
		}
	}
	fmt.Fprintf(&b, "\n## Key Point\n- Highest prefill share: `%s%%` (prompt_len=%s, decode_steps=%s, gpus=%s, mode=%s).\n",
		best["prefill_share_pct"], best["prompt_len"], best["decode_steps"], best["gpus"], best["mode"])
	return b.String()
}

// Stage1Mainline is stage1_mainline_ready.csv's rows: the summary rows with
// coverage_note "ok", sorted by gpus, split, mode (text), then decode_steps
// and prompt_len as integers.
func Stage1Mainline(summary []Rec) []Rec {
	out := make([]Rec, len(summary))
	for i, r := range summary {
		c := maps.Clone(r)
		c["coverage_note"] = StatusOK
		out[i] = c
	}
	slices.SortStableFunc(out, func(a, b Rec) int {
		return cmp.Or(strings.Compare(a["gpus"], b["gpus"]), strings.Compare(a["split"], b["split"]), strings.Compare(a["mode"], b["mode"]),
			cmp.Compare(pyInt(a["decode_steps"]), pyInt(b["decode_steps"])), cmp.Compare(pyInt(a["prompt_len"]), pyInt(b["prompt_len"])))
	})
	return out
}

// Stage1MainlineMD is stage1_mainline_ready.md with the script's
// recommendation rules; model names the results in the first recommendation
// (upstream's text always said "8B").
func Stage1MainlineMD(model string, usable int, failed []Failure) string {
	var oom, runtime int
	for _, f := range failed {
		switch f.ErrorHint {
		case HintOOM:
			oom++
		case HintRuntimeUnavailable:
			runtime++
		}
	}
	missing := slices.Clone(failed)
	slices.SortStableFunc(missing, func(a, b Failure) int {
		return cmp.Or(cmp.Compare(a.PromptLen, b.PromptLen), cmp.Compare(a.DecodeSteps, b.DecodeSteps),
			strings.Compare(boolCell(a.Overlap), boolCell(b.Overlap)), cmp.Compare(a.ChunkLen, b.ChunkLen))
	})
	var b strings.Builder
	fmt.Fprintf(&b, "# Stage 1.1 Mainline Readiness\n\n- usable summary rows: %d\n- failed combos: %d\n- oom combos: %d\n\n## Missing Combos\n", usable, len(failed), oom)
	if len(missing) == 0 {
		b.WriteString("- none\n")
	}
	for _, f := range missing {
		fmt.Fprintf(&b, "- prompt_len=%d, decode_steps=%d, overlap=%s, chunk_len=%d, hint=%s\n", f.PromptLen, f.DecodeSteps, boolCell(f.Overlap), f.ChunkLen, f.ErrorHint)
	}
	fmt.Fprintf(&b, "\n## Recommendation\n- Use current %s results for Stage 1.1 mainline plots/tables.\n", model)
	if oom > 0 {
		b.WriteString("- Mark OOM combinations as boundary points in analysis.\n")
	}
	if runtime > 0 {
		b.WriteString("- Current rerun hit transient CUDA runtime availability errors on some missing combinations.\n")
	}
	if len(missing) > 0 {
		b.WriteString("- For strict full-grid coverage, rerun missing combinations after CUDA environment is stable.\n")
	} else {
		b.WriteString("- Full grid coverage achieved for current Stage 1.1 matrix.\n")
	}
	return b.String()
}

// Stage1Fig2Header is the header of p1_fig2_prefill_share.csv.
var Stage1Fig2Header = []string{"prompt_len", "decode_steps", "mode", "prefill_share_pct", "prefill_wall_ms", "decode_per_token_ms"}

// Stage1Fig2Of is p1_fig2_prefill_share.csv's rows, sorted by mode (text),
// decode_steps and prompt_len (integers).
func Stage1Fig2Of(summary []Rec) []Rec {
	out := project(summary, Stage1Fig2Header)
	slices.SortStableFunc(out, func(a, b Rec) int {
		return cmp.Or(strings.Compare(a["mode"], b["mode"]), cmp.Compare(pyInt(a["decode_steps"]), pyInt(b["decode_steps"])), cmp.Compare(pyInt(a["prompt_len"]), pyInt(b["prompt_len"])))
	})
	return out
}

// project is recs with only the cells of header.
func project(recs []Rec, header []string) []Rec {
	out := make([]Rec, len(recs))
	for i, r := range recs {
		c := Rec{}
		for _, h := range header {
			c[h] = r[h]
		}
		out[i] = c
	}
	return out
}

// Stage1ComponentsHeader is the header of p2_stage_latency_components.csv.
var Stage1ComponentsHeader = []string{"run_id", "phase", "mode", "prompt_len", "decode_steps", "wall_ms", "embedding_ms", "rmsnorm_ms",
	"attention_ms", "ffn_ms", "p2p_ms", "memcpy_h2d_ms", "memcpy_d2h_ms", "sampling_ms", "lm_head_ms", "profile_total_ms"}

// Stage1Components is p2_stage_latency_components.csv's rows: every raw row's
// cells, sorted by run_id (integer), prefill before decode_per_token.
func Stage1Components(raw []Rec) []Rec {
	order := func(p string) int {
		switch p {
		case rows.PhasePrefill:
			return 0
		case rows.PhaseDecodePerToken:
			return 1
		}
		return 99
	}
	out := project(raw, Stage1ComponentsHeader)
	slices.SortStableFunc(out, func(a, b Rec) int {
		return cmp.Or(cmp.Compare(pyInt(a["run_id"]), pyInt(b["run_id"])), cmp.Compare(order(a["phase"]), order(b["phase"])))
	})
	return out
}

// ReadFailures reads a stage1_failures.csv (or stage12_failures.csv) that an
// earlier sweep wrote, for a re-run of the folder to carry over.
func ReadFailures(path string) ([]Failure, error) {
	t, err := ReadRecsFile(path)
	if err != nil {
		return nil, err
	}
	var out []Failure
	for _, r := range t.Rows {
		if r["run_id"] == "" {
			continue
		}
		out = append(out, Failure{RunID: r["run_id"], Split: r["split"], PromptLen: pyInt(r["prompt_len"]), DecodeSteps: pyInt(r["decode_steps"]),
			Overlap: strings.TrimSpace(r["overlap"]) == "1", ChunkLen: pyInt(r["chunk_len"]), ReturnCode: pyInt(r["return_code"]),
			ErrorHint: r["error_hint"], LogPath: r["log_path"]})
	}
	return out, nil
}

// Stage1Files builds the files the milestone script writes, each only when
// the script would (a CSV without rows is not written; the failures always
// are), and Ember's own files beside them.
func Stage1Files(in Stage1Input) ([]File, error) {
	if err := checkFailures(in.Failures); err != nil {
		return nil, err
	}
	fails := slices.Clone(in.Failures)
	slices.SortStableFunc(fails, func(a, b Failure) int { return cmp.Compare(pyInt(a.RunID), pyInt(b.RunID)) })
	raw := Stage1RawRowsOf(in.Runs, in.ModelDir)
	summary := Stage1SummaryOf(raw.Rows)
	var files []File
	add := func(name string, header []string, rs []Rec) {
		if len(rs) > 0 {
			files = append(files, File{name, RecTable{Header: header, Rows: rs}.CSV()})
		}
	}
	add(Stage1RawRows, raw.Header, raw.Rows)
	add(Stage1Summary, Stage1SummaryHeader, summary)
	files = append(files, File{Stage1SummaryMD, []byte(Stage1SummaryMarkdown(in.ModelDir, in.Now, summary))})
	files = append(files, File{Stage1Failures, RecTable{Header: Stage1FailuresHeader, Rows: failureRecs(fails)}.CSV()})
	add(Stage1MainlineReady, append(slices.Clone(Stage1SummaryHeader), "coverage_note"), Stage1Mainline(summary))
	files = append(files, File{Stage1MainlineReadyMD, []byte(Stage1MainlineMD(cmp.Or(in.ModelLabel, PrettyModelName(in.ModelDir)), len(summary), fails))})
	add(Stage1Fig2, Stage1Fig2Header, Stage1Fig2Of(summary))
	add(Stage1P2Components, Stage1ComponentsHeader, Stage1Components(raw.Rows))

	// Ember's own files.
	runs, err := pairFullRuns(in.Runs)
	if err != nil {
		return nil, err
	}
	if len(in.Samples) > 0 {
		var b bytes.Buffer
		if err := rows.WriteSampleCSV(&b, in.Samples); err != nil {
			return nil, err
		}
		files = append(files, File{Stage1RawSamples, b.Bytes()})
	}
	svg, err := prefillShareChart(runs, in.Samples)
	if err != nil {
		return nil, err
	}
	md := markdownDoc("Stage 1.1 milestone: Ember's additions", in.Meta)
	fmt.Fprintf(md, "\n%d runs finished, %d failed. The upstream files (stage1_*.csv/.md, p1_fig2, p2_stage_latency_components) hold the upstream numbers; this file adds Ember's chart and each run's stage breakdown.\n\n", len(runs), len(fails))
	fmt.Fprintf(md, "![Prefill share of rollout by prompt length](%s)\n\n", Stage1PrefillShareSVG)
	md.WriteString("## Stage breakdown per run\n\nms of each stage, summed over devices, and `other` = wall − the nine stages (negative when devices overlap).\n\n")
	md.WriteString(ComponentsTable(runs).Markdown())
	files = append(files, File{Stage1PrefillShareSVG, svg}, File{EmberStage1MD, []byte(md.String())})
	return files, nil
}

// ComponentsHeader is the header of the stage breakdown in ember_stage1_report.md.
var ComponentsHeader = []string{"gpus", "split", "mode", "decode_sampling", "prompt_len", "decode_steps", "phase", "component", "ms", "pct_of_wall"}

// ComponentOther is the component that holds wall time no stage accounts for.
const ComponentOther = "other"

// ComponentsTable returns the long-form stage breakdown of Ember's stage 1.1
// markdown: for every run and phase one row per stage and one for
// ComponentOther, each with its share of the phase's wall time.
func ComponentsTable(runs []Run) Table {
	t := Table{Header: ComponentsHeader}
	for _, r := range runs {
		for _, row := range []rows.StageRow{r.Prefill, r.Decode} {
			vals := append(row.Values(), round(row.WallMS-row.Sum(), 3))
			names := append(slices.Clone(rows.StageNames), ComponentOther)
			for i, v := range vals {
				t.Rows = append(t.Rows, []string{row.GPUs, row.Split, row.Mode, boolCell(row.DecodeSampling),
					itoa(row.PromptLen), itoa(row.DecodeSteps), row.Phase, names[i], FormatMS(v), FormatPct(div(v*100, row.WallMS))})
			}
		}
	}
	return t
}

// StatusOK is the coverage note of a usable summary row.
const StatusOK = "ok"
