package report

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/perf/benchmath"

	"github.com/ember-infer/ember/ember-core/rows"
)

// Reference is a split summary that a run is compared with (a baseline, an
// anchor, or the current run), with its per-iteration samples when it has them.
type Reference struct {
	Label   string // names the delta files: ember_stage12_delta_vs_<UpstreamSlug(Label)>
	Path    string // where the summary was read from, for the markdown; may be empty
	Summary []SummaryRow
	Samples []rows.SampleRow
	// Warning says why samples beside the summary were not used (a malformed
	// optional file); the comparison then uses the summary's means alone.
	Warning string
	// Meta is what the folder was measured with (model, backend, devices),
	// from the meta block of its Ember report markdown; zero when unknown.
	Meta Meta
}

// LoadReference reads the stage12_split_summary.csv at path and, when a
// stage12_raw_samples.csv lies beside it, its samples; keys of Ember's
// summaries before the upstream dialect ("18,18" pipeline) are translated to
// upstream's ("18+18" no_overlap). An empty label becomes
// the name of the folder holding the summary. Malformed CSV is a
// *rows.CSVError naming file, line and column.
func LoadReference(path, label string) (Reference, error) {
	path = resolveSummaryPath(path)
	s, err := ReadSplitSummaryFile(path)
	if err != nil {
		return Reference{}, err
	}
	if err := checkSummary(path, s); err != nil {
		return Reference{}, err
	}
	if label == "" {
		label = filepath.Base(filepath.Dir(filepath.Clean(path)))
	}
	for i := range s {
		s[i].Split, s[i].Mode = upstreamKey(s[i].Split, s[i].Mode)
	}
	ref := Reference{Label: label, Path: path, Summary: s}
	sp := filepath.Join(filepath.Dir(path), SplitRawSamples)
	ref.Samples, err = rows.ReadSampleFile(sp)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		ref.Samples = nil
		ref.Warning = fmt.Sprintf("ignoring the samples beside %s (%v); comparing means only", path, err)
	}
	for i := range ref.Samples {
		c := &ref.Samples[i].Config
		c.Split, c.Mode = upstreamKey(c.Split, c.Mode)
	}
	if ref.Meta, err = FolderMeta(filepath.Dir(path)); err != nil {
		w := fmt.Sprintf("not naming the model, backend and devices of %s (%v)", path, err)
		ref.Warning = strings.TrimPrefix(ref.Warning+"; "+w, "; ")
	}
	return ref, nil
}

// StatMetrics are the metrics compared statistically when both sides have
// per-iteration samples. rollout_tok_s_est is computed per iteration from the
// prefill and decode samples of the same iter.
var StatMetrics = []string{"prefill_wall_ms", "decode_per_token_ms", "rollout_tok_s_est"}

// Confidence is the level of the confidence intervals of the medians.
const Confidence = 0.95

// Change is the statistical comparison of one metric of one summary row:
// medians of the per-iteration samples with their confidence intervals, and
// a Mann-Whitney U test (benchmath.AssumeNothing) of whether they differ.
type Change struct {
	Metric   string
	Base     benchmath.Summary
	Cur      benchmath.Summary
	Compared benchmath.Comparison
}

// Significant reports whether the test rejects "same distribution" at the
// comparison's alpha (0.05).
func (c Change) Significant() bool { return c.Compared.P <= c.Compared.Alpha }

// String is the benchstat-style verdict: "~ (p=0.690 n=5)" when the change is
// noise, else the change of the medians, "-12.34% (p=0.008 n=5)".
func (c Change) String() string {
	d := "~"
	if c.Significant() {
		d = FormatDelta(c.Base.Center, c.Cur.Center)
	}
	return fmt.Sprintf("%s (%s)", d, c.Compared)
}

// DeltaRow compares one summary key. Base or Cur is nil when only the other
// side has the key. Changes has one entry per StatMetrics metric that both
// sides have samples of.
type DeltaRow struct {
	Key
	Base, Cur *SummaryRow
	Changes   []Change
}

// Delta is the comparison of a current split summary with a baseline.
type Delta struct {
	Baseline, Current Reference
	Rows              []DeltaRow
}

