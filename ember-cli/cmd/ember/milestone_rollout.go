package main

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/ember-infer/ember/ember-core/atomicfile"
	"github.com/ember-infer/ember/ember-core/device"
	"github.com/ember-infer/ember/ember-core/engine"
	"github.com/ember-infer/ember/ember-core/memplan"
	"github.com/ember-infer/ember/ember-core/qwen3"
	"github.com/ember-infer/ember/ember-core/sampling"
	report "github.com/ember-infer/ember/ember-report"
)

// The stages after 1.2, with the flags, defaults and files of upstream's
// run_stage1_prefix_cache.py (1.3), run_stage2_multi_candidate.py (2.1) and
// run_stage1_cumulative_profile.py (1.4). Upstream runs a benchmark binary
// per measurement; Ember measures in this process and writes the files the
// binary and the script would.

// rolloutEngineFlags are the device flags the measuring stages share.
func rolloutEngineFlags(split string) []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "model", Aliases: []string{"m"}, EnvVars: []string{"MODEL_PATH"}, Usage: "model path or HF model id"},
		&cli.StringFlag{Name: "gpus", Aliases: []string{"devices"}, Value: "0,1", Usage: "device ids, e.g. 0,1 (or cpu:0,cpu:1)"},
		&cli.StringFlag{Name: "split", Value: split, Usage: "layers on each of two devices, A,B (printed as given with one device)"},
		&cli.StringFlag{Name: "backend", Value: "auto", Usage: "cpu, cuda or auto"},
		&cli.IntFlag{Name: "threads", Usage: "CPU threads per device", DefaultText: "all cores"},
		&cli.StringFlag{Name: "kv-dtype", Value: "bf16", Usage: "KV cache type: f32, f16 or bf16"},
		&cli.IntFlag{Name: "chunk-len", Aliases: []string{"chunk"}, Value: 512, Usage: "prefill chunk for the two-device pipeline (--chunk is the old spelling)"},
		&cli.BoolFlag{Name: "overlap", Value: true, Usage: "overlap the two devices' chunks (default on)"},
		&cli.BoolFlag{Name: "no-overlap", Usage: "disable overlap"},
		&cli.IntFlag{Name: "seed", Value: 1234, Usage: "RNG seed"},
		&cli.StringFlag{Name: "build-dir", Value: "build", Usage: "accepted for upstream's scripts; Ember has no benchmark binaries"},
		&cli.StringFlag{Name: "out-dir", Usage: "report folder (default reports/<stage>_<timestamp>)"},
	}
}

// rolloutSetup is what the measuring stages open: the engine over the
// devices --gpus names with --split, and the CSV's gpus and split cells.
type rolloutSetup struct {
	e          *engine.Engine
	gpus       string // "0+1"
	split      string // "9+27", or the layer count
	devices    int
	overlap    bool
	kv         device.DType
	chunk      int
	chunkedRun bool // two devices and overlap or --pipeline: chunked prefill
}

