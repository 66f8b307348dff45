package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/ember-infer/ember/ember-core/config"
	"github.com/ember-infer/ember/ember-core/memplan"
	"github.com/ember-infer/ember/ember-core/safetensors"
	"github.com/ember-infer/ember/ember-core/synth"
)

func synthCommand() *cli.Command {
	return &cli.Command{
		Name:  "synth",
		Usage: "write a synthetic model: real shapes, deterministic weights that print text, its own tokenizer",
		UsageText: `ember synth --preset NAME --out DIR [flags]

Examples:
  ember synth --preset Qwen3-0.6B --out /tmp/q06 --seed 1
  ember synth --preset tiny --out testdata/models/tiny-qwen3`,
		Description: `Writes config.json, generation_config.json, tokenizer.json (a byte-level BPE
trained on a built-in corpus, with a token for every id of the vocabulary) and
model.safetensors. The weights are random, with a next-token table learnt from
the corpus laid over them: greedy decoding (--temp 0) continues a prompt the way
the corpus does ("Hello, my name is" → " Ember. I run Qwen3 models on one or two
GPUs ..."). --random leaves the table out. The same flags always give the same
bytes. A folder that already holds a model is refused unless --force. Presets: tiny and those of 'ember presets'.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "preset", Required: true, Usage: "tiny or a preset name (see ember presets)"},
			&cli.StringFlag{Name: "out", Required: true, Usage: "directory to write"},
			&cli.Uint64Flag{Name: "seed", Value: 1, Usage: "weight seed"},
			&cli.StringFlag{Name: "dtype", Value: "bf16", Usage: "weight type: bf16, f16 or f32"},
			&cli.IntFlag{Name: "layers", Usage: "override the number of layers (a shallow model with real layer shapes)", DefaultText: "the preset's"},
			&cli.BoolFlag{Name: "random", Usage: "plain random weights, without the next-token table that makes the model print text"},
			&cli.BoolFlag{Name: "force", Usage: "overwrite a model already in --out"},
		},
		Action: func(c *cli.Context) error {
			cfg, storesLMHead, err := presetConfig(c.String("preset"))
			if err != nil {
				return err
			}
			if c.IsSet("layers") {
				n := c.Int("layers")
				if n < 1 {
					return fmt.Errorf("--layers %d: want at least 1 layer (leave it out for the preset's %d)", n, cfg.NumHiddenLayers)
				}
				cfg.NumHiddenLayers = n
			}
			dt := safetensors.DType(strings.ToUpper(c.String("dtype")))
			if dt != safetensors.BF16 && dt != safetensors.F16 && dt != safetensors.F32 {
				return fmt.Errorf("--dtype %q: want bf16, f16 or f32", c.String("dtype"))
			}
			out := c.String("out")
			if !c.Bool("force") {
				if f := existingModelFile(out); f != "" {
					return fmt.Errorf("--out %s already holds a model (%s); pass --force to overwrite it, or choose another folder", out, f)
				}
			}
			fmt.Fprintf(c.App.ErrWriter, "ember: writing %s (%d layers, hidden %d, %s) to %s\n", c.String("preset"), cfg.NumHiddenLayers, cfg.HiddenSize, dt, out)
			p := startProgress(c, "synth")
			p.Set("training the tokenizer, laying out the next-token table")
			var bytes int64
			err = synth.Write(out, cfg, synth.Options{Seed: c.Uint64("seed"), DType: dt, LMHeadStored: storesLMHead, Text: !c.Bool("random"),
				Progress: func(done, total int64) {
					bytes = total
					p.Set(fmt.Sprintf("writing model.safetensors, %d%% of %s", done*100/max(total, 1), memplan.FormatSize(total)))
				}})
			took := p.Stop()
			if err != nil {
				return err
			}
			fmt.Fprintf(c.App.ErrWriter, "ember: done: %s of weights in %.1fs\n", memplan.FormatSize(bytes), took.Seconds())
			return nil
		},
	}
}

// existingModelFile is the first of the files synth writes that is already
// in dir, or "" when there is none.
func existingModelFile(dir string) string {
	for _, f := range []string{"config.json", "model.safetensors", "tokenizer.json", "generation_config.json"} {
		if _, err := os.Lstat(filepath.Join(dir, f)); err == nil {
			return f
		}
	}
	return ""
}

// presetConfig returns the config of a synth preset: tiny, or a planner preset.
func presetConfig(name string) (*config.Config, bool, error) {
	p, ok := memplan.LookupPreset(name)
	if !ok {
		return nil, false, fmt.Errorf("--preset %q is not a preset (have %s)", name, strings.Join(memplan.PresetNames(), ", "))
	}
	return &p.Config, p.StoresLMHead, nil
}
