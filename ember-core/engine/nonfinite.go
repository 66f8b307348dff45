package engine

import (
	"errors"
	"fmt"
	"math"
)

// ErrNonFinite is wrapped by the error of a generation whose logits held a
// NaN or an infinity: from there on every token would be garbage (greedy
// read id -1, sampling drew NUL bytes), so generation stops.
var ErrNonFinite = errors.New("non-finite logits")

// NonFiniteError names the step whose logits were not finite: step 0 is the
// prompt's logits, step n the n-th decode.
type NonFiniteError struct {
	Step  int
	Index int     // the first non-finite logit (-1: the device's argmax said so)
	Value float32 // that logit
	// Origin is, under --debug-nonfinite, the first layer and op whose
	// output held a NaN or an infinity (Engine.Explain sets it).
	Origin string
}

func (e *NonFiniteError) Error() string {
	where := "the device's argmax found no finite maximum"
	if e.Index >= 0 {
		where = fmt.Sprintf("logit %d is %v", e.Index, e.Value)
	}
	step := "the prompt's logits"
	if e.Step > 0 {
		step = fmt.Sprintf("decode step %d", e.Step)
	}
	if e.Origin != "" {
		return fmt.Sprintf("%s: %s: %v; the first non-finite value came from %s", step, where, ErrNonFinite, e.Origin)
	}
	return fmt.Sprintf("%s: %s: %v (the weights or an op produced NaN or Inf; check the checkpoint, rerun with --debug-nonfinite to name the first layer and op, or compare backends with ember check --against cpu)", step, where, ErrNonFinite)
}

// Explain adds to a *NonFiniteError the first layer and op that produced a
// non-finite value, when the engine was opened with DebugNonFinite; any
// other error is returned as it is.
func (e *Engine) Explain(err error) error {
	var nf *NonFiniteError
	if e.trace == nil || !errors.As(err, &nf) {
		return err
	}
	switch o, serr := e.trace.origin(); {
	case o != "":
		nf.Origin = o
	case serr != nil:
		nf.Origin = fmt.Sprintf("an op not found: tracing stopped when a download failed (%v)", serr)
	default:
		nf.Origin = "no op: every op's output was finite (the non-finite value arose on the host)"
	}
	return err
}

func (e *NonFiniteError) Unwrap() error { return ErrNonFinite }

// CheckLogits returns a *NonFiniteError when a logit of the row is NaN or
// infinite. One pass over the vocabulary, next to the sampler's own.
func CheckLogits(step int, logits []float32) error {
	for i, v := range logits {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return &NonFiniteError{Step: step, Index: i, Value: v}
		}
	}
	return nil
}

// checkDeviceID catches what a device's argmax or sampler returns for a row
// with no finite maximum: an id outside the vocabulary (-1).
func checkDeviceID(step int, id int32, vocab int) error {
	if id < 0 || int(id) >= vocab {
		return &NonFiniteError{Step: step, Index: -1}
	}
	return nil
}
