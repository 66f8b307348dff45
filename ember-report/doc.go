// Package report turns measurement rows into the report folders of Ember's
// milestone sweeps: summaries, deltas, markdown and SVG charts. It is pure Go
// and depends on ember-core only for the row types (package rows).
//
// Everything is a pure function from rows to files held in memory, plus one
// writer that puts files in a folder atomically:
//
//	files, err := report.Split(report.SplitInput{Meta: meta, Rows: rs, Samples: ss, Failures: fs})
//	if err == nil {
//		err = report.WriteFiles(dir, files)
//	}
//
// Stage1 builds a stage 1.1 milestone folder (stage1_*.csv/.md, p1_fig2,
// p2_stage_latency_components), Split a stage 1.2 split-profile folder
// (stage12_*), and Compare with Delta.Files the delta of two split summaries
// (ember report delta). Number formats follow the old tooling: 3 decimals for
// ms and tok/s, 2 for percentages, 4 for ratios, percent deltas as "+12.34%",
// "-5.00%" or "n/a" when the old value is 0.
//
// Raw row times are rounded to the 3 decimals of the raw CSV before anything
// is derived from them, and derived values are kept at their printed
// precision, so a report built from rows in memory equals one rebuilt from the
// CSVs it wrote, and printed numbers add up: rollout_total_ms_est is exactly
// prefill_wall_ms + decode_per_token_ms × decode_steps as printed.
package report
