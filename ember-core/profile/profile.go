// Package profile runs the stage-breakdown benchmark: a random prompt from a
// fixed seed is prefilled and then decoded for a number of steps, several
// iterations after warm-up, and every stage's time is kept per iteration for
// prefill and per decode token.
package profile

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/ember-infer/ember/ember-core/device"
	"github.com/ember-infer/ember/ember-core/engine"
	"github.com/ember-infer/ember/ember-core/qwen3"
	"github.com/ember-infer/ember/ember-core/sampling"
)

// Options describe one profile run.
type Options struct {
	PromptLen   int
	DecodeSteps int // 0: prefill only, no decode_per_token row
	ChunkLen    int // prefill chunk; 0 = whole prompt
	Overlap     bool
	Iters       int
	Warmup      int
	// Sampling decodes as ember_stage_breakdown --decode-with-sampling does:
	// the logits are copied back every step and the next token is their
	// argmax on the host, timed as the sampling stage. Without it decode
	// uses the on-device argmax.
	Sampling bool
	Seed     uint64 // the prompt's seed
	KVDType  device.DType
}

// Measurement is one phase of one iteration.
type Measurement struct {
	Wall   time.Duration
	Stages device.Timings
}

// Result holds every measured iteration: prefill, and decode divided by the
// number of decode steps (per token).
type Result struct {
	Prefill        []Measurement
	DecodePerToken []Measurement
}

// Validate checks the options.
func (o Options) Validate() error {
	switch {
	case o.PromptLen < 1:
		return fmt.Errorf("--prompt-len %d: want at least 1", o.PromptLen)
	case o.DecodeSteps < 0:
		return fmt.Errorf("--decode-steps %d: want 0 or more", o.DecodeSteps)
	case o.ChunkLen < 0:
		return fmt.Errorf("--chunk-len %d: want 0 (whole prompt) or more", o.ChunkLen)
	case o.Iters < 1:
		return fmt.Errorf("--iters %d: want at least 1", o.Iters)
	case o.Warmup < 0:
		return fmt.Errorf("--warmup %d: want 0 or more", o.Warmup)
	}
	return nil
}

// Prompt returns the profile's prompt: n ids drawn uniformly from the vocabulary
// with a PCG seeded by seed, so every run of the same options sees the same tokens.
func Prompt(n, vocab int, seed uint64) []int32 {
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	ids := make([]int32, n)
	for i := range ids {
		ids[i] = int32(rng.IntN(vocab))
	}
	return ids
}

// stageTimer is a device whose decode stage timing is off unless turned on.
type stageTimer interface{ SetStageTiming(on bool) }

// Run opens one session on m (sized for prompt + decode) and measures Warmup +
// Iters iterations, keeping the last Iters. Allocation failures come back as the
// device's *device.OutOfMemoryError.
func Run(m *qwen3.Model, o Options) (Result, error) {
	if err := o.Validate(); err != nil {
		return Result{}, err
	}
	ctx := o.PromptLen + o.DecodeSteps
	if ctx > m.Config.MaxPositionEmbeddings {
		return Result{}, fmt.Errorf("prompt %d + decode %d positions exceed the model's max_position_embeddings %d", o.PromptLen, o.DecodeSteps, m.Config.MaxPositionEmbeddings)
	}
	s, err := m.NewSession(qwen3.SessionOptions{Ctx: ctx, Chunk: o.ChunkLen, Overlap: o.Overlap, KVDType: o.KVDType})
	if err != nil {
		return Result{}, err
	}
	defer s.Close()
	// A device that leaves decode steps untimed unless asked (CUDA: the
	// timing events are nodes of every decode graph) is asked for the run.
	for _, d := range m.Devices {
		if t, ok := d.(stageTimer); ok {
			t.SetStageTiming(true)
			defer t.SetStageTiming(false)
		}
	}
	vocab := m.Config.VocabSize
	prompt := Prompt(o.PromptLen, vocab, o.Seed)
	var r Result
	for it := range o.Warmup + o.Iters {
		s.Reset()
		pst, err := s.Prefill(prompt)
		if err != nil {
			return Result{}, err
		}
		// The checks of the logits are outside every timed span: a NaN
		// from the weights or an op fails the run, in the words of
		// engine.NonFiniteError, instead of timing garbage.
		if err := engine.CheckLogits(0, s.Logits()); err != nil {
			return Result{}, iterErr(it, o, err)
		}
		// As upstream, decoding starts from the prompt's last token; the
		// prefill row holds no sampling.
		next := prompt[len(prompt)-1]
		var dec Measurement
		for step := range o.DecodeSteps {
			var st qwen3.Stats
			if o.Sampling {
				if st, err = s.Decode(next); err == nil {
					t0 := time.Now()
					next = sampling.Argmax(s.Logits())
					d := time.Since(t0)
					st.Wall += d
					st.Stages[device.StageSampling] += d
					err = engine.CheckLogits(step+1, s.Logits())
				}
			} else if next, st, err = s.DecodeGreedy(next); err == nil && (next < 0 || int(next) >= vocab) {
				// The device's argmax of a row without a finite maximum.
				err = &engine.NonFiniteError{Step: step + 1, Index: -1}
			}
			if err != nil {
				return Result{}, iterErr(it, o, err)
			}
			dec.Wall += st.Wall
			dec.Stages.Add(st.Stages)
		}
		if it < o.Warmup {
			continue
		}
		r.Prefill = append(r.Prefill, Measurement{Wall: pst.Wall, Stages: pst.Stages})
		if o.DecodeSteps > 0 {
			r.DecodePerToken = append(r.DecodePerToken, dec.div(o.DecodeSteps))
		}
	}
	return r, nil
}

// iterErr says in which iteration a run failed with non-finite logits; other
// errors (out of memory, an unavailable device) keep their own words.
func iterErr(it int, o Options, err error) error {
	if !errors.Is(err, engine.ErrNonFinite) {
		return err
	}
	if it < o.Warmup {
		return &iterError{fmt.Sprintf("warm-up iteration %d of %d", it+1, o.Warmup), err}
	}
	return &iterError{fmt.Sprintf("iteration %d of %d", it-o.Warmup+1, o.Iters), err}
}

// iterError prefixes an error with its iteration. It formats on demand, so
// what engine.Engine.Explain adds to the wrapped error later is included.
type iterError struct {
	iter string
	err  error
}

func (e *iterError) Error() string { return e.iter + ": " + e.err.Error() }
func (e *iterError) Unwrap() error { return e.err }

func (m Measurement) div(n int) Measurement {
	out := Measurement{Wall: m.Wall / time.Duration(n)}
	for i, v := range m.Stages {
		out.Stages[i] = v / time.Duration(n)
	}
	return out
}

// Mean averages measurements (the raw-row CSV reports the mean; the samples
// keep every iteration for medians and confidence intervals).
func Mean(ms []Measurement) Measurement {
	var sum Measurement
	for _, m := range ms {
		sum.Wall += m.Wall
		sum.Stages.Add(m.Stages)
	}
	if len(ms) == 0 {
		return sum
	}
	return sum.div(len(ms))
}
