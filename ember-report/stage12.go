package report

import (
	"cmp"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ember-infer/ember/ember-core/rows"
)

// SweepRun is one run of a sweep that finished: its upstream run id (1, 2, …
// in sweep order) and the rows of its per-run CSV.
type SweepRun struct {
	ID   string
	Rows []rows.StageRow
}

// stageRecs turns a run's rows into the records of its per-run CSV, in
// rows.StageHeader order.
func stageRecs(rs []rows.StageRow) []Rec {
	out := make([]Rec, len(rs))
	for i, r := range rs {
		rec := Rec{}
		for j, c := range r.Cells() {
			rec[rows.StageHeader[j]] = c
		}
		out[i] = rec
	}
	return out
}

// Stage12RawRows is stage12_raw_rows.csv as the split script builds it: every
// finished run's rows with run_id set and split set to the run's A+B, sorted
// (stably) by split, mode and phase as text. The header is the first sorted
// row's columns: the per-run CSV's, then run_id.
func Stage12RawRows(runs []SweepRun, splits map[string]string) RecTable {
	var all []Rec
	for _, r := range runs {
		for _, rec := range stageRecs(r.Rows) {
			rec["run_id"] = r.ID
			if s, ok := splits[r.ID]; ok {
				rec["split"] = s
			}
			all = append(all, rec)
		}
	}
	slices.SortStableFunc(all, func(a, b Rec) int {
		return cmp.Or(strings.Compare(a["split"], b["split"]), strings.Compare(a["mode"], b["mode"]), strings.Compare(a["phase"], b["phase"]))
	})
	return RecTable{Header: append(slices.Clone(rows.StageHeader), "run_id"), Rows: all}
}

// Stage12SummaryHeader is the header of stage12_split_summary.csv.
var Stage12SummaryHeader = []string{"split", "mode", "prompt_len", "decode_steps", "prefill_wall_ms", "decode_per_token_ms",
	"rollout_total_ms_est", "rollout_tok_s_est", "prefill_share_pct", "prefill_compute_ms", "prefill_transfer_ms",
	"decode_compute_per_tok_ms", "decode_transfer_per_tok_ms"}

func get(r Rec, k, def string) string {
	if r == nil {
		return def
	}
	if v, ok := r[k]; ok {
		return v
	}
	return def
}

// recGroup is the records sharing the values of some columns (key), each
// under the value of one more column (by): the later record of a value
// replaces the earlier.
type recGroup struct {
	key []string
	by  map[string]Rec
}

// groupRecs is the scripts' grouped.setdefault(key, {})[r.get(inner, "")] = r
// followed by sorted(grouped.items()): the groups of rs by the text of cols,
// in text order of those cells, column by column.
func groupRecs(rs []Rec, cols []string, inner string) []recGroup {
	byKey := map[string]*recGroup{}
	var out []*recGroup
	for _, r := range rs {
		key := make([]string, len(cols))
		var id strings.Builder
		for i, c := range cols {
			key[i] = get(r, c, "")
			fmt.Fprintf(&id, "%d:%s", len(key[i]), key[i])
		}
		g := byKey[id.String()]
		if g == nil {
			g = &recGroup{key: key, by: map[string]Rec{}}
			byKey[id.String()] = g
			out = append(out, g)
		}
		g.by[get(r, inner, "")] = r
	}
	slices.SortFunc(out, func(a, b *recGroup) int { return slices.Compare(a.key, b.key) })
	groups := make([]recGroup, len(out))
	for i, g := range out {
		groups[i] = *g
	}
	return groups
}

// rolloutEst is the scripts' rollout estimate from a group's prefill and
// decode_per_token rows (dec nil: none): the prefill wall, the decode wall
// per token (0 without dec) and prefill + per token × decode_steps, unrounded.
func rolloutEst(pre, dec Rec) (preMS, decMS, total float64) {
	preMS = pyFloat(get(pre, "wall_ms", "0"))
	if dec != nil {
		decMS = pyFloat(get(dec, "wall_ms", "0"))
	}
	return preMS, decMS, preMS + decMS*pyFloat(get(pre, "decode_steps", "0"))
}

func sumOf(r Rec, cols ...string) float64 {
	s := 0.0
	for _, c := range cols {
		s += pyFloat(get(r, c, "0"))
	}
	return s
}

