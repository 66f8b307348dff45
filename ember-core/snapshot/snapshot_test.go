package snapshot

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ember-infer/ember/ember-core/config"
	"github.com/ember-infer/ember/ember-core/safetensors"
)

// small is a two-layer Qwen3 with every dimension distinct, so a transposed shape
// cannot pass for the right one.
func small(tied bool) *config.Config {
	return &config.Config{
		ModelType: "qwen3", VocabSize: 50, HiddenSize: 16, IntermediateSize: 24,
		NumHiddenLayers: 2, NumAttentionHeads: 4, NumKeyValueHeads: 2, HeadDim: 6,
		MaxPositionEmbeddings: 64, RMSNormEps: 1e-6, RopeTheta: 1e6,
		TieWordEmbeddings: tied, TorchDType: "bfloat16",
	}
}

func TestExpected(t *testing.T) {
	c := small(false)
	specs := Expected(c)
	if len(specs) != 1+2*11+1+1 {
		t.Fatalf("%d specs", len(specs))
	}
	want := map[string][]int64{
		"model.embed_tokens.weight":                      {50, 16},
		"model.layers.0.input_layernorm.weight":          {16},
		"model.layers.0.self_attn.q_proj.weight":         {24, 16}, // 4 heads × 6
		"model.layers.0.self_attn.k_proj.weight":         {12, 16}, // 2 kv heads × 6
		"model.layers.0.self_attn.v_proj.weight":         {12, 16},
		"model.layers.0.self_attn.o_proj.weight":         {16, 24},
		"model.layers.0.self_attn.q_norm.weight":         {6},
		"model.layers.0.self_attn.k_norm.weight":         {6},
		"model.layers.1.post_attention_layernorm.weight": {16},
		"model.layers.1.mlp.gate_proj.weight":            {24, 16},
		"model.layers.1.mlp.up_proj.weight":              {24, 16},
		"model.layers.1.mlp.down_proj.weight":            {16, 24},
		"model.norm.weight":                              {16},
		"lm_head.weight":                                 {50, 16},
	}
	got := map[string]Spec{}
	for _, s := range specs {
		if _, dup := got[s.Name]; dup {
			t.Errorf("duplicate %s", s.Name)
		}
		got[s.Name] = s
	}
	for name, shape := range want {
		s, ok := got[name]
		if !ok {
			t.Errorf("missing %s", name)
			continue
		}
		if !equalShape(s.Shape, shape) {
			t.Errorf("%s: shape %v, want %v", name, s.Shape, shape)
		}
	}
	if got["model.layers.1.mlp.up_proj.weight"].Layer != 1 || got["model.norm.weight"].Layer != NoLayer {
		t.Error("layer indices wrong")
	}
	if specs[0].Name != EmbedTokens || specs[len(specs)-1].Name != LMHead {
		t.Error("order: embedding first, lm_head last")
	}
	for _, s := range Expected(small(true)) {
		if s.Name == LMHead {
			t.Error("tied config lists lm_head")
		}
	}
}

func TestLayerNames(t *testing.T) {
	if got := LayerName(12, QNorm); got != "model.layers.12.self_attn.q_norm.weight" {
		t.Errorf("got %s", got)
	}
	for _, tc := range []struct {
		name   string
		layer  int
		suffix string
		ok     bool
	}{
		{"model.layers.12.self_attn.q_norm.weight", 12, QNorm, true},
		{"model.layers.0.mlp.down_proj.weight", 0, DownProj, true},
		{"model.layers.x.mlp.down_proj.weight", NoLayer, "", false},
		{"model.layers.01.mlp.down_proj.weight", NoLayer, "", false},
		{"model.layers.-1.mlp.down_proj.weight", NoLayer, "", false},
		{"model.layers.3", NoLayer, "", false},
		{"model.norm.weight", NoLayer, "", false},
	} {
		l, s, ok := ParseLayerName(tc.name)
		if l != tc.layer || s != tc.suffix || ok != tc.ok {
			t.Errorf("%s: got %d %q %v", tc.name, l, s, ok)
		}
	}
}

func writeZero(t *testing.T, c *config.Config, storeLM bool) string {
	t.Helper()
	dir := t.TempDir()
	if err := WriteZero(dir, c, safetensors.BF16, storeLM); err != nil {
		t.Fatal(err)
	}
	return dir
}

