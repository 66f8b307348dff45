package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/ember-infer/ember/ember-core/engine"
	"github.com/ember-infer/ember/ember-core/qwen3"
	"github.com/ember-infer/ember/ember-core/sampling"
	"github.com/ember-infer/ember/ember-core/tokenizer"
)

func runCommand() *cli.Command {
	return &cli.Command{
		Name:  "run",
		Usage: "generate text from a prompt (or chat interactively)",
		UsageText: `ember run -m MODEL -p TEXT [flags]

Examples:
  ember run -m testdata/models/tiny-qwen3 -p "Hello, my name is" -n 32 --temp 0
  ember run -m /path/to/Qwen3-0.6B --chat -p "Explain KV caches" --devices cpu:0,cpu:1 --split 14,14
  ember run -m Qwen/Qwen3-0.6B -i`,
		Description: `Tokens stream to stdout as they are generated (control characters other than
newline and tab escaped, e.g. \x1b); timing goes to stderr.
Sampling defaults come from the model's generation_config.json; flags override
them, and --temp 0 is greedy. --chat wraps the prompt in the Qwen3 chat template;
-i starts an interactive chat that keeps the KV cache between turns.`,
		Flags: append(append(engineFlags(), candidateFlags()...),
			&cli.StringFlag{Name: "prompt", Aliases: []string{"p"}, Usage: "prompt text (- reads stdin)"},
			&cli.IntFlag{Name: "n", Value: 128, Usage: "most tokens to generate"},
			&cli.Float64Flag{Name: "temp", Usage: "temperature; 0 = greedy", DefaultText: "generation_config, else 0"},
			&cli.IntFlag{Name: "top-k", Usage: "keep the k most likely tokens; 0 = off", DefaultText: "generation_config, else off"},
			&cli.Float64Flag{Name: "top-p", Usage: "nucleus sampling mass; 1 = off", DefaultText: "generation_config, else off"},
			&cli.Float64Flag{Name: "min-p", Usage: "drop tokens below min-p × the top probability; 0 = off", DefaultText: "generation_config, else off"},
			&cli.Float64Flag{Name: "repeat-penalty", Value: 1, Usage: "repetition penalty (HF semantics); 1 = off"},
			&cli.Float64Flag{Name: "presence-penalty", Usage: "subtracted once from tokens already present"},
			&cli.Float64Flag{Name: "frequency-penalty", Usage: "subtracted per occurrence"},
			&cli.IntFlag{Name: "no-repeat-ngram", Usage: "ban repeating n-grams of this size; 0 = off"},
			&cli.Uint64Flag{Name: "seed", Value: 1, Usage: "sampling seed"},
			&cli.BoolFlag{Name: "chat", Usage: "wrap the prompt in the chat template"},
			&cli.StringFlag{Name: "system", Usage: "system message for --chat and -i"},
			&cli.BoolFlag{Name: "think", Usage: "let the model think (Qwen3 enable_thinking); off by default"},
			&cli.BoolFlag{Name: "interactive", Aliases: []string{"i"}, Usage: "interactive chat on stdin"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no timing summary on stderr"},
		),
		Action: runAction,
	}
}

// samplingParams merges generation_config defaults with the flags that were set.
func samplingParams(c *cli.Context, e *engine.Engine) sampling.Params {
	p := sampling.Params{Seed: c.Uint64("seed"), RepetitionPenalty: 1, TopP: 1}
	if g := e.Snapshot.Generation; g != nil && g.DoSample != nil && *g.DoSample {
		if g.Temperature != nil {
			p.Temperature = float32(*g.Temperature)
		}
		if g.TopK != nil {
			p.TopK = *g.TopK
		}
		if g.TopP != nil {
			p.TopP = float32(*g.TopP)
		}
		if g.MinP != nil {
			p.MinP = float32(*g.MinP)
		}
		if g.RepetitionPenalty != nil {
			p.RepetitionPenalty = float32(*g.RepetitionPenalty)
		}
	}
	if c.IsSet("temp") {
		p.Temperature = float32(c.Float64("temp"))
	}
	if c.IsSet("top-k") {
		p.TopK = c.Int("top-k")
	}
	if c.IsSet("top-p") {
		p.TopP = float32(c.Float64("top-p"))
	}
	if c.IsSet("min-p") {
		p.MinP = float32(c.Float64("min-p"))
	}
	if c.IsSet("repeat-penalty") {
		p.RepetitionPenalty = float32(c.Float64("repeat-penalty"))
	}
	p.PresencePenalty = float32(c.Float64("presence-penalty"))
	p.FrequencyPenalty = float32(c.Float64("frequency-penalty"))
	p.NoRepeatNgram = c.Int("no-repeat-ngram")
	return p
}

func runAction(c *cli.Context) error {
	if c.NArg() > 0 {
		return fmt.Errorf("run takes no arguments (got %q); pass the prompt with -p", c.Args().First())
	}
	if n := c.Int("n"); n < 0 {
		return fmt.Errorf("-n %d: want the number of tokens to generate, 0 or more", n)
	}
	interactive := c.Bool("interactive")
	if c.IsSet("system") && !c.Bool("chat") && !interactive {
		return errors.New("--system is the system message of a chat; add --chat (or -i), or put the text in -p")
	}
	promptText := c.String("prompt")
	if promptText == "-" {
		if interactive {
			return errors.New("-p - and -i both read stdin; give the first message with -p TEXT")
		}
		b, err := io.ReadAll(c.App.Reader)
		if err != nil {
			return fmt.Errorf("reading the prompt from stdin: %w", err)
		}
		promptText = string(b)
	}
	if promptText == "" && !interactive {
		return errors.New("no prompt: pass -p TEXT (or -p - to read stdin), or -i for a chat")
	}
	kv, err := kvDType(c)
	if err != nil {
		return err
	}
	if wantsCandidates(c) {
		return runCandidates(c, promptText, kv)
	}
	e, err := openEngine(c, true)
	if err != nil {
		return err
	}
	defer e.Close()
	if c.Bool("overlap") && len(e.Devices) < 2 {
		return fmt.Errorf("--overlap overlaps two devices' prefill chunks, and --devices gives %d; drop it or pass two devices", len(e.Devices))
	}
	smp, err := sampling.New(samplingParams(c, e), e.Snapshot.Config.VocabSize)
	if err != nil {
		return err
	}
	s, err := e.Model.NewSession(qwen3.SessionOptions{
		Ctx: sessionCtx(c, e), Chunk: c.Int("chunk"), Overlap: c.Bool("overlap"), KVDType: kv,
	})
	if err != nil {
		return err
	}
	defer s.Close()
	out := bufio.NewWriter(c.App.Writer)
	defer out.Flush()
	r := &runner{c: c, e: e, s: s, smp: smp, out: out}
	if interactive {
		return r.chat(c.App.Reader)
	}
	text := promptFor(c, promptText)
	_, err = r.turn(e.Tokenizer.Encode(text))
	fmt.Fprintln(out)
	return err
}

type runner struct {
	c   *cli.Context
	e   *engine.Engine
	s   *qwen3.Session
	smp *sampling.Sampler
	out *bufio.Writer
	fed []int32 // ids in the KV cache, in order
}

// turn prefills the part of ids the cache does not already hold, generates,
// streams the text and returns the generated ids.
func (r *runner) turn(ids []int32) ([]int32, error) {
	keep := 0
	for keep < len(r.fed) && keep < len(ids)-1 && r.fed[keep] == ids[keep] {
		keep++
	}
	if err := r.s.Rewind(keep); err != nil {
		return nil, err
	}
	r.fed = append(r.fed[:keep], ids[keep:]...)
	stream := r.e.Tokenizer.NewStream(true)
	st, err := r.e.Generate(r.s, r.smp, ids[keep:], r.c.Int("n"), func(id int32) bool {
		r.out.WriteString(printable(stream.Push(id)))
		r.out.Flush()
		return true
	})
	r.out.WriteString(printable(stream.Flush()))
	r.out.Flush()
	// The cache holds the first Pos() ids of the prompt and what was
	// generated: every generated id but the last was fed back, and a failed
	// prefill or decode left the session where it was before the call.
	r.fed = append(r.fed, st.Generated...)
	r.fed = r.fed[:min(r.s.Pos(), len(r.fed))]
	if err != nil {
		return st.Generated, err
	}
	if st.StopCtx {
		fmt.Fprintf(r.c.App.ErrWriter, "\nember: stopped at the context limit of %d tokens (--ctx)\n", r.s.Ctx())
	}
	if !r.c.Bool("quiet") {
		printGenStats(r.c.App.ErrWriter, st)
	}
	return st.Generated, nil
}

func printGenStats(w io.Writer, st engine.GenStats) {
	pre := st.Prefill
	msg := fmt.Sprintf("\n[prefill %d tokens in %.1f ms (%.1f tok/s)", pre.Tokens, ms(pre.Wall), float64(pre.Tokens)/pre.Wall.Seconds())
	if st.Steps > 0 {
		msg += fmt.Sprintf("; decode %d tokens in %.1f ms (%.1f tok/s)", st.Steps, ms(st.Decode.Wall), float64(st.Steps)/st.Decode.Wall.Seconds())
	}
	fmt.Fprintln(w, msg+"]")
}

// chat runs an interactive conversation: each line from in is a user turn.
func (r *runner) chat(in io.Reader) error {
	var msgs []tokenizer.Message
	if sys := r.c.String("system"); sys != "" {
		msgs = append(msgs, tokenizer.Message{Role: "system", Content: sys})
	}
	if p := r.c.String("prompt"); p != "" {
		msgs = append(msgs, tokenizer.Message{Role: "user", Content: p})
		if err := r.reply(&msgs); err != nil {
			return err
		}
	}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for {
		fmt.Fprint(r.c.App.ErrWriter, "> ")
		if !sc.Scan() {
			fmt.Fprintln(r.c.App.ErrWriter)
			return sc.Err()
		}
		line := strings.TrimSpace(sc.Text())
		switch line {
		case "":
			continue
		case "/exit", "/quit":
			return nil
		case "/reset":
			msgs = msgs[:0]
			r.fed = nil
			r.s.Reset()
			continue
		}
		msgs = append(msgs, tokenizer.Message{Role: "user", Content: line})
		if err := r.reply(&msgs); err != nil {
			if !errors.Is(err, qwen3.ErrContextFull) {
				return err
			}
			// The conversation no longer fits: drop this turn and let the
			// user start over rather than ending the chat.
			msgs = msgs[:len(msgs)-1]
			fmt.Fprintf(r.c.App.ErrWriter, "ember: the conversation no longer fits the context of %d tokens (--ctx); /reset starts a new one\n", r.s.Ctx())
		}
	}
}

func (r *runner) reply(msgs *[]tokenizer.Message) error {
	ids := r.e.Tokenizer.Encode(tokenizer.ChatPrompt(*msgs, true, r.c.Bool("think")))
	gen, err := r.turn(ids)
	r.out.WriteString("\n")
	r.out.Flush()
	if err != nil {
		return err
	}
	for len(gen) > 0 && r.e.IsEOS(gen[len(gen)-1]) {
		gen = gen[:len(gen)-1]
	}
	*msgs = append(*msgs, tokenizer.Message{Role: "assistant", Content: r.e.Tokenizer.Decode(gen, true)})
	return nil
}

// ms converts a duration to float milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
