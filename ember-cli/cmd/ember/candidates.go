package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/ember-infer/ember/ember-core/device"
	"github.com/ember-infer/ember/ember-core/engine"
	"github.com/ember-infer/ember/ember-core/memplan"
	"github.com/ember-infer/ember/ember-core/qwen3"
	"github.com/ember-infer/ember/ember-core/tokenizer"
)

// candidateFlags are run's flags for several candidates of one prompt.
func candidateFlags() []cli.Flag {
	return []cli.Flag{
		&cli.IntFlag{Name: "N", Usage: "candidates of the prompt, decoded together in batched steps (seed + i for candidate i)", DefaultText: "1"},
		&cli.BoolFlag{Name: "jsonl", Usage: "print each candidate as a JSON line: text, token ids, logprobs"},
		&cli.IntFlag{Name: "top-logprobs", Usage: "with --jsonl, the best alternatives per token and their logprobs"},
		&cli.StringSliceFlag{Name: "stop", Usage: "stop a candidate when its text contains this string (repeatable)"},
	}
}

// wantsCandidates is whether run makes candidates (-N, --jsonl) rather than
// streaming one generation.
func wantsCandidates(c *cli.Context) bool {
	return c.IsSet("N") || c.Bool("jsonl") || c.IsSet("top-logprobs") || c.IsSet("stop")
}

// runCandidates is `ember run -N K [--jsonl]`: K candidates of the prompt,
// printed as text blocks or JSON lines.
func runCandidates(c *cli.Context, promptText string, kv device.DType) error {
	n := 1
	if c.IsSet("N") {
		n = c.Int("N")
	}
	switch {
	case c.Bool("interactive"):
		return errors.New("-N and --jsonl make candidates of one prompt; they do not work with -i")
	case n < 1:
		return fmt.Errorf("-N %d: want 1 or more candidates", n)
	case c.Int("n") < 1:
		return fmt.Errorf("-n %d: candidates need at least 1 token each", c.Int("n"))
	case c.Int("top-logprobs") < 0:
		return fmt.Errorf("--top-logprobs %d: want 0 or more", c.Int("top-logprobs"))
	case c.Int("top-logprobs") > 0 && !c.Bool("jsonl"):
		return fmt.Errorf("--top-logprobs %d: the alternatives are printed only in --jsonl lines; add --jsonl", c.Int("top-logprobs"))
	}
	e, err := openEngine(c, true)
	if err != nil {
		return err
	}
	defer e.Close()
	text := promptFor(c, promptText)
	prompt := e.Tokenizer.Encode(text)
	if len(prompt) == 0 {
		return errors.New("the prompt encodes to no tokens")
	}
	// Every candidate holds its own KV: unless --ctx says otherwise, size it
	// for the prompt and -n tokens, not the default 4096 positions.
	ctx := sessionCtx(c, e)
	if !c.IsSet("ctx") {
		ctx = min(ctx, len(prompt)+c.Int("n"))
	}
	if err := checkBatchMemory("-N", e, n, ctx, kv); err != nil {
		return err
	}
	s, err := e.Model.NewSession(qwen3.SessionOptions{
		Ctx: ctx, Chunk: c.Int("chunk"), Overlap: c.Bool("overlap"), KVDType: kv, Batch: n,
	})
	if err != nil {
		return err
	}
	defer s.Close()
	o := engine.RolloutOptions{N: n, MaxNew: c.Int("n"), Params: samplingParams(c, e), TopLogprobs: c.Int("top-logprobs")}
	if err := o.Params.Validate(); err != nil {
		return err
	}
	if stops := c.StringSlice("stop"); len(stops) > 0 {
		o.Stop = func(_ int, gen []int32) bool {
			t := e.Tokenizer.Decode(gen, true)
			for _, s := range stops {
				if s != "" && strings.Contains(t, s) {
					return true
				}
			}
			return false
		}
	}
	cands, st, err := e.Rollout(s, prompt, o)
	if err != nil {
		return err
	}
	out := bufio.NewWriter(c.App.Writer)
	defer out.Flush()
	for i, cand := range cands {
		txt := e.Tokenizer.Decode(cand.Tokens, true)
		if c.Bool("jsonl") {
			writeCandidateJSON(out, i, cand, txt, true)
			continue
		}
		fmt.Fprintf(out, "--- candidate %d (%d tokens, %s, sum logprob %.4f)\n%s\n", i, len(cand.Tokens), cand.Finish, sum(cand.Logprobs), printable(txt))
	}
	if !c.Bool("quiet") {
		gen := 0
		for _, cand := range cands {
			gen += len(cand.Tokens)
		}
		total := st.Prefill.Wall + st.Copy.Wall + st.Decode.Wall
		fmt.Fprintf(c.App.ErrWriter, "[%d candidates: prefill %d tokens in %.1f ms; %d batched steps in %.1f ms; %d tokens in %.1f ms (%.1f tok/s)]\n",
			n, st.Prefill.Tokens, ms(st.Prefill.Wall+st.Copy.Wall), st.Steps, ms(st.Decode.Wall), gen, ms(total), float64(gen)/total.Seconds())
	}
	return nil
}

