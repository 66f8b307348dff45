package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/ember-infer/ember/ember-cli/internal/sweep"
	"github.com/ember-infer/ember/ember-core/engine"
	"github.com/ember-infer/ember/ember-core/qwen3"
	report "github.com/ember-infer/ember/ember-report"
)

func milestoneCommand() *cli.Command {
	return &cli.Command{
		Name:  "milestone",
		Usage: "run a milestone sweep (stage1 or split) and write its report folder",
		UsageText: `ember milestone stage1|split [flags]

Examples:
  ember milestone stage1 --model Qwen/Qwen3-4B-Instruct-2507 --gpus 0,1
  ember milestone split --model Qwen/Qwen3-4B-Instruct-2507 --gpus 0,1 --splits "9,27;18,18"
  ember milestone split -m testdata/models/tiny-qwen3 --gpus cpu:0,cpu:1 --prompt-lens 64 --decode-steps 8 --chunk-len 16`,
		Subcommands: []*cli.Command{stage1Command(), splitCommand()},
	}
}

// sweepFlags are shared by both milestones.
func sweepFlags(promptLens, decodeSteps string) []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "model", Aliases: []string{"m"}, EnvVars: []string{"MODEL_PATH"}, Usage: "snapshot dir, HF cache dir or Org/Name id"},
		&cli.StringFlag{Name: "gpus", Aliases: []string{"devices"}, Value: "0,1", Usage: "device list, e.g. 0,1 or cpu:0,cpu:1"},
		&cli.StringFlag{Name: "backend", Value: "auto", Usage: "cpu, cuda or auto"},
		&cli.StringFlag{Name: "device-mem", Usage: "memory budget per device (CPU backend), e.g. 64MiB"},
		&cli.IntFlag{Name: "threads", Usage: "CPU threads per device"},
		&cli.StringFlag{Name: "prompt-lens", Value: promptLens, Usage: "prompt lengths, comma separated"},
		&cli.StringFlag{Name: "decode-steps", Value: decodeSteps, Usage: "decode steps, comma separated"},
		&cli.IntFlag{Name: "chunk-len", Value: 512, Usage: "prefill chunk"},
		&cli.IntFlag{Name: "iters", Value: 6, Usage: "measured iterations per run (6 or more give finite 95% intervals for medians)"},
		&cli.IntFlag{Name: "warmup", Value: 1, Usage: "warm-up iterations per run"},
		&cli.BoolFlag{Name: "decode-with-sampling", Usage: "decode by host sampling"},
		&cli.BoolFlag{Name: "decode-no-sampling", Usage: "decode with the on-device argmax (default)"},
		&cli.BoolFlag{Name: "retry-oom", Value: true, Usage: "retry an out-of-memory run with the chunk halved"},
		&cli.BoolFlag{Name: "no-retry-oom", Usage: "an out-of-memory run fails at once"},
		&cli.IntFlag{Name: "min-chunk-len", Value: 64, Usage: "smallest chunk an OOM retry goes down to"},
		&cli.IntFlag{Name: "retry-runtime-unavailable", Value: 1, Usage: "extra tries when the runtime is unavailable"},
		&cli.BoolFlag{Name: "continue-on-error", Value: true, Usage: "keep going after a failed run"},
		&cli.BoolFlag{Name: "stop-on-error", Usage: "stop at the first failed run"},
		&cli.BoolFlag{Name: "skip-existing", Value: true, Usage: "reuse finished runs in --out-dir"},
		&cli.BoolFlag{Name: "no-skip-existing", Usage: "rerun every run"},
		&cli.StringFlag{Name: "out-dir", Usage: "report folder (default reports/<milestone>_<timestamp>)"},
		&cli.StringFlag{Name: "kv-dtype", Value: "bf16", Usage: "KV cache type"},
	}
}

func stage1Command() *cli.Command {
	return &cli.Command{
		Name:  "stage1",
		Usage: "stage 1.1: prompt lengths × decode steps × overlap",
		UsageText: `ember milestone stage1 [flags]

Examples:
  ember milestone stage1 --model Qwen/Qwen3-4B-Instruct-2507 --gpus 0,1
  ember milestone stage1 -m testdata/models/tiny-qwen3 --gpus cpu:0,cpu:1 --prompt-lens 32,64 --decode-steps 4,8 --chunk-len 16`,
		Description: `Runs ember profile for every prompt length × decode steps × overlap (0 and 1
when there are two devices), each in its own process, and writes
stage1_raw_rows.csv, stage1_summary.csv/.md, stage1_mainline_ready.csv/.md,
p1_fig2_prefill_share.csv, p2_stage_latency_components.csv, stage1_failures.csv,
charts and logs/ into --out-dir. Re-running the same --out-dir reuses finished runs.`,
		Flags: append(sweepFlags("128,512,2048", "32,128"),
			&cli.BoolFlag{Name: "pipeline-2gpu", Value: true, Usage: "split the layers over two devices (else only the first device)"},
		),
		Action: func(c *cli.Context) error { return milestoneAction(c, "stage1") },
	}
}

