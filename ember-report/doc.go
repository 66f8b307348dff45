// Package report turns measurement rows into the report folders of Ember's
// milestone sweeps, in the dialect of the upstream stage-1 scripts
// (dongchany/ember scripts/report/run_stage1_milestone.py and
// run_stage1_split_profile.py), plus Ember's own additions in files of their
// own. It is pure Go and depends on ember-core only for the row types.
//
// Everything is a pure function from rows to files held in memory, plus one
// writer that puts files in a folder atomically:
//
//	res, err := report.Stage12Files(report.Stage12Input{ModelDir: dir, Runs: runs, Splits: splits, Failures: fs})
//	if err == nil {
//		err = report.WriteFiles(out, res.Files)
//	}
//
// Stage1Files builds a stage 1.1 milestone folder (stage1_*.csv/.md, p1_fig2,
// p2_stage_latency_components), Stage12Files a stage 1.2 split-profile folder
// (stage12_*). The upstream-named files follow the scripts path by path: they
// are built from the text of CSV cells (RecTable), numbers read as the
// scripts' safe_float reads them and printed as Python's f"{v:.3f}" (3
// decimals for ms and tok/s, 2 for percentages, 4 for ratios, "+2.40%",
// "-0.00%" or "n/a" for deltas), rows sorted as the scripts sort them (keys as
// text: "12+24" before "9+27"), written as csv.DictWriter writes ("\r\n"), and
// a CSV without rows is not written, as upstream. Ember's additions (per
// iteration samples, medians with intervals and significance, charts, its own
// bubble measure) go to stage12_raw_samples.csv, stage1_raw_samples.csv, the
// SVG charts and the ember_* files, never into an upstream-named file.
package report
