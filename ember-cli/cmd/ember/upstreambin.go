package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/ember-infer/ember/ember-core/atomicfile"
	"github.com/ember-infer/ember/ember-core/config"
	"github.com/ember-infer/ember/ember-core/device"
	"github.com/ember-infer/ember/ember-core/engine"
	"github.com/ember-infer/ember/ember-core/hub"
	"github.com/ember-infer/ember/ember-core/mt19937"
	"github.com/ember-infer/ember/ember-core/sampling"
	report "github.com/ember-infer/ember/ember-report"
)

// Upstream's stage 1.3 and 2.1 scripts run two benchmark binaries,
// ember_prefix_cache_benchmark and ember_multi_candidate_rollout. These verbs
// take those binaries' flags with their defaults and print or write their
// output byte for byte (the CSV header and row, the candidates JSONL), so a
// script named like the binary that runs `exec ember <verb> "$@"` stands in for
// it (docs/rollout.md). Random prompts are drawn as the binaries draw them,
// std::mt19937(seed) through std::uniform_int_distribution<int>, so the same
// seed gives the same token ids. The measurement is Ember's: a prefix comes
// from the prefix KV cache, and the candidates share one prefill.

// upstreamBinFlags are the device flags both binaries take, plus Ember's.
func upstreamBinFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "model", Aliases: []string{"m"}, EnvVars: []string{"MODEL_PATH"}, Usage: "model directory (or HF model id)"},
		&cli.StringFlag{Name: "gpus", Aliases: []string{"devices"}, Value: "0,1", Usage: "device ids, e.g. 0 or 0,1 (or cpu:0,cpu:1)"},
		&cli.StringFlag{Name: "split", Usage: "layer split A,B for 2 devices (default: even)"},
		&cli.IntFlag{Name: "chunk-len", Aliases: []string{"chunk"}, Value: 512, Usage: "prefill chunk length for the two-device pipeline (--chunk is the old spelling)"},
		&cli.BoolFlag{Name: "overlap", Value: true, Usage: "overlap the two devices' chunks (default on)"},
		&cli.BoolFlag{Name: "no-overlap", Usage: "disable overlap"},
		&cli.IntFlag{Name: "seed", Value: 1234, Usage: "RNG seed"},
		&cli.StringFlag{Name: "csv", Usage: "write the CSV here (default: stdout)"},
		&cli.StringFlag{Name: "backend", Value: "auto", Usage: "Ember: cpu, cuda or auto"},
		&cli.IntFlag{Name: "threads", Usage: "Ember: CPU threads per device (default: all cores)"},
		&cli.StringFlag{Name: "kv-dtype", Usage: "Ember: KV cache type f32, f16 or bf16 (default: the model's torch_dtype, as upstream)"},
	}
}

// upstreamSplit is the binaries' layer split: one device holds every layer;
// two take --split A,B or else layers/2 and the rest. It returns the engine's
// split (nil for one device) and the CSV's split cell.
func upstreamSplit(layers, devices int, flag string) ([]int, string, error) {
	var given []int
	if strings.TrimSpace(flag) != "" {
		var err error
		if given, err = parseInts("split", flag); err != nil {
			return nil, "", err
		}
		if len(given) != 2 {
			return nil, "", errors.New("--split expects A,B")
		}
	}
	if devices == 1 {
		return nil, strconv.Itoa(layers), nil
	}
	a, b := layers/2, layers-layers/2
	if given != nil {
		a, b = given[0], given[1]
	}
	if a <= 0 || b <= 0 || a+b != layers {
		return nil, "", fmt.Errorf("invalid --split: %d+%d for a model of %d layers", a, b, layers)
	}
	return []int{a, b}, fmt.Sprintf("%d+%d", a, b), nil
}

// kvFromTorchDType is the binaries' KV cache type: the model's torch_dtype,
// F16 when it names none they know.
func kvFromTorchDType(s string) device.DType {
	switch s {
	case "bfloat16":
		return device.BF16
	case "float32":
		return device.F32
	}
	return device.F16
}

