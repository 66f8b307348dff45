package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"

	"github.com/ember-infer/ember/ember-core/rows"
)

// printProfileSummary writes, for a person reading the terminal, what the
// raw stage CSV says: prefill and decode wall time and speed, and each
// phase's three costliest stages with their share of the stage total.
func printProfileSummary(w io.Writer, stage []rows.StageRow) {
	for _, r := range stage {
		// The CSV's 3 decimals, so that the summary and the CSV agree.
		r.WallMS = math.Round(r.WallMS*1000) / 1000
		var head string
		switch r.Phase {
		case rows.PhasePrefill:
			head = fmt.Sprintf("prefill %d tokens: %.2f ms (%.1f tok/s)", r.PromptLen, r.WallMS, tokPerSec(float64(r.PromptLen), r.WallMS))
		case rows.PhaseDecodePerToken:
			head = fmt.Sprintf("decode: %.3f ms/token (%.1f tok/s)", r.WallMS, tokPerSec(1, r.WallMS))
		default:
			continue
		}
		fmt.Fprintf(w, "ember: %s; top stages %s\n", head, topStages(r, 3))
	}
}

func tokPerSec(tokens, ms float64) float64 {
	if ms <= 0 {
		return 0
	}
	return tokens * 1000 / ms
}

// topStages names the n stages that took longest, e.g. "ffn 5.10 ms (41%),
// attention 4.20 ms (34%)"; stages that took no time are left out.
func topStages(r rows.StageRow, n int) string {
	vals := r.Values()
	sum := r.Sum()
	idx := make([]int, len(vals))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		switch {
		case vals[a] > vals[b]:
			return -1
		case vals[a] < vals[b]:
			return 1
		}
		return 0
	})
	var parts []string
	for _, i := range idx[:min(n, len(idx))] {
		if vals[i] <= 0 {
			break
		}
		parts = append(parts, fmt.Sprintf("%s %.3f ms (%.0f%%)", rows.StageNames[i], vals[i], vals[i]*100/sum))
	}
	if len(parts) == 0 {
		return "none timed"
	}
	return strings.Join(parts, ", ")
}
