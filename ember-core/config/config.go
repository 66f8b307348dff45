// Package config reads a Qwen3 snapshot's config.json and generation_config.json.
//
// Every field Qwen3ForCausalLM uses is parsed; anything Ember cannot run (another
// model type, a rope_scaling type it does not implement, inconsistent sizes) is
// refused with one sentence naming the file and the field.
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/ember-infer/ember/ember-core/inputfile"
)

// ErrInvalid is wrapped by every validation error of this package.
var ErrInvalid = errors.New("invalid model config")

// Config is the subset of a Hugging Face config.json that defines a Qwen3 dense model.
type Config struct {
	ModelType             string       `json:"model_type"`
	Architectures         []string     `json:"architectures,omitempty"`
	VocabSize             int          `json:"vocab_size"`
	HiddenSize            int          `json:"hidden_size"`
	IntermediateSize      int          `json:"intermediate_size"`
	NumHiddenLayers       int          `json:"num_hidden_layers"`
	NumAttentionHeads     int          `json:"num_attention_heads"`
	NumKeyValueHeads      int          `json:"num_key_value_heads"`
	HeadDim               int          `json:"head_dim"`
	MaxPositionEmbeddings int          `json:"max_position_embeddings"`
	RMSNormEps            float64      `json:"rms_norm_eps"`
	RopeTheta             float64      `json:"rope_theta"`
	RopeScaling           *RopeScaling `json:"rope_scaling,omitempty"`
	TieWordEmbeddings     bool         `json:"tie_word_embeddings"`
	TorchDType            string       `json:"torch_dtype"`
	BOSTokenID            TokenIDs     `json:"bos_token_id,omitempty"`
	EOSTokenID            TokenIDs     `json:"eos_token_id,omitempty"`
	AttentionBias         bool         `json:"attention_bias"`
	HiddenAct             string       `json:"hidden_act,omitempty"`
}

// RopeScaling is config.json's rope_scaling object. Ember implements none of the
// scaling types yet, so a non-null value with a type other than "default" is refused.
type RopeScaling struct {
	Type     string  `json:"type,omitempty"`
	RopeType string  `json:"rope_type,omitempty"`
	Factor   float64 `json:"factor,omitempty"`
}

// Kind returns the scaling type, whichever of rope_type or type names it.
func (r *RopeScaling) Kind() string {
	if r.RopeType != "" {
		return r.RopeType
	}
	return r.Type
}

// TokenIDs is a token id field that config files write either as one integer or as
// a list of integers.
type TokenIDs []int

// MarshalJSON writes one id as an integer and several as a list, as
// Hugging Face's config files do.
func (t TokenIDs) MarshalJSON() ([]byte, error) {
	if len(t) == 1 {
		return json.Marshal(t[0])
	}
	return json.Marshal([]int(t))
}

// UnmarshalJSON accepts null, an integer or a list of integers.
func (t *TokenIDs) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		*t = nil
		return nil
	}
	var one int
	if err := json.Unmarshal(b, &one); err == nil {
		*t = TokenIDs{one}
		return nil
	}
	var many []int
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("want an integer or a list of integers, got %.40s", string(b))
	}
	*t = many
	return nil
}

// Defaults for fields some config.json files leave out.
const (
	DefaultRopeTheta  = 1000000.0
	DefaultRMSNormEps = 1e-6
)

// Load reads and validates config.json at path.
func Load(path string) (*Config, error) {
	b, err := inputfile.Read(path, inputfile.ConfigCap)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(b, path)
}

// Parse decodes and validates a config.json document; name is used in errors.
func Parse(data []byte, name string) (*Config, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("%s: not a JSON object: %v: %w", name, err, ErrInvalid)
	}
	c := &Config{RopeTheta: DefaultRopeTheta, RMSNormEps: DefaultRMSNormEps}
	if err := json.Unmarshal(data, c); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, fmt.Errorf("%s: field %q: want %s, got JSON %s: %w", name, te.Field, te.Type, te.Value, ErrInvalid)
		}
		return nil, fmt.Errorf("%s: %v: %w", name, err, ErrInvalid)
	}
	for _, f := range []string{"hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "vocab_size"} {
		if _, ok := raw[f]; !ok {
			return nil, fmt.Errorf("%s: field %q is missing: %w", name, f, ErrInvalid)
		}
	}
	if _, ok := raw["num_key_value_heads"]; !ok {
		c.NumKeyValueHeads = c.NumAttentionHeads
	}
	if _, ok := raw["head_dim"]; !ok && c.NumAttentionHeads > 0 {
		c.HeadDim = c.HiddenSize / c.NumAttentionHeads
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return c, nil
}