func splitCommand() *cli.Command {
	return &cli.Command{
		Name:  "split",
		Usage: "stage 1.2: layer splits × overlap, with llama.cpp and earlier runs for comparison",
		UsageText: `ember milestone split [flags]

Examples:
  ember milestone split --model Qwen/Qwen3-4B-Instruct-2507 --gpus 0,1 --include-llama --llama-bin-dir /opt/llama.cpp/build/bin --llama-gguf /m/q4b-bf16.gguf
  ember milestone split -m M --gpus 0,1 --baseline-summary reports/old/stage12_split_summary.csv --p2-note "fused rmsnorm"`,
		Description: `Runs ember profile for every split (--splits "12,24;18,18", default about 25/33/50/67/75 %
of the layers on the first device, plus half) with and without overlap, each in
its own process, and writes the stage 1.2 folder: stage12_raw_rows.csv,
stage12_split_summary.csv, stage12_transfer_vs_compute.csv,
stage12_bubble_vs_split.csv, stage12_summary.md, stage12_failures.csv, charts,
logs/, and when asked stage12_vs_llama.csv/.md, stage12_delta_vs_<label>.csv/.md
and stage12_p2_input.md.`,
		Flags: append(sweepFlags("2048", "128"),
			&cli.StringFlag{Name: "splits", Usage: `layer splits, e.g. "12,24;18,18" (default: auto)`},
			&cli.BoolFlag{Name: "pipeline-2gpu", Value: true, Usage: "accepted for compatibility; a split always uses two devices"},
			&cli.BoolFlag{Name: "include-llama", Usage: "also run llama-bench for comparison"},
			&cli.StringFlag{Name: "llama-bin-dir", Usage: "directory holding llama-bench"},
			&cli.StringFlag{Name: "llama-gguf", Usage: "the GGUF model for llama-bench"},
			&cli.StringFlag{Name: "llama-single-device", Value: "0", Usage: "GPU for the single-device llama-bench run (CUDA_VISIBLE_DEVICES); none skips it"},
			&cli.StringFlag{Name: "llama-dual-device", Value: "0,1", Usage: "GPUs for the dual-device llama-bench run; none skips it"},
			&cli.StringFlag{Name: "llama-dual-split-mode", Value: "layer", Usage: "llama-bench -sm for the dual run"},
			&cli.StringFlag{Name: "llama-dual-tensor-split", Value: "1,1", Usage: "llama-bench -ts for the dual run"},
			&cli.StringFlag{Name: "baseline-summary", Usage: "an earlier stage12_split_summary.csv to compare with"},
			&cli.StringFlag{Name: "baseline-label", Usage: "label of the baseline (names the delta files)"},
			&cli.BoolFlag{Name: "baseline-vs-llama", Usage: "also set the baseline's best row against llama.cpp"},
			&cli.StringFlag{Name: "anchor-summary", Usage: "a fixed reference stage12_split_summary.csv"},
			&cli.StringFlag{Name: "anchor-label", Usage: "label of the anchor"},
			&cli.StringFlag{Name: "p2-note", Usage: "one-line implementation note for stage12_p2_input.md"},
		),
		Action: func(c *cli.Context) error { return milestoneAction(c, "split") },
	}
}

// autoSplits returns splits putting about 25, 33, 50, 67 and 75 % of the layers
// on the first device, plus the even half, without duplicates, in order.
func autoSplits(layers int) [][]int {
	seen := map[int]bool{}
	var firsts []int
	for _, pct := range []int{25, 33, 50, 67, 75} {
		a := (layers*pct + 50) / 100
		a = min(max(a, 1), layers-1)
		if !seen[a] {
			seen[a] = true
			firsts = append(firsts, a)
		}
	}
	if h := layers / 2; !seen[h] && h >= 1 {
		firsts = append(firsts, h)
	}
	slices.Sort(firsts)
	out := make([][]int, len(firsts))
	for i, a := range firsts {
		out[i] = []int{a, layers - a}
	}
	return out
}

// parseSplits reads "12,24;18,18".
func parseSplits(s string) ([][]int, error) {
	var out [][]int
	for _, part := range strings.Split(s, ";") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		sp, err := engine.ParseSplit(part)
		if err != nil {
			return nil, fmt.Errorf("--splits %q: %v", s, err)
		}
		out = append(out, sp)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--splits %q names no split", s)
	}
	return out, nil
}