// promptFor is the text run feeds the model for -p: the prompt itself, or
// with --chat the chat template around it (and --system, --think).
func promptFor(c *cli.Context, promptText string) string {
	if !c.Bool("chat") {
		return promptText
	}
	var msgs []tokenizer.Message
	if sys := c.String("system"); sys != "" {
		msgs = append(msgs, tokenizer.Message{Role: "system", Content: sys})
	}
	msgs = append(msgs, tokenizer.Message{Role: "user", Content: promptText})
	return tokenizer.ChatPrompt(msgs, true, c.Bool("think"))
}

// checkBatchMemory says, naming flag, when n sequences' KV caches of ctx
// positions cannot be held: each device's share against what it has free, a
// device without a budget (the CPU backend's default) against the host's
// available memory, which such devices share. Without it a huge -N spends
// minutes zeroing memory and dies out of memory.
func checkBatchMemory(flag string, e *engine.Engine, n, ctx int, kv device.DType) error {
	cfg := e.Snapshot.Config
	perLayer := 2 * float64(ctx) * float64(cfg.KVDim()) * float64(kv.Size()) * float64(n)
	host, hostKnown := hostAvailable()
	var unlimited float64
	for k, d := range e.Model.Devices {
		need := perLayer * float64(e.Model.Split[k])
		total, free := d.MemInfo()
		if total == math.MaxInt64 {
			unlimited += need
			continue
		}
		if need > float64(free) {
			return fmt.Errorf("%s %d: the sequences' KV caches (%d positions each) need %s on %s, more than its %s free",
				flag, n, ctx, memplan.FormatSize(int64(min(need, math.MaxInt64/2))), d.Name(), memplan.FormatSize(free))
		}
	}
	if hostKnown && unlimited > float64(host) {
		return fmt.Errorf("%s %d: the sequences' KV caches (%d positions each) need %s, more than the %s of memory this machine has available",
			flag, n, ctx, memplan.FormatSize(int64(min(unlimited, math.MaxInt64/2))), memplan.FormatSize(host))
	}
	return nil
}

// hostAvailable is MemAvailable from /proc/meminfo; false where it cannot be read.
var hostAvailable = func() (int64, bool) {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemAvailable:"); ok {
			f := strings.Fields(rest)
			if len(f) == 2 && f[1] == "kB" {
				if kb, err := strconv.ParseInt(f[0], 10, 64); err == nil {
					return kb << 10, true
				}
			}
		}
	}
	return 0, false
}

func sum(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s
}

// writeCandidateJSON writes one candidate as a JSON line with upstream's
// stage21_candidates.jsonl keys in upstream's order and number format
// (candidate_id, num_tokens, sum_logprob, avg_logprob, tokens,
// token_logprobs, text; logprobs with six decimals); extra adds Ember's
// finish, sampled_logprobs and top_logprobs after them.
func writeCandidateJSON(w io.Writer, id int, c engine.Candidate, text string, extra bool) {
	var b strings.Builder
	total := sum(c.Logprobs)
	avg := 0.0
	if len(c.Logprobs) > 0 {
		avg = total / float64(len(c.Logprobs))
	}
	fmt.Fprintf(&b, `{"candidate_id":%d,"num_tokens":%d,"sum_logprob":%s,"avg_logprob":%s,"tokens":[`, id, len(c.Tokens), fixed6(total), fixed6(avg))
	for j, t := range c.Tokens {
		if j > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(int(t)))
	}
	b.WriteString(`],"token_logprobs":`)
	writeFixedList(&b, c.Logprobs)
	b.WriteString(`,"text":`)
	b.WriteString(jsonString(text))
	if extra {
		fmt.Fprintf(&b, `,"finish":%q,"sampled_logprobs":`, c.Finish)
		writeFixedList(&b, c.SampledLogprobs)
		if c.Top != nil {
			b.WriteString(`,"top_logprobs":[`)
			for j, alts := range c.Top {
				if j > 0 {
					b.WriteByte(',')
				}
				b.WriteByte('[')
				for a, alt := range alts {
					if a > 0 {
						b.WriteByte(',')
					}
					fmt.Fprintf(&b, `{"id":%d,"logprob":%s}`, alt.ID, fixed6(alt.Logprob))
				}
				b.WriteByte(']')
			}
			b.WriteByte(']')
		}
	}
	b.WriteString("}\n")
	io.WriteString(w, b.String())
}

// jsonString quotes s as JSON without HTML escaping (upstream writes <, >
// and & as they are).
func jsonString(s string) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(s)
	return strings.TrimSuffix(b.String(), "\n")
}

func writeFixedList(b *strings.Builder, xs []float64) {
	b.WriteByte('[')
	for j, x := range xs {
		if j > 0 {
			b.WriteByte(',')
		}
		b.WriteString(fixed6(x))
	}
	b.WriteByte(']')
}

// fixed6 is C++'s std::fixed << setprecision(6), as upstream prints
// logprobs. JSON has no -Inf (a token the model gave no probability, which
// no sampler draws): it is written as -1e9, upstream summary's floor.
func fixed6(x float64) string {
	if x != x || x < -1e9 {
		x = -1e9
	}
	return strconv.FormatFloat(x, 'f', 6, 64)
}
