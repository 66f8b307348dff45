package config

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/ember-infer/ember/ember-core/inputfile"
)

// Generation is generation_config.json: the checkpoint's sampling defaults and end
// tokens. Pointer fields are nil when the file leaves them out.
type Generation struct {
	BOSTokenID        TokenIDs `json:"bos_token_id,omitempty"`
	EOSTokenID        TokenIDs `json:"eos_token_id,omitempty"`
	PadTokenID        TokenIDs `json:"pad_token_id,omitempty"`
	DoSample          *bool    `json:"do_sample,omitempty"`
	Temperature       *float64 `json:"temperature,omitempty"`
	TopK              *int     `json:"top_k,omitempty"`
	TopP              *float64 `json:"top_p,omitempty"`
	MinP              *float64 `json:"min_p,omitempty"`
	RepetitionPenalty *float64 `json:"repetition_penalty,omitempty"`
	MaxNewTokens      *int     `json:"max_new_tokens,omitempty"`
}

// LoadGeneration reads generation_config.json at path. A missing file is not an
// error: it returns an empty Generation and an error wrapping fs.ErrNotExist, so
// callers that treat the file as optional test with errors.Is.
func LoadGeneration(path string) (*Generation, error) {
	b, err := inputfile.Read(path, inputfile.ConfigCap)
	if err != nil {
		return &Generation{}, fmt.Errorf("generation config: %w", err)
	}
	return ParseGeneration(b, path)
}

// ParseGeneration decodes and validates a generation_config.json document.
func ParseGeneration(data []byte, name string) (*Generation, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("%s: not a JSON object: %v: %w", name, err, ErrInvalid)
	}
	g := &Generation{}
	if err := json.Unmarshal(data, g); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, fmt.Errorf("%s: field %q: want %s, got JSON %s: %w", name, te.Field, te.Type, te.Value, ErrInvalid)
		}
		return nil, fmt.Errorf("%s: not a JSON object: %v: %w", name, err, ErrInvalid)
	}
	check := func(field string, v *float64, lo, hi float64) error {
		if v != nil && (*v < lo || *v > hi) {
			return fmt.Errorf("%s: field %q is %g, want a value in [%g, %g]: %w", name, field, *v, lo, hi, ErrInvalid)
		}
		return nil
	}
	for _, e := range []error{
		check("temperature", g.Temperature, 0, 100),
		check("top_p", g.TopP, 0, 1),
		check("min_p", g.MinP, 0, 1),
		check("repetition_penalty", g.RepetitionPenalty, 0, 100),
	} {
		if e != nil {
			return nil, e
		}
	}
	if g.TopK != nil && *g.TopK < 0 {
		return nil, fmt.Errorf("%s: field \"top_k\" is %d, want 0 or more: %w", name, *g.TopK, ErrInvalid)
	}
	return g, nil
}

// EOS returns the end-of-sequence ids: generation_config's when it names any,
// else config.json's.
func EOS(c *Config, g *Generation) []int {
	if g != nil && len(g.EOSTokenID) > 0 {
		return g.EOSTokenID
	}
	if c != nil {
		return c.EOSTokenID
	}
	return nil
}