var (
	computeCols  = []string{"embedding_ms", "rmsnorm_ms", "attention_ms", "ffn_ms", "lm_head_ms"}
	transferCols = []string{"p2p_ms", "memcpy_h2d_ms", "memcpy_d2h_ms"}
)

// Stage12Summary is the split script's summarize: raw rows grouped by
// (split, mode), the later row of a phase replacing the earlier, groups in
// text order, a group without a prefill row left out. rollout_total_ms_est =
// prefill wall + decode wall per token × decode_steps (0 without a decode
// row), tok/s and prefill share from that unrounded total.
func Stage12Summary(raw []Rec) []Rec {
	var out []Rec
	for _, g := range groupRecs(raw, []string{"split", "mode"}, "phase") {
		pre, ok := g.by[rows.PhasePrefill]
		if !ok {
			continue
		}
		dec := g.by[rows.PhaseDecodePerToken] // nil when absent
		steps := get(pre, "decode_steps", "0")
		preWall, decTok, total := rolloutEst(pre, dec)
		share, tokS := 0.0, 0.0
		if total > 0 {
			share = preWall / total * 100
			tokS = pyFloat(steps) * 1000 / total
		}
		out = append(out, Rec{
			"split": g.key[0], "mode": g.key[1], "prompt_len": get(pre, "prompt_len", "0"), "decode_steps": steps,
			"prefill_wall_ms":            pyFixed(preWall, 3),
			"decode_per_token_ms":        pyFixed(decTok, 3),
			"rollout_total_ms_est":       pyFixed(total, 3),
			"rollout_tok_s_est":          pyFixed(tokS, 3),
			"prefill_share_pct":          pyFixed(share, 2),
			"prefill_compute_ms":         pyFixed(sumOf(pre, computeCols...), 3),
			"prefill_transfer_ms":        pyFixed(sumOf(pre, transferCols...), 3),
			"decode_compute_per_tok_ms":  pyFixed(sumOf(dec, computeCols...), 3),
			"decode_transfer_per_tok_ms": pyFixed(sumOf(dec, transferCols...), 3),
		})
	}
	return out
}

// Stage12TransferHeader is the header of stage12_transfer_vs_compute.csv.
var Stage12TransferHeader = []string{"split", "mode", "prefill_transfer_compute_ratio", "decode_transfer_compute_ratio",
	"prefill_transfer_ms", "prefill_compute_ms", "decode_transfer_per_tok_ms", "decode_compute_per_tok_ms"}

// Stage12Transfer is the script's build_transfer_vs_compute: per summary row
// transfer / compute of each phase (4 decimals, 0 when compute is 0) and the
// summary's cells, sorted by split and mode.
func Stage12Transfer(summary []Rec) []Rec {
	ratio := func(t, c float64) float64 {
		if c > 0 {
			return t / c
		}
		return 0
	}
	var out []Rec
	for _, r := range summary {
		out = append(out, Rec{
			"split": get(r, "split", ""), "mode": get(r, "mode", ""),
			"prefill_transfer_compute_ratio": pyFixed(ratio(pyFloat(get(r, "prefill_transfer_ms", "0")), pyFloat(get(r, "prefill_compute_ms", "0"))), 4),
			"decode_transfer_compute_ratio":  pyFixed(ratio(pyFloat(get(r, "decode_transfer_per_tok_ms", "0")), pyFloat(get(r, "decode_compute_per_tok_ms", "0"))), 4),
			"prefill_transfer_ms":            get(r, "prefill_transfer_ms", "0"),
			"prefill_compute_ms":             get(r, "prefill_compute_ms", "0"),
			"decode_transfer_per_tok_ms":     get(r, "decode_transfer_per_tok_ms", "0"),
			"decode_compute_per_tok_ms":      get(r, "decode_compute_per_tok_ms", "0"),
		})
	}
	slices.SortStableFunc(out, func(a, b Rec) int {
		return cmp.Or(strings.Compare(a["split"], b["split"]), strings.Compare(a["mode"], b["mode"]))
	})
	return out
}

// Stage12BubbleHeader is the header of stage12_bubble_vs_split.csv.
var Stage12BubbleHeader = []string{"split", "no_overlap_total_ms", "overlap_total_ms", "overlap_speedup_x", "bubble_hidden_pct_est"}

