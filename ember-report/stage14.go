package report

import (
	"fmt"
	"strings"
	"time"
)

// Stage14Input is the stage 1.4 cumulative-cost simulation's input, with
// upstream's flags (run_stage1_cumulative_profile.py): the base timing from
// a stage 1.2 summary row (or a p1_fig2_prefill_share.csv row), the prefix
// reuse constants from a stage 1.3 sweep, and the locality policy.
type Stage14Input struct {
	// Base is stage12_split_summary.csv, or p1_fig2_prefill_share.csv when
	// BaseIsProfile; BaseName is its file name (for the notes).
	Base          DictRows
	BaseName      string
	BaseIsProfile bool

	Split         string // "9+27"
	Mode          string // "overlap" or "no_overlap"
	PromptLen     int
	DecodeSteps   int
	NumPrompts    int
	NumCandidates int
	NumRounds     int
	NumGPUs       int

	// Prefix is stage13_prefix_cache_sweep.csv (nil: none); PrefixName its file name.
	Prefix     DictRows
	PrefixName string
	PrefixLen  int

	LocalityRatio float64
	RefreshK      int
	// Policy is a stage33_policy_per_round.csv (nil: none), PolicyName the policy.
	Policy         DictRows
	PolicyFileName string
	PolicyName     string

	Now time.Time
}

// Validate checks the numeric settings with upstream's messages, before any
// file is read.
func (in Stage14Input) Validate() error {
	switch {
	case in.PromptLen <= 0 || in.DecodeSteps <= 0:
		return fmt.Errorf("--prompt-len and --decode-steps must be > 0")
	case in.NumPrompts <= 0 || in.NumCandidates <= 0:
		return fmt.Errorf("--num-prompts and --num-candidates must be > 0")
	case in.NumRounds <= 0:
		return fmt.Errorf("--num-rounds must be > 0")
	case in.NumGPUs <= 0:
		return fmt.Errorf("--num-gpus must be > 0")
	case !(in.LocalityRatio >= 0 && in.LocalityRatio <= 1):
		return fmt.Errorf("--locality-recompute-ratio must be in [0,1]")
	case in.RefreshK < 0:
		return fmt.Errorf("--periodic-refresh-k must be >= 0")
	}
	return nil
}

