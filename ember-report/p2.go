package report

import (
	"fmt"
	"strings"
)

// p2Markdown builds stage12_p2_input.md: the best configuration, its rollout
// tok/s against the best of the previous (baseline) and anchor summaries, the
// Ember / llama.cpp dual-device ratio, and the note.
func p2Markdown(in SplitInput, summary []SummaryRow, base, anchor *Delta) string {
	md := markdownDoc("Stage 1.2 P2 input", in.Meta)
	md.WriteString("\n## Best config\n\n")
	best, ok := Best(summary)
	if !ok {
		md.WriteString("- n/a: no run finished\n")
	} else {
		fmt.Fprintf(md, "- split %s, mode %s, prompt %d, %d decode steps: rollout %s tok/s (rollout %s ms, prefill %s ms, decode %s ms/token)\n",
			best.Split, best.Mode, best.PromptLen, best.DecodeSteps, FormatTokS(best.RolloutTokS),
			FormatMS(best.RolloutTotalMS), FormatMS(best.PrefillWallMS), FormatMS(best.DecodePerTokenMS))
	}
	refLines(md, "previous", in.Baseline, base, best, ok, "--baseline-summary")
	refLines(md, "anchor", in.Anchor, anchor, best, ok, "--anchor-summary")

	md.WriteString("\n## Ember / llama.cpp dual\n\n")
	switch l := in.LlamaDual; {
	case l == nil:
		md.WriteString("- n/a: llama.cpp dual-device was not run\n")
	case l.Failed != "":
		fmt.Fprintf(md, "- n/a: llama.cpp dual-device failed: %s\n", oneLine(l.Failed))
	case !ok:
		md.WriteString("- n/a: no Ember run finished\n")
	default:
		fmt.Fprintf(md, "- ember best %s tok/s / llama.cpp dual %s tok/s = %s\n",
			FormatTokS(best.RolloutTokS), FormatTokS(l.RolloutTokS()), FormatRatio(EmberOverLlama(summary, l)))
	}

	md.WriteString("\n## Note\n\n")
	if note := strings.TrimSpace(in.P2Note); note != "" {
		md.WriteString(note + "\n")
	} else {
		md.WriteString("(none)\n")
	}
	return md.String()
}

// refLines writes the "Delta vs <what>" section for one reference summary.
func refLines(md *strings.Builder, what string, ref *Reference, d *Delta, best SummaryRow, haveBest bool, flag string) {
	if ref == nil || d == nil {
		fmt.Fprintf(md, "\n## Delta vs %s\n\n- n/a: no %s given\n", what, flag)
		return
	}
	fmt.Fprintf(md, "\n## Delta vs %s (%s)\n\n", what, d.Baseline.Label)
	prev, ok := Best(ref.Summary)
	switch {
	case !ok:
		md.WriteString("- n/a: the summary has no finished run\n")
		return
	case !haveBest:
		md.WriteString("- n/a: no Ember run finished\n")
		return
	}
	fmt.Fprintf(md, "- best vs best: %s tok/s (split %s, mode %s) → %s tok/s: %s\n",
		FormatTokS(prev.RolloutTokS), prev.Split, prev.Mode, FormatTokS(best.RolloutTokS), FormatDelta(prev.RolloutTokS, best.RolloutTokS))
	for _, r := range d.Rows {
		if r.Key != best.Key || r.Base == nil {
			continue
		}
		fmt.Fprintf(md, "- same config (split %s, mode %s): %s tok/s → %s tok/s: %s",
			r.Split, r.Mode, FormatTokS(r.Base.RolloutTokS), FormatTokS(best.RolloutTokS), FormatDelta(r.Base.RolloutTokS, best.RolloutTokS))
		if c, ok := r.change("rollout_tok_s_est"); ok {
			fmt.Fprintf(md, "; medians: %s", c)
		}
		md.WriteString("\n")
	}
}
