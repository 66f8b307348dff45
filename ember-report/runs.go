package report

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/ember-infer/ember/ember-core/rows"
)

// Run is one measured run: its prefill row and its decode_per_token row, with
// times rounded to the 3 decimals of the raw CSV.
type Run struct {
	Prefill rows.StageRow
	Decode  rows.StageRow
}

// Config is the run's configuration (phase left empty).
func (r Run) Config() rows.Config { return r.Prefill.Config.Run() }

// RolloutTotalMS is prefill wall + decode per token × decode steps: the
// estimated time of one prompt and its whole generation.
func (r Run) RolloutTotalMS() float64 {
	return round(r.Prefill.WallMS+r.Decode.WallMS*float64(r.Prefill.DecodeSteps), 3)
}

// RolloutTokS is decode steps × 1000 / RolloutTotalMS, NaN when the total is 0.
func (r Run) RolloutTokS() float64 {
	return div(float64(r.Prefill.DecodeSteps)*1000, r.RolloutTotalMS())
}

// PrefillSharePct is the prefill wall's share of the rollout total, in percent.
func (r Run) PrefillSharePct() float64 {
	return div(r.Prefill.WallMS*100, r.RolloutTotalMS())
}

// roundRow rounds every time of r to 3 decimals, as the raw CSV prints it.
func roundRow(r rows.StageRow) rows.StageRow {
	r.WallMS = round(r.WallMS, 3)
	r.ProfileTotalMS = round(r.ProfileTotalMS, 3)
	s := &r.Stages
	for _, p := range []*float64{&s.EmbeddingMS, &s.RMSNormMS, &s.AttentionMS, &s.FFNMS, &s.P2PMS, &s.MemcpyH2DMS, &s.MemcpyD2HMS, &s.SamplingMS, &s.LMHeadMS} {
		*p = round(*p, 3)
	}
	return r
}

// PairRuns pairs each prefill row with the decode_per_token row of the same
// configuration and returns the runs in report order (gpus, split, mode,
// decode sampling, prompt length, decode steps, overlap, chunk). A row without
// its partner, or two rows of one phase and configuration, is an error.
func PairRuns(rs []rows.StageRow) ([]Run, error) {
	type half struct{ pre, dec *rows.StageRow }
	byCfg := map[rows.Config]*half{}
	var order []rows.Config
	for i := range rs {
		r := roundRow(rs[i])
		k := r.Config.Run()
		h := byCfg[k]
		if h == nil {
			h = &half{}
			byCfg[k] = h
			order = append(order, k)
		}
		slot := &h.pre
		if r.Phase == rows.PhaseDecodePerToken {
			slot = &h.dec
		} else if r.Phase != rows.PhasePrefill {
			return nil, fmt.Errorf("stage row %d: phase %q, want %q or %q", i+1, r.Phase, rows.PhasePrefill, rows.PhaseDecodePerToken)
		}
		if *slot != nil {
			return nil, fmt.Errorf("two %s rows for one run (%v)", r.Phase, k)
		}
		*slot = &r
	}
	runs := make([]Run, 0, len(order))
	for _, k := range order {
		h := byCfg[k]
		switch {
		case h.pre == nil:
			return nil, fmt.Errorf("a decode_per_token row has no prefill row (%v)", k)
		case h.dec == nil:
			return nil, fmt.Errorf("a prefill row has no decode_per_token row (%v)", k)
		}
		runs = append(runs, Run{Prefill: *h.pre, Decode: *h.dec})
	}
	slices.SortStableFunc(runs, func(a, b Run) int { return compareConfig(a.Config(), b.Config()) })
	return runs, nil
}

// compareConfig orders configurations as reports list them.
func compareConfig(a, b rows.Config) int {
	return cmp.Or(
		strings.Compare(a.GPUs, b.GPUs),
		CompareSplits(a.Split, b.Split),
		cmp.Compare(a.Mode, b.Mode),
		compareBool(a.DecodeSampling, b.DecodeSampling),
		cmp.Compare(a.PromptLen, b.PromptLen),
		cmp.Compare(a.DecodeSteps, b.DecodeSteps),
		compareBool(a.Overlap, b.Overlap),
		cmp.Compare(b.ChunkLen, a.ChunkLen), // larger chunk first
	)
}

func compareBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}

// CompareSplits orders split strings by their layer counts read as numbers
// ("9+27" < "12+24" < "18+18"; "," separates as well as "+"); splits that are not comma-separated integers
// sort after those that are, by text.
func CompareSplits(a, b string) int {
	na, oka := splitNumbers(a)
	nb, okb := splitNumbers(b)
	switch {
	case oka && okb:
		return cmp.Or(slices.Compare(na, nb), strings.Compare(a, b))
	case oka:
		return -1
	case okb:
		return 1
	}
	return strings.Compare(a, b)
}

func splitNumbers(s string) ([]int, bool) {
	var out []int
	for _, p := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '+' }) {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil {
			return nil, false
		}
		out = append(out, n)
	}
	return out, true
}

// Error hints of a failed run, as the failures CSV spells them.
const (
	// HintOOM is a run that ran out of device memory at the smallest chunk tried.
	HintOOM = "oom"
	// HintRuntimeUnavailable is a run whose backend could not be started (no
	// driver, no device).
	HintRuntimeUnavailable = "runtime_unavailable"
	// HintRuntimeError is any other failure.
	HintRuntimeError = "runtime_error"
)

// Failure is a run that produced no rows, as the failures CSV records it.
// ChunkLen is the last (smallest) chunk tried.
type Failure struct {
	RunID       string
	Split       string // "A+B" of a split run; stage1_failures.csv has no split column
	PromptLen   int
	DecodeSteps int
	Overlap     bool
	ChunkLen    int
	ReturnCode  int
	ErrorHint   string // HintOOM, HintRuntimeUnavailable or HintRuntimeError
	LogPath     string
}

func checkFailures(fs []Failure) error {
	for _, f := range fs {
		switch f.ErrorHint {
		case HintOOM, HintRuntimeUnavailable, HintRuntimeError:
		default:
			return fmt.Errorf("failure %s: error hint %q, want %q, %q or %q", f.RunID, f.ErrorHint, HintOOM, HintRuntimeUnavailable, HintRuntimeError)
		}
	}
	return nil
}

func boolCell(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func itoa(n int) string { return strconv.Itoa(n) }
