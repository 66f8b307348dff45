package main

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"math"
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
	"github.com/ember-infer/ember/ember-core/hub"
	"github.com/ember-infer/ember/ember-core/qwen3"
	"github.com/ember-infer/ember/ember-core/rows"
	report "github.com/ember-infer/ember/ember-report"
)

func milestoneCommand() *cli.Command {
	return &cli.Command{
		Name:  "milestone",
		Usage: "run a milestone (stage 1.1, 1.2, 1.3, 1.4 or 2.1) and write its report folder, as upstream's stage-1 scripts",
		UsageText: `ember milestone stage1|split|prefix-cache|multi-candidate|cumulative [flags]

Examples:
  ember milestone stage1 --model Qwen/Qwen3-4B-Instruct-2507 --gpus 0,1
  ember milestone split --model Qwen/Qwen3-4B-Instruct-2507 --gpus 0,1 --splits "9,27;18,18"
  ember milestone split -m testdata/models/tiny-qwen3 --backend cpu --gpus 0,1 --prompt-len 64 --decode-steps 8 --chunk-len 16`,
		Subcommands: []*cli.Command{stage1Command(), splitCommand(), prefixCacheCommand(), multiCandidateCommand(), cumulativeCommand()},
	}
}

// sweepFlags are shared by both milestones, with upstream's names and defaults.
func sweepFlags(gpus string) []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "model", Aliases: []string{"m"}, EnvVars: []string{"MODEL_PATH"}, Usage: "snapshot dir, HF cache dir or Org/Name id"},
		&cli.StringFlag{Name: "gpus", Aliases: []string{"devices"}, Value: gpus, Usage: "device ids, e.g. 0 or 0,1 (cpu:0,cpu:1 or --backend cpu for the CPU backend)"},
		&cli.StringFlag{Name: "backend", Value: "auto", EnvVars: []string{"EMBER_BACKEND"}, Usage: "cpu, cuda or auto (Ember's)"},
		&cli.StringFlag{Name: "device-mem", Usage: "memory budget per device (CPU backend), e.g. 64MiB (Ember's)"},
		&cli.IntFlag{Name: "threads", Usage: "CPU threads per device (Ember's)", DefaultText: "all cores"},
		&cli.StringFlag{Name: "kv-dtype", Value: "bf16", Usage: "KV cache type (Ember's)"},
		&cli.IntFlag{Name: "chunk-len", Aliases: []string{"chunk"}, Value: 512, Usage: "prefill chunk (--chunk is the old spelling)"},
		&cli.IntFlag{Name: "iters", Value: 3, Usage: "measured iterations per run (6 or more give Ember's medians finite 95% intervals)"},
		&cli.IntFlag{Name: "warmup", Value: 1, Usage: "warm-up iterations per run"},
		&cli.BoolFlag{Name: "decode-with-sampling", Value: true, Usage: "decode with logits copied back and a host argmax"},
		&cli.BoolFlag{Name: "decode-no-sampling", Usage: "decode with the on-device argmax"},
		&cli.BoolFlag{Name: "pipeline-2gpu", Value: true, Usage: "two devices: chunked prefill for overlap 0 too (profile --pipeline)"},
		&cli.BoolFlag{Name: "no-pipeline-2gpu", Usage: "two devices: whole-prompt prefill when not overlapping"},
		&cli.BoolFlag{Name: "retry-oom", Value: true, Usage: "retry an out-of-memory run with the chunk halved, down to --min-chunk-len"},
		&cli.BoolFlag{Name: "no-retry-oom", Usage: "an out-of-memory run fails at once"},
		&cli.IntFlag{Name: "min-chunk-len", Value: 64, Usage: "smallest chunk an OOM retry goes down to"},
		&cli.IntFlag{Name: "retry-runtime-unavailable", Value: 2, Usage: "retry an unavailable runtime, 2 s apart, while the try number is at most this"},
		&cli.BoolFlag{Name: "continue-on-error", Value: true, Usage: "keep going after a failed run, exit 0"},
		&cli.BoolFlag{Name: "stop-on-error", Usage: "stop at the first failed run, exit non-zero"},
		&cli.BoolFlag{Name: "skip-existing", Value: true, Usage: "reuse finished runs in --out-dir whose settings match"},
		&cli.BoolFlag{Name: "no-skip-existing", Usage: "rerun every run"},
		&cli.StringFlag{Name: "build-dir", Value: "build", Usage: "accepted for upstream's scripts and ignored: Ember runs its own profile"},
		&cli.StringFlag{Name: "out-dir", Usage: "report folder (default reports/stage1_milestone_<timestamp> or reports/stage1_split_profile_<timestamp>)"},
	}
}