// Stage12Bubble is the script's build_bubble_vs_split: for each split with
// both modes and both totals above 0, speedup = no_overlap / overlap rollout
// total (4 decimals) and the share of the no-overlap total that overlap hides,
// max(0, (t0 − t1) / t0 × 100) (2 decimals).
func Stage12Bubble(summary []Rec) []Rec {
	var out []Rec
	for _, g := range groupRecs(summary, []string{"split"}, "mode") {
		s := g.key[0]
		noOv, ov := g.by[rows.ModeNoOverlap], g.by[rows.ModeOverlap]
		if noOv == nil || ov == nil {
			continue
		}
		t0, t1 := pyFloat(get(noOv, "rollout_total_ms_est", "0")), pyFloat(get(ov, "rollout_total_ms_est", "0"))
		if t0 <= 0 || t1 <= 0 {
			continue
		}
		out = append(out, Rec{"split": s, "no_overlap_total_ms": pyFixed(t0, 3), "overlap_total_ms": pyFixed(t1, 3),
			"overlap_speedup_x": pyFixed(t0/t1, 4), "bubble_hidden_pct_est": pyFixed(math.Max(0, (t0-t1)/t0*100), 2)})
	}
	return out
}

// pyNow formats t as Python's datetime.isoformat(timespec="seconds") of a
// naive local time.
func pyNow(t time.Time) string { return t.Format("2006-01-02T15:04:05") }

// Stage12SummaryMD is stage12_summary.md as the script writes it.
func Stage12SummaryMD(modelDir string, now time.Time, summary, bubble []Rec) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Stage 1.2 Pipeline Split Profiling\n\n- Model: `%s`\n- Generated at: `%s`\n\n", modelDir, pyNow(now))
	if len(summary) == 0 {
		b.WriteString("_No summary rows generated._\n")
		return b.String()
	}
	b.WriteString("## Throughput vs Split\n| split | mode | total_ms | tok/s_est | prefill_share_% |\n| --- | --- | --- | --- | --- |\n")
	for _, r := range summary {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", r["split"], r["mode"], r["rollout_total_ms_est"], r["rollout_tok_s_est"], r["prefill_share_pct"])
	}
	best, _ := pickBest(summary)
	fmt.Fprintf(&b, "\n## Key Point\n- Best rollout tok/s split: `%s` in `%s` mode (`%s tok/s`, total `%s ms`).\n",
		best["split"], best["mode"], best["rollout_tok_s_est"], best["rollout_total_ms_est"])
	b.WriteString("\n## Bubble vs Split\n")
	if len(bubble) == 0 {
		b.WriteString("- missing overlap/no_overlap pairs, cannot estimate bubble\n")
		return b.String()
	}
	b.WriteString("| split | no_overlap_ms | overlap_ms | speedup_x | hidden_% |\n| --- | --- | --- | --- | --- |\n")
	for _, r := range bubble {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", r["split"], r["no_overlap_total_ms"], r["overlap_total_ms"], r["overlap_speedup_x"], r["bubble_hidden_pct_est"])
	}
	return b.String()
}

// Stage12FailuresHeader is the header of stage12_failures.csv.
var Stage12FailuresHeader = []string{"run_id", "split", "overlap", "prompt_len", "decode_steps", "chunk_len", "return_code", "error_hint", "log_path"}

// Stage1FailuresHeader is the header of stage1_failures.csv.
var Stage1FailuresHeader = []string{"run_id", "prompt_len", "decode_steps", "overlap", "chunk_len", "return_code", "error_hint", "log_path"}

func (f Failure) rec() Rec {
	return Rec{"run_id": f.RunID, "split": f.Split, "overlap": boolCell(f.Overlap), "prompt_len": itoa(f.PromptLen),
		"decode_steps": itoa(f.DecodeSteps), "chunk_len": itoa(f.ChunkLen), "return_code": itoa(f.ReturnCode),
		"error_hint": f.ErrorHint, "log_path": f.LogPath}
}

func failureRecs(fs []Failure) []Rec {
	out := make([]Rec, len(fs))
	for i, f := range fs {
		out[i] = f.rec()
	}
	return out
}

// Stage12VsLlamaHeader is the header of stage12_vs_llama.csv.
var Stage12VsLlamaHeader = []string{"engine", "config", "prefill_ms", "decode_tok_s", "decode_per_token_ms", "rollout_total_ms", "rollout_tok_s", "notes"}

// LlamaRun is one llama-bench run as the split script records it: the -dev
// value, and either the parsed result or why it failed.
type LlamaRun struct {
	Device string
	Result *LlamaResult // nil when the run failed
	Failed string       // the exception text: "llama-bench failed rc=1; see <log>", …
}

