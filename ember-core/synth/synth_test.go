package synth

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ember-infer/ember/ember-core/safetensors"
	"github.com/ember-infer/ember/ember-core/snapshot"
	"github.com/ember-infer/ember/ember-core/tokenizer"
)

// TestBundledTinyIsCurrent: testdata/models/tiny-qwen3 is exactly what
// `ember synth --preset tiny --seed 1` writes (a text model), so the fixture
// can always be regenerated and nothing drifted.
func TestBundledTinyIsCurrent(t *testing.T) {
	dir := t.TempDir()
	if err := Write(dir, Tiny(), Options{Seed: 1, Text: true}); err != nil {
		t.Fatal(err)
	}
	bundled := filepath.Join("..", "..", "testdata", "models", "tiny-qwen3")
	for _, f := range []string{"config.json", "generation_config.json", "tokenizer.json", "model.safetensors"} {
		a, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(bundled, f))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs from a fresh synth; regenerate with: go run ./ember-cli/cmd/ember synth --preset tiny --seed 1 --force --out testdata/models/tiny-qwen3", f)
		}
	}
}

func TestWriteSnapshot(t *testing.T) {
	dir := t.TempDir()
	cfg := Tiny()
	cfg.NumHiddenLayers = 2
	if err := Write(dir, cfg, Options{Seed: 4, DType: safetensors.F16, LMHeadStored: true}); err != nil {
		t.Fatal(err)
	}
	s, err := snapshot.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
	if !s.StoresLMHead() || s.Config.TorchDType != "float16" {
		t.Errorf("lm_head stored %v, torch_dtype %s", s.StoresLMHead(), s.Config.TorchDType)
	}
	// Bytes: every expected tensor plus the stored lm_head, 2 bytes each.
	var elems int64
	for _, sp := range Specs(cfg, Options{LMHeadStored: true}) {
		elems += sp.NumElements()
	}
	if got := s.Tensors.TensorBytes(); got != 2*elems {
		t.Errorf("tensor bytes %d, want %d", got, 2*elems)
	}
	tok, err := tokenizer.Load(filepath.Join(dir, "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	eos, _ := tok.TokenID("<|im_end|>")
	if len(s.Config.EOSTokenID) != 1 || s.Config.EOSTokenID[0] != int(eos) {
		t.Errorf("config eos %v, tokenizer <|im_end|> %d", s.Config.EOSTokenID, eos)
	}
	// Norm weights stay near 1, linear weights within ±sqrt(3/in).
	norm, _ := s.Tensors.Tensor(snapshot.FinalNorm)
	vals, _ := norm.Float32()
	for _, v := range vals {
		if v < 0.89 || v > 1.11 {
			t.Fatalf("norm weight %g outside 1 ± 0.1", v)
		}
	}
}

func TestWriteErrors(t *testing.T) {
	cfg := Tiny()
	cfg.VocabSize = 200
	err := Write(t.TempDir(), cfg, Options{})
	if err == nil || !strings.Contains(err.Error(), "does not fit vocab_size 200") {
		t.Errorf("tiny vocab: %v", err)
	}
	if err := Write(t.TempDir(), Tiny(), Options{DType: "I8"}); err == nil || !strings.Contains(err.Error(), "dtype I8") {
		t.Errorf("bad dtype: %v", err)
	}
}

// TestWriteProgress: Progress starts at 0 and climbs, at least once per
// tensor, to the file's tensor bytes.
func TestWriteProgress(t *testing.T) {
	dir := t.TempDir()
	cfg := Tiny()
	cfg.NumHiddenLayers = 1
	var calls int
	var last, total int64
	err := Write(dir, cfg, Options{Seed: 2, DType: safetensors.F32, Progress: func(d, tot int64) {
		if d < last || (d == last && calls > 0) || (total != 0 && tot != total) {
			t.Errorf("progress %d of %d after %d of %d", d, tot, last, total)
		}
		calls, last, total = calls+1, d, tot
	}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := snapshot.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if want := s.Tensors.TensorBytes(); calls < len(Specs(cfg, Options{}))+1 || last != want || total != want {
		t.Errorf("%d calls ending at %d of %d, want one per tensor or more, ending at %d", calls, last, total, want)
	}
}