func stage1Command() *cli.Command {
	return &cli.Command{
		Name:  "stage1",
		Usage: "stage 1.1: prompt lengths × decode steps × overlap (upstream's run_stage1_milestone)",
		UsageText: `ember milestone stage1 [flags]

Examples:
  ember milestone stage1 --model Qwen/Qwen3-4B-Instruct-2507 --gpus 0,1
  ember milestone stage1 -m testdata/models/tiny-qwen3 --backend cpu --gpus 0,1 --prompt-lens 32,64 --decode-steps 4,8 --chunk-len 16`,
		Description: `Runs ember profile for every prompt length × decode steps × overlap (0, and 1
when there are two devices), each in its own process, and writes upstream's
files into --out-dir: stage_raw_NNN.csv per run, stage1_raw_rows.csv,
stage1_summary.csv/.md, stage1_failures.csv, stage1_mainline_ready.csv/.md,
p1_fig2_prefill_share.csv, p2_stage_latency_components.csv and
logs/run_NNN_tryN.log; and Ember's own: stage1_raw_samples.csv,
stage1_prefill_share.svg, ember_stage1_report.md. Re-running a folder (Ember's
or upstream's) reuses its finished runs. Failed runs leave exit status 0 with
a line on stderr, unless --stop-on-error.`,
		Flags: append(sweepFlags("0"),
			&cli.StringFlag{Name: "prompt-lens", Aliases: []string{"prompt-len"}, Value: "512,1024,2048,4096", Usage: "prompt lengths, comma separated"},
			&cli.StringFlag{Name: "decode-steps", Value: "64,128,256", Usage: "decode steps, comma separated"},
			&cli.StringFlag{Name: "split", Usage: "two-device layer split A,B (default: the profile's)"},
			&cli.StringFlag{Name: "model-label", Usage: `the model's name in stage1_mainline_ready.md's "Use current <label> results" (default: the model's name; upstream always wrote 8B)`},
		),
		Action: func(c *cli.Context) error { return milestoneAction(c, "stage1") },
	}
}

