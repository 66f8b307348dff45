package report

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"

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
)

// Stage1Input is what a stage 1.1 sweep hands the report: the raw rows of
// every run that finished (a prefill and a decode_per_token row each), their
// per-iteration samples if any, and the runs that failed for good.
type Stage1Input struct {
	Meta     Meta
	Rows     []rows.StageRow
	Samples  []rows.SampleRow
	Failures []Failure
}

// Stage1SummaryHeader is the header of stage1_summary.csv.
var Stage1SummaryHeader = []string{"gpus", "split", "mode", "decode_sampling", "prompt_len", "decode_steps",
	"prefill_wall_ms", "decode_per_token_ms", "rollout_total_ms_est", "prefill_share_pct",
	"prefill_attention_ms", "prefill_ffn_ms", "prefill_memcpy_h2d_ms", "decode_memcpy_d2h_ms", "decode_sampling_ms"}

// Stage1SummaryTable returns stage1_summary.csv: one row per run, in the order
// of PairRuns.
func Stage1SummaryTable(runs []Run) Table {
	t := Table{Header: Stage1SummaryHeader}
	for _, r := range runs {
		p, d := r.Prefill, r.Decode
		t.Rows = append(t.Rows, []string{itoa(p.GPUs), p.Split, p.Mode, boolCell(p.DecodeSampling), itoa(p.PromptLen), itoa(p.DecodeSteps),
			FormatMS(p.WallMS), FormatMS(d.WallMS), FormatMS(r.RolloutTotalMS()), FormatPct(r.PrefillSharePct()),
			FormatMS(p.AttentionMS), FormatMS(p.FFNMS), FormatMS(p.MemcpyH2DMS), FormatMS(d.MemcpyD2HMS), FormatMS(d.SamplingMS)})
	}
	return t
}

// Fig2Header is the header of p1_fig2_prefill_share.csv.
var Fig2Header = []string{"gpus", "split", "mode", "decode_sampling", "prompt_len", "decode_steps", "prefill_wall_ms", "rollout_total_ms_est", "prefill_share_pct"}

// Fig2Table returns p1_fig2_prefill_share.csv: the prefill share of the rollout
// for every run, the data of the paper's figure 2.
func Fig2Table(runs []Run) Table {
	t := Table{Header: Fig2Header}
	for _, r := range runs {
		p := r.Prefill
		t.Rows = append(t.Rows, []string{itoa(p.GPUs), p.Split, p.Mode, boolCell(p.DecodeSampling), itoa(p.PromptLen), itoa(p.DecodeSteps),
			FormatMS(p.WallMS), FormatMS(r.RolloutTotalMS()), FormatPct(r.PrefillSharePct())})
	}
	return t
}

// ComponentsHeader is the header of p2_stage_latency_components.csv.
var ComponentsHeader = []string{"gpus", "split", "mode", "decode_sampling", "prompt_len", "decode_steps", "phase", "component", "ms", "pct_of_wall"}

// ComponentOther is the component that holds wall time no stage accounts for:
// wall − the sum of the nine stages. With overlap the stages of two devices
// run at once and it can be negative.
const ComponentOther = "other"

// ComponentsTable returns p2_stage_latency_components.csv in long form: for
// every run and phase, one row per stage (rows.StageNames order) and one for
// ComponentOther, each with its share of the phase's wall time.
func ComponentsTable(runs []Run) Table {
	t := Table{Header: ComponentsHeader}
	for _, r := range runs {
		for _, row := range []rows.StageRow{r.Prefill, r.Decode} {
			vals := append(row.Values(), round(row.WallMS-row.Sum(), 3))
			names := append(slices.Clone(rows.StageNames), ComponentOther)
			for i, v := range vals {
				t.Rows = append(t.Rows, []string{itoa(row.GPUs), row.Split, row.Mode, boolCell(row.DecodeSampling),
					itoa(row.PromptLen), itoa(row.DecodeSteps), row.Phase, names[i], FormatMS(v), FormatPct(div(v*100, row.WallMS))})
			}
		}
	}
	return t
}

// StatusOK is the status of a usable run in stage1_mainline_ready.csv and
// stage12_vs_llama.csv; a failed one has its error hint or "failed: <reason>".
const StatusOK = "ok"

// MainlineHeader is the header of stage1_mainline_ready.csv.
var MainlineHeader = []string{"prompt_len", "decode_steps", "overlap", "chunk_len", "status", "usable"}

// Coverage is the state of a stage 1.1 matrix: one entry per combination of
// prompt length, decode steps and overlap that ran or failed.
type Coverage struct {
	Combos []Combo
	Usable int // combos with a prefill and a decode row
	Failed int // combos whose run failed, any hint
	OOM    int // failed combos whose hint is HintOOM
}

// Combo is one cell of the stage 1.1 matrix. ChunkLen is the chunk the run
// used, or the last one tried when it failed.
type Combo struct {
	PromptLen, DecodeSteps int
	Overlap                bool
	ChunkLen               int
	Status                 string // StatusOK or an error hint
}

// Ready reports whether every combination that was tried has usable rows.
func (c Coverage) Ready() bool { return len(c.Combos) > 0 && c.Failed == 0 }

