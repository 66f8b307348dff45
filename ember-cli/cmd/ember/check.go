package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/urfave/cli/v2"

	"github.com/ember-infer/ember/ember-core/atomicfile"
	"github.com/ember-infer/ember/ember-core/engine"
	"github.com/ember-infer/ember/ember-core/npy"
	"github.com/ember-infer/ember/ember-core/qwen3"
	"github.com/ember-infer/ember/ember-core/sampling"
	"github.com/ember-infer/ember/ember-cuda/gpucheck"
)

func checkCommand() *cli.Command {
	flags := engineFlags()
	for i, f := range flags {
		if sf, ok := f.(*cli.StringFlag); ok && sf.Name == "kv-dtype" {
			flags[i] = &cli.StringFlag{Name: "kv-dtype", Value: "f32", Usage: "KV cache type: f32, f16 or bf16 (f32 so logits compare to a float32 reference)"}
		}
	}
	return &cli.Command{
		Name:  "check",
		Usage: "compute logits and hidden states at every prompt position, for comparison with a reference",
		UsageText: `ember check -m MODEL (-p TEXT | --tokens IDS) [flags]

Examples:
  ember check -m testdata/models/tiny-qwen3 -p "Hello" --dump out/
  ember check -m MODEL --tokens 9707,11,847 --layers 0,14,28 --dump out/ --greedy 8
  ember check -m MODEL --backend cuda --against cpu -p "Hello"`,
		Description: `Runs the prompt through the model once and reports the top tokens at the last
position. --dump DIR writes logits.npy (float32 [n_positions, vocab]: the logits
at every prompt position), hidden_<i>.npy (float32 [n_positions, hidden]) for each
hidden state chosen with --layers (numbered as Hugging Face's output_hidden_states:
0 = embeddings, i = output of layer i-1, num_hidden_layers = after the final norm)
and index.json describing them. --greedy N also prints the next N greedy token ids
as one JSON line {"greedy": [...]}. --against cpu runs the same prompt on the CPU
backend too and prints a one-line verdict on the logits at every position: the
largest difference as a share of the largest CPU logit, against the bf16 tolerance
of 2^-5, and where the argmax agrees; the exit status is 1 when it fails.`,
		Flags: append(flags,
			&cli.StringFlag{Name: "prompt", Aliases: []string{"p"}, Usage: "prompt text"},
			&cli.StringFlag{Name: "tokens", Usage: "raw token ids instead of a prompt, e.g. 1,2,3"},
			&cli.StringFlag{Name: "dump", Usage: "directory to write logits.npy, hidden states and index.json"},
			&cli.StringFlag{Name: "layers", Usage: "hidden states to dump, e.g. 0,14,28 (default: 0 and the last)"},
			&cli.IntFlag{Name: "greedy", Usage: "also print the next N greedy token ids as JSON"},
			&cli.IntFlag{Name: "top", Value: 5, Usage: "top tokens to print for the last position"},
			&cli.StringFlag{Name: "against", Usage: "also run on this backend (cpu) and print a one-line logits verdict"},
		),
		Action: checkAction,
	}
}

