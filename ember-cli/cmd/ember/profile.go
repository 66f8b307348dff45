package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/ember-infer/ember/ember-core/profile"
	"github.com/ember-infer/ember/ember-core/rows"
)

// Exit codes of ember, so a sweep can tell failures apart without parsing text.
const (
	exitError       = 1
	exitOOM         = 3 // a device ran out of memory (device.ErrOutOfMemory)
	exitUnavailable = 4 // the backend could not be used (device.ErrUnavailable)
)

func profileCommand() *cli.Command {
	flags := modelFlags()
	for i, f := range flags {
		if sf, ok := f.(*cli.StringFlag); ok && sf.Name == "devices" {
			flags[i] = &cli.StringFlag{Name: "devices", Aliases: []string{"gpus"}, Usage: "device list, e.g. 0,1 or cpu:0,cpu:1 (default: one device)"}
		}
	}
	return &cli.Command{
		Name:  "profile",
		Usage: "measure prefill and per-token decode, stage by stage",
		UsageText: `ember profile -m MODEL [flags]

Examples:
  ember profile -m M --devices 0,1 --split 18,18 --prompt-len 2048 --decode-steps 128 --chunk-len 512 --overlap --csv out.csv
  ember profile -m testdata/models/tiny-qwen3 --devices cpu:0,cpu:1 --split 3,3 --prompt-len 64 --decode-steps 8 --chunk-len 16 --iters 5 --csv raw.csv`,
		Description: `Prefills a random prompt (fixed seed) of --prompt-len tokens, then decodes
--decode-steps tokens, --warmup + --iters times. Writes the raw stage CSV
(one prefill row and one decode_per_token row, means over the iterations) to
--csv (else stdout) and every iteration to --samples-csv (default: the --csv
path with .samples.csv) for statistical comparisons. Stage times are summed over
devices, so with --overlap they can exceed the wall time.

Exit status: 0 on success, 3 when a device ran out of memory, 4 when the
backend is unavailable, 1 for anything else.`,
		Flags: append(flags,
			&cli.IntFlag{Name: "prompt-len", Value: 512, Usage: "prompt tokens"},
			&cli.IntFlag{Name: "decode-steps", Value: 128, Usage: "decode steps after the prompt"},
			&cli.IntFlag{Name: "chunk-len", Value: 512, Usage: "prefill chunk; 0 = whole prompt"},
			&cli.IntFlag{Name: "iters", Value: 3, Usage: "measured iterations"},
			&cli.IntFlag{Name: "warmup", Value: 1, Usage: "unmeasured iterations first"},
			&cli.BoolFlag{Name: "overlap", Usage: "overlap the devices during chunked prefill"},
			&cli.BoolFlag{Name: "no-overlap", Usage: "no overlap (the default)"},
			&cli.BoolFlag{Name: "pipeline", Usage: "require a two-device layer split (fails on one device)"},
			&cli.BoolFlag{Name: "decode-with-sampling", Usage: "decode by sampling on the host (logits copied back each step)"},
			&cli.BoolFlag{Name: "decode-no-sampling", Usage: "decode with the on-device argmax (the default)"},
			&cli.Uint64Flag{Name: "seed", Value: 1, Usage: "prompt and sampling seed"},
			&cli.StringFlag{Name: "csv", Usage: "raw stage CSV to write (default: stdout)"},
			&cli.StringFlag{Name: "samples-csv", Usage: "per-iteration CSV to write"},
		),
		Action: profileAction,
	}
}

func profileAction(c *cli.Context) error {
	if c.Bool("overlap") && c.Bool("no-overlap") {
		return errors.New("--overlap and --no-overlap exclude each other")
	}
	if c.Bool("decode-with-sampling") && c.Bool("decode-no-sampling") {
		return errors.New("--decode-with-sampling and --decode-no-sampling exclude each other")
	}
	kv, err := kvDType(c)
	if err != nil {
		return err
	}
	opt := profile.Options{
		PromptLen: c.Int("prompt-len"), DecodeSteps: c.Int("decode-steps"), ChunkLen: c.Int("chunk-len"),
		Overlap: c.Bool("overlap"), Iters: c.Int("iters"), Warmup: c.Int("warmup"),
		Sampling: c.Bool("decode-with-sampling"), Seed: c.Uint64("seed"), KVDType: kv,
	}
	if err := opt.Validate(); err != nil {
		return err
	}
	for _, p := range []string{c.String("csv"), c.String("samples-csv")} {
		if p == "" {
			continue
		}
		if st, err := os.Stat(filepath.Dir(p)); err != nil || !st.IsDir() {
			return fmt.Errorf("--csv/--samples-csv %s: directory %s does not exist", p, filepath.Dir(p))
		}
	}
	e, err := openEngine(c, false)
	if err != nil {
		return err
	}
	defer e.Close()
	n := len(e.Devices)
	if c.Bool("pipeline") && n < 2 {
		return fmt.Errorf("--pipeline needs two devices, --devices gives %d", n)
	}
	fmt.Fprintf(c.App.ErrWriter, "ember: profiling %s on %s ×%d, split %s, prompt %d, decode %d, chunk %d, overlap %v\n",
		e.Snapshot.Dir, e.Backend, n, profile.SplitString(e.Model.Split), opt.PromptLen, opt.DecodeSteps, opt.ChunkLen, opt.Overlap)
	prog := startProgress(c, fmt.Sprintf("profiling %d+%d iterations", opt.Warmup, opt.Iters))
	res, err := profile.Run(e.Model, opt)
	prog.Stop()
	if err != nil {
		return err
	}
	base := rows.Config{
		Mode: profile.Mode(n, opt.Overlap), GPUs: n, Split: profile.SplitString(e.Model.Split),
		PromptLen: opt.PromptLen, DecodeSteps: opt.DecodeSteps, ChunkLen: opt.ChunkLen,
		Overlap: opt.Overlap, DecodeSampling: opt.Sampling,
	}
	stage, samples := profile.Rows(base, res)
	path := c.String("csv")
	if path == "" {
		if err := rows.WriteStageCSV(c.App.Writer, stage); err != nil {
			return err
		}
	} else if err := rows.WriteStageFile(path, stage); err != nil {
		return err
	}
	printProfileSummary(c.App.ErrWriter, stage)
	sp := c.String("samples-csv")
	if sp == "" && path != "" {
		sp = rows.SamplesPath(path)
	}
	if sp != "" {
		return rows.WriteSampleFile(sp, samples)
	}
	return nil
}
