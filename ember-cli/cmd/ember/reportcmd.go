package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"

	report "github.com/ember-infer/ember/ember-report"
)

func reportCommand() *cli.Command {
	return &cli.Command{
		Name:  "report",
		Usage: "compare report folders",
		UsageText: `ember report delta --baseline A/stage12_split_summary.csv --current B/stage12_split_summary.csv

Examples:
  ember report delta --baseline reports/old/stage12_split_summary.csv --current reports/new/stage12_split_summary.csv
  ember report delta --baseline A/stage12_split_summary.csv --current B/stage12_split_summary.csv --baseline-label before-fusion --out-dir B`,
		Subcommands: []*cli.Command{{
			Name:  "delta",
			Usage: "percent deltas (and, with samples, medians with confidence intervals) between two split summaries",
			UsageText: `ember report delta --baseline OLD.csv --current NEW.csv [--baseline-label L] [--out-dir DIR]

Examples:
  ember report delta --baseline A/stage12_split_summary.csv --current B/stage12_split_summary.csv`,
			Description: `Prints upstream's delta markdown (per-split deltas, best to best, and the
Ember / llama dual ratio when both folders have a stage12_vs_llama.csv) and
then Ember's, on stdout. With --out-dir, writes upstream's
stage12_delta_vs_<label>.csv/.md and Ember's ember_stage12_delta_vs_<label>.csv/.md
there. When stage12_raw_samples.csv lies beside both summaries, Ember's files
compare medians of the per-iteration samples and mark changes that are noise
with ~. Either summary may be upstream's or Ember's. When no (split, mode) key
of the baseline is in the current summary, it says so and exits 1.`,
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "baseline", Required: true, Usage: "the earlier stage12_split_summary.csv"},
				&cli.StringFlag{Name: "current", Required: true, Usage: "the newer stage12_split_summary.csv"},
				&cli.StringFlag{Name: "baseline-label", Usage: "label of the baseline (default: its folder name)"},
				&cli.StringFlag{Name: "out-dir", Usage: "write the delta files here"},
			},
			Action: func(c *cli.Context) error {
				if c.NArg() > 0 {
					return errors.New("report delta takes no arguments; pass --baseline and --current")
				}
				base, err := report.LoadReference(c.String("baseline"), c.String("baseline-label"))
				if err != nil {
					return err
				}
				cur, err := report.LoadReference(c.String("current"), "current")
				if err != nil {
					return err
				}
				warnReferences(c.App.ErrWriter, base, cur)
				ub, err := report.LoadRefSummary(base.Path, c.String("baseline-label"))
				if err != nil {
					return err
				}
				uc, err := report.LoadRefSummary(cur.Path, "current")
				if err != nil {
					return err
				}
				vsOf := func(summary string) *report.RecTable {
					t, err := report.ReadRecsFile(filepath.Join(filepath.Dir(summary), report.SplitVsLlamaCSV))
					if err != nil {
						return nil
					}
					return &t
				}
				rowsUp := report.Stage12Delta(uc.Rows, ub.Rows)
				upMD := report.Stage12DeltaMD(ub.Label, rowsUp, uc.Rows, ub.Rows, vsOf(uc.Path), vsOf(ub.Path))
				base.Label = ub.Label
				d := report.Compare(base, cur)
				meta := report.Meta{Time: time.Now(), Command: invocation(c)}
				if dir := c.String("out-dir"); dir != "" {
					files := []report.File{{Name: report.SplitDeltaMD(ub.Label), Data: []byte(upMD)}}
					if len(rowsUp) > 0 {
						files = append(files, report.File{Name: report.SplitDeltaCSV(ub.Label), Data: report.RecTable{Header: report.Stage12DeltaHeader, Rows: rowsUp}.CSV()})
					}
					if err := report.WriteFiles(dir, append(files, d.Files(meta)...)); err != nil {
						return err
					}
				}
				if _, err := fmt.Fprint(c.App.Writer, upMD+"\n"+d.Markdown(meta)); err != nil {
					return err
				}
				if len(rowsUp) == 0 {
					return fmt.Errorf("no (split, mode) key of the baseline %s is in %s: every delta is missing", ub.Path, uc.Path)
				}
				return nil
			},
		}},
	}
}