func checkAction(c *cli.Context) error {
	if c.IsSet("prompt") == c.IsSet("tokens") {
		return errors.New("check needs exactly one of -p TEXT or --tokens 1,2,3")
	}
	kv, err := kvDType(c)
	if err != nil {
		return err
	}
	e, err := openEngine(c, c.IsSet("prompt"))
	if err != nil {
		return err
	}
	defer e.Close()
	cfg := e.Snapshot.Config
	var ids []int32
	if c.IsSet("tokens") {
		ns, err := parseInts("tokens", c.String("tokens"))
		if err != nil {
			return err
		}
		for _, n := range ns {
			if n < 0 || n >= cfg.VocabSize {
				return fmt.Errorf("--tokens: id %d is outside the vocabulary of %d", n, cfg.VocabSize)
			}
			ids = append(ids, int32(n))
		}
	} else {
		ids = e.Tokenizer.Encode(c.String("prompt"))
	}
	if len(ids) == 0 {
		return errors.New("the prompt has no tokens")
	}
	layers := []int{0, cfg.NumHiddenLayers}
	if c.IsSet("layers") {
		if layers, err = parseInts("layers", c.String("layers")); err != nil {
			return err
		}
		for _, l := range layers {
			if l < 0 || l > cfg.NumHiddenLayers {
				return fmt.Errorf("--layers %q: hidden state %d is outside 0..%d (0 = embeddings, %d = after the final norm)", c.String("layers"), l, cfg.NumHiddenLayers, cfg.NumHiddenLayers)
			}
		}
	}
	dump, against := c.String("dump"), c.String("against")
	if against != "" && against != "cpu" {
		return fmt.Errorf("--against %q: the reference backend is cpu", against)
	}
	positions := cfg.MaxPositionEmbeddings
	if c.IsSet("ctx") {
		positions = sessionCtx(c, e)
	}
	if err := checkGreedy(c.Int("greedy"), len(ids), positions); err != nil {
		return err
	}
	hidden := map[int][]float32{}
	opt := qwen3.SessionOptions{
		Ctx: min(max(len(ids)+c.Int("greedy")+1, 16), cfg.MaxPositionEmbeddings), Chunk: c.Int("chunk-len"),
		Overlap: c.Bool("overlap"), KVDType: kv, AllLogits: dump != "" || against != "",
	}
	if c.IsSet("ctx") {
		// By default the cache holds just the prompt and --greedy; --ctx
		// sizes it as it does for run (a prompt longer is an error).
		opt.Ctx = sessionCtx(c, e)
	}
	if dump != "" {
		opt.Hidden = layers
		opt.OnHidden = func(index, start, n int, h []float32) { hidden[index] = append(hidden[index], h...) }
	}
	s, err := e.Model.NewSession(opt)
	if err != nil {
		return err
	}
	defer s.Close()
	if _, err := s.Prefill(ids); err != nil {
		return err
	}
	w := c.App.Writer
	last := s.Logits()
	if err := engine.CheckLogits(0, last); err != nil {
		return e.Explain(err)
	}
	top := sampling.TopK(last, min(c.Int("top"), len(last)), nil)
	fmt.Fprintf(w, "%d positions, vocab %d, backend %s, devices %d\n", len(ids), cfg.VocabSize, e.Backend, len(e.Devices))
	for _, id := range top {
		tok := ""
		if e.Tokenizer != nil {
			tok = strconv.Quote(e.Tokenizer.Decode([]int32{id}, false))
		}
		fmt.Fprintf(w, "  %8d %10.4f %s\n", id, last[id], tok)
	}
	if dump != "" {
		if err := writeDump(dump, e.Snapshot.Dir, ids, s.AllLogits(), cfg.VocabSize, cfg.HiddenSize, layers, hidden); err != nil {
			return err
		}
		fmt.Fprintf(w, "wrote %s\n", filepath.Join(dump, "index.json"))
	}
	if against != "" {
		if err := checkAgainst(c, against, ids, opt, s.AllLogits(), cfg.VocabSize); err != nil {
			return err
		}
	}
	if n := c.Int("greedy"); n > 0 {
		greedy := []int32{sampling.Argmax(last)}
		for len(greedy) < n {
			id, _, err := s.DecodeGreedy(greedy[len(greedy)-1])
			if err != nil {
				return err
			}
			if id < 0 || int(id) >= cfg.VocabSize {
				return e.Explain(&engine.NonFiniteError{Step: len(greedy), Index: -1})
			}
			greedy = append(greedy, id)
		}
		b, _ := json.Marshal(map[string][]int32{"greedy": greedy})
		fmt.Fprintln(w, string(b))
	}
	return nil
}

// dumpIndex is index.json of a --dump directory.
type dumpIndex struct {
	Model        string            `json:"model"`
	Tokens       []int32           `json:"tokens"`
	NPositions   int               `json:"n_positions"`
	Vocab        int               `json:"vocab"`
	Hidden       int               `json:"hidden_size"`
	Logits       string            `json:"logits"`
	HiddenStates map[string]string `json:"hidden_states"`
}

func writeDump(dir, model string, ids []int32, logits []float32, vocab, hiddenSize int, layers []int, hidden map[int][]float32) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("--dump: %w", err)
	}
	idx := dumpIndex{Model: model, Tokens: ids, NPositions: len(ids), Vocab: vocab, Hidden: hiddenSize,
		Logits: "logits.npy", HiddenStates: map[string]string{}}
	if err := npy.WriteFloat32(filepath.Join(dir, "logits.npy"), logits, len(ids), vocab); err != nil {
		return err
	}
	for _, l := range layers {
		name := fmt.Sprintf("hidden_%d.npy", l)
		if err := npy.WriteFloat32(filepath.Join(dir, name), hidden[l], len(ids), hiddenSize); err != nil {
			return err
		}
		idx.HiddenStates[strconv.Itoa(l)] = name
	}
	b, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, "index.json"), append(b, '\n'))
}

// checkAgainst runs ids on the reference backend with the same session
// options and prints one line comparing its logits at every position with
// got; a difference beyond gpucheck.LogitsTolerance is an error.
func checkAgainst(c *cli.Context, backend string, ids []int32, opt qwen3.SessionOptions, got []float32, vocab int) error {
	ref, err := engine.Open(engine.Options{Model: c.String("model"), Backend: backend, Threads: c.Int("threads"),
		Warn: func(s string) { fmt.Fprintln(c.App.ErrWriter, "ember:", s) }})
	if err != nil {
		return fmt.Errorf("--against %s: %w", backend, err)
	}
	defer ref.Close()
	opt.Hidden, opt.OnHidden, opt.Overlap = nil, nil, false
	s, err := ref.Model.NewSession(opt)
	if err != nil {
		return fmt.Errorf("--against %s: %w", backend, err)
	}
	defer s.Close()
	if _, err := s.Prefill(ids); err != nil {
		return fmt.Errorf("--against %s: %w", backend, err)
	}
	d, err := gpucheck.CompareLogits(got, s.AllLogits(), vocab)
	if err != nil {
		return err
	}
	verdict := "PASS"
	if !d.OK(gpucheck.LogitsTolerance) {
		verdict = "FAIL"
	}
	fmt.Fprintf(c.App.Writer, "against %s: %v: %s (tolerance %.2f%%)\n", backend, d, verdict, 100*gpucheck.LogitsTolerance)
	if verdict == "FAIL" {
		return fmt.Errorf("logits differ from the %s backend's beyond the tolerance", backend)
	}
	return nil
}