func splitCommand() *cli.Command {
	return &cli.Command{
		Name:  "split",
		Usage: "stage 1.2: layer splits × overlap, with llama.cpp and earlier runs for comparison (upstream's run_stage1_split_profile)",
		UsageText: `ember milestone split [flags]

Examples:
  ember milestone split --model Qwen/Qwen3-4B-Instruct-2507 --gpus 0,1 --include-llama --llama-bin-dir /opt/llama.cpp/build/bin --llama-gguf /m/q4b-bf16.gguf
  ember milestone split -m M --gpus 0,1 --baseline-summary reports/old/stage12_split_summary.csv --p2-note "fused rmsnorm"`,
		Description: `Runs ember profile for every split (--splits "12,24;18,18", duplicates
dropped; default about 25/33/50/67/75 % of the layers on the first device,
plus half) without and with overlap, each in its own process, and writes
upstream's files: stage12_raw_NNN_split_A_B_MODE.csv per run,
stage12_raw_rows.csv, stage12_split_summary.csv,
stage12_transfer_vs_compute.csv, stage12_bubble_vs_split.csv,
stage12_summary.md, stage12_failures.csv, logs/run_NNN_tryN.log and, as
upstream would, stage12_vs_llama.csv/.md, stage12_delta_vs_<label>.csv/.md and
stage12_p2_input.md; and Ember's own: stage12_raw_samples.csv, the charts,
ember_stage12_report.md, ember_stage12_bubble.csv and
ember_stage12_delta_vs_<label>.csv/.md. A baseline none of whose (split, mode)
keys this run has is an error (stderr, exit 1) after the files are written.`,
		Flags: append(sweepFlags("0,1"),
			&cli.StringFlag{Name: "prompt-len", Aliases: []string{"prompt-lens"}, Value: "2048", Usage: "prompt length (one)"},
			&cli.StringFlag{Name: "decode-steps", Value: "128", Usage: "decode steps (one)"},
			&cli.StringFlag{Name: "splits", Usage: `layer splits, e.g. "12,24;18,18" (default: auto)`},
			&cli.BoolFlag{Name: "include-llama", Usage: "also run llama-bench and write stage12_vs_llama.csv/.md"},
			&cli.StringFlag{Name: "llama-bin-dir", Usage: "llama.cpp build/bin holding llama-bench (also put on LD_LIBRARY_PATH)"},
			&cli.StringFlag{Name: "llama-gguf", Usage: "the GGUF model for llama-bench"},
			&cli.StringFlag{Name: "llama-single-device", Value: "CUDA0", Usage: "llama-bench -dev of the single-device run"},
			&cli.StringFlag{Name: "llama-dual-device", Value: "CUDA0/CUDA1", Usage: "llama-bench -dev of the dual-device run"},
			&cli.StringFlag{Name: "llama-dual-split-mode", Value: "layer", Usage: "llama-bench -sm of the dual run: none, layer or row"},
			&cli.StringFlag{Name: "llama-dual-tensor-split", Usage: "llama-bench -ts of the dual run, e.g. 0.5/0.5 (default: none)"},
			&cli.StringFlag{Name: "baseline-summary", Usage: "an earlier stage12_split_summary.csv (upstream's or Ember's) to compare with"},
			&cli.StringFlag{Name: "baseline-label", Usage: "label of the baseline (default: its folder's name; names the delta files)"},
			&cli.StringFlag{Name: "baseline-vs-llama", Usage: "the baseline's stage12_vs_llama.csv (default: the one beside --baseline-summary, if any)"},
			&cli.StringFlag{Name: "anchor-summary", Usage: "a historical stage12_split_summary.csv for the P2 input"},
			&cli.StringFlag{Name: "anchor-label", Usage: "label of the anchor"},
			&cli.StringFlag{Name: "p2-note", Usage: "implementation note for stage12_p2_input.md"},
			&cli.StringFlag{Name: "hardware", Usage: `what the devices are, for "Model: M (2x<hardware>)" of stage12_p2_input.md (default: the backend; upstream always wrote 3080Ti)`},
		),
		Action: func(c *cli.Context) error { return milestoneAction(c, "split") },
	}
}

// autoSplits is upstream's auto_splits: about 25, 33, 50, 67 and 75 % of the
// layers on the first device (Python's round, halves to even), clamped to
// 1..layers-1, plus the even half, without duplicates, in order.
func autoSplits(layers int) [][]int {
	seen := map[int]bool{}
	for _, r := range []float64{0.25, 0.33, 0.50, 0.67, 0.75} {
		a := int(math.RoundToEven(float64(layers) * r))
		if a <= 0 {
			a = 1
		}
		if a >= layers {
			a = layers - 1
		}
		seen[a] = true
	}
	seen[layers/2] = true
	var firsts []int
	for a := range seen {
		if a > 0 && a < layers {
			firsts = append(firsts, a)
		}
	}
	slices.Sort(firsts)
	out := make([][]int, len(firsts))
	for i, a := range firsts {
		out[i] = []int{a, layers - a}
	}
	return out
}