// openUpstreamBin checks the device flags as the binaries do and opens the
// engine. pipeline is the prefix benchmark's --pipeline.
func openUpstreamBin(c *cli.Context, pipeline bool) (*rolloutSetup, error) {
	if c.String("model") == "" {
		return nil, errors.New("--model is required")
	}
	if c.Int("chunk-len") <= 0 {
		return nil, errors.New("--chunk-len must be > 0")
	}
	_, ids, err := engine.ParseDevices(c.String("gpus"))
	if err != nil {
		return nil, fmt.Errorf("--gpus: %v", err)
	}
	if len(ids) > 2 {
		return nil, errors.New("benchmark supports only 1 or 2 GPUs")
	}
	if c.Int("threads") < 0 {
		return nil, fmt.Errorf("--threads %d: want a positive thread count, or 0 for all cores", c.Int("threads"))
	}
	res, err := hub.Resolve(c.String("model"), hub.OSEnv())
	if err != nil {
		return nil, err
	}
	cfg, err := config.Load(filepath.Join(res.Dir, "config.json"))
	if err != nil {
		return nil, err
	}
	split, cell, err := upstreamSplit(cfg.NumHiddenLayers, len(ids), c.String("split"))
	if err != nil {
		return nil, err
	}
	kv := kvFromTorchDType(cfg.TorchDType)
	if c.IsSet("kv-dtype") {
		if kv, err = kvDType(c); err != nil {
			return nil, err
		}
	}
	e, err := engine.Open(engine.Options{Model: res.Dir, Backend: c.String("backend"), Devices: c.String("gpus"),
		Split: split, Threads: c.Int("threads"), Chunk: c.Int("chunk-len"),
		Warn: func(s string) { fmt.Fprintln(c.App.ErrWriter, "ember:", s) }})
	if err != nil {
		return nil, err
	}
	r := &rolloutSetup{e: e, gpus: strings.Join(ids, "+"), split: cell, devices: len(ids),
		overlap: c.Bool("overlap") && !c.Bool("no-overlap"), kv: kv, chunk: c.Int("chunk-len")}
	r.chunkedRun = r.devices == 2 && (pipeline || r.overlap)
	return r, nil
}

// writeCSVOut writes data to --csv (atomically) or else to stdout.
func writeCSVOut(c *cli.Context, data []byte) error {
	if p := c.String("csv"); p != "" {
		if err := atomicfile.WriteFile(p, data); err != nil {
			return fmt.Errorf("failed to open output: %s: %w", p, err)
		}
		return nil
	}
	_, err := c.App.Writer.Write(data)
	return err
}

// upstreamPrompts are the prefix benchmark's prompts: prefixLen tokens, then
// each doc's promptLen−prefixLen, all drawn in that order from one
// std::mt19937(seed) uniformly over [0, vocab−1]; every doc is the prefix
// followed by its own suffix.
func upstreamPrompts(seed int64, vocab, promptLen, prefixLen, docs int) (prefix []int32, prompts [][]int32) {
	rng := mt19937.New(seed)
	hi := int32(vocab - 1)
	prefix = make([]int32, prefixLen)
	for i := range prefix {
		prefix[i] = rng.IntRange(0, hi)
	}
	prompts = make([][]int32, docs)
	for d := range prompts {
		p := make([]int32, promptLen)
		copy(p, prefix)
		for i := prefixLen; i < promptLen; i++ {
			p[i] = rng.IntRange(0, hi)
		}
		prompts[d] = p
	}
	return prefix, prompts
}

// upstreamRandomPrompt is the multi-candidate binary's random prompt: n tokens
// from std::mt19937(seed) uniformly over [0, max(1, vocab−1)].
func upstreamRandomPrompt(seed int64, n, vocab int) []int32 {
	rng := mt19937.New(seed)
	hi := int32(max(1, vocab-1))
	out := make([]int32, n)
	for i := range out {
		out[i] = rng.IntRange(0, hi)
	}
	return out
}

func prefixCacheBenchmarkCommand() *cli.Command {
	return &cli.Command{
		Name:  "prefix-cache-benchmark",
		Usage: "upstream's ember_prefix_cache_benchmark: one prefix length, with and without the prefix KV cache, as a CSV row",
		UsageText: `ember prefix-cache-benchmark --model <dir> [options]

Examples:
  ember prefix-cache-benchmark --model Qwen/Qwen3-4B-Instruct-2507 --gpus 0,1 --split 9,27 --csv out.csv
  ember prefix-cache-benchmark -m testdata/models/tiny-qwen3 --gpus cpu:0 --prompt-len 64 --prefix-len 32 --num-docs 4`,
		Description: `Prefills --num-docs prompts of --prompt-len random tokens sharing their first
--prefix-len tokens one by one (no_cache), then the prefix once into the prefix
KV cache and each doc's suffix after taking the prefix from it (with_cache),
averaged over --iters after --warmup, and prints the CSV header and row of
upstream's binary (or writes them to --csv). A script named
ember_prefix_cache_benchmark running 'exec ember prefix-cache-benchmark "$@"'
replaces the binary for run_stage1_prefix_cache.py.`,
		Flags: append(upstreamBinFlags(),
			&cli.IntFlag{Name: "prompt-len", Value: 2048, Usage: "full prompt length"},
			&cli.IntFlag{Name: "prefix-len", Value: 1024, Usage: "shared prefix length"},
			&cli.IntFlag{Name: "num-docs", Value: 100, Usage: "number of requests/docs"},
			&cli.IntFlag{Name: "iters", Value: 1, Usage: "measured iterations"},
			&cli.IntFlag{Name: "warmup", Value: 0, Usage: "warmup iterations"},
			&cli.BoolFlag{Name: "pipeline", Usage: "force the chunked pipeline even with --no-overlap"},
			&cli.BoolFlag{Name: "no-pipeline", Usage: "do not force the pipeline (default)"},
		),
		Action: prefixCacheBenchmarkAction,
	}
}