// MainlineCoverage joins runs and failures per matrix cell. A cell with a
// usable run counts as usable even if an earlier attempt also failed.
func MainlineCoverage(runs []Run, fails []Failure) Coverage {
	type key struct {
		p, d int
		o    bool
	}
	cells := map[key]Combo{}
	for _, f := range fails {
		cells[key{f.PromptLen, f.DecodeSteps, f.Overlap}] = Combo{f.PromptLen, f.DecodeSteps, f.Overlap, f.ChunkLen, f.ErrorHint}
	}
	for _, r := range runs {
		c := r.Config()
		k := key{c.PromptLen, c.DecodeSteps, c.Overlap}
		if old, ok := cells[k]; ok && old.Status == StatusOK {
			continue // two runs of one cell (other splits or modes): one is enough
		}
		cells[k] = Combo{c.PromptLen, c.DecodeSteps, c.Overlap, c.ChunkLen, StatusOK}
	}
	var cov Coverage
	for _, c := range cells {
		cov.Combos = append(cov.Combos, c)
		switch c.Status {
		case StatusOK:
			cov.Usable++
		case HintOOM:
			cov.OOM++
			cov.Failed++
		default:
			cov.Failed++
		}
	}
	slices.SortFunc(cov.Combos, func(a, b Combo) int {
		return cmp.Or(cmp.Compare(a.PromptLen, b.PromptLen), cmp.Compare(a.DecodeSteps, b.DecodeSteps), compareBool(a.Overlap, b.Overlap))
	})
	return cov
}

// Table returns stage1_mainline_ready.csv: one row per matrix cell.
func (c Coverage) Table() Table {
	t := Table{Header: MainlineHeader}
	for _, m := range c.Combos {
		t.Rows = append(t.Rows, []string{itoa(m.PromptLen), itoa(m.DecodeSteps), boolCell(m.Overlap), itoa(m.ChunkLen), m.Status, boolCell(m.Status == StatusOK)})
	}
	return t
}

// Stage1 builds every file of a stage 1.1 milestone folder: the raw rows (and
// samples, when given), the summary, mainline-ready coverage, the P1 figure 2
// and P2 latency-component tables, the failures, their markdown and the
// prefill-share chart. It returns an error for rows that do not pair up and
// for an unknown error hint.
func Stage1(in Stage1Input) ([]File, error) {
	runs, err := PairRuns(in.Rows)
	if err != nil {
		return nil, err
	}
	if err := checkFailures(in.Failures); err != nil {
		return nil, err
	}
	var raw, samples bytes.Buffer
	if err := rows.WriteStageCSV(&raw, in.Rows); err != nil {
		return nil, err
	}
	files := []File{{Stage1RawRows, raw.Bytes()}}
	if len(in.Samples) > 0 {
		if err := rows.WriteSampleCSV(&samples, in.Samples); err != nil {
			return nil, err
		}
		files = append(files, File{Stage1RawSamples, samples.Bytes()})
	}
	summary := Stage1SummaryTable(runs)
	cov := MainlineCoverage(runs, in.Failures)
	svg, err := prefillShareChart(runs, in.Samples)
	if err != nil {
		return nil, err
	}

	md := markdownDoc("Stage 1.1 milestone summary", in.Meta)
	fmt.Fprintf(md, "\n%d runs finished, %d failed.\n\n", len(runs), len(in.Failures))
	md.WriteString("rollout_total_ms_est = prefill_wall_ms + decode_per_token_ms × decode_steps; prefill_share_pct = prefill_wall_ms / rollout_total_ms_est × 100.\n\n")
	md.WriteString(summary.Markdown())
	fmt.Fprintf(md, "\n![Prefill share of rollout by prompt length](%s)\n", Stage1PrefillShareSVG)
	if len(in.Failures) > 0 {
		fmt.Fprintf(md, "\n## Failures\n\n%s", FailuresTable(in.Failures).Markdown())
	}

	ready := markdownDoc("Stage 1.1 mainline readiness", in.Meta)
	verdict := "no"
	if cov.Ready() {
		verdict = "yes"
	}
	fmt.Fprintf(ready, "\n- mainline ready: %s\n- combinations: %d\n- usable: %d (%d raw rows)\n- failed: %d\n- out of memory: %d\n\n",
		verdict, len(cov.Combos), cov.Usable, 2*len(runs), cov.Failed, cov.OOM)
	ready.WriteString(cov.Table().Markdown())

	return append(files,
		File{Stage1Summary, summary.CSV()},
		File{Stage1SummaryMD, []byte(md.String())},
		File{Stage1MainlineReady, cov.Table().CSV()},
		File{Stage1MainlineReadyMD, []byte(ready.String())},
		File{Stage1Fig2, Fig2Table(runs).CSV()},
		File{Stage1P2Components, ComponentsTable(runs).CSV()},
		File{Stage1Failures, FailuresTable(in.Failures).CSV()},
		File{Stage1PrefillShareSVG, svg},
	), nil
}

// WriteStage1 builds the stage 1.1 files and writes them into dir.
func WriteStage1(dir string, in Stage1Input) error {
	files, err := Stage1(in)
	if err != nil {
		return err
	}
	return WriteFiles(dir, files)
}