// Stage12VsLlama is the script's three rows: Ember's best summary row, then
// llama single and llama dual.
func Stage12VsLlama(best Rec, single, dual LlamaRun, dualSplitMode string, decodeSteps int) []Rec {
	decMS := pyFloat(get(best, "decode_per_token_ms", "0"))
	decTokS := 0.0
	if decMS > 0 {
		decTokS = 1000 / decMS
	}
	out := []Rec{{
		"engine": "ember", "config": fmt.Sprintf("split=%s mode=%s", get(best, "split", ""), get(best, "mode", "")),
		"prefill_ms":          pyFixed(pyFloat(get(best, "prefill_wall_ms", "0")), 3),
		"decode_tok_s":        pyFixed(decTokS, 3),
		"decode_per_token_ms": pyFixed(decMS, 3),
		"rollout_total_ms":    pyFixed(pyFloat(get(best, "rollout_total_ms_est", "0")), 3),
		"rollout_tok_s":       pyFixed(pyFloat(get(best, "rollout_tok_s_est", "0")), 3),
		"notes":               "best split from stage12 sweep",
	}}
	for _, l := range []struct {
		run         LlamaRun
		kind, notes string
	}{{single, "single", "llama-bench"}, {dual, "dual", "llama-bench split_mode=" + dualSplitMode}} {
		r := Rec{"engine": "llama.cpp", "config": l.run.Device + " " + l.kind}
		if l.run.Result == nil {
			for _, c := range []string{"prefill_ms", "decode_tok_s", "decode_per_token_ms", "rollout_total_ms", "rollout_tok_s"} {
				r[c] = ""
			}
			r["notes"] = "failed: " + l.run.Failed
		} else {
			m := l.run.Result.upstreamMetrics(decodeSteps)
			r["prefill_ms"], r["decode_tok_s"], r["decode_per_token_ms"] = pyFixed(m.prefillMS, 3), pyFixed(m.decodeTokS, 3), pyFixed(m.decodePerTokMS, 3)
			r["rollout_total_ms"], r["rollout_tok_s"], r["notes"] = pyFixed(m.rolloutMS, 3), pyFixed(m.rolloutTokS, 3), l.notes
		}
		out = append(out, r)
	}
	return out
}

type llamaMetrics struct{ prefillMS, decodeTotalMS, decodeTokS, decodePerTokMS, rolloutMS, rolloutTokS float64 }

// upstreamMetrics is the script's run_llama_bench_once arithmetic, unrounded:
// prefill = prompt avg_ns / 1e6, decode total = gen avg_ns / 1e6, decode tok/s
// = gen avg_ts, per token = decode total / decode_steps (the steps asked for),
// rollout = prefill + decode total, rollout tok/s = steps × 1000 / rollout.
func (l LlamaResult) upstreamMetrics(steps int) llamaMetrics {
	m := llamaMetrics{prefillMS: l.PromptAvgNs / 1e6, decodeTotalMS: l.GenAvgNs / 1e6, decodeTokS: l.GenAvgTs}
	if steps > 0 {
		m.decodePerTokMS = m.decodeTotalMS / float64(steps)
	}
	m.rolloutMS = m.prefillMS + m.decodeTotalMS
	if m.rolloutMS > 0 {
		m.rolloutTokS = float64(steps) * 1000 / m.rolloutMS
	}
	return m
}

// Stage12VsLlamaMD is stage12_vs_llama.md as the script writes it.
func Stage12VsLlamaMD(gguf, splitMode, tensorSplit string, rs []Rec) string {
	var b strings.Builder
	ts := tensorSplit
	if strings.TrimSpace(ts) == "" {
		ts = "auto/none"
	}
	fmt.Fprintf(&b, "# Stage 1.2 Ember vs llama.cpp\n\n- GGUF: `%s`\n- llama split_mode: `%s`\n- llama tensor_split: `%s`\n\n", gguf, splitMode, ts)
	b.WriteString("| engine | config | prefill_ms | decode_tok_s | decode_per_token_ms | rollout_total_ms | rollout_tok_s | notes |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, r := range rs {
		cells := make([]string, len(Stage12VsLlamaHeader))
		for i, h := range Stage12VsLlamaHeader {
			cells[i] = r[h]
		}
		b.WriteString("| " + strings.Join(cells, " | ") + " |\n")
	}
	b.WriteString("\n- Note: llama-bench and ember_stage_breakdown are different harnesses; compare as practical baseline, not strict apples-to-apples kernel microbenchmark.\n")
	return b.String()
}