// Stage14 computes the per-round and cumulative cost of three strategies
// (naive, prefix_only, update_locality) and returns upstream's four files:
// stage14_per_round.csv, stage14_summary.csv, stage14_summary.md and
// stage14_p1_input.md. Its errors are upstream's messages.
func Stage14(in Stage14Input) ([]File, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	row := -1
	for i := range in.Base {
		p, ok1 := pyIntOK(in.Base.get(i, "prompt_len", "0"))
		d, ok2 := pyIntOK(in.Base.get(i, "decode_steps", "0"))
		if !ok1 || !ok2 || in.Base.get(i, "mode", "") != in.Mode || p != in.PromptLen || d != in.DecodeSteps {
			continue
		}
		if !in.BaseIsProfile && in.Base.get(i, "split", "") != in.Split {
			continue
		}
		row = i
		break
	}
	var sourceNote string
	if row < 0 {
		if in.BaseIsProfile {
			return nil, fmt.Errorf("failed to find base profile row for mode=%s, prompt_len=%d, decode_steps=%d", in.Mode, in.PromptLen, in.DecodeSteps)
		}
		return nil, fmt.Errorf("failed to find stage12 row for split=%s, mode=%s, prompt_len=%d, decode_steps=%d", in.Split, in.Mode, in.PromptLen, in.DecodeSteps)
	}
	if in.BaseIsProfile {
		sourceNote = fmt.Sprintf("base timing from %s (mode=%s)", in.BaseName, in.Mode)
	} else {
		sourceNote = fmt.Sprintf("base timing from %s (split=%s, mode=%s)", in.BaseName, in.Split, in.Mode)
	}
	prefillFull := safeFloat(in.Base.get(row, "prefill_wall_ms", "0"), 0)
	decodePerToken := safeFloat(in.Base.get(row, "decode_per_token_ms", "0"), 0)
	decodeTotal := decodePerToken * float64(in.DecodeSteps)

	prefixOnce, suffixPerReq := 0.0, prefillFull
	prefixNote := "prefix sweep unavailable; Prefix-only falls back to Naive prefill"
	if in.Prefix != nil {
		prow := -1
		for i := range in.Prefix {
			if p, ok := pyIntOK(in.Prefix.get(i, "prefix_len", "0")); ok && p == in.PrefixLen {
				prow = i
				break
			}
		}
		if prow < 0 {
			return nil, fmt.Errorf("prefix_len=%d not found in %s", in.PrefixLen, in.PrefixName)
		}
		prefixOnce = safeFloat(in.Prefix.get(prow, "cache_prefix_once_ms", "0"), 0)
		docs, ok := pyIntOK(in.Prefix.get(prow, "num_docs", "0"))
		if !ok || docs <= 0 {
			return nil, fmt.Errorf("invalid num_docs in prefix sweep row")
		}
		suffixPerReq = safeFloat(in.Prefix.get(prow, "cache_suffix_total_ms", "0"), 0) / float64(docs)
		prefixNote = fmt.Sprintf("prefix reuse constants from %s: prefix_once=%sms, suffix_per_req=%sms", in.PrefixName, pyFixed(prefixOnce, 3), pyFixed(suffixPerReq, 3))
	}

	requests := float64(in.NumPrompts * in.NumCandidates)
	var ratios map[int]float64
	policyNote := "locality ratio from --locality-recompute-ratio + --periodic-refresh-k"
	if in.Policy != nil {
		ratios = map[int]float64{}
		for i := range in.Policy {
			if in.Policy.get(i, "policy", "") != in.PolicyName {
				continue
			}
			rnd, ok := pyIntOK(in.Policy.get(i, "round", "0"))
			if !ok || rnd <= 0 {
				continue
			}
			ratios[rnd] = safeFloat(in.Policy.get(i, "recompute_ratio", "1.0"), 1)
		}
		if len(ratios) == 0 {
			return nil, fmt.Errorf("no rows for policy='%s' in %s", in.PolicyName, in.PolicyFileName)
		}
		var missing []string
		for i := 1; i <= in.NumRounds; i++ {
			if _, ok := ratios[i]; !ok {
				missing = append(missing, fmt.Sprint(i))
			}
		}
		if len(missing) > 0 {
			more := ""
			if len(missing) > 10 {
				missing, more = missing[:10], "..."
			}
			return nil, fmt.Errorf("policy='%s' missing rounds in %s: %s%s", in.PolicyName, in.PolicyFileName, strings.Join(missing, ","), more)
		}
		policyNote = fmt.Sprintf("locality ratio from %s policy=%s", in.PolicyFileName, in.PolicyName)
	}

	strategies := []string{"naive", "prefix_only", "update_locality"}
	cum := map[string]float64{}
	hours := func(ms float64) float64 { return ms / 1000.0 / 3600.0 }
	var perRound [][]string
	for rnd := 1; rnd <= in.NumRounds; rnd++ {
		naive := requests * (prefillFull + decodeTotal)
		prefix := prefixOnce + requests*(suffixPerReq+decodeTotal)
		var locality float64
		if ratios != nil {
			locality = requests * (prefillFull*ratios[rnd] + decodeTotal)
		} else {
			prefill := prefillFull
			if rnd > 1 {
				refresh := in.RefreshK > 0 && rnd%in.RefreshK == 0
				if !refresh {
					prefill = prefillFull * in.LocalityRatio
				}
			}
			locality = requests * (prefill + decodeTotal)
		}
		for i, ms := range []float64{naive, prefix, locality} {
			s := strategies[i]
			cum[s] += ms
			wall := hours(cum[s])
			perRound = append(perRound, []string{fmt.Sprint(rnd), s, pyFixed(ms, 3), pyFixed(cum[s], 3), pyFixed(wall, 6), pyFixed(wall*float64(in.NumGPUs), 6)})
		}
	}
	reduction := func(base, other float64) float64 {
		if base <= 0 {
			return 0
		}
		return (base - other) / base * 100
	}
	var summary [][]string
	for _, s := range strategies {
		red := "0.000"
		if s != "naive" {
			red = pyFixed(reduction(cum["naive"], cum[s]), 3)
		}
		summary = append(summary, []string{fmt.Sprint(in.NumRounds), s, pyFixed(cum[s], 3), pyFixed(hours(cum[s]), 6), pyFixed(hours(cum[s])*float64(in.NumGPUs), 6), red})
	}

	var md strings.Builder
	md.WriteString("# Stage 1.4 Cumulative Cost Simulation\n\n")
	fmt.Fprintf(&md, "- Generated at: `%s`\n", pyNow(in.Now))
	fmt.Fprintf(&md, "- Base row: split=%s, mode=%s, prompt_len=%d, decode_steps=%d\n", in.Split, in.Mode, in.PromptLen, in.DecodeSteps)
	fmt.Fprintf(&md, "- Base timing source: %s\n", sourceNote)
	fmt.Fprintf(&md, "- Requests per round: num_prompts=%d, num_candidates=%d, total=%d\n", in.NumPrompts, in.NumCandidates, in.NumPrompts*in.NumCandidates)
	fmt.Fprintf(&md, "- Locality assumptions: recompute_ratio=%s, periodic_refresh_k=%d\n", pyRepr(in.LocalityRatio), in.RefreshK)
	fmt.Fprintf(&md, "- Prefix assumptions: %s\n", prefixNote)
	fmt.Fprintf(&md, "- Policy assumptions: %s\n\n", policyNote)
	md.WriteString("| strategy | cumulative_ms | cumulative_wall_hours | cumulative_gpu_hours | reduction_vs_naive_% |\n| --- | --- | --- | --- | --- |\n")
	for _, r := range summary {
		fmt.Fprintf(&md, "| %s | %s | %s | %s | %s |\n", r[1], r[2], r[3], r[4], r[5])
	}

	var p1 strings.Builder
	fmt.Fprintf(&p1, "# Stage1.4 P1 Input (%s)\n\n", pyToday(in.Now))
	fmt.Fprintf(&p1, "Setting: rounds=%d, prompts=%d, candidates=%d, split=%s, mode=%s\n", in.NumRounds, in.NumPrompts, in.NumCandidates, in.Split, in.Mode)
	fmt.Fprintf(&p1, "Base timing: prefill_full_ms=%s, decode_per_token_ms=%s, decode_total_ms=%s\n", pyFixed(prefillFull, 3), pyFixed(decodePerToken, 3), pyFixed(decodeTotal, 3))
	fmt.Fprintf(&p1, "Prefix constants: prefix_once_ms=%s, suffix_per_req_ms=%s\n", pyFixed(prefixOnce, 3), pyFixed(suffixPerReq, 3))
	fmt.Fprintf(&p1, "Locality constants: recompute_ratio=%s, periodic_refresh_k=%d\n\n", pyFixed(in.LocalityRatio, 3), in.RefreshK)
	p1.WriteString("## 30-round cumulative (or configured rounds)\n")
	for _, r := range summary {
		fmt.Fprintf(&p1, "- %s: cumulative_gpu_hours=%s, reduction_vs_naive=%s%%\n", r[1], r[4], r[5])
	}

	return []File{
		{"stage14_per_round.csv", pyCSV([]string{"round", "strategy", "round_ms", "cumulative_ms", "cumulative_wall_hours", "cumulative_gpu_hours"}, perRound)},
		{"stage14_summary.csv", pyCSV([]string{"num_rounds", "strategy", "cumulative_ms", "cumulative_wall_hours", "cumulative_gpu_hours", "reduction_vs_naive_pct"}, summary)},
		{"stage14_summary.md", []byte(md.String())},
		{"stage14_p1_input.md", []byte(p1.String())},
	}, nil
}
