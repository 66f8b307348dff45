// Package sampling picks the next token from a logits vector.
//
// A Sampler applies the same logits processors as Hugging Face transformers, in
// the same order: repetition penalty, presence/frequency penalties (OpenAI
// semantics), the no-repeat-n-gram ban, then temperature, top-k, top-p and min-p,
// and finally draws from the softmax of what is left with a seeded PCG generator.
// With Temperature 0 it applies the penalties and the ban and returns the argmax.
//
// A Sampler reuses its buffers, so Sample allocates nothing once it has seen a
// logits vector of the largest size it will be given.
package sampling

import (
	"errors"
	"fmt"
	"math"
)

// ErrInvalidParams is wrapped by every error Validate and New return, so callers
// can tell a bad configuration from other failures with errors.Is.
var ErrInvalidParams = errors.New("sampling: invalid parameter")

// Params configures a Sampler. The zero value is greedy decoding with every
// processor off.
type Params struct {
	// Temperature divides the logits before the softmax; 0 selects greedy decoding
	// (argmax after the penalties and the n-gram ban; TopK, TopP and MinP are then
	// ignored).
	Temperature float32
	// TopK keeps the K highest-scoring tokens, ties at the boundary going to the
	// lower token id; 0 turns it off.
	TopK int
	// TopP keeps the smallest set of most probable tokens whose cumulative
	// probability reaches TopP (at least one token); 0 or 1 turns it off.
	TopP float32
	// MinP drops tokens whose probability is below MinP times the largest
	// probability; 0 turns it off.
	MinP float32
	// RepetitionPenalty rescales the logit of every token already in the history
	// (Hugging Face semantics): a positive logit is divided by it, any other is
	// multiplied by it. 0 or 1 turns it off.
	RepetitionPenalty float32
	// PresencePenalty is subtracted once from the logit of every token present in
	// the history (OpenAI semantics); 0 turns it off.
	PresencePenalty float32
	// FrequencyPenalty is subtracted from the logit of every token in the history
	// once per occurrence (OpenAI semantics); 0 turns it off.
	FrequencyPenalty float32
	// NoRepeatNgram bans (sets to -Inf) every token that would complete an n-gram
	// of this size already present in the history, as Hugging Face's
	// no_repeat_ngram_size does; 0 turns it off.
	NoRepeatNgram int
	// Seed seeds the PCG generator used for the draw.
	Seed uint64
}

// Greedy returns the parameters for plain greedy decoding: temperature 0 and every
// penalty, ban and filter off.
func Greedy() Params { return Params{} }

// Validate reports the first field of p that is out of range, in one sentence
// naming the field and the allowed range, or nil when p is usable.
func (p Params) Validate() error {
	switch {
	case !finite(p.Temperature) || p.Temperature < 0:
		return invalid("Temperature", p.Temperature, "0 (greedy) or a finite value > 0")
	case p.TopK < 0:
		return invalid("TopK", p.TopK, "an integer >= 0 (0 = off)")
	case !(p.TopP >= 0 && p.TopP <= 1):
		return invalid("TopP", p.TopP, "a value in [0, 1] (0 or 1 = off)")
	case !(p.MinP >= 0 && p.MinP <= 1):
		return invalid("MinP", p.MinP, "a value in [0, 1] (0 = off)")
	case !finite(p.RepetitionPenalty) || p.RepetitionPenalty < 0:
		return invalid("RepetitionPenalty", p.RepetitionPenalty, "0 or 1 (off) or a finite value > 0")
	case !(p.PresencePenalty >= -2 && p.PresencePenalty <= 2):
		return invalid("PresencePenalty", p.PresencePenalty, "a value in [-2, 2] (0 = off)")
	case !(p.FrequencyPenalty >= -2 && p.FrequencyPenalty <= 2):
		return invalid("FrequencyPenalty", p.FrequencyPenalty, "a value in [-2, 2] (0 = off)")
	case p.NoRepeatNgram < 0:
		return invalid("NoRepeatNgram", p.NoRepeatNgram, "an integer >= 0 (0 = off)")
	}
	return nil
}

func invalid(field string, got any, want string) error {
	return fmt.Errorf("%w: %s is %v, want %s", ErrInvalidParams, field, got, want)
}

func finite(x float32) bool {
	return !math.IsNaN(float64(x)) && !math.IsInf(float64(x), 0)
}

// Processor switches, with the "off" spellings folded in.
func (p Params) greedy() bool          { return p.Temperature == 0 }
func (p Params) repetition() bool      { return p.RepetitionPenalty != 0 && p.RepetitionPenalty != 1 }
func (p Params) additive() bool        { return p.PresencePenalty != 0 || p.FrequencyPenalty != 0 }
func (p Params) needsCounts() bool     { return p.repetition() || p.additive() }
func (p Params) topPActive() bool      { return p.TopP > 0 && p.TopP < 1 }
func (p Params) minPActive() bool      { return p.MinP > 0 }
func (p Params) topKActive(n int) bool { return p.TopK > 0 && p.TopK < n }