func openRollout(c *cli.Context, pipeline bool) (*rolloutSetup, error) {
	if c.IsSet("build-dir") {
		fmt.Fprintln(c.App.ErrWriter, "ember: --build-dir is accepted for upstream's scripts and ignored: Ember measures in-process")
	}
	if c.String("model") == "" {
		return nil, errors.New("no model: pass --model (or set MODEL_PATH)")
	}
	if c.Int("chunk-len") <= 0 {
		return nil, fmt.Errorf("--chunk-len %d: must be > 0", c.Int("chunk-len"))
	}
	kv, err := kvDType(c)
	if err != nil {
		return nil, err
	}
	_, ids, err := engine.ParseDevices(c.String("gpus"))
	if err != nil {
		return nil, fmt.Errorf("--gpus: %v", err)
	}
	if len(ids) > 2 {
		return nil, fmt.Errorf("--gpus %q: the stage supports only 1 or 2 devices", c.String("gpus"))
	}
	split, err := parseInts("split", c.String("split"))
	if err != nil {
		return nil, err
	}
	if len(split) != 2 {
		return nil, fmt.Errorf("--split %q: expects A,B", c.String("split"))
	}
	var modelSplit []int
	if len(ids) == 2 {
		modelSplit = split
	}
	if c.Int("threads") < 0 {
		return nil, fmt.Errorf("--threads %d: want a positive thread count, or 0 for all cores", c.Int("threads"))
	}
	e, err := engine.Open(engine.Options{Model: c.String("model"), Backend: c.String("backend"), Devices: c.String("gpus"),
		Split: modelSplit, Threads: c.Int("threads"), Chunk: c.Int("chunk-len"),
		Warn: func(s string) { fmt.Fprintln(c.App.ErrWriter, "ember:", s) }})
	if err != nil {
		return nil, err
	}
	s := &rolloutSetup{e: e, gpus: strings.Join(ids, "+"), split: fmt.Sprintf("%d+%d", split[0], split[1]), devices: len(ids),
		overlap: c.Bool("overlap") && !c.Bool("no-overlap"), kv: kv, chunk: c.Int("chunk-len")}
	s.chunkedRun = s.devices == 2 && (pipeline || s.overlap)
	return s, nil
}

// session opens a session of batch sequences of ctx positions: chunked with
// overlap as upstream's pipeline when two devices run it, else whole.
// candidateSession draws the multi-candidate prompt and opens a session of n
// sequences with room for it and gen new tokens each, after checking their
// KV caches fit (--num-candidates names what does not).
func (r *rolloutSetup) candidateSession(c *cli.Context, n, gen int) ([]int32, *qwen3.Session, error) {
	prompt, err := candidatePrompt(c, r.e)
	if err != nil {
		return nil, nil, err
	}
	ctx := min(len(prompt)+gen+8, r.e.Snapshot.Config.MaxPositionEmbeddings)
	if err := checkBatchMemory("--num-candidates", r.e, n, ctx, r.kv); err != nil {
		return nil, nil, err
	}
	s, err := r.session(ctx, n)
	if err != nil {
		return nil, nil, err
	}
	return prompt, s, nil
}

func (r *rolloutSetup) session(ctx, batch int) (*qwen3.Session, error) {
	opt := qwen3.SessionOptions{Ctx: min(ctx, r.e.Snapshot.Config.MaxPositionEmbeddings), KVDType: r.kv, Batch: batch}
	if r.chunkedRun {
		opt.Chunk, opt.Overlap = r.chunk, r.overlap
	}
	return r.e.Model.NewSession(opt)
}

func (r *rolloutSetup) mode() string {
	if r.overlap {
		return "overlap"
	}
	return "no_overlap"
}