// LlamaRatio is read_rollout_vs_llama: from a stage12_vs_llama.csv, the last
// ember row's and the last dual llama.cpp row's rollout tok/s (rows with 0 or
// no number skipped) and ember / llama × 100; false when either is missing.
func LlamaRatio(t RecTable) (ember, llama, pct float64, ok bool) {
	var haveE, haveL bool
	for _, r := range t.Rows {
		engine := strings.ToLower(strings.TrimSpace(get(r, "engine", "")))
		config := strings.ToLower(strings.TrimSpace(get(r, "config", "")))
		roll := pyFloat(get(r, "rollout_tok_s", "0"))
		if !(roll > 0) {
			continue
		}
		if engine == "ember" {
			ember, haveE = roll, true
		}
		if engine == "llama.cpp" && strings.Contains(config, "dual") {
			llama, haveL = roll, true
		}
	}
	if !haveE || !haveL || llama <= 0 {
		return 0, 0, 0, false
	}
	return ember, llama, ember / llama * 100, true
}

// Stage12DeltaHeader is the header of stage12_delta_vs_<slug>.csv.
var Stage12DeltaHeader = []string{"split", "mode", "rollout_tok_s_old", "rollout_tok_s_new", "rollout_delta_pct", "decode_ms_old", "decode_ms_new", "decode_delta_pct"}

func summaryKey(r Rec) [2]string { return [2]string{get(r, "split", ""), get(r, "mode", "")} }

// Stage12Delta is write_delta_outputs' rows: one per (split, mode) key both
// summaries have (the later row of a key wins), in key order.
func Stage12Delta(current, baseline []Rec) []Rec {
	cur, base := map[[2]string]Rec{}, map[[2]string]Rec{}
	for _, r := range current {
		cur[summaryKey(r)] = r
	}
	for _, r := range baseline {
		base[summaryKey(r)] = r
	}
	var keys [][2]string
	for k := range cur {
		if _, ok := base[k]; ok {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b [2]string) int { return cmp.Or(strings.Compare(a[0], b[0]), strings.Compare(a[1], b[1])) })
	var out []Rec
	for _, k := range keys {
		o, n := base[k], cur[k]
		or, nr := pyFloat(get(o, "rollout_tok_s_est", "0")), pyFloat(get(n, "rollout_tok_s_est", "0"))
		od, nd := pyFloat(get(o, "decode_per_token_ms", "0")), pyFloat(get(n, "decode_per_token_ms", "0"))
		out = append(out, Rec{"split": k[0], "mode": k[1],
			"rollout_tok_s_old": pyFixed(or, 3), "rollout_tok_s_new": pyFixed(nr, 3), "rollout_delta_pct": fmtPct(pctDelta(or, nr)),
			"decode_ms_old": pyFixed(od, 3), "decode_ms_new": pyFixed(nd, 3), "decode_delta_pct": fmtPct(pctDelta(od, nd))})
	}
	return out
}