// Compare matches the two summaries by key (split, mode, prompt length,
// decode steps) and, where both sides have samples for a key, compares their
// medians. Keys of either side appear once, in summary order.
func Compare(base, cur Reference) Delta {
	d := Delta{Baseline: base, Current: cur}
	idx := map[Key]int{}
	add := func(r SummaryRow, isBase bool) {
		i, ok := idx[r.Key]
		if !ok {
			i = len(d.Rows)
			idx[r.Key] = i
			d.Rows = append(d.Rows, DeltaRow{Key: r.Key})
		}
		if isBase {
			d.Rows[i].Base = &r
		} else {
			d.Rows[i].Cur = &r
		}
	}
	for _, r := range base.Summary {
		add(r, true)
	}
	for _, r := range cur.Summary {
		add(r, false)
	}
	slices.SortStableFunc(d.Rows, func(a, b DeltaRow) int { return compareKeys(a.Key, b.Key) })
	bs, cs := sampleSets(base.Samples), sampleSets(cur.Samples)
	th := benchmath.DefaultThresholds
	for i := range d.Rows {
		b, c := bs[d.Rows[i].Key], cs[d.Rows[i].Key]
		for _, m := range StatMetrics {
			if len(b[m]) == 0 || len(c[m]) == 0 {
				continue
			}
			sb := benchmath.NewSample(slices.Clone(b[m]), &th)
			sc := benchmath.NewSample(slices.Clone(c[m]), &th)
			d.Rows[i].Changes = append(d.Rows[i].Changes, Change{
				Metric:   m,
				Base:     benchmath.AssumeNothing.Summary(sb, Confidence),
				Cur:      benchmath.AssumeNothing.Summary(sc, Confidence),
				Compared: benchmath.AssumeNothing.Compare(sb, sc),
			})
		}
	}
	return d
}

// sampleSets groups samples by summary key and metric. Times are rounded to
// the 3 decimals of the samples CSV; rollout tok/s pairs the prefill and
// decode samples of each iter.
func sampleSets(ss []rows.SampleRow) map[Key]map[string][]float64 {
	type iterKey struct {
		k    Key
		iter int
	}
	out := map[Key]map[string][]float64{}
	pre, dec := map[iterKey]float64{}, map[iterKey]float64{}
	var iters []iterKey
	for _, s := range ss {
		k := keyOf(s.Config)
		if out[k] == nil {
			out[k] = map[string][]float64{}
		}
		w := round(s.WallMS, 3)
		ik := iterKey{k, s.Iter}
		switch s.Phase {
		case rows.PhasePrefill:
			out[k]["prefill_wall_ms"] = append(out[k]["prefill_wall_ms"], w)
			pre[ik] = w
			iters = append(iters, ik)
		case rows.PhaseDecodePerToken:
			out[k]["decode_per_token_ms"] = append(out[k]["decode_per_token_ms"], w)
			dec[ik] = w
		}
	}
	for _, ik := range iters {
		d, ok := dec[ik]
		if !ok {
			continue
		}
		total := round(pre[ik]+d*float64(ik.k.DecodeSteps), 3)
		if total > 0 {
			out[ik.k]["rollout_tok_s_est"] = append(out[ik.k]["rollout_tok_s_est"], round(float64(ik.k.DecodeSteps)*1000/total, 3))
		}
	}
	return out
}

// deltaMetrics are the summary columns compared as plain percentages.
var deltaMetrics = []struct {
	name string
	get  func(SummaryRow) float64
	f    func(float64) string
}{
	{"prefill_wall_ms", func(r SummaryRow) float64 { return r.PrefillWallMS }, FormatMS},
	{"decode_per_token_ms", func(r SummaryRow) float64 { return r.DecodePerTokenMS }, FormatMS},
	{"rollout_total_ms_est", func(r SummaryRow) float64 { return r.RolloutTotalMS }, FormatMS},
	{"rollout_tok_s_est", func(r SummaryRow) float64 { return r.RolloutTokS }, FormatTokS},
}

// DeltaHeader is the header of stage12_delta_vs_<label>.csv: the key, then for
// each of prefill_wall_ms, decode_per_token_ms, rollout_total_ms_est and
// rollout_tok_s_est the columns baseline_<m>, current_<m>, delta_<m>_pct; then
// for each StatMetrics metric median_baseline_<m>, ci_baseline_<m>,
// median_current_<m>, ci_current_<m> and change_<m>.
var DeltaHeader = func() []string {
	h := []string{"split", "mode", "prompt_len", "decode_steps"}
	for _, m := range deltaMetrics {
		h = append(h, "baseline_"+m.name, "current_"+m.name, "delta_"+m.name+"_pct")
	}
	for _, m := range StatMetrics {
		h = append(h, "median_baseline_"+m, "ci_baseline_"+m, "median_current_"+m, "ci_current_"+m, "change_"+m)
	}
	return h
}()

// ciCell prints a confidence interval as benchstat does, "±3%".
func ciCell(s benchmath.Summary) string { return "±" + s.PctRangeString() }