func stageOutDir(c *cli.Context, name string) (string, error) {
	dir := c.String("out-dir")
	if dir == "" {
		dir = filepath.Join("reports", name+"_"+time.Now().Format("20060102_150405"))
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	return dir, os.MkdirAll(filepath.Join(dir, "logs"), 0o755)
}

func prefixCacheCommand() *cli.Command {
	return &cli.Command{
		Name:  "prefix-cache",
		Usage: "stage 1.3: prefill time of many docs sharing a prefix, with and without the prefix KV cache",
		UsageText: `ember milestone prefix-cache [flags]

Examples:
  ember milestone prefix-cache --model Qwen/Qwen3-4B-Instruct-2507 --gpus 0,1 --split 9,27
  ember milestone prefix-cache -m testdata/models/tiny-qwen3 --gpus cpu:0,cpu:1 --split 2,4 --prompt-len 64 --prefix-lens 0,32 --num-docs 4`,
		Description: `For each --prefix-lens value: --num-docs prompts of --prompt-len random tokens
that share their first prefix_len tokens are prefilled one by one (no_cache),
then the prefix is prefilled once into the prefix KV cache and every doc takes
it from there and prefills its suffix (with_cache). Writes upstream's
stage13_raw_NNN_prefix_P.csv per run, stage13_prefix_cache_sweep.csv,
stage13_prefix_cache_summary.md, stage13_p1_input.md, stage13_failures.csv
and logs/run_NNN.log.`,
		Flags: append(rolloutEngineFlags("9,27"),
			&cli.IntFlag{Name: "prompt-len", Value: 2048, Usage: "full prompt length"},
			&cli.StringFlag{Name: "prefix-lens", Value: "0,256,512,768,1024,1280,1536", Usage: "shared prefix lengths"},
			&cli.IntFlag{Name: "num-docs", Value: 100, Usage: "requests (docs) per run"},
			&cli.IntFlag{Name: "iters", Value: 1, Usage: "measured iterations"},
			&cli.IntFlag{Name: "warmup", Value: 0, Usage: "warm-up iterations"},
			&cli.BoolFlag{Name: "pipeline", Usage: "chunked pipeline even with --no-overlap (two devices)"},
		),
		Action: prefixCacheAction,
	}
}

func prefixCacheAction(c *cli.Context) error {
	promptLen, docs := c.Int("prompt-len"), c.Int("num-docs")
	switch {
	case promptLen <= 0:
		return errors.New("--prompt-len must be > 0")
	case docs <= 0:
		return errors.New("--num-docs must be > 0")
	case c.Int("iters") <= 0:
		return errors.New("--iters must be > 0")
	case c.Int("warmup") < 0:
		return errors.New("--warmup must be >= 0")
	}
	if strings.Trim(c.String("prefix-lens"), " ,") == "" {
		return errors.New("--prefix-lens is empty")
	}
	prefixes, err := parseInts("prefix-lens", c.String("prefix-lens"))
	if err != nil {
		return err
	}
	for _, p := range prefixes {
		if p > promptLen {
			return fmt.Errorf("prefix_len out of range: %d", p)
		}
	}
	if err := checkDocsMemory(docs, promptLen); err != nil {
		return err
	}
	r, err := openRollout(c, c.Bool("pipeline"))
	if err != nil {
		return err
	}
	defer r.e.Close()
	dir, err := stageOutDir(c, "stage1_prefix_cache")
	if err != nil {
		return err
	}
	out := c.App.Writer
	var rows []report.Stage13Row
	var fails []report.Stage13Failure
	for idx, p := range prefixes {
		idx++
		logPath := filepath.Join(dir, "logs", fmt.Sprintf("run_%03d.log", idx))
		fmt.Fprintf(out, "[run %d] prefix_len=%d\n", idx, p)
		run, err := measurePrefix(r, c, promptLen, p, docs)
		log := fmt.Sprintf("$ ember milestone prefix-cache (in-process) --model %s --gpus %s --split %s --prompt-len %d --prefix-len %d --num-docs %d --chunk-len %d --iters %d --warmup %d --seed %d --%s\n\n",
			r.e.Snapshot.Dir, c.String("gpus"), c.String("split"), promptLen, p, docs, r.chunk, c.Int("iters"), c.Int("warmup"), c.Int("seed"), strings.ReplaceAll(r.mode(), "_", "-"))
		if err != nil {
			log += "\n[stderr]\nerror: " + err.Error() + "\n"
			if werr := atomicfile.WriteFile(logPath, []byte(log)); werr != nil {
				return werr
			}
			fails = append(fails, report.Stage13Failure{PrefixLen: p, ReturnCode: "1", LogPath: logPath})
			fmt.Fprintf(out, "[fail %d] rc=1\n", idx)
			continue
		}
		raw := run.CSV()
		if err := atomicfile.WriteFile(filepath.Join(dir, fmt.Sprintf("stage13_raw_%03d_prefix_%d.csv", idx, p)), raw); err != nil {
			return err
		}
		if err := atomicfile.WriteFile(logPath, []byte(log)); err != nil {
			return err
		}
		lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
		rows = append(rows, report.Stage13Row{Header: strings.Split(lines[0], ","), Cells: strings.Split(lines[1], ",")})
	}
	files := report.Stage13(report.Stage13Input{ModelDir: r.e.Snapshot.Dir, PromptLen: promptLen, NumDocs: docs, Overlap: r.overlap,
		Rows: rows, Failures: fails, Now: time.Now()})
	if err := report.WriteFiles(dir, files); err != nil {
		return err
	}
	fmt.Fprintln(out, "[done] stage1.3 prefix cache sweep")
	if len(rows) > 0 {
		fmt.Fprintf(out, "- sweep csv: %s\n- summary md: %s\n- p1 input md: %s\n", filepath.Join(dir, "stage13_prefix_cache_sweep.csv"),
			filepath.Join(dir, "stage13_prefix_cache_summary.md"), filepath.Join(dir, "stage13_p1_input.md"))
	} else {
		fmt.Fprintln(out, "- no successful runs")
	}
	fmt.Fprintf(out, "- failures: %s (%d failed runs)\n- logs: %s\n", filepath.Join(dir, "stage13_failures.csv"), len(fails), filepath.Join(dir, "logs"))
	return nil
}

// measurePrefix is one prefix length's run: mean times over the measured
// iterations of prefilling every doc whole, and of the prefix once into the
// prefix cache plus each doc's suffix after taking the prefix from it.
// The prompts are upstream's (upstreamPrompts): the same seed gives the
// binary's token ids.
func measurePrefix(r *rolloutSetup, c *cli.Context, promptLen, prefixLen, docs int) (report.Stage13Run, error) {
	prefix, prompts := upstreamPrompts(int64(c.Int("seed")), r.e.Snapshot.Config.VocabSize, promptLen, prefixLen, docs)
	run, err := measurePrefixPrompts(r, c.Int("iters"), c.Int("warmup"), promptLen, prefix, prompts)
	if r.devices == 1 {
		run.Split = strconv.Itoa(r.e.Snapshot.Config.NumHiddenLayers)
	}
	return run, err
}

// checkDocsMemory refuses a --num-docs whose prompts, every doc's tokens
// drawn up front as upstream does (4 bytes a token), pass the host's
// available memory.
func checkDocsMemory(docs, promptLen int) error {
	if host, ok := hostAvailable(); ok && float64(docs)*float64(promptLen)*4 > float64(host) {
		return fmt.Errorf("--num-docs %d: the docs' %d-token prompts need %s, more than the %s of memory this machine has available",
			docs, promptLen, memplan.FormatSize(int64(min(float64(docs)*float64(promptLen)*4, math.MaxInt64/2))), memplan.FormatSize(host))
	}
	return nil
}

// measurePrefixPrompts is measurePrefix over given prompts, each promptLen
// tokens that start with prefix.
func measurePrefixPrompts(r *rolloutSetup, iters, warmup, promptLen int, prefix []int32, prompts [][]int32) (report.Stage13Run, error) {
	prefixLen := len(prefix)
	run := report.Stage13Run{GPUs: r.gpus, Split: r.split, Mode: r.mode(), PromptLen: promptLen, PrefixLen: prefixLen,
		NumDocs: len(prompts), Iters: iters, Warmup: warmup}
	s, err := r.session(promptLen+8, 1)
	if err != nil {
		return run, err
	}
	defer s.Close()
	timed := func(f func() error) (float64, error) {
		t0 := time.Now()
		err := f()
		return float64(time.Since(t0)) / float64(time.Millisecond), err
	}
	measured := 0
	for it := range run.Warmup + run.Iters {
		var noCache, once, suffixes float64
		for _, p := range prompts {
			s.Reset()
			ms, err := timed(func() error { _, err := s.Prefill(p); return err })
			if err != nil {
				return run, err
			}
			noCache += ms
		}
		if prefixLen > 0 && prefixLen < promptLen {
			// One block holding the whole prefix, and room for exactly it: the
			// docs' suffixes are not kept.
			pc, err := r.e.Model.NewPrefixCache(qwen3.PrefixCacheOptions{Block: prefixLen, KVDType: r.kv})
			if err != nil {
				return run, err
			}
			budget := pc.BlockBytes()
			pc.Close()
			if pc, err = r.e.Model.NewPrefixCache(qwen3.PrefixCacheOptions{Block: prefixLen, KVDType: r.kv, Budget: budget}); err != nil {
				return run, err
			}
			once, err = timed(func() error { _, _, err := s.PrefillCached(pc, prefix); return err })
			for _, p := range prompts {
				if err != nil {
					break
				}
				var ms float64
				var hit int
				ms, err = timed(func() error { var e error; _, hit, e = s.PrefillCached(pc, p); return e })
				if err == nil && hit != prefixLen {
					err = fmt.Errorf("the prefix cache served %d of the %d prefix tokens", hit, prefixLen)
				}
				suffixes += ms
			}
			pc.Close()
			if err != nil {
				return run, err
			}
		} else if prefixLen == promptLen {
			// Nothing is left to prefill per doc once the prefix is in.
			s.Reset()
			if once, err = timed(func() error { _, err := s.Prefill(prefix); return err }); err != nil {
				return run, err
			}
		} else {
			for _, p := range prompts {
				s.Reset()
				ms, err := timed(func() error { _, err := s.Prefill(p); return err })
				if err != nil {
					return run, err
				}
				suffixes += ms
			}
		}
		if it >= run.Warmup {
			run.NoCacheTotalMS += noCache
			run.CachePrefixOnceMS += once
			run.CacheSuffixTotalMS += suffixes
			run.WithCacheTotalMS += once + suffixes
			measured++
		}
	}
	n := float64(measured)
	run.NoCacheTotalMS /= n
	run.WithCacheTotalMS /= n
	run.CachePrefixOnceMS /= n
	run.CacheSuffixTotalMS /= n
	return run, nil
}

func multiCandidateCommand() *cli.Command {
	return &cli.Command{
		Name:  "multi-candidate",
		Usage: "stage 2.1: N candidates of one prompt decoded together, with token logprobs",
		UsageText: `ember milestone multi-candidate [flags]

Examples:
  ember milestone multi-candidate --model Qwen/Qwen3-4B-Instruct-2507 --gpus 0,1 --num-candidates 8
  ember milestone multi-candidate -m testdata/models/tiny-qwen3 --gpus cpu:0 --prompt-len 16 --gen-len 8 --num-candidates 4`,
		Description: `Prefills the prompt (--prompt text, else --prompt-len random tokens) once,
gives its KV to every candidate, then decodes all live candidates in batched
steps until each has --gen-len tokens or ends at EOS. Writes upstream's
stage21_multi_candidate.csv, stage21_candidates.jsonl (token ids and
log-probabilities), stage21_summary.md, stage21_p1_input.md and logs/run.log.`,
		Flags: append(rolloutEngineFlags("9,27"),
			&cli.StringFlag{Name: "prompt", Usage: "prompt text (default: random tokens)"},
			&cli.IntFlag{Name: "prompt-len", Value: 256, Usage: "random prompt length"},
			&cli.IntFlag{Name: "gen-len", Value: 128, Usage: "tokens per candidate"},
			&cli.IntFlag{Name: "num-candidates", Value: 8, Usage: "candidates"},
			&cli.Float64Flag{Name: "temperature", Value: 0.7, Usage: "sampling temperature"},
			&cli.Float64Flag{Name: "top-p", Value: 0.9, Usage: "top-p"},
			&cli.IntFlag{Name: "top-k", Value: 40, Usage: "top-k"},
			&cli.BoolFlag{Name: "decode-text", Value: true, Usage: "decode each candidate's text (default on)"},
			&cli.BoolFlag{Name: "no-decode-text", Usage: "skip the candidates' text"},
		),
		Action: multiCandidateAction,
	}
}

// candidatePrompt is the prompt of a multi-candidate rollout, as upstream's
// binary draws it: --prompt's tokens, else --prompt-len random ones.
func candidatePrompt(c *cli.Context, e *engine.Engine) ([]int32, error) {
	var prompt []int32
	if text := c.String("prompt"); text != "" {
		if e.Tokenizer == nil {
			return nil, errors.New("tokenizer load failed but --prompt text was provided")
		}
		prompt = e.Tokenizer.Encode(text)
	} else {
		prompt = upstreamRandomPrompt(int64(c.Int("seed")), c.Int("prompt-len"), e.Snapshot.Config.VocabSize)
	}
	if len(prompt) == 0 {
		return nil, errors.New("empty prompt tokens")
	}
	return prompt, nil
}

func multiCandidateAction(c *cli.Context) error {
	n, gen := c.Int("num-candidates"), c.Int("gen-len")
	if c.Int("prompt-len") <= 0 || gen <= 0 || n <= 0 {
		return errors.New("prompt/gen/candidates must be > 0")
	}
	r, err := openRollout(c, false)
	if err != nil {
		return err
	}
	defer r.e.Close()
	dir, err := stageOutDir(c, "stage21_multi_candidate")
	if err != nil {
		return err
	}
	params := sampling.Params{Temperature: float32(c.Float64("temperature")), TopP: float32(c.Float64("top-p")), TopK: c.Int("top-k"), Seed: uint64(c.Int("seed"))}
	if err := params.Validate(); err != nil {
		return err
	}
	prompt, s, err := r.candidateSession(c, n, gen)
	if err != nil {
		return err
	}
	defer s.Close()
	var log bytes.Buffer
	fmt.Fprintf(&log, "$ ember milestone multi-candidate (in-process) --model %s --prompt-len %d --gen-len %d --num-candidates %d --gpus %s --split %s --chunk-len %d --temperature %g --top-p %g --top-k %d --seed %d --%s\n\n",
		r.e.Snapshot.Dir, len(prompt), gen, n, c.String("gpus"), c.String("split"), r.chunk, c.Float64("temperature"), c.Float64("top-p"), c.Int("top-k"), c.Int("seed"), strings.ReplaceAll(r.mode(), "_", "-"))
	cands, st, err := r.e.Rollout(s, prompt, engine.RolloutOptions{N: n, MaxNew: gen, Params: params})
	if err != nil {
		fmt.Fprintf(&log, "\n[stderr]\nerror: %v\n", err)
		atomicfile.WriteFile(filepath.Join(dir, "logs", "run.log"), log.Bytes())
		return fmt.Errorf("benchmark failed rc=1; see %s: %w", filepath.Join(dir, "logs", "run.log"), err)
	}
	total := 0
	var jsonl bytes.Buffer
	for i, cand := range cands {
		total += len(cand.Tokens)
		text := ""
		if c.Bool("decode-text") && !c.Bool("no-decode-text") && r.e.Tokenizer != nil {
			text = r.e.Tokenizer.Decode(cand.Tokens, true)
		}
		writeCandidateJSON(&jsonl, i, cand, text, false)
	}
	split := r.split
	run := report.Stage21Run{PromptLen: len(prompt), GenLen: gen, NumCandidates: n, GPUs: r.gpus, Split: split,
		PrefillMS: float64(st.Prefill.Wall+st.Copy.Wall) / float64(time.Millisecond), DecodeMS: float64(st.Decode.Wall) / float64(time.Millisecond),
		TotalGenTokens: total, Temperature: float64(params.Temperature), TopP: float64(params.TopP), TopK: params.TopK}
	fmt.Fprintf(&log, "%d candidates, %d tokens; %d batched steps (device top-k draw: %v)\n", n, total, st.Steps, st.OnDevice)
	files, err := report.Stage21(report.Stage21Input{ModelDir: r.e.Snapshot.Dir, Header: report.Stage21Header, Row: run.Row(), Candidates: jsonl.Bytes(), Now: time.Now()})
	if err != nil {
		return err
	}
	files = append(files, report.File{Name: "stage21_multi_candidate.csv", Data: run.CSV()}, report.File{Name: "stage21_candidates.jsonl", Data: jsonl.Bytes()},
		report.File{Name: filepath.Join("logs", "run.log"), Data: log.Bytes()})
	if err := report.WriteFiles(dir, files); err != nil {
		return err
	}
	row := run.Row()
	fmt.Fprintf(c.App.Writer, "[done] out_dir=%s\n[result] candidates=%d gen_tok_s=%s total_ms=%s\n", dir, n, row[10], row[8])
	return nil
}

func cumulativeCommand() *cli.Command {
	return &cli.Command{
		Name:  "cumulative",
		Usage: "stage 1.4: cumulative rollout cost over rounds from stage 1.2 (or 1.1) and 1.3 results",
		UsageText: `ember milestone cumulative [flags]

Examples:
  ember milestone cumulative --stage12-summary reports/stage12/stage12_split_summary.csv --prefix-sweep reports/stage13/stage13_prefix_cache_sweep.csv
  ember milestone cumulative --base-profile-csv reports/stage1_milestone --split 9+27 --num-rounds 30`,
		Description: `Simulates num_rounds rounds of num_prompts × num_candidates requests under three
strategies (naive, prefix_only, update_locality) from the measured prefill and
per-token decode times, as upstream's run_stage1_cumulative_profile.py does,
and writes stage14_per_round.csv, stage14_summary.csv, stage14_summary.md and
stage14_p1_input.md. Each input may be given as its file or as the report
folder that holds it.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "stage12-summary", Usage: "stage12_split_summary.csv (or its folder)"},
			&cli.StringFlag{Name: "base-profile-csv", Usage: "p1_fig2_prefill_share.csv (or its stage 1.1 folder); bypasses the stage12 row lookup"},
			&cli.StringFlag{Name: "split", Value: "9+27", Usage: "the stage12 row's split"},
			&cli.StringFlag{Name: "mode", Value: "overlap", Usage: "overlap or no_overlap"},
			&cli.IntFlag{Name: "prompt-len", Value: 2048, Usage: "prompt_len of the stage12 (or stage 1.1) row to read"},
			&cli.IntFlag{Name: "decode-steps", Value: 128, Usage: "decode_steps of that row"},
			&cli.IntFlag{Name: "num-prompts", Value: 100, Usage: "prompts per round"},
			&cli.IntFlag{Name: "num-candidates", Value: 8, Usage: "candidates per prompt"},
			&cli.IntFlag{Name: "num-rounds", Value: 30, Usage: "rounds simulated"},
			&cli.IntFlag{Name: "num-gpus", Value: 2, Usage: "used for GPU-hours conversion"},
			&cli.StringFlag{Name: "prefix-sweep", Usage: "stage13_prefix_cache_sweep.csv (or its folder)"},
			&cli.IntFlag{Name: "prefix-len", Value: 1024, Usage: "prefix_len of the stage 1.3 sweep row to read"},
			&cli.Float64Flag{Name: "locality-recompute-ratio", Value: 0.5, Usage: "0.5 means keep 50% prefill compute"},
			&cli.IntFlag{Name: "periodic-refresh-k", Value: 0, Usage: "0 disables periodic full refresh"},
			&cli.StringFlag{Name: "policy-per-round", Usage: "optional stage33_policy_per_round.csv"},
			&cli.StringFlag{Name: "policy-name", Value: "update_locality", Usage: "policy name in the per-round csv"},
			&cli.StringFlag{Name: "out-dir", Usage: "report folder (default reports/stage14_cumulative_profile_<timestamp>)"},
		},
		Action: cumulativeAction,
	}
}

// readStageCSV reads a report CSV given as its path or as the folder holding
// name; what names the flag for messages.
func readStageCSV(flag, path, name, what string) (report.DictRows, string, error) {
	p, err := filepath.Abs(path)
	if err != nil {
		return nil, "", err
	}
	if fi, err := os.Stat(p); err == nil && fi.IsDir() {
		p = filepath.Join(p, name)
	}
	data, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, "", fmt.Errorf("missing %s: %s", what, p)
	}
	if err != nil {
		return nil, "", err
	}
	rows, err := report.ReadDictCSV(data)
	if err != nil {
		return nil, "", fmt.Errorf("--%s %s: %v", flag, p, err)
	}
	if rows == nil {
		rows = report.DictRows{}
	}
	return rows, filepath.Base(p), nil
}

func cumulativeAction(c *cli.Context) error {
	mode := c.String("mode")
	if mode != "overlap" && mode != "no_overlap" {
		return fmt.Errorf("--mode %q: invalid choice (choose from 'overlap', 'no_overlap')", mode)
	}
	in := report.Stage14Input{Split: c.String("split"), Mode: mode, PromptLen: c.Int("prompt-len"), DecodeSteps: c.Int("decode-steps"),
		NumPrompts: c.Int("num-prompts"), NumCandidates: c.Int("num-candidates"), NumRounds: c.Int("num-rounds"), NumGPUs: c.Int("num-gpus"),
		PrefixLen: c.Int("prefix-len"), LocalityRatio: c.Float64("locality-recompute-ratio"), RefreshK: c.Int("periodic-refresh-k"),
		PolicyName: c.String("policy-name"), Now: time.Now()}
	if err := in.Validate(); err != nil {
		return err
	}
	var err error
	switch {
	case strings.TrimSpace(c.String("base-profile-csv")) != "":
		in.BaseIsProfile = true
		in.Base, in.BaseName, err = readStageCSV("base-profile-csv", c.String("base-profile-csv"), "p1_fig2_prefill_share.csv", "base profile csv")
	case strings.TrimSpace(c.String("stage12-summary")) != "":
		in.Base, in.BaseName, err = readStageCSV("stage12-summary", c.String("stage12-summary"), "stage12_split_summary.csv", "stage12 summary")
	default:
		return errors.New("either --stage12-summary or --base-profile-csv must be provided")
	}
	if err != nil {
		return err
	}
	if p := strings.TrimSpace(c.String("prefix-sweep")); p != "" {
		if in.Prefix, in.PrefixName, err = readStageCSV("prefix-sweep", p, "stage13_prefix_cache_sweep.csv", "prefix sweep csv"); err != nil {
			return err
		}
	}
	if p := strings.TrimSpace(c.String("policy-per-round")); p != "" {
		if in.Policy, in.PolicyFileName, err = readStageCSV("policy-per-round", p, "stage33_policy_per_round.csv", "--policy-per-round"); err != nil {
			return err
		}
	}
	files, err := report.Stage14(in)
	if err != nil {
		return err
	}
	dir := c.String("out-dir")
	if dir == "" {
		dir = filepath.Join("reports", "stage14_cumulative_profile_"+time.Now().Format("20060102_150405"))
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return err
	}
	if err := report.WriteFiles(dir, files); err != nil {
		return err
	}
	w := c.App.Writer
	fmt.Fprintln(w, "[done] stage1.4 cumulative profile")
	for _, f := range []struct{ what, name string }{{"per-round csv", "stage14_per_round.csv"}, {"summary csv", "stage14_summary.csv"},
		{"summary md", "stage14_summary.md"}, {"p1 input md", "stage14_p1_input.md"}} {
		fmt.Fprintf(w, "- %s: %s\n", f.what, filepath.Join(dir, f.name))
	}
	return nil
}