// Stage12DeltaMD is stage12_delta_vs_<slug>.md: the per-split table, the
// best-to-best section and, when both reports have a llama dual row, the
// ratio section.
func Stage12DeltaMD(label string, delta, current, baseline []Rec, curVsLlama, baseVsLlama *RecTable) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# stage1.2 delta vs %s\n\n## Per-split deltas (old -> new)\n", label)
	b.WriteString("| split | mode | rollout_tok/s | delta | decode_ms/token | delta |\n| --- | --- | --- | --- | --- | --- |\n")
	for _, r := range delta {
		fmt.Fprintf(&b, "| %s | %s | %s -> %s | %s | %s -> %s | %s |\n", r["split"], r["mode"],
			r["rollout_tok_s_old"], r["rollout_tok_s_new"], r["rollout_delta_pct"], r["decode_ms_old"], r["decode_ms_new"], r["decode_delta_pct"])
	}
	if len(delta) == 0 {
		b.WriteString("| - | - | - | - | - | - |\n")
	}
	ob, okO := pickBest(baseline)
	nb, okN := pickBest(current)
	if okO && okN {
		or, nr := pyFloat(get(ob, "rollout_tok_s_est", "0")), pyFloat(get(nb, "rollout_tok_s_est", "0"))
		od, nd := pyFloat(get(ob, "decode_per_token_ms", "0")), pyFloat(get(nb, "decode_per_token_ms", "0"))
		fmt.Fprintf(&b, "\n## Best config\n- old best: `%s %s` rollout `%s` tok/s, decode `%s` ms/token\n", get(ob, "split", ""), get(ob, "mode", ""), pyFixed(or, 3), pyFixed(od, 3))
		fmt.Fprintf(&b, "- new best: `%s %s` rollout `%s` tok/s, decode `%s` ms/token\n", get(nb, "split", ""), get(nb, "mode", ""), pyFixed(nr, 3), pyFixed(nd, 3))
		fmt.Fprintf(&b, "- best-to-best rollout change: `%s`\n- best-to-best decode change: `%s`\n", fmtPct(pctDelta(or, nr)), fmtPct(pctDelta(od, nd)))
	}
	if baseVsLlama != nil && curVsLlama != nil {
		oe, ol, op, ok1 := LlamaRatio(*baseVsLlama)
		ne, nl, np, ok2 := LlamaRatio(*curVsLlama)
		if ok1 && ok2 {
			fmt.Fprintf(&b, "\n## Ember vs llama dual (from each report)\n- old: ember `%s` / llama dual `%s` = `%s%%`\n", pyFixed(oe, 3), pyFixed(ol, 3), pyFixed(op, 2))
			fmt.Fprintf(&b, "- new: ember `%s` / llama dual `%s` = `%s%%`\n", pyFixed(ne, 3), pyFixed(nl, 3), pyFixed(np, 2))
			b.WriteString("\n## Note\n- llama numbers are rerun-dependent; cross-date ratio change includes llama-side variance.\n")
		}
	}
	return b.String()
}

// RefSummary is an earlier stage12_split_summary.csv given as baseline or
// anchor, read as the scripts read it, with its label.
type RefSummary struct {
	Path  string
	Label string
	Rows  []Rec
}

// LoadRefSummary reads the summary at path as the scripts do (every column by
// name, numbers read leniently). Summaries of Ember before it spoke the
// upstream dialect (split "18,18", modes single, pipeline and
// pipeline_overlap) are translated, so their keys match. An empty label is
// LabelOf(path).
func LoadRefSummary(path, label string) (RefSummary, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return RefSummary{}, err
	}
	t, err := ReadRecsFile(abs)
	if err != nil {
		return RefSummary{}, err
	}
	if len(t.Header) > 0 && (!slices.Contains(t.Header, "split") || !slices.Contains(t.Header, "mode")) {
		return RefSummary{}, fmt.Errorf("%s: not a stage12_split_summary.csv: its header lacks split or mode (%s)", path, strings.Join(t.Header, ","))
	}
	for _, r := range t.Rows {
		if s, ok := r["split"]; ok {
			r["split"], r["mode"] = upstreamKey(s, r["mode"])
		}
	}
	if strings.TrimSpace(label) == "" {
		label = LabelOf(abs)
	}
	return RefSummary{Path: abs, Label: strings.TrimSpace(label), Rows: t.Rows}, nil
}

// P2Input holds what stage12_p2_input.md reports beyond the summary.
type P2Input struct {
	ModelDir    string
	Hardware    string // what the run ran on, e.g. "2x cuda" (upstream wrote "2x3080Ti" always)
	PromptLen   int
	DecodeSteps int
	Baseline    *RefSummary
	Anchor      *RefSummary
	VsLlama     *RecTable // this folder's stage12_vs_llama.csv, when there is one
	Note        string
	Date        time.Time
}

