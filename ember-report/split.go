package report

import (
	"bytes"
	"cmp"
	"fmt"
	"io"
	"math"
	"os"
	"slices"

	"github.com/ember-infer/ember/ember-core/rows"
)

// File names of a stage 1.2 split-profile folder (reports/stage1_split_profile_<timestamp>/).
const (
	// SplitRawRows holds every run's raw stage rows (rows.StageHeader).
	SplitRawRows = "stage12_raw_rows.csv"
	// SplitRawSamples holds the per-iteration samples (rows.SampleHeader), when there are any.
	SplitRawSamples = "stage12_raw_samples.csv"
	// SplitSummaryCSV is the split summary, one row per split × mode (SummaryHeader).
	SplitSummaryCSV = "stage12_split_summary.csv"
	// SplitTransferVsCompute compares transfer with compute per split (TransferHeader).
	SplitTransferVsCompute = "stage12_transfer_vs_compute.csv"
	// SplitBubbleVsSplit holds the pipeline bubble per split (BubbleHeader).
	SplitBubbleVsSplit = "stage12_bubble_vs_split.csv"
	// SplitSummaryMD is the folder's markdown summary.
	SplitSummaryMD = "stage12_summary.md"
	// SplitFailures lists the runs that failed for good (FailuresHeader).
	SplitFailures = "stage12_failures.csv"
	// SplitVsLlamaCSV compares Ember with llama-bench (VsLlamaHeader), when asked.
	SplitVsLlamaCSV = "stage12_vs_llama.csv"
	// SplitVsLlamaMD is the markdown of SplitVsLlamaCSV.
	SplitVsLlamaMD = "stage12_vs_llama.md"
	// SplitP2InputMD is the P2 input: best config, deltas, llama ratio, note.
	SplitP2InputMD = "stage12_p2_input.md"
	// SplitRolloutSVG charts rollout tok/s by split and mode.
	SplitRolloutSVG = "stage12_rollout_tok_s.svg"
	// SplitPrefillStagesSVG charts the prefill stages stacked per split and mode.
	SplitPrefillStagesSVG = "stage12_prefill_stages.svg"
	// SplitDecodeStagesSVG charts the decode stages per token stacked per split and mode.
	SplitDecodeStagesSVG = "stage12_decode_stages.svg"
)

// SplitDeltaCSV and SplitDeltaMD name the delta files against a labelled
// summary: stage12_delta_vs_<UpstreamSlug(label)>.csv/.md.
func SplitDeltaCSV(label string) string { return "stage12_delta_vs_" + UpstreamSlug(label) + ".csv" }

// SplitDeltaMD is the markdown twin of SplitDeltaCSV.
func SplitDeltaMD(label string) string { return "stage12_delta_vs_" + UpstreamSlug(label) + ".md" }

// Key identifies a row of the split summary: one split × mode at one prompt
// length and decode step count.
type Key struct {
	Split       string
	Mode        string
	PromptLen   int
	DecodeSteps int
}

// String describes k for tables and errors, e.g. "18,18 pipeline p2048 d128".
func (k Key) String() string {
	return fmt.Sprintf("%s %s p%d d%d", k.Split, k.Mode, k.PromptLen, k.DecodeSteps)
}

func compareKeys(a, b Key) int {
	return cmp.Or(CompareSplits(a.Split, b.Split), cmp.Compare(a.Mode, b.Mode),
		cmp.Compare(a.PromptLen, b.PromptLen), cmp.Compare(a.DecodeSteps, b.DecodeSteps))
}

func keyOf(c rows.Config) Key { return Key{c.Split, c.Mode, c.PromptLen, c.DecodeSteps} }

// SummaryRow is one row of stage12_split_summary.csv, every value at its
// printed precision (ms and tok/s 3 decimals, percentages 2).
type SummaryRow struct {
	Key
	PrefillWallMS          float64
	DecodePerTokenMS       float64
	RolloutTotalMS         float64 // PrefillWallMS + DecodePerTokenMS × DecodeSteps
	RolloutTokS            float64 // DecodeSteps × 1000 / RolloutTotalMS
	PrefillSharePct        float64 // PrefillWallMS / RolloutTotalMS × 100
	PrefillComputeMS       float64 // embedding + rmsnorm + attention + ffn + lm_head
	PrefillTransferMS      float64 // p2p + memcpy_h2d + memcpy_d2h
	DecodeComputePerTokMS  float64
	DecodeTransferPerTokMS float64
}