// parseSplits is upstream's parse_splits: "12,24;18,18", each A,B positive
// with A+B the layer count, duplicates dropped in order.
func parseSplits(s string, layers int) ([][]int, error) {
	var out [][]int
	seen := map[[2]int]bool{}
	for _, item := range strings.Split(s, ";") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		var vals []int
		for _, tok := range strings.Split(item, ",") {
			if tok = strings.TrimSpace(tok); tok == "" {
				continue
			}
			n, err := strconv.Atoi(tok)
			if err != nil {
				return nil, fmt.Errorf("--splits %q: %q in %q is not an integer", s, tok, item)
			}
			vals = append(vals, n)
		}
		if len(vals) != 2 {
			return nil, fmt.Errorf("--splits %q: invalid split item %q, expected A,B", s, item)
		}
		if vals[0] <= 0 || vals[1] <= 0 || vals[0]+vals[1] != layers {
			return nil, fmt.Errorf("--splits %q: invalid split %q, expected A+B=%d", s, item, layers)
		}
		if k := [2]int{vals[0], vals[1]}; !seen[k] {
			seen[k] = true
			out = append(out, vals)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--splits %q names no split", s)
	}
	return out, nil
}

// oneInt reads the single integer of a split flag; the split sweep measures
// one prompt length and one decode step count, as upstream's script does.
func oneInt(flag, s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("--%s %q: milestone split takes one integer (stage1 sweeps lists)", flag, s)
	}
	return n, nil
}

// resolveModel resolves the model argument to its snapshot folder, absolute
// and with links resolved, as upstream's resolve_model_dir; the folder is
// what the runs get as --model and what the reports name.
func resolveModel(model string) (string, error) {
	res, err := hub.Resolve(model, hub.OSEnv())
	if err != nil {
		return "", err
	}
	dir, err := filepath.Abs(res.Dir)
	if err != nil {
		return "", err
	}
	if d, err := filepath.EvalSymlinks(dir); err == nil {
		dir = d
	}
	return dir, nil
}

// existingCSV is upstream's resolve_existing_csv for a path given by flag:
// absolute, and an error naming the flag when it does not exist.
func existingCSV(flag, p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(abs); err != nil {
		return "", fmt.Errorf("--%s: csv not found: %s", flag, abs)
	}
	return abs, nil
}