// Stage12P2MD is write_p2_input's markdown; false when the summary has no row
// (the script then writes nothing).
func Stage12P2MD(summary []Rec, in P2Input) (string, bool) {
	nb, ok := pickBest(summary)
	if !ok {
		return "", false
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Stage1.2 P2 Input (%s)\n\nModel: %s (%s)\nSetting: prompt_len=%d, decode_steps=%d, full split sweep\n\n",
		in.Date.Format("2006-01-02"), PrettyModelName(in.ModelDir), in.Hardware, in.PromptLen, in.DecodeSteps)
	nr, nd := pyFloat(get(nb, "rollout_tok_s_est", "0")), pyFloat(get(nb, "decode_per_token_ms", "0"))
	fmt.Fprintf(&b, "## Best config (new)\n- split/mode: %s %s\n- rollout: %s tok/s\n- decode: %s ms/token\n- prefill: %s ms\n",
		get(nb, "split", ""), get(nb, "mode", ""), pyFixed(nr, 3), pyFixed(nd, 3), pyFixed(pyFloat(get(nb, "prefill_wall_ms", "0")), 3))
	for _, ref := range []struct {
		r                 *RefSummary
		title, oldName    string
		rollName, decName string
	}{
		{in.Baseline, "## Delta vs previous full sweep (%s)", "old best", "best rollout delta", "best decode delta"},
		{in.Anchor, "## Delta vs %s (historical anchor)", "old anchor best", "rollout change", "decode change"},
	} {
		if ref.r == nil || len(ref.r.Rows) == 0 {
			continue
		}
		ob, _ := pickBest(ref.r.Rows)
		or, od := pyFloat(get(ob, "rollout_tok_s_est", "0")), pyFloat(get(ob, "decode_per_token_ms", "0"))
		fmt.Fprintf(&b, "\n"+ref.title+"\n", ref.r.Label)
		fmt.Fprintf(&b, "- %s: %s %s, rollout %s tok/s, decode %s ms/token\n", ref.oldName, get(ob, "split", ""), get(ob, "mode", ""), pyFixed(or, 3), pyFixed(od, 3))
		fmt.Fprintf(&b, "- new best: %s %s, rollout %s tok/s, decode %s ms/token\n", get(nb, "split", ""), get(nb, "mode", ""), pyFixed(nr, 3), pyFixed(nd, 3))
		fmt.Fprintf(&b, "- %s: %s\n- %s: %s\n", ref.rollName, fmtPct(pctDelta(or, nr)), ref.decName, fmtPct(pctDelta(od, nd)))
	}
	if in.VsLlama != nil {
		if e, l, pct, ok := LlamaRatio(*in.VsLlama); ok {
			fmt.Fprintf(&b, "\n## Ember vs llama dual (same run)\n- llama dual rollout: %s tok/s\n- ember best rollout: %s tok/s\n- ember/llama dual: %s%%\n",
				pyFixed(l, 3), pyFixed(e, 3), pyFixed(pct, 2))
		}
	}
	if note := strings.TrimSpace(in.Note); note != "" {
		fmt.Fprintf(&b, "\n## Implementation note\n- %s\n", note)
	}
	return b.String(), true
}

// File names of a stage 1.2 split-profile folder that only Ember writes.
const (
	// EmberSplitMD is Ember's own markdown of the folder: the command, backend
	// and devices, the summary with its formulas, the charts, transfer as a
	// share, and Ember's bubble measure.
	EmberSplitMD = "ember_stage12_report.md"
	// EmberSplitBubbleCSV is Ember's bubble measure per run (BubbleHeader):
	// wall time no stage accounts for, and stage time hidden by overlap.
	EmberSplitBubbleCSV = "ember_stage12_bubble.csv"
)

// EmberDeltaCSV and EmberDeltaMD name Ember's statistical delta against a
// labelled summary (medians of per-iteration samples, confidence intervals,
// significance): ember_stage12_delta_vs_<UpstreamSlug(label)>.csv/.md.
func EmberDeltaCSV(label string) string {
	return "ember_stage12_delta_vs_" + UpstreamSlug(label) + ".csv"
}

// EmberDeltaMD is the markdown twin of EmberDeltaCSV.
func EmberDeltaMD(label string) string {
	return "ember_stage12_delta_vs_" + UpstreamSlug(label) + ".md"
}

// VsLlamaInput is a llama.cpp comparison of a split sweep (--include-llama).
type VsLlamaInput struct {
	GGUF        string
	SplitMode   string // --llama-dual-split-mode
	TensorSplit string // --llama-dual-tensor-split, "" for none
	DecodeSteps int
	Single      LlamaRun
	Dual        LlamaRun
}

// Stage12Input is what a split sweep hands the report.
type Stage12Input struct {
	Meta     Meta   // Ember's header of its own markdown
	ModelDir string // the resolved snapshot folder, absolute
	Now      time.Time
	// Runs are the finished runs in sweep order; Splits maps a run id to its
	// "A+B", which overrides the split cell of its rows as upstream does.
	Runs     []SweepRun
	Splits   map[string]string
	Failures []Failure
	Samples  []rows.SampleRow
	VsLlama  *VsLlamaInput // nil: no llama.cpp run this time
	// OldVsLlama is the folder's stage12_vs_llama.csv from an earlier sweep,
	// read when VsLlama is nil; the script reads it for the P2 input.
	OldVsLlama      *RecTable
	Baseline        *RefSummary
	BaselineVsLlama *RecTable // --baseline-vs-llama, or the baseline folder's stage12_vs_llama.csv
	Anchor          *RefSummary
	P2              P2Input // Hardware, PromptLen, DecodeSteps, Note
}