// SummaryHeader is the header of stage12_split_summary.csv.
var SummaryHeader = []string{"split", "mode", "prompt_len", "decode_steps", "prefill_wall_ms", "decode_per_token_ms",
	"rollout_total_ms_est", "rollout_tok_s_est", "prefill_share_pct", "prefill_compute_ms", "prefill_transfer_ms",
	"decode_compute_per_tok_ms", "decode_transfer_per_tok_ms"}

// SummaryOf returns the summary row of one run.
func SummaryOf(r Run) SummaryRow {
	p, d := r.Prefill, r.Decode
	return SummaryRow{
		Key:                    keyOf(r.Config()),
		PrefillWallMS:          p.WallMS,
		DecodePerTokenMS:       d.WallMS,
		RolloutTotalMS:         r.RolloutTotalMS(),
		RolloutTokS:            round(r.RolloutTokS(), 3),
		PrefillSharePct:        round(r.PrefillSharePct(), 2),
		PrefillComputeMS:       round(p.Compute(), 3),
		PrefillTransferMS:      round(p.Transfer(), 3),
		DecodeComputePerTokMS:  round(d.Compute(), 3),
		DecodeTransferPerTokMS: round(d.Transfer(), 3),
	}
}

// SplitSummary returns one summary row per run, ordered by split (numerically),
// mode, prompt length and decode steps. Two runs with the same key (runs that
// differ only in overlap, chunk, GPU count or sampling) are an error: give
// them distinct modes, as rows.ModeOverlap does for overlap.
func SplitSummary(runs []Run) ([]SummaryRow, error) {
	seen := map[Key]rows.Config{}
	var out []SummaryRow
	for _, r := range runs {
		k := keyOf(r.Config())
		if prev, dup := seen[k]; dup {
			return nil, fmt.Errorf("split summary: two runs share split %s mode %s prompt_len %d decode_steps %d (%v and %v); give them distinct modes",
				k.Split, k.Mode, k.PromptLen, k.DecodeSteps, prev, r.Config())
		}
		seen[k] = r.Config()
		out = append(out, SummaryOf(r))
	}
	sortSummary(out)
	return out, nil
}

func sortSummary(s []SummaryRow) {
	slices.SortStableFunc(s, func(a, b SummaryRow) int { return compareKeys(a.Key, b.Key) })
}

// SummaryTable returns stage12_split_summary.csv.
func SummaryTable(s []SummaryRow) Table {
	t := Table{Header: SummaryHeader}
	for _, r := range s {
		t.Rows = append(t.Rows, []string{r.Split, r.Mode, itoa(r.PromptLen), itoa(r.DecodeSteps),
			FormatMS(r.PrefillWallMS), FormatMS(r.DecodePerTokenMS), FormatMS(r.RolloutTotalMS), FormatTokS(r.RolloutTokS),
			FormatPct(r.PrefillSharePct), FormatMS(r.PrefillComputeMS), FormatMS(r.PrefillTransferMS),
			FormatMS(r.DecodeComputePerTokMS), FormatMS(r.DecodeTransferPerTokMS)})
	}
	return t
}