// Table returns the delta CSV table. Missing sides and metrics without
// samples on both sides print as n/a.
func (d Delta) Table() Table {
	t := Table{Header: DeltaHeader}
	for _, r := range d.Rows {
		cells := []string{r.Split, r.Mode, itoa(r.PromptLen), itoa(r.DecodeSteps)}
		for _, m := range deltaMetrics {
			b, c := math.NaN(), math.NaN()
			if r.Base != nil {
				b = m.get(*r.Base)
			}
			if r.Cur != nil {
				c = m.get(*r.Cur)
			}
			cells = append(cells, m.f(b), m.f(c), FormatDelta(b, c))
		}
		for _, m := range StatMetrics {
			ch, ok := r.change(m)
			if !ok {
				cells = append(cells, NA, NA, NA, NA, NA)
				continue
			}
			f := FormatMS
			if m == "rollout_tok_s_est" {
				f = FormatTokS
			}
			cells = append(cells, f(ch.Base.Center), ciCell(ch.Base), f(ch.Cur.Center), ciCell(ch.Cur), ch.String())
		}
		t.Rows = append(t.Rows, cells)
	}
	return t
}

func (r DeltaRow) change(metric string) (Change, bool) {
	for _, c := range r.Changes {
		if c.Metric == metric {
			return c, true
		}
	}
	return Change{}, false
}

// Markdown returns the delta markdown: the plain percentage table and, where
// samples exist, the statistical one.
//
// Model, backend and devices that m leaves empty are the folders': the value
// when baseline and current agree, else both, "B (baseline) → C (current)".
func (d Delta) Markdown(m Meta) string {
	b, c := d.Baseline.Meta, d.Current.Meta
	given := m.Model != "" || m.Backend != "" || m.Devices != ""
	m.Model = cmpOr(m.Model, bothSides(b.Model, c.Model))
	m.Backend = cmpOr(m.Backend, bothSides(b.Backend, c.Backend))
	m.Devices = cmpOr(m.Devices, bothSides(b.Devices, c.Devices))
	md := markdownDoc("Stage 1.2 delta vs "+d.Baseline.Label+": Ember's statistics", m)
	if d.Baseline.Path != "" {
		fmt.Fprintf(md, "- baseline: %s (%s)\n", d.Baseline.Label, d.Baseline.Path)
	}
	if given && (b.Model != "" || b.Backend != "" || b.Devices != "") && (b.Model != m.Model || b.Backend != m.Backend || b.Devices != m.Devices) {
		fmt.Fprintf(md, "- baseline measured with: model %s, backend %s, devices %s\n", cmpOr(b.Model, NA), cmpOr(b.Backend, NA), cmpOr(b.Devices, NA))
	}
	md.WriteString("\nPercent deltas are (current − baseline) / baseline × 100, n/a when the baseline is 0 or missing.\n\n")
	plain := Table{Header: []string{"split", "mode", "prompt_len", "decode_steps"}}
	for _, m := range deltaMetrics {
		plain.Header = append(plain.Header, m.name+" (base → cur)", "Δ")
	}
	full := d.Table()
	for _, row := range full.Rows {
		cells := slices.Clone(row[:4])
		for i := range deltaMetrics {
			c := row[4+3*i:]
			cells = append(cells, c[0]+" → "+c[1], c[2])
		}
		plain.Rows = append(plain.Rows, cells)
	}
	md.WriteString(plain.Markdown())

	stat := Table{Header: []string{"split", "mode", "metric", "baseline median", "current median", "change"}}
	for _, r := range d.Rows {
		for _, c := range r.Changes {
			f := FormatMS
			if c.Metric == "rollout_tok_s_est" {
				f = FormatTokS
			}
			stat.Rows = append(stat.Rows, []string{r.Split, r.Mode, c.Metric,
				f(c.Base.Center) + " " + ciCell(c.Base), f(c.Cur.Center) + " " + ciCell(c.Cur), c.String()})
		}
	}
	if len(stat.Rows) > 0 {
		fmt.Fprintf(md, "\n## Medians of per-iteration samples\n\nMedians with %.0f%% confidence intervals; changes are tested with the Mann-Whitney U test (golang.org/x/perf/benchmath) and marked ~ when p > 0.05, i.e. when they are indistinguishable from noise.\n\n", Confidence*100)
		md.WriteString(stat.Markdown())
	}
	return md.String()
}

// Files returns ember_stage12_delta_vs_<label>.csv and .md (EmberDeltaCSV,
// EmberDeltaMD); the upstream stage12_delta_vs_<label> files are Stage12Delta's.
func (d Delta) Files(m Meta) []File {
	return []File{
		{EmberDeltaCSV(d.Baseline.Label), d.Table().CSV()},
		{EmberDeltaMD(d.Baseline.Label), []byte(d.Markdown(m))},
	}
}