// Stage12Result is what Stage12Files built, for the command's exit status.
type Stage12Result struct {
	Files        []File
	Summary      []Rec
	DeltaMatched int // keys the baseline shares with this run (0 without a baseline)
}

// Stage12Files builds the files the split script writes, each only when the
// script would write it (a CSV without rows is not written), and Ember's own
// files beside them.
func Stage12Files(in Stage12Input) (Stage12Result, error) {
	if err := checkFailures(in.Failures); err != nil {
		return Stage12Result{}, err
	}
	raw := Stage12RawRows(in.Runs, in.Splits)
	summary := Stage12Summary(raw.Rows)
	transfer := Stage12Transfer(summary)
	bubble := Stage12Bubble(summary)
	var res Stage12Result
	res.Summary = summary
	add := func(name string, header []string, rs []Rec) {
		if len(rs) > 0 {
			res.Files = append(res.Files, File{name, RecTable{Header: header, Rows: rs}.CSV()})
		}
	}
	add(SplitRawRows, raw.Header, raw.Rows)
	add(SplitSummaryCSV, Stage12SummaryHeader, summary)
	add(SplitTransferVsCompute, Stage12TransferHeader, transfer)
	add(SplitBubbleVsSplit, Stage12BubbleHeader, bubble)
	res.Files = append(res.Files, File{SplitSummaryMD, []byte(Stage12SummaryMD(in.ModelDir, in.Now, summary, bubble))})
	res.Files = append(res.Files, File{SplitFailures, RecTable{Header: Stage12FailuresHeader, Rows: failureRecs(in.Failures)}.CSV()})

	curVs := in.OldVsLlama
	if v := in.VsLlama; v != nil {
		best, ok := pickBest(summary)
		if !ok {
			return Stage12Result{}, fmt.Errorf("cannot compare against llama: stage12 summary has no usable rows")
		}
		vs := Stage12VsLlama(best, v.Single, v.Dual, v.SplitMode, v.DecodeSteps)
		t := RecTable{Header: Stage12VsLlamaHeader, Rows: vs}
		curVs = &t
		res.Files = append(res.Files, File{SplitVsLlamaCSV, t.CSV()}, File{SplitVsLlamaMD, []byte(Stage12VsLlamaMD(v.GGUF, v.SplitMode, v.TensorSplit, vs))})
	}
	if b := in.Baseline; b != nil {
		delta := Stage12Delta(summary, b.Rows)
		res.DeltaMatched = len(delta)
		add(SplitDeltaCSV(b.Label), Stage12DeltaHeader, delta)
		res.Files = append(res.Files, File{SplitDeltaMD(b.Label), []byte(Stage12DeltaMD(b.Label, delta, summary, b.Rows, curVs, in.BaselineVsLlama))})
	}
	if in.Baseline != nil || in.Anchor != nil || strings.TrimSpace(in.P2.Note) != "" || curVs != nil {
		p2 := in.P2
		p2.ModelDir, p2.Baseline, p2.Anchor, p2.VsLlama = in.ModelDir, in.Baseline, in.Anchor, curVs
		if p2.Date.IsZero() {
			p2.Date = in.Now
		}
		if md, ok := Stage12P2MD(summary, p2); ok {
			res.Files = append(res.Files, File{SplitP2InputMD, []byte(md)})
		}
	}
	extra, err := emberSplitFiles(in)
	if err != nil {
		return Stage12Result{}, err
	}
	res.Files = append(res.Files, extra...)
	return res, nil
}

// upstreamKey translates a split and mode of Ember's summaries before the
// upstream dialect ("18,18", single / pipeline / pipeline_overlap) into
// upstream's ("18+18", no_overlap / overlap); upstream keys pass unchanged.
func upstreamKey(split, mode string) (string, string) {
	split = strings.ReplaceAll(split, ",", "+")
	switch mode {
	case "pipeline", "single":
		mode = rows.ModeNoOverlap
	case "pipeline_overlap":
		mode = rows.ModeOverlap
	}
	return split, mode
}