// maxDims bound each dimension far above any released model (Qwen3-235B:
// 94 layers, hidden 4096, vocab 151,936, 262,144 positions) but low enough
// that tensor sizes and counts stay exact in int64 and the tensor list a
// config implies fits in memory: "num_hidden_layers": 1e9 would list 11e9
// tensors before finding the first one missing.
var maxDims = map[string]int{
	"vocab_size":              1 << 24,
	"hidden_size":             1 << 20,
	"intermediate_size":       1 << 22,
	"num_hidden_layers":       1 << 12,
	"num_attention_heads":     1 << 12,
	"num_key_value_heads":     1 << 12,
	"head_dim":                1 << 12,
	"max_position_embeddings": 1 << 30,
}

// Validate checks that c describes a Qwen3 dense model Ember can run.
func (c *Config) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf(format+": %w", append(a, ErrInvalid)...)
	}
	if c.ModelType != "qwen3" {
		return bad("field \"model_type\" is %q, want \"qwen3\"", c.ModelType)
	}
	for _, a := range c.Architectures {
		if a != "Qwen3ForCausalLM" {
			return bad("field \"architectures\" names %q, want \"Qwen3ForCausalLM\"", a)
		}
	}
	for _, f := range []struct {
		name string
		v    int
	}{
		{"vocab_size", c.VocabSize}, {"hidden_size", c.HiddenSize},
		{"intermediate_size", c.IntermediateSize}, {"num_hidden_layers", c.NumHiddenLayers},
		{"num_attention_heads", c.NumAttentionHeads}, {"num_key_value_heads", c.NumKeyValueHeads},
		{"head_dim", c.HeadDim}, {"max_position_embeddings", c.MaxPositionEmbeddings},
	} {
		if f.v <= 0 {
			return bad("field %q is %d, want a positive integer", f.name, f.v)
		}
		if limit := maxDims[f.name]; f.v > limit {
			return bad("field %q is %d, more than Ember can size (at most %d)", f.name, f.v, limit)
		}
	}
	if c.NumAttentionHeads%c.NumKeyValueHeads != 0 {
		return bad("field \"num_attention_heads\" (%d) is not divisible by \"num_key_value_heads\" (%d)", c.NumAttentionHeads, c.NumKeyValueHeads)
	}
	if c.HeadDim%2 != 0 {
		return bad("field \"head_dim\" is %d, want an even number (RoPE rotates pairs)", c.HeadDim)
	}
	if !(c.RMSNormEps > 0) {
		return bad("field \"rms_norm_eps\" is %g, want a positive number", c.RMSNormEps)
	}
	if !(c.RopeTheta > 0) {
		return bad("field \"rope_theta\" is %g, want a positive number", c.RopeTheta)
	}
	if c.RopeScaling != nil {
		if k := c.RopeScaling.Kind(); k != "" && k != "default" {
			return bad("field \"rope_scaling\" has type %q, which Ember does not implement (only unscaled RoPE)", k)
		}
	}
	if c.AttentionBias {
		return bad("field \"attention_bias\" is true; Qwen3 dense models have none and Ember does not implement it")
	}
	if c.HiddenAct != "" && c.HiddenAct != "silu" {
		return bad("field \"hidden_act\" is %q, want \"silu\"", c.HiddenAct)
	}
	switch strings.ToLower(c.TorchDType) {
	case "", "bfloat16", "float16", "float32":
	default:
		return bad("field \"torch_dtype\" is %q, want bfloat16, float16 or float32", c.TorchDType)
	}
	for _, id := range append(append([]int{}, c.BOSTokenID...), c.EOSTokenID...) {
		if id < 0 || id >= c.VocabSize {
			return bad("token id %d in \"bos_token_id\"/\"eos_token_id\" is outside the vocabulary of %d", id, c.VocabSize)
		}
	}
	return nil
}

// KVHeadsPerGroup returns how many query heads share one key/value head.
func (c *Config) KVHeadsPerGroup() int { return c.NumAttentionHeads / c.NumKeyValueHeads }

// QDim is the width of the query projection (heads × head_dim).
func (c *Config) QDim() int { return c.NumAttentionHeads * c.HeadDim }

// KVDim is the width of each of the key and value projections (kv_heads × head_dim).
func (c *Config) KVDim() int { return c.NumKeyValueHeads * c.HeadDim }