func open(t *testing.T, dir string) *Snapshot {
	t.Helper()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestOpenAndCheck(t *testing.T) {
	for _, tc := range []struct {
		tied, store, wantStored bool
	}{
		{false, false, true}, // untied always stores lm_head
		{true, false, false},
		{true, true, true},
	} {
		s := open(t, writeZero(t, small(tc.tied), tc.store))
		if err := s.Check(); err != nil {
			t.Errorf("tied=%v store=%v: %v", tc.tied, tc.store, err)
		}
		if s.StoresLMHead() != tc.wantStored {
			t.Errorf("tied=%v store=%v: StoresLMHead %v", tc.tied, tc.store, s.StoresLMHead())
		}
		if s.Generation != nil {
			t.Error("no generation_config.json, want nil Generation")
		}
		if len(s.Extra()) != 0 {
			t.Errorf("extra %v", s.Extra())
		}
		n := len(Expected(s.Config))
		if tc.tied && tc.store {
			n++
		}
		if got := s.DTypes()[safetensors.BF16]; got != n {
			t.Errorf("BF16 count %d, want %d", got, n)
		}
	}
}

func TestOpenGenerationConfig(t *testing.T) {
	dir := writeZero(t, small(true), false)
	if err := os.WriteFile(filepath.Join(dir, GenerationConfigFile), []byte(`{"eos_token_id":[1,2],"temperature":0.6}`), 0o644); err != nil {
		t.Fatal(err)
	}
	s := open(t, dir)
	if s.Generation == nil || len(s.Generation.EOSTokenID) != 2 {
		t.Errorf("generation %+v", s.Generation)
	}
	if err := os.WriteFile(filepath.Join(dir, GenerationConfigFile), []byte(`{"temperature":-1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "temperature") {
		t.Errorf("bad generation_config.json: got %v", err)
	}
}

// writeWith writes a snapshot of c whose tensors are Expected(c) passed through edit.
func writeWith(t *testing.T, c *config.Config, edit func([]safetensors.WriteTensor) []safetensors.WriteTensor) string {
	t.Helper()
	dir := writeZero(t, c, false)
	var ts []safetensors.WriteTensor
	for _, e := range Expected(c) {
		s := safetensors.Spec{Name: e.Name, DType: safetensors.BF16, Shape: e.Shape}
		n, _ := s.Bytes()
		ts = append(ts, safetensors.WriteTensor{Spec: s, Data: make([]byte, n)})
	}
	ts = edit(ts)
	if err := safetensors.Write(filepath.Join(dir, safetensors.SingleFileName), ts, nil); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestCheckNamesTheTensor(t *testing.T) {
	c := small(false)
	up := LayerName(1, UpProj)
	for _, tc := range []struct {
		name string
		edit func([]safetensors.WriteTensor) []safetensors.WriteTensor
		want string
	}{
		{"missing", func(ts []safetensors.WriteTensor) []safetensors.WriteTensor {
			out := ts[:0]
			for _, x := range ts {
				if x.Name != up {
					out = append(out, x)
				}
			}
			return out
		}, `tensor "model.layers.1.mlp.up_proj.weight" is missing`},
		{"transposed", func(ts []safetensors.WriteTensor) []safetensors.WriteTensor {
			for i := range ts {
				if ts[i].Name == up {
					ts[i].Shape = []int64{16, 24}
				}
			}
			return ts
		}, `tensor "model.layers.1.mlp.up_proj.weight" has shape [16, 24], config.json implies [24, 16]`},
		{"dtype", func(ts []safetensors.WriteTensor) []safetensors.WriteTensor {
			for i := range ts {
				if ts[i].Name == up {
					ts[i].DType = safetensors.I16
				}
			}
			return ts
		}, `tensor "model.layers.1.mlp.up_proj.weight" has dtype I16`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t, writeWith(t, c, tc.edit))
			err := s.Check()
			if !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v\nwant it to contain %s", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("not one line: %q", err)
			}
		})
	}
}

func TestCheckTiedLMHeadShape(t *testing.T) {
	c := small(true)
	s := open(t, writeWith(t, c, func(ts []safetensors.WriteTensor) []safetensors.WriteTensor {
		return append(ts, safetensors.WriteTensor{Spec: safetensors.Spec{Name: LMHead, DType: safetensors.BF16, Shape: []int64{16, 50}}, Data: make([]byte, 16*50*2)})
	}))
	if err := s.Check(); err == nil || !strings.Contains(err.Error(), `"lm_head.weight" has shape [16, 50]`) {
		t.Errorf("got %v", err)
	}
}

func TestOpenMissingHiddenSize(t *testing.T) {
	dir := writeZero(t, small(true), false)
	cfg := `{"model_type":"qwen3","vocab_size":50,"intermediate_size":24,"num_hidden_layers":2,
		"num_attention_heads":4,"num_key_value_heads":2,"head_dim":6,"max_position_embeddings":64}`
	if err := os.WriteFile(filepath.Join(dir, ConfigFile), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Open(dir)
	if !errors.Is(err, config.ErrInvalid) || !strings.Contains(err.Error(), `"hidden_size"`) ||
		!strings.Contains(err.Error(), "config.json") {
		t.Errorf("got %v, want it to name config.json and hidden_size", err)
	}
}

func TestOpenNoConfig(t *testing.T) {
	dir := writeZero(t, small(true), false)
	os.Remove(filepath.Join(dir, ConfigFile))
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "config.json") {
		t.Errorf("got %v", err)
	}
}

func TestExtra(t *testing.T) {
	s := open(t, writeWith(t, small(false), func(ts []safetensors.WriteTensor) []safetensors.WriteTensor {
		return append(ts, safetensors.WriteTensor{Spec: safetensors.Spec{Name: "model.rotary_emb.inv_freq", DType: safetensors.F32, Shape: []int64{3}}, Data: make([]byte, 12)})
	}))
	if err := s.Check(); err != nil {
		t.Error(err)
	}
	if got := s.Extra(); len(got) != 1 || got[0] != "model.rotary_emb.inv_freq" {
		t.Errorf("extra %v", got)
	}
	if got := s.DTypeSummary(); got != "BF16×25, F32×1" {
		t.Errorf("summary %q", got)
	}
}
