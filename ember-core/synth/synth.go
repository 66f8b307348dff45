// Package synth writes synthetic Qwen3 snapshots: a real config at any shape,
// deterministic random weights (optionally carrying a next-token table, so
// that the model prints text), and a byte-level BPE tokenizer it trains
// itself that covers the whole vocabulary, so that every code path can run
// without downloading a checkpoint.
package synth

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"github.com/ember-infer/ember/ember-core/atomicfile"
	"github.com/ember-infer/ember/ember-core/config"
	"github.com/ember-infer/ember/ember-core/memplan"
	"github.com/ember-infer/ember/ember-core/safetensors"
	"github.com/ember-infer/ember/ember-core/snapshot"
	"github.com/ember-infer/ember/ember-core/tokenizer"
)

// Special tokens every synthetic tokenizer carries, in id order, on the last ids of the vocabulary.
var Specials = []string{"<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"}

// Options controls what Write produces.
type Options struct {
	Seed  uint64
	DType safetensors.DType // BF16 (default), F16 or F32
	// TokenizerVocab is the BPE vocabulary size to train (before the specials);
	// 0 picks min(vocab_size - len(Specials), 2048). It must leave room for the
	// specials inside the model's vocab_size.
	TokenizerVocab int
	// LMHeadStored writes lm_head.weight even when the config ties it, as the
	// Qwen3-0.6B and 1.7B checkpoints do.
	LMHeadStored bool
	// Text lays a next-token table learnt from the corpus over the random
	// weights (pattern.go), so that greedy decoding prints the corpus's text;
	// without it every weight is random.
	Text bool
	// Progress, when set, is called as the weights are written (every 16 Ki
	// values) with the tensor bytes written so far and their total; first with
	// (0, total), once the tokenizer and the text table are built.
	Progress func(done, total int64)
}

// Tiny is the config of the bundled test model, the planner's "tiny" preset.
func Tiny() *config.Config {
	p, _ := memplan.LookupPreset("tiny")
	return &p.Config
}

// Write creates dir (if needed) and writes config.json, generation_config.json,
// tokenizer.json and model.safetensors for cfg. The config's bos/eos ids are set
// to the tokenizer's <|endoftext|> and <|im_end|>. Every file is written atomically.
func Write(dir string, cfg *config.Config, opt Options) error {
	if opt.DType == "" {
		opt.DType = safetensors.BF16
	}
	switch opt.DType {
	case safetensors.BF16, safetensors.F16, safetensors.F32:
	default:
		return fmt.Errorf("synth: dtype %s is not BF16, F16 or F32", opt.DType)
	}
	c := *cfg
	c.TorchDType = map[safetensors.DType]string{safetensors.BF16: "bfloat16", safetensors.F16: "float16", safetensors.F32: "float32"}[opt.DType]
	tv := opt.TokenizerVocab
	if tv == 0 {
		tv = min(c.VocabSize-len(Specials), 2048)
	}
	if tv < 256+1 || tv+len(Specials) > c.VocabSize {
		return fmt.Errorf("synth: a tokenizer of %d tokens plus %d specials does not fit vocab_size %d (it needs at least the 256 byte tokens)", tv, len(Specials), c.VocabSize)
	}
	// The tokenizer covers the whole vocabulary: when the corpus runs out of
	// merges, "<|unused_N|>" tokens fill the ids up to the specials, which
	// take the last ids, so every id a model samples decodes to text.
	tok, err := tokenizer.BuildCovering(Corpus(), tv, Specials, c.VocabSize)
	if err != nil {
		return fmt.Errorf("synth: building the tokenizer: %w", err)
	}
	eot, _ := tok.TokenID("<|endoftext|>")
	imEnd, _ := tok.TokenID("<|im_end|>")
	c.BOSTokenID = config.TokenIDs{int(eot)}
	c.EOSTokenID = config.TokenIDs{int(imEnd)}
	if err := c.Validate(); err != nil {
		return fmt.Errorf("synth: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("synth: %w", err)
	}
	tj, err := tok.MarshalJSON()
	if err != nil {
		return fmt.Errorf("synth: %w", err)
	}
	gen := map[string]any{
		"bos_token_id": int(eot),
		"eos_token_id": []int{int(imEnd), int(eot)},
		"pad_token_id": int(eot),
		"do_sample":    true,
		"temperature":  0.6,
		"top_k":        20,
		"top_p":        0.95,
	}
	for _, f := range []struct {
		name string
		v    any
	}{{"config.json", &c}, {"generation_config.json", gen}} {
		b, err := json.MarshalIndent(f.v, "", "  ")
		if err != nil {
			return fmt.Errorf("synth: %s: %w", f.name, err)
		}
		if err := atomicfile.WriteFile(filepath.Join(dir, f.name), append(b, '\n')); err != nil {
			return err
		}
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, "tokenizer.json"), tj); err != nil {
		return err
	}
	var p *pattern
	if opt.Text {
		p = newPattern(&c, tok, opt)
	}
	return writeWeights(filepath.Join(dir, "model.safetensors"), &c, opt, p)
}

