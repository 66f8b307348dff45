package report

import (
	"fmt"
	"os"
	"path/filepath"
)

// resolveSummaryPath lets a report folder stand for its summary: a directory
// given as --baseline or --current means its stage12_split_summary.csv.
func resolveSummaryPath(path string) string {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return filepath.Join(path, SplitSummaryCSV)
	}
	return path
}

// checkSummary refuses a summary that Compare would silently misread: two
// rows with the same key (the second overwrote the first) and negative
// times. Row i of the summary is on line i+2 of its file (after the header).
func checkSummary(path string, s []SummaryRow) error {
	first := map[Key]int{}
	for i, r := range s {
		line := i + 2
		if prev, ok := first[r.Key]; ok {
			return fmt.Errorf("%s: lines %d and %d both hold split %s, mode %s, prompt %d, decode %d; a summary has one row per key",
				path, prev, line, r.Split, r.Mode, r.PromptLen, r.DecodeSteps)
		}
		first[r.Key] = line
		for _, f := range []struct {
			col string
			v   float64
		}{
			{"prefill_wall_ms", r.PrefillWallMS}, {"decode_per_token_ms", r.DecodePerTokenMS},
			{"rollout_total_ms_est", r.RolloutTotalMS}, {"prefill_compute_ms", r.PrefillComputeMS},
			{"prefill_transfer_ms", r.PrefillTransferMS}, {"decode_compute_per_tok_ms", r.DecodeComputePerTokMS},
			{"decode_transfer_per_tok_ms", r.DecodeTransferPerTokMS},
		} {
			if f.v < 0 {
				return fmt.Errorf("%s: line %d, column %s: time %g is negative", path, line, f.col, f.v)
			}
		}
	}
	return nil
}