func milestoneAction(c *cli.Context, kind string) error {
	if c.NArg() > 0 {
		return fmt.Errorf("milestone %s takes no arguments (got %q)", kind, c.Args().First())
	}
	model := c.String("model")
	if model == "" {
		return errors.New("no model: pass --model (or set MODEL_PATH)")
	}
	sm, err := openSweepModel(model)
	if err != nil {
		return err
	}
	layers := sm.Layers
	prompts, err := parseInts("prompt-lens", c.String("prompt-lens"))
	if err != nil {
		return err
	}
	steps, err := parseInts("decode-steps", c.String("decode-steps"))
	if err != nil {
		return err
	}
	if len(prompts) == 0 || len(steps) == 0 {
		return errors.New("--prompt-lens and --decode-steps each need at least one value")
	}
	if err := checkSweepFlags(c, sm, prompts, steps); err != nil {
		return err
	}
	baseline, anchor, err := loadReferences(c)
	if err != nil {
		return err
	}
	_, ids, err := engine.ParseDevices(c.String("gpus"))
	if err != nil {
		return err
	}
	sampling := c.Bool("decode-with-sampling")
	chunk := c.Int("chunk-len")
	var runs []sweep.Run
	devices := c.String("gpus")
	switch kind {
	case "stage1":
		if !c.Bool("pipeline-2gpu") || len(ids) < 2 {
			ids = ids[:1]
			b, _, _ := engine.ParseDevices(c.String("gpus"))
			devices = ids[0]
			if b != "" {
				devices = b + ":" + ids[0]
			}
		}
		overlaps := []bool{false}
		if len(ids) > 1 {
			overlaps = []bool{false, true}
		}
		for _, p := range prompts {
			for _, d := range steps {
				for _, ov := range overlaps {
					runs = append(runs, sweep.Run{ID: fmt.Sprintf("p%d_d%d_o%d", p, d, b2i(ov)), PromptLen: p, DecodeSteps: d, ChunkLen: chunk, Overlap: ov, Sampling: sampling})
				}
			}
		}
	case "split":
		if len(ids) != 2 {
			return fmt.Errorf("milestone split needs two devices, --gpus %q gives %d", c.String("gpus"), len(ids))
		}
		splits := autoSplits(layers)
		if s := c.String("splits"); s != "" {
			if splits, err = parseSplits(s); err != nil {
				return err
			}
			// A split the model cannot take would only fail in every run.
			for _, sp := range splits {
				if err := qwen3.CheckSplit(layers, 2, sp); err != nil {
					return fmt.Errorf("--splits %q: %v", s, err)
				}
			}
		}
		for _, sp := range splits {
			for _, p := range prompts {
				for _, d := range steps {
					for _, ov := range []bool{false, true} {
						runs = append(runs, sweep.Run{ID: fmt.Sprintf("s%d-%d_p%d_d%d_o%d", sp[0], sp[1], p, d, b2i(ov)),
							PromptLen: p, DecodeSteps: d, ChunkLen: chunk, Overlap: ov, Split: sp, Sampling: sampling})
					}
				}
			}
		}
	}
	now := time.Now()
	out := c.String("out-dir")
	if out == "" {
		name := "stage1_milestone_"
		if kind == "split" {
			name = "stage1_split_profile_"
		}
		out = filepath.Join("reports", name+now.Format("20060102_150405"))
	}
	lock, err := lockSweep(c, out, now)
	if err != nil {
		return err
	}
	defer lock.Unlock()
	if err := os.MkdirAll(filepath.Join(out, "logs"), 0o755); err != nil {
		return err
	}
	logf, err := os.OpenFile(filepath.Join(out, "logs", "sweep.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	progress := io.MultiWriter(c.App.ErrWriter, logf)
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	base := []string{"--model", model, "--devices", devices, "--backend", c.String("backend"),
		"--iters", strconv.Itoa(c.Int("iters")), "--warmup", strconv.Itoa(c.Int("warmup")), "--kv-dtype", c.String("kv-dtype")}
	if m := c.String("device-mem"); m != "" {
		base = append(base, "--device-mem", m)
	}
	if t := c.Int("threads"); t > 0 {
		base = append(base, "--threads", strconv.Itoa(t))
	}
	ident, err := sweepIdentity(sm, profileExe(exe))
	if err != nil {
		return err
	}
	ctx, stop := interruptible()
	defer stop()
	fmt.Fprintf(progress, "ember: %s sweep of %d runs into %s\n", kind, len(runs), out)
	outs, err := sweep.Execute(ctx, sweep.Options{
		OutDir: out, Base: base,
		RetryOOM: c.Bool("retry-oom") && !c.Bool("no-retry-oom"), MinChunk: c.Int("min-chunk-len"),
		RetryUnavailable: c.Int("retry-runtime-unavailable"),
		ContinueOnError:  c.Bool("continue-on-error") && !c.Bool("stop-on-error"),
		SkipExisting:     c.Bool("skip-existing") && !c.Bool("no-skip-existing"),
		Progress:         progress, Run: sweepRunner(exe), Identity: ident,
	}, runs)
	if ctx.Err() != nil {
		defer resumeHint(progress, c, out, len(outs), len(runs))
		err = errors.New("sweep interrupted by a signal")
	}
	if err != nil && len(outs) == 0 {
		return err
	}
	sweepErr := err
	rs, samples, fails := sweep.Collect(outs)
	backend := c.String("backend")
	if prefix, _, _ := engine.ParseDevices(devices); backend == "auto" && prefix != "" {
		backend = prefix // cpu:0,cpu:1 runs the CPU backend whatever --backend says
	}
	meta := report.Meta{Model: model, Backend: backend, Devices: devices, Time: now, Command: invocation(c)}
	switch kind {
	case "stage1":
		err = report.WriteStage1(out, report.Stage1Input{Meta: meta, Rows: rs, Samples: samples, Failures: fails})
	case "split":
		in := report.SplitInput{Meta: meta, Rows: rs, Samples: samples, Failures: fails, P2Note: c.String("p2-note"), BaselineVsLlama: c.Bool("baseline-vs-llama")}
		in.Baseline, in.Anchor = baseline, anchor
		if c.Bool("include-llama") {
			in.LlamaSingle, in.LlamaDual = runLlama(c, out, prompts[0], steps[0], progress)
		}
		err = report.WriteSplit(out, in)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(progress, "ember: wrote %s (%d runs, %d failed)\n", out, len(outs), len(fails))
	if sweepErr == nil && len(rs) == 0 && len(fails) > 0 {
		return fmt.Errorf("every run of the sweep failed; see %s", filepath.Join(out, failuresFile(kind)))
	}
	return sweepErr
}

func failuresFile(kind string) string {
	if kind == "split" {
		return report.SplitFailures
	}
	return report.Stage1Failures
}

// sweepRunner runs this binary's profile verb. EMBER_PROFILE_EXE overrides the
// binary (tests point it at a built ember).
func sweepRunner(exe string) sweep.Runner {
	if e := os.Getenv("EMBER_PROFILE_EXE"); e != "" {
		exe = e
	}
	return sweep.ExecRunner(exe)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// runLlama runs llama-bench once on the first device and once on both, as
// asked; a run that fails gives a result with Failed set, never an error.
func runLlama(c *cli.Context, out string, prompt, gen int, progress io.Writer) (single, dual *report.LlamaResult) {
	bin := filepath.Join(c.String("llama-bin-dir"), "llama-bench")
	gguf := c.String("llama-gguf")
	run := func(label string, extra []string, env []string) *report.LlamaResult {
		args := append([]string{"-m", gguf, "-p", strconv.Itoa(prompt), "-n", strconv.Itoa(gen), "-o", "json"}, extra...)
		logPath := filepath.Join(out, "logs", "llama_"+label+".log")
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), env...)
		var stdout strings.Builder
		var stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		os.WriteFile(logPath, []byte("$ "+report.ShellQuote(append([]string{bin}, args...))+"\n"+stdout.String()+stderr.String()), 0o644)
		res := &report.LlamaResult{Label: label}
		if err != nil {
			res.Failed = fmt.Sprintf("llama-bench %s: %v", label, err)
			fmt.Fprintf(progress, "ember: %s (log %s)\n", res.Failed, logPath)
			return res
		}
		parsed, err := report.ParseLlamaBench([]byte(stdout.String()))
		if err != nil {
			res.Failed = err.Error()
			fmt.Fprintf(progress, "ember: llama-bench %s: %v (log %s)\n", label, err, logPath)
			return res
		}
		parsed.Label = label
		return &parsed
	}
	if gguf == "" {
		f := &report.LlamaResult{Label: "single-device", Failed: "no --llama-gguf given"}
		return f, &report.LlamaResult{Label: "dual-device", Failed: "no --llama-gguf given"}
	}
	if d := c.String("llama-single-device"); d != "" && d != "none" {
		single = run("single-device", []string{"-sm", "none", "-mg", "0"}, []string{"CUDA_VISIBLE_DEVICES=" + d})
	}
	if d := c.String("llama-dual-device"); d != "" && d != "none" {
		dual = run("dual-device", []string{"-sm", c.String("llama-dual-split-mode"), "-ts", c.String("llama-dual-tensor-split")}, []string{"CUDA_VISIBLE_DEVICES=" + d})
	}
	return single, dual
}