// Specs lists the tensors Write stores for cfg.
func Specs(cfg *config.Config, opt Options) []snapshot.Spec {
	specs := snapshot.Expected(cfg)
	if cfg.TieWordEmbeddings && opt.LMHeadStored {
		specs = append(specs, snapshot.LMHeadSpec(cfg))
	}
	return specs
}

func writeWeights(path string, cfg *config.Config, opt Options, p *pattern) error {
	specs := Specs(cfg, opt)
	st := make([]safetensors.Spec, len(specs))
	for i, s := range specs {
		st[i] = safetensors.Spec{Name: s.Name, DType: opt.DType, Shape: s.Shape}
	}
	meta := map[string]string{"format": "pt", "generator": "ember synth", "seed": fmt.Sprint(opt.Seed)}
	if opt.Text {
		meta["weights"] = "text"
	}
	size, _ := opt.DType.Size()
	var total, done int64
	for _, s := range specs {
		total += s.NumElements() * int64(size)
	}
	progress := func(n int) {
		if opt.Progress != nil {
			done += int64(n)
			opt.Progress(done, total)
		}
	}
	progress(0)
	return safetensors.WriteFunc(path, st, meta, func(i int, s safetensors.Spec, w io.Writer) error {
		return fill(w, s, specs[i], opt, p, progress)
	})
}

// random streams one tensor's random values, a block at a time, to fn. Each
// tensor's generator is seeded from the model seed and the tensor's name (a
// text model's lm_head from the embedding's, so that the two are equal), so
// a tensor's values do not depend on which other tensors are written. Norm
// weights are 1 ± 0.1 (so that RMSNorm keeps the scale); linear weights are
// uniform with standard deviation 1/sqrt(in), which keeps activations O(1)
// through the layers like a trained model's; embeddings are uniform with
// standard deviation 0.2, small enough that a token's own embedding does not
// dominate a tied lm_head's logits (at 1, a random model only ever repeats
// its last token).
func random(spec snapshot.Spec, opt Options, fn func(start int64, vals []float32)) {
	name := spec.Name
	if opt.Text && name == snapshot.LMHead {
		name = snapshot.EmbedTokens
	}
	h := fnv.New64a()
	h.Write([]byte(name))
	rng := rand.New(rand.NewPCG(opt.Seed, h.Sum64()))
	n := spec.NumElements()
	var lo, width float32
	switch {
	case len(spec.Shape) == 1: // norm weights
		lo, width = 0.9, 0.2
	case strings.HasSuffix(spec.Name, "embed_tokens.weight"), spec.Name == snapshot.LMHead:
		a := float32(math.Sqrt(3) * 0.2)
		lo, width = -a, 2*a
	default:
		a := float32(math.Sqrt(3 / float64(spec.Shape[1])))
		lo, width = -a, 2*a
	}
	const block = 1 << 14
	vals := make([]float32, block)
	for done := int64(0); done < n; {
		m := int(min(int64(block), n-done))
		for i := range m {
			vals[i] = lo + width*rng.Float32()
		}
		fn(done, vals[:m])
		done += int64(m)
	}
}

// values streams a tensor's random values, one at a time, as opt.DType stores
// them (the embedding and norms of a text model, whose table is built from them).
func values(spec snapshot.Spec, opt Options, fn func(i int64, v float32)) {
	random(spec, opt, func(start int64, vals []float32) {
		for i, v := range vals {
			fn(start+int64(i), rounded(v, opt.DType))
		}
	})
}

// fill writes one tensor: its random values, with a text model's table (p)
// laid over them.
func fill(w io.Writer, s safetensors.Spec, spec snapshot.Spec, opt Options, p *pattern, progress func(bytes int)) error {
	size, _ := s.DType.Size()
	var err error
	buf := make([]byte, 0, (1<<14)*size)
	var override func(int64, float32) float32
	if p != nil {
		override = p.overrider(spec.Name)
	}
	random(spec, opt, func(start int64, vals []float32) {
		if err != nil {
			return
		}
		if override != nil {
			for i, v := range vals {
				vals[i] = override(start+int64(i), v)
			}
		}
		buf = buf[:len(vals)*size]
		switch s.DType {
		case safetensors.F32:
			for i, v := range vals {
				binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(v))
			}
		case safetensors.F16:
			for i, v := range vals {
				binary.LittleEndian.PutUint16(buf[2*i:], safetensors.F32ToF16(v))
			}
		default:
			for i, v := range vals {
				binary.LittleEndian.PutUint16(buf[2*i:], safetensors.F32ToBF16(v))
			}
		}
		_, err = w.Write(buf)
		progress(len(buf))
	})
	return err
}