func milestoneAction(c *cli.Context, kind string) error {
	if c.NArg() > 0 {
		return fmt.Errorf("milestone %s takes no arguments (got %q)", kind, c.Args().First())
	}
	stderr := c.App.ErrWriter
	if c.IsSet("build-dir") {
		fmt.Fprintf(stderr, "ember: --build-dir %s is ignored: Ember runs its own profile, there is no ember_stage_breakdown to build\n", c.String("build-dir"))
	}
	model := c.String("model")
	if model == "" {
		return errors.New("no model: pass --model (or set MODEL_PATH)")
	}
	modelDir, err := resolveModel(model)
	if err != nil {
		return err
	}
	sm, err := openSweepModel(modelDir)
	if err != nil {
		return err
	}
	layers := sm.Layers
	if c.Int("min-chunk-len") <= 0 {
		return fmt.Errorf("--min-chunk-len %d: want more than 0", c.Int("min-chunk-len"))
	}
	if c.Int("retry-runtime-unavailable") < 0 {
		return fmt.Errorf("--retry-runtime-unavailable %d: want 0 or more", c.Int("retry-runtime-unavailable"))
	}
	if c.Int("chunk-len") <= 0 {
		return fmt.Errorf("--chunk-len %d: want more than 0", c.Int("chunk-len"))
	}
	_, ids, err := engine.ParseDevices(c.String("gpus"))
	if err != nil {
		return err
	}
	sampling := c.Bool("decode-with-sampling") && !c.Bool("decode-no-sampling")
	pipeline := c.Bool("pipeline-2gpu") && !c.Bool("no-pipeline-2gpu")
	chunk := c.Int("chunk-len")
	samplingFlag := "--decode-with-sampling"
	if !sampling {
		samplingFlag = "--decode-no-sampling"
	}
	var runs []sweep.Run
	var prompts, steps []int
	switch kind {
	case "stage1":
		if prompts, err = parseInts("prompt-lens", c.String("prompt-lens")); err != nil {
			return err
		}
		if steps, err = parseInts("decode-steps", c.String("decode-steps")); err != nil {
			return err
		}
		var split []int
		if s := c.String("split"); s != "" {
			if split, err = engine.ParseSplit(s); err != nil {
				return err
			}
			if len(ids) == 2 {
				if err := qwen3.CheckSplit(layers, 2, split); err != nil {
					return fmt.Errorf("--split %q: %v", s, err)
				}
			}
		}
		overlaps := []bool{false}
		if len(ids) == 2 {
			overlaps = []bool{false, true}
		}
		for _, p := range prompts {
			for _, d := range steps {
				for _, ov := range overlaps {
					id := len(runs) + 1
					extra := []string{}
					if len(ids) == 2 && pipeline {
						extra = append(extra, "--pipeline")
					}
					extra = append(extra, overlapFlag(ov))
					if !sampling {
						extra = append(extra, samplingFlag)
					}
					runSplit := split
					if len(ids) != 2 && split != nil {
						// Passed as upstream passes it; the profile puts every
						// layer on the one device, so the rows say the total.
						extra = append(extra, "--split", c.String("split"))
						runSplit = nil
					}
					runs = append(runs, sweep.Run{ID: strconv.Itoa(id), PromptLen: p, DecodeSteps: d, ChunkLen: chunk, Overlap: ov, Sampling: sampling, Split: runSplit,
						CSV: fmt.Sprintf("stage_raw_%03d.csv", id), Log: fmt.Sprintf("run_%03d_try%%d.log", id), Extra: extra})
				}
			}
		}
	case "split":
		p, err := oneInt("prompt-len", c.String("prompt-len"))
		if err != nil {
			return err
		}
		d, err := oneInt("decode-steps", c.String("decode-steps"))
		if err != nil {
			return err
		}
		if p <= 0 {
			return fmt.Errorf("--prompt-len %d: want more than 0", p)
		}
		if d < 0 {
			return fmt.Errorf("--decode-steps %d: want 0 or more", d)
		}
		prompts, steps = []int{p}, []int{d}
		if len(ids) != 2 {
			return fmt.Errorf("--gpus %q: milestone split needs exactly 2 devices, it gives %d", c.String("gpus"), len(ids))
		}
		splits := autoSplits(layers)
		if s := c.String("splits"); strings.TrimSpace(s) != "" {
			if splits, err = parseSplits(s, layers); err != nil {
				return err
			}
		}
		for _, sp := range splits {
			for _, ov := range []bool{false, true} {
				id := len(runs) + 1
				extra := []string{}
				if pipeline {
					extra = append(extra, "--pipeline")
				}
				extra = append(extra, overlapFlag(ov))
				if !sampling {
					extra = append(extra, samplingFlag)
				}
				runs = append(runs, sweep.Run{ID: strconv.Itoa(id), PromptLen: p, DecodeSteps: d, ChunkLen: chunk, Overlap: ov, Split: sp, Sampling: sampling,
					CSV: fmt.Sprintf("stage12_raw_%03d_split_%d_%d_%s.csv", id, sp[0], sp[1], rows.Mode(2, ov)),
					Log: fmt.Sprintf("run_%03d_try%%d.log", id), Extra: extra})
			}
		}
	}

	// Everything a flag names is checked before the sweep, not after it.
	var baseline, anchor *report.RefSummary
	var baseVsLlama *report.RecTable
	if kind == "split" {
		if c.Bool("include-llama") {
			if strings.TrimSpace(c.String("llama-bin-dir")) == "" {
				return errors.New("--llama-bin-dir is required with --include-llama")
			}
			if strings.TrimSpace(c.String("llama-gguf")) == "" {
				return errors.New("--llama-gguf is required with --include-llama")
			}
			switch m := c.String("llama-dual-split-mode"); m {
			case "none", "layer", "row":
			default:
				return fmt.Errorf("--llama-dual-split-mode %q: want none, layer or row", m)
			}
		}
		if p := c.String("baseline-summary"); strings.TrimSpace(p) != "" {
			abs, err := existingCSV("baseline-summary", p)
			if err != nil {
				return err
			}
			ref, err := report.LoadRefSummary(abs, c.String("baseline-label"))
			if err != nil {
				return err
			}
			baseline = &ref
			vsPath := filepath.Join(filepath.Dir(abs), report.SplitVsLlamaCSV)
			if v := c.String("baseline-vs-llama"); strings.TrimSpace(v) != "" {
				if vsPath, err = existingCSV("baseline-vs-llama", v); err != nil {
					return err
				}
			}
			if t, err := report.ReadRecsFile(vsPath); err == nil {
				baseVsLlama = &t
			} else if c.String("baseline-vs-llama") != "" {
				return err
			}
		}
		if p := c.String("anchor-summary"); strings.TrimSpace(p) != "" {
			abs, err := existingCSV("anchor-summary", p)
			if err != nil {
				return err
			}
			ref, err := report.LoadRefSummary(abs, c.String("anchor-label"))
			if err != nil {
				return err
			}
			anchor = &ref
		}
	}

	if err := checkSweepFlags(c, sm, prompts, steps); err != nil {
		return err
	}
	if _, _, err := loadReferences(c); err != nil { // a malformed summary is refused before the sweep
		return err
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
	if out, err = filepath.Abs(out); err != nil {
		return err
	}
	lock, err := lockSweep(c, out, now)
	if err != nil {
		return err
	}
	defer lock.Unlock()
	if err := os.MkdirAll(filepath.Join(out, "logs"), 0o755); err != nil {
		return err
	}
	// Failures an earlier sweep of this folder recorded, for stage1 to carry
	// over those of runs outside this matrix (as upstream's script does).
	var oldFails []report.Failure
	if kind == "stage1" {
		if st, err := os.Stat(filepath.Join(out, report.Stage1Failures)); err == nil && st.Size() > 0 {
			if oldFails, err = report.ReadFailures(filepath.Join(out, report.Stage1Failures)); err != nil {
				return err
			}
		}
	}
	logf, err := os.OpenFile(filepath.Join(out, "logs", "sweep.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	progress := io.MultiWriter(stderr, logf)
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	base := []string{"--model", modelDir, "--devices", c.String("gpus"), "--backend", c.String("backend"),
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
	ctx, stopSignals := interruptible()
	defer stopSignals()
	fmt.Fprintf(progress, "ember: %s sweep of %d runs into %s\n", kind, len(runs), out)
	stop := c.Bool("stop-on-error") || !c.Bool("continue-on-error")
	outs, err := sweep.Execute(ctx, sweep.Options{
		OutDir: out, Base: base,
		RetryOOM: c.Bool("retry-oom") && !c.Bool("no-retry-oom"), MinChunk: c.Int("min-chunk-len"),
		RetryUnavailable: c.Int("retry-runtime-unavailable"), UnavailableWait: unavailableWait,
		ContinueOnError: !stop,
		SkipExisting:    c.Bool("skip-existing") && !c.Bool("no-skip-existing"),
		Progress:        progress, Run: sweepRunner(exe), Identity: ident, UpstreamFolder: lock.Fresh,
	}, runs)
	if ctx.Err() != nil {
		defer resumeHint(progress, c, out, len(outs), len(runs))
		err = errors.New("sweep interrupted by a signal")
	}
	if err != nil && len(outs) == 0 {
		return err
	}
	sweepErr := err
	var done []report.SweepRun
	var samples []rows.SampleRow
	var fails []report.Failure
	splitOf := map[string]string{}
	for _, o := range outs {
		if o.Failure != nil {
			fails = append(fails, *o.Failure)
			continue
		}
		done = append(done, report.SweepRun{ID: o.Run.ID, Rows: o.Rows})
		samples = append(samples, o.Samples...)
		if o.Run.Split != nil && kind == "split" {
			splitOf[o.Run.ID] = rows.SplitCell(o.Run.Split)
		}
	}
	backend := sweepBackend(c.String("backend"), c.String("gpus"), outs)
	meta := report.Meta{Model: model, Backend: backend, Devices: c.String("gpus"), Time: now, Command: invocation(c)}
	var files []report.File
	var reportErr error
	switch kind {
	case "stage1":
		inMatrix := map[string]bool{}
		for _, r := range runs {
			inMatrix[r.ID] = true
		}
		var all []report.Failure
		for _, f := range oldFails {
			if !inMatrix[f.RunID] {
				all = append(all, f)
			}
		}
		all = append(all, fails...)
		files, reportErr = report.Stage1Files(report.Stage1Input{Meta: meta, ModelDir: modelDir, ModelLabel: c.String("model-label"), Now: now, Runs: done, Failures: all, Samples: samples})
	case "split":
		in := report.Stage12Input{Meta: meta, ModelDir: modelDir, Now: now, Runs: done, Splits: splitOf, Failures: fails, Samples: samples,
			Baseline: baseline, BaselineVsLlama: baseVsLlama, Anchor: anchor,
			P2: report.P2Input{Hardware: fmt.Sprintf("%dx%s", len(ids), cmp.Or(c.String("hardware"), backend)), PromptLen: prompts[0], DecodeSteps: steps[0], Note: c.String("p2-note")}}
		if c.Bool("include-llama") && len(done) > 0 {
			in.VsLlama = runLlama(c, out, prompts[0], steps[0], progress)
		} else if t, err := report.ReadRecsFile(filepath.Join(out, report.SplitVsLlamaCSV)); err == nil {
			in.OldVsLlama = &t
		}
		var res report.Stage12Result
		res, reportErr = report.Stage12Files(in)
		files = res.Files
		if reportErr == nil && baseline != nil && res.DeltaMatched == 0 {
			defer func() {
				fmt.Fprintf(stderr, "ember: no (split, mode) key of the baseline %s matches this run's %d summary rows; %s has no rows\n",
					baseline.Path, len(res.Summary), report.SplitDeltaCSV(baseline.Label))
			}()
			reportErr = fmt.Errorf("--baseline-summary %s: none of its %d rows shares a (split, mode) key with this run", baseline.Path, len(baseline.Rows))
		}
	}
	if werr := report.WriteFiles(out, files); werr != nil {
		return werr
	}
	if reportErr != nil && len(files) == 0 {
		return reportErr
	}
	fmt.Fprintf(progress, "ember: wrote %s (%d runs, %d failed)\n", out, len(outs), len(fails))
	if len(fails) > 0 && sweepErr == nil {
		fmt.Fprintf(stderr, "ember: WARNING: %d of %d runs FAILED; see %s (exit status 0: --continue-on-error)\n",
			len(fails), len(runs), filepath.Join(out, failuresFile(kind)))
	}
	if sweepErr != nil {
		return sweepErr
	}
	if kind == "split" && c.Bool("include-llama") && len(done) == 0 {
		return errors.New("cannot compare against llama: stage12 summary has no usable rows")
	}
	return reportErr
}

// sweepBackend is the backend a sweep's report names: --backend, or, for
// auto, what the runs resolved it to (`ember profile` says which it ran on;
// CUDA that is unavailable falls back to the CPU), so a report of GPU ids
// never says auto. Runs that disagree are all named ("cpu, cuda"); auto that
// no finished run resolved stays "auto (unresolved: no finished run said
// which backend it ran on)".
func sweepBackend(flag, devices string, outs []sweep.Outcome) string {
	if flag != "auto" {
		return flag
	}
	if prefix, _, _ := engine.ParseDevices(devices); prefix != "" {
		return prefix // cpu:0,cpu:1 runs the CPU backend whatever --backend says
	}
	var seen []string
	for _, o := range outs {
		if o.Failure == nil && o.Backend != "" && !slices.Contains(seen, o.Backend) {
			seen = append(seen, o.Backend)
		}
	}
	if len(seen) == 0 {
		return "auto (unresolved: no finished run said which backend it ran on)"
	}
	slices.Sort(seen)
	return strings.Join(seen, ", ")
}

// unavailableWait is the pause before retrying an unavailable runtime (upstream: 2 s).
var unavailableWait = 2 * time.Second

func overlapFlag(ov bool) string {
	if ov {
		return "--overlap"
	}
	return "--no-overlap"
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

// runLlama runs llama-bench as upstream's split script: once on
// --llama-single-device (split mode layer, no tensor split) and once on
// --llama-dual-device, each `-m GGUF -p P -n N -r 1 -ngl 999 -o json -dev DEV
// -sm MODE [-ts TS]` with the bin dir first on LD_LIBRARY_PATH, logged to
// logs/llama_single.log and logs/llama_dual.log. A run that fails is
// recorded with upstream's reason, never an error.
func runLlama(c *cli.Context, out string, prompt, gen int, progress io.Writer) *report.VsLlamaInput {
	binDir, _ := filepath.Abs(c.String("llama-bin-dir"))
	gguf, _ := filepath.Abs(c.String("llama-gguf"))
	in := &report.VsLlamaInput{GGUF: gguf, SplitMode: c.String("llama-dual-split-mode"), TensorSplit: c.String("llama-dual-tensor-split"), DecodeSteps: gen}
	run := func(device, splitMode, tensorSplit, logName string) report.LlamaRun {
		lr := report.LlamaRun{Device: device}
		bin := filepath.Join(binDir, "llama-bench")
		if _, err := os.Stat(bin); err != nil {
			lr.Failed = "missing llama-bench: " + bin
			return lr
		}
		if _, err := os.Stat(gguf); err != nil {
			lr.Failed = "missing gguf: " + gguf
			return lr
		}
		args := []string{"-m", gguf, "-p", strconv.Itoa(prompt), "-n", strconv.Itoa(gen), "-r", "1", "-ngl", "999", "-o", "json", "-dev", device, "-sm", splitMode}
		if strings.TrimSpace(tensorSplit) != "" {
			args = append(args, "-ts", tensorSplit)
		}
		logPath := filepath.Join(out, "logs", logName)
		cmd := exec.Command(bin, args...)
		cmd.Dir, _ = os.Getwd()
		ld := os.Getenv("LD_LIBRARY_PATH")
		if ld != "" {
			ld = binDir + ":" + ld
		} else {
			ld = binDir
		}
		cmd.Env = append(os.Environ(), "LD_LIBRARY_PATH="+ld)
		var stdout, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &errb
		err := cmd.Run()
		log := "$ " + strings.Join(append([]string{bin}, args...), " ") + "\n\n" + stdout.String()
		if errb.Len() > 0 {
			log += "\n[stderr]\n" + errb.String()
		}
		os.WriteFile(logPath, []byte(log), 0o644)
		if err != nil {
			rc := -1
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				rc = ee.ExitCode()
			}
			lr.Failed = fmt.Sprintf("llama-bench failed rc=%d; see %s", rc, logPath)
			fmt.Fprintf(progress, "ember: %s\n", lr.Failed)
			return lr
		}
		res, err := report.ParseLlamaBenchUpstream(stdout.String()+"\n"+errb.String(), logPath)
		if err != nil {
			lr.Failed = err.Error()
			fmt.Fprintf(progress, "ember: llama-bench %s: %v\n", device, err)
			return lr
		}
		lr.Result = &res
		return lr
	}
	in.Single = run(c.String("llama-single-device"), "layer", "", "llama_single.log")
	in.Dual = run(c.String("llama-dual-device"), in.SplitMode, in.TensorSplit, "llama_dual.log")
	return in
}
