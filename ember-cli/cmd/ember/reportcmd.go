package main

import (
	"errors"
	"fmt"
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
			Description: `Prints the delta markdown on stdout. With --out-dir, writes
stage12_delta_vs_<label>.csv/.md there. When stage12_raw_samples.csv lies beside
a summary, medians of the per-iteration samples are compared too and changes
that are noise are marked ~.`,
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
				d := report.Compare(base, cur)
				meta := report.Meta{Time: time.Now(), Command: invocation(c)}
				if dir := c.String("out-dir"); dir != "" {
					if err := report.WriteFiles(dir, d.Files(meta)); err != nil {
						return err
					}
				}
				_, err = fmt.Fprint(c.App.Writer, d.Markdown(meta))
				return err
			},
		}},
	}
}
