package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/ember-infer/ember/ember-core/device"
	"github.com/ember-infer/ember/ember-core/engine"
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
		sf, ok := f.(*cli.StringFlag)
		if !ok {
			continue
		}
		switch sf.Name {
		case "devices":
			flags[i] = &cli.StringFlag{Name: "devices", Aliases: []string{"gpus"}, Usage: "device list, e.g. 0 or 0,1 or cpu:0,cpu:1 (default: 0)"}
		case "backend":
			flags[i] = &cli.StringFlag{Name: "backend", Value: "auto", EnvVars: []string{"EMBER_BACKEND"}, Usage: "cpu, cuda or auto (CUDA when available, else CPU)"}
		case "split":
			flags[i] = &cli.StringFlag{Name: "split", Usage: "layer split A,B for two devices (default: the planner's, even when memory is unlimited); ignored on one device"}
		}
	}
	return &cli.Command{
		Name:  "profile",
		Usage: "measure prefill and per-token decode, stage by stage (upstream's ember_stage_breakdown)",
		UsageText: `ember profile -m MODEL [flags]

Examples:
  ember profile -m M --gpus 0,1 --split 18,18 --prompt-len 2048 --decode-steps 128 --chunk-len 512 --pipeline --overlap --csv out.csv
  ember profile -m testdata/models/tiny-qwen3 --backend cpu --gpus 0,1 --split 3,3 --prompt-len 64 --decode-steps 8 --chunk-len 16 --pipeline --iters 5 --csv raw.csv`,
		Description: `Takes the flags of upstream's ember_stage_breakdown, with its defaults, and
writes its CSV. Prefills a random prompt (fixed seed) of --prompt-len tokens,
then decodes --decode-steps tokens from the prompt's last token, --warmup +
--iters times. The prefill is chunked (--chunk-len) only on two devices with
--pipeline or --overlap; otherwise the whole prompt goes at once.

The CSV (--csv, else stdout) has one prefill row and one decode_per_token row
(none with --decode-steps 0), means over the iterations: mode is overlap or
no_overlap, gpus the device ids joined by + (0+1), split A+B (the layer total
on one device). Every iteration goes to --samples-csv (default: the --csv path
with .samples.csv) for statistical comparisons. Stage times are summed over
devices, so with --overlap they can exceed the wall time. EMBER_BACKEND sets
--backend, so a script that passes --gpus 0,1 can run on the CPU backend.

Exit status: 0 on success, 3 when a device ran out of memory (the message says
"out of memory"), 4 when the backend is unavailable (the message starts "CUDA
runtime not available"), 1 for anything else.`,
		Flags: append(flags,
			&cli.IntFlag{Name: "prompt-len", Value: 2048, Usage: "prompt tokens"},
			&cli.IntFlag{Name: "decode-steps", Value: 256, Usage: "decode steps after the prompt; 0 writes the prefill row only"},
			&cli.IntFlag{Name: "chunk-len", Aliases: []string{"chunk"}, Value: 512, Usage: "prefill chunk of the two-device pipeline (--chunk is the old spelling)"},
			&cli.IntFlag{Name: "iters", Value: 3, Usage: "measured iterations"},
			&cli.IntFlag{Name: "warmup", Value: 1, Usage: "unmeasured iterations first"},
			&cli.BoolFlag{Name: "overlap", Usage: "two devices: chunked prefill with device 0's next chunk overlapping device 1's"},
			&cli.BoolFlag{Name: "no-overlap", Usage: "no overlap (the default)"},
			&cli.BoolFlag{Name: "pipeline", Usage: "two devices: chunked prefill even without --overlap"},
			&cli.BoolFlag{Name: "no-pipeline", Usage: "whole-prompt prefill unless --overlap (the default)"},
			&cli.BoolFlag{Name: "decode-with-sampling", Usage: "decode with logits copied back and a host argmax, timed as sampling"},
			&cli.BoolFlag{Name: "decode-no-sampling", Usage: "decode with the on-device argmax (the default)"},
			&cli.Uint64Flag{Name: "seed", Value: 1, Usage: "prompt seed"},
			&cli.StringFlag{Name: "csv", Usage: "raw stage CSV to write (default: stdout)"},
			&cli.StringFlag{Name: "samples-csv", Usage: "per-iteration CSV to write"},
		),
		Action: profileAction,
	}
}