func prefixCacheBenchmarkAction(c *cli.Context) error {
	promptLen, prefixLen, docs := c.Int("prompt-len"), c.Int("prefix-len"), c.Int("num-docs")
	switch {
	case c.String("model") == "":
		return errors.New("--model is required")
	case promptLen <= 0:
		return errors.New("--prompt-len must be > 0")
	case prefixLen < 0 || prefixLen > promptLen:
		return errors.New("--prefix-len must satisfy 0 <= prefix_len <= prompt_len")
	case docs <= 0:
		return errors.New("--num-docs must be > 0")
	case c.Int("chunk-len") <= 0:
		return errors.New("--chunk-len must be > 0")
	case c.Int("iters") <= 0:
		return errors.New("--iters must be > 0")
	case c.Int("warmup") < 0:
		return errors.New("--warmup must be >= 0")
	}
	if err := checkDocsMemory(docs, promptLen); err != nil {
		return err
	}
	r, err := openUpstreamBin(c, c.Bool("pipeline") && !c.Bool("no-pipeline"))
	if err != nil {
		return err
	}
	defer r.e.Close()
	prefix, prompts := upstreamPrompts(int64(c.Int("seed")), r.e.Snapshot.Config.VocabSize, promptLen, prefixLen, docs)
	run, err := measurePrefixPrompts(r, c.Int("iters"), c.Int("warmup"), promptLen, prefix, prompts)
	if err != nil {
		return err
	}
	return writeCSVOut(c, run.CSV())
}

func multiCandidateRolloutCommand() *cli.Command {
	return &cli.Command{
		Name:  "multi-candidate-rollout",
		Usage: "upstream's ember_multi_candidate_rollout: N candidates of one prompt, a CSV row and the candidates' JSONL",
		UsageText: `ember multi-candidate-rollout --model <dir> [options]

Examples:
  ember multi-candidate-rollout --model Qwen/Qwen3-4B-Instruct-2507 --gpus 0,1 --split 9,27 --num-candidates 8 --candidates-jsonl c.jsonl
  ember multi-candidate-rollout -m testdata/models/tiny-qwen3 --gpus cpu:0 --prompt-len 16 --gen-len 8 --num-candidates 4`,
		Description: `Prefills the prompt (--prompt text, else --prompt-len random tokens) once, gives
its KV to every candidate and decodes the live candidates in batched steps
until each has --gen-len tokens or ends at EOS; prints the CSV header and row
of upstream's binary (or writes them to --csv) and writes each candidate's
token ids, log-probabilities and text to --candidates-jsonl. A script named
ember_multi_candidate_rollout running 'exec ember multi-candidate-rollout "$@"'
replaces the binary for run_stage2_multi_candidate.py. Candidate i samples
with seed + i.`,
		Flags: append(upstreamBinFlags(),
			&cli.StringFlag{Name: "prompt", Usage: "prompt text (if empty, a random token prompt)"},
			&cli.IntFlag{Name: "prompt-len", Value: 256, Usage: "random prompt length"},
			&cli.IntFlag{Name: "gen-len", Value: 128, Usage: "generation length per candidate"},
			&cli.IntFlag{Name: "num-candidates", Value: 8, Usage: "number of candidates"},
			&cli.Float64Flag{Name: "temperature", Value: 0.7, Usage: "sampling temperature"},
			&cli.Float64Flag{Name: "top-p", Value: 0.9, Usage: "top-p"},
			&cli.IntFlag{Name: "top-k", Value: 40, Usage: "top-k"},
			&cli.Float64Flag{Name: "repetition-penalty", Value: 1.0, Usage: "repetition penalty (HF semantics); 1 = off"},
			&cli.Float64Flag{Name: "presence-penalty", Value: 0.0, Usage: "subtracted once from tokens already present"},
			&cli.Float64Flag{Name: "frequency-penalty", Value: 0.0, Usage: "subtracted per occurrence"},
			&cli.IntFlag{Name: "no-repeat-ngram-size", Value: 0, Usage: "ban repeating n-grams of this size; 0 = off"},
			&cli.BoolFlag{Name: "no-decode-text", Usage: "skip candidate text decode"},
			&cli.StringFlag{Name: "candidates-jsonl", Usage: "write candidate details here"},
		),
		Action: multiCandidateRolloutAction,
	}
}