// ReadSplitSummary reads a stage12_split_summary.csv from r; name is the file
// name used in errors. Columns are found by name and extra ones ignored; a
// missing column, a cell that is not a number or a row of the wrong length is
// one *rows.CSVError naming file, line and column. rollout_tok_s_est and
// prefill_share_pct may be "n/a" (read as NaN).
func ReadSplitSummary(r io.Reader, name string) ([]SummaryRow, error) {
	cr, err := rows.NewCSVReader(r, name, SummaryHeader)
	if err != nil {
		return nil, err
	}
	var out []SummaryRow
	for cr.Next() {
		s := SummaryRow{
			Key:                    Key{cr.String("split"), cr.String("mode"), cr.Int("prompt_len"), cr.Int("decode_steps")},
			PrefillWallMS:          cr.Float("prefill_wall_ms"),
			DecodePerTokenMS:       cr.Float("decode_per_token_ms"),
			RolloutTotalMS:         cr.Float("rollout_total_ms_est"),
			RolloutTokS:            floatOrNA(cr, "rollout_tok_s_est"),
			PrefillSharePct:        floatOrNA(cr, "prefill_share_pct"),
			PrefillComputeMS:       cr.Float("prefill_compute_ms"),
			PrefillTransferMS:      cr.Float("prefill_transfer_ms"),
			DecodeComputePerTokMS:  cr.Float("decode_compute_per_tok_ms"),
			DecodeTransferPerTokMS: cr.Float("decode_transfer_per_tok_ms"),
		}
		if cr.Err() != nil {
			break
		}
		out = append(out, s)
	}
	if err := cr.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

func floatOrNA(cr *rows.CSVReader, col string) float64 {
	if cr.String(col) == NA {
		return math.NaN()
	}
	return cr.Float(col)
}

// ReadSplitSummaryFile reads the stage12_split_summary.csv at path.
func ReadSplitSummaryFile(path string) ([]SummaryRow, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ReadSplitSummary(bytes.NewReader(data), path)
}

// TransferHeader is the header of stage12_transfer_vs_compute.csv.
var TransferHeader = []string{"split", "mode", "prompt_len", "decode_steps",
	"prefill_compute_ms", "prefill_transfer_ms", "prefill_transfer_pct", "prefill_transfer_to_compute",
	"decode_compute_per_tok_ms", "decode_transfer_per_tok_ms", "decode_transfer_pct", "decode_transfer_to_compute"}

// TransferTable returns stage12_transfer_vs_compute.csv: per summary row and
// phase, transfer's share of compute + transfer in percent, and the ratio
// transfer / compute (4 decimals).
func TransferTable(s []SummaryRow) Table {
	t := Table{Header: TransferHeader}
	for _, r := range s {
		t.Rows = append(t.Rows, []string{r.Split, r.Mode, itoa(r.PromptLen), itoa(r.DecodeSteps),
			FormatMS(r.PrefillComputeMS), FormatMS(r.PrefillTransferMS),
			FormatPct(div(r.PrefillTransferMS*100, r.PrefillComputeMS+r.PrefillTransferMS)),
			FormatRatio(div(r.PrefillTransferMS, r.PrefillComputeMS)),
			FormatMS(r.DecodeComputePerTokMS), FormatMS(r.DecodeTransferPerTokMS),
			FormatPct(div(r.DecodeTransferPerTokMS*100, r.DecodeComputePerTokMS+r.DecodeTransferPerTokMS)),
			FormatRatio(div(r.DecodeTransferPerTokMS, r.DecodeComputePerTokMS))})
	}
	return t
}

// BubbleHeader is the header of stage12_bubble_vs_split.csv.
var BubbleHeader = []string{"split", "mode", "prompt_len", "decode_steps",
	"prefill_wall_ms", "prefill_stage_sum_ms", "prefill_bubble_ms", "prefill_bubble_pct", "prefill_overlap_ms",
	"decode_wall_per_tok_ms", "decode_stage_sum_per_tok_ms", "decode_bubble_per_tok_ms", "decode_bubble_pct", "decode_overlap_per_tok_ms"}

// BubbleTable returns stage12_bubble_vs_split.csv. The stage sum is the nine
// stages added over all devices. The bubble is the wall time that no stage
// accounts for, max(0, wall − stage sum): idle devices waiting on each other,
// synchronisation and host overhead. bubble_pct is bubble / wall × 100. When
// stages of two devices run at once (overlap) the stage sum exceeds the wall;
// overlap_ms = max(0, stage sum − wall) is the work hidden that way, and the
// bubble is then 0.
func BubbleTable(runs []Run) Table {
	t := Table{Header: BubbleHeader}
	sorted := slices.Clone(runs)
	slices.SortStableFunc(sorted, func(a, b Run) int { return compareKeys(keyOf(a.Config()), keyOf(b.Config())) })
	for _, r := range sorted {
		k := keyOf(r.Config())
		cells := []string{k.Split, k.Mode, itoa(k.PromptLen), itoa(k.DecodeSteps)}
		for _, row := range []rows.StageRow{r.Prefill, r.Decode} {
			sum := round(row.Sum(), 3)
			bubble := round(math.Max(0, row.WallMS-sum), 3)
			over := round(math.Max(0, sum-row.WallMS), 3)
			cells = append(cells, FormatMS(row.WallMS), FormatMS(sum), FormatMS(bubble), FormatPct(div(bubble*100, row.WallMS)), FormatMS(over))
		}
		t.Rows = append(t.Rows, cells)
	}
	return t
}

// Best returns the summary row with the highest rollout tok/s (the first on a
// tie) and false when s has none with a number.
func Best(s []SummaryRow) (SummaryRow, bool) {
	var best SummaryRow
	ok := false
	for _, r := range s {
		if !math.IsNaN(r.RolloutTokS) && (!ok || r.RolloutTokS > best.RolloutTokS) {
			best, ok = r, true
		}
	}
	return best, ok
}

// emberSplitFiles builds Ember's own files of a split folder: the
// per-iteration samples, the charts, ember_stage12_report.md, Ember's bubble
// measure and, against a baseline, the statistical delta. Runs without a
// decode row (--decode-steps 0) are left out of them.
func emberSplitFiles(in Stage12Input) ([]File, error) {
	runs, err := pairFullRuns(in.Runs)
	if err != nil {
		return nil, err
	}
	summary, err := SplitSummary(runs)
	if err != nil {
		return nil, err
	}
	var files []File
	if len(in.Samples) > 0 {
		var b bytes.Buffer
		if err := rows.WriteSampleCSV(&b, in.Samples); err != nil {
			return nil, err
		}
		files = append(files, File{SplitRawSamples, b.Bytes()})
	}
	charts, err := splitCharts(summary, runs, in.Samples)
	if err != nil {
		return nil, err
	}
	files = append(files, charts...)
	files = append(files,
		File{EmberSplitBubbleCSV, BubbleTable(runs).CSV()},
		File{EmberSplitMD, []byte(splitMarkdown(in, runs, summary))})
	if b := in.Baseline; b != nil {
		if ref, err := LoadReference(b.Path, b.Label); err == nil {
			d := Compare(ref, Reference{Label: "current", Summary: summary, Samples: in.Samples})
			files = append(files, d.Files(in.Meta)...)
		}
	}
	return files, nil
}

// pairFullRuns pairs the rows of the sweep's runs that have both a prefill
// and a decode row (Ember's own files leave --decode-steps 0 runs out).
func pairFullRuns(sweep []SweepRun) ([]Run, error) {
	var rs []rows.StageRow
	for _, r := range sweep {
		if hasBothPhases(r.Rows) {
			rs = append(rs, r.Rows...)
		}
	}
	return PairRuns(rs)
}

func hasBothPhases(rs []rows.StageRow) bool {
	var pre, dec bool
	for _, r := range rs {
		pre = pre || r.Phase == rows.PhasePrefill
		dec = dec || r.Phase == rows.PhaseDecodePerToken
	}
	return pre && dec
}

func splitMarkdown(in Stage12Input, runs []Run, summary []SummaryRow) string {
	md := markdownDoc("Stage 1.2 split profile: Ember's additions", in.Meta)
	fmt.Fprintf(md, "\n%d runs finished, %d failed. The upstream files (stage12_*.csv, stage12_summary.md) hold the upstream numbers; this file adds Ember's charts, transfer shares and bubble measure.\n\n", len(runs), len(in.Failures))
	if b, ok := Best(summary); ok {
		fmt.Fprintf(md, "Best rollout: split %s, mode %s: %s tok/s (prefill %s ms, decode %s ms/token, prompt %d, %d decode steps).\n\n",
			b.Split, b.Mode, FormatTokS(b.RolloutTokS), FormatMS(b.PrefillWallMS), FormatMS(b.DecodePerTokenMS), b.PromptLen, b.DecodeSteps)
	}
	fmt.Fprintf(md, "![Rollout tok/s by split and mode](%s)\n\n![Prefill stage breakdown by split](%s)\n\n![Decode stage breakdown per token by split](%s)\n",
		SplitRolloutSVG, SplitPrefillStagesSVG, SplitDecodeStagesSVG)
	md.WriteString("\n## Transfer as a share of compute + transfer\n\n")
	md.WriteString(TransferTable(summary).Markdown())
	md.WriteString("\n## Ember's bubble measure\n\n")
	md.WriteString("The bubble is wall time that no stage accounts for, max(0, wall − sum of the nine stages over all devices); overlap is the stage time hidden by running devices at once, max(0, stage sum − wall). Also in " + EmberSplitBubbleCSV + ".\n\n")
	md.WriteString(BubbleTable(runs).Markdown())
	if len(in.Failures) > 0 {
		fmt.Fprintf(md, "\n## Failures\n\n%s", RecTable{Header: Stage12FailuresHeader, Rows: failureRecs(in.Failures)}.Markdown())
	}
	return md.String()
}