// prefillChunk is the chunk the prefill runs with: as ember_stage_breakdown,
// chunked only on two devices with --pipeline or --overlap, else the whole
// prompt (0).
func prefillChunk(devices, chunk int, pipeline, overlap bool) int {
	if devices >= 2 && (pipeline || overlap) {
		return chunk
	}
	return 0
}

func profileAction(c *cli.Context) error {
	if c.NArg() > 0 {
		return fmt.Errorf("profile takes no arguments (got %q)", c.Args().First())
	}
	for _, pair := range [][2]string{{"overlap", "no-overlap"}, {"pipeline", "no-pipeline"}, {"decode-with-sampling", "decode-no-sampling"}} {
		if c.Bool(pair[0]) && c.Bool(pair[1]) {
			return fmt.Errorf("--%s and --%s exclude each other", pair[0], pair[1])
		}
	}
	if c.Int("chunk-len") < 1 {
		return fmt.Errorf("--chunk-len %d: want at least 1", c.Int("chunk-len"))
	}
	kv, err := kvDType(c)
	if err != nil {
		return err
	}
	if c.IsSet("devices") && strings.Trim(c.String("devices"), " ,") == "" {
		// ember_stage_breakdown's sentence; unset, the flag means device 0.
		return errors.New("--gpus is empty")
	}
	_, ids, err := engine.ParseDevices(c.String("devices"))
	if err != nil {
		return err
	}
	if len(ids) < 2 && c.String("split") != "" {
		// ember_stage_breakdown puts every layer on the one GPU whatever --split says.
		if err := c.Set("split", ""); err != nil {
			return err
		}
	}
	opt := profile.Options{
		PromptLen: c.Int("prompt-len"), DecodeSteps: c.Int("decode-steps"),
		ChunkLen: prefillChunk(len(ids), c.Int("chunk-len"), c.Bool("pipeline"), c.Bool("overlap")),
		Overlap:  c.Bool("overlap"), Iters: c.Int("iters"), Warmup: c.Int("warmup"),
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
		return classifyProfileError(err)
	}
	defer e.Close()
	n := len(e.Devices)
	fmt.Fprintf(c.App.ErrWriter, "ember: profiling %s on %s ×%d, split %s, prompt %d, decode %d, prefill chunk %d, overlap %v\n",
		e.Snapshot.Dir, e.Backend, n, rows.SplitCell(e.Model.Split), opt.PromptLen, opt.DecodeSteps, opt.ChunkLen, opt.Overlap)
	prog := startProgress(c, fmt.Sprintf("profiling %d+%d iterations", opt.Warmup, opt.Iters))
	res, err := profile.Run(e.Model, opt)
	prog.Stop()
	if err != nil {
		return classifyProfileError(e.Explain(err))
	}
	base := rows.Config{
		Mode: rows.Mode(n, opt.Overlap), GPUs: rows.GPUsCell(ids), Split: rows.SplitCell(e.Model.Split),
		PromptLen: opt.PromptLen, DecodeSteps: opt.DecodeSteps, ChunkLen: c.Int("chunk-len"),
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

// UnavailablePrefix heads the message of an unavailable backend, so that
// upstream's scripts, which classify a failed run by its output text, read it
// as runtime_unavailable (out-of-memory messages already say "out of memory").
const UnavailablePrefix = "CUDA runtime not available: "

func classifyProfileError(err error) error {
	if errors.Is(err, device.ErrUnavailable) && !strings.Contains(strings.ToLower(err.Error()), "cuda runtime not available") {
		return fmt.Errorf("%s%w", UnavailablePrefix, err)
	}
	return err
}