func multiCandidateRolloutAction(c *cli.Context) error {
	n, gen := c.Int("num-candidates"), c.Int("gen-len")
	switch {
	case c.String("model") == "":
		return errors.New("--model is required")
	case c.Int("prompt-len") <= 0:
		return errors.New("--prompt-len must be > 0")
	case gen <= 0:
		return errors.New("--gen-len must be > 0")
	case n <= 0:
		return errors.New("--num-candidates must be > 0")
	}
	// Upstream's sampler takes the parameters as C++ floats.
	f32 := func(name string) float32 { return float32(c.Float64(name)) }
	params := sampling.Params{Temperature: f32("temperature"), TopP: f32("top-p"), TopK: c.Int("top-k"),
		RepetitionPenalty: f32("repetition-penalty"), PresencePenalty: f32("presence-penalty"), FrequencyPenalty: f32("frequency-penalty"),
		NoRepeatNgram: c.Int("no-repeat-ngram-size"), Seed: uint64(c.Int("seed"))}
	if err := params.Validate(); err != nil {
		return err
	}
	r, err := openUpstreamBin(c, false)
	if err != nil {
		return err
	}
	defer r.e.Close()
	prompt, s, err := r.candidateSession(c, n, gen)
	if err != nil {
		return err
	}
	defer s.Close()
	cands, st, err := r.e.Rollout(s, prompt, engine.RolloutOptions{N: n, MaxNew: gen, Params: params})
	if err != nil {
		return err
	}
	total := 0
	var jsonl strings.Builder
	for i, cand := range cands {
		total += len(cand.Tokens)
		text := ""
		if !c.Bool("no-decode-text") && r.e.Tokenizer != nil {
			text = r.e.Tokenizer.Decode(cand.Tokens, true)
		}
		writeUpstreamCandidate(&jsonl, i, cand, text)
	}
	if p := c.String("candidates-jsonl"); p != "" {
		if err := atomicfile.WriteFile(p, []byte(jsonl.String())); err != nil {
			return fmt.Errorf("failed to write candidates jsonl: %s: %w", p, err)
		}
	}
	run := report.Stage21Run{PromptLen: len(prompt), GenLen: gen, NumCandidates: n, GPUs: r.gpus, Split: upstreamSplitCell(c.String("split")),
		PrefillMS: float64(st.Prefill.Wall+st.Copy.Wall) / float64(time.Millisecond), DecodeMS: float64(st.Decode.Wall) / float64(time.Millisecond),
		TotalGenTokens: total, Temperature: float64(params.Temperature), TopP: float64(params.TopP), TopK: params.TopK}
	return writeCSVOut(c, run.CSV())
}

// upstreamSplitCell is the multi-candidate CSV's split cell: --split as given
// with "+" between the numbers, empty when it is not given.
func upstreamSplitCell(flag string) string {
	var parts []string
	for _, p := range strings.Split(flag, ",") {
		if p = strings.TrimSpace(p); p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, "+")
}

// writeUpstreamCandidate writes one line of the binary's candidates JSONL:
// the raw token logprobs rounded to float32, their sum and mean, all with six
// decimals, and the text with only ", \, newline,
// carriage return and tab escaped, as upstream's json_escape does.
func writeUpstreamCandidate(b *strings.Builder, id int, c engine.Candidate, text string) {
	// Upstream keeps each logprob as a C++ float and sums them in a double.
	lps := make([]float64, len(c.Logprobs))
	for j, lp := range c.Logprobs {
		lps[j] = float64(float32(lp))
	}
	total := sum(lps)
	avg := 0.0
	if len(lps) > 0 {
		avg = total / float64(len(lps))
	}
	fmt.Fprintf(b, `{"candidate_id":%d,"num_tokens":%d,"sum_logprob":%s,"avg_logprob":%s,"tokens":[`, id, len(c.Tokens), fixed6(total), fixed6(avg))
	for j, t := range c.Tokens {
		if j > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(int(t)))
	}
	b.WriteString(`],"token_logprobs":`)
	writeFixedList(b, lps)
	b.WriteString(`,"text":"`)
	b.WriteString(upstreamJSONEscape(text))
	b.WriteString("\"}\n")
}

// upstreamJSONEscape escapes as upstream's json_escape: ", \, \n, \r and \t;
// every other byte is written as it is.
func upstreamJSONEscape(s string) string {
	return strings.NewReplacer(`"`, `\"`, `\`, `\\`, "\n", `\n`, "\r", `\r`, "\t", `\t`).Replace(s)
}
