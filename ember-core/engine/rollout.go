package engine

import (
	"errors"
	"fmt"
	"time"

	"github.com/ember-infer/ember/ember-core/device"
	"github.com/ember-infer/ember/ember-core/qwen3"
	"github.com/ember-infer/ember/ember-core/sampling"
)

// RolloutOptions configures Rollout.
type RolloutOptions struct {
	// N is the number of candidates (≤ the session's Sequences()).
	N int
	// MaxNew is the most tokens each candidate generates.
	MaxNew int
	// Params are the sampling parameters; candidate i draws with seed
	// Params.Seed + i, so a candidate does not depend on how many others run.
	Params sampling.Params
	// TopLogprobs is how many alternatives (best raw logprobs) to keep per
	// token; 0 keeps none.
	TopLogprobs int
	// Stop, when set, is asked after each token whether candidate i is done
	// (stop strings); generated is everything it generated so far.
	Stop func(i int, generated []int32) bool
	// Cache, when set, serves and keeps the prompt's prefix KV.
	Cache *qwen3.PrefixCache
}

// TokenLogprob is a token and its raw model log-probability.
type TokenLogprob struct {
	ID      int32   `json:"id"`
	Logprob float64 `json:"logprob"`
}

// Candidate is one sequence a Rollout generated.
type Candidate struct {
	Tokens []int32
	// Logprobs[j] is token j's raw model log-probability: log_softmax of the
	// logits it was drawn from.
	Logprobs []float64
	// SampledLogprobs[j] is token j's log-probability under the distribution
	// it was drawn from: after penalties, temperature, top-k, top-p and
	// min-p (0 for greedy decoding).
	SampledLogprobs []float64
	// Top[j] are token j's TopLogprobs best alternatives, best first.
	Top [][]TokenLogprob
	// Finish says why it ended: "eos", "stop", "length" or "context".
	Finish string
}

// RolloutStats measures one Rollout.
type RolloutStats struct {
	Prefill qwen3.Stats // the prompt, once (prefix cache copies included)
	Copy    qwen3.Stats // giving the other candidates the prompt's KV
	Decode  qwen3.Stats // summed over batched steps, host sampling included
	Steps   int         // batched decode steps
	// CachedTokens is how many prompt tokens came from the prefix cache.
	CachedTokens int
	// OnDevice is set when the steps drew from the device's top-k (only
	// B·(2k+1) numbers crossed back per step), clear when logits came back.
	OnDevice bool
}

// Rollout generates o.N candidates for one prompt on s: the prompt is
// prefilled once (from o.Cache where it holds a prefix) into sequence 0, the
// other candidates get its KV by copy, then all live candidates decode
// together, one batched step per token, each finishing on its own at EOS, a
// stop (o.Stop), o.MaxNew tokens or the context limit.
func (e *Engine) Rollout(s *qwen3.Session, prompt []int32, o RolloutOptions) ([]Candidate, RolloutStats, error) {
	var st RolloutStats
	if o.N < 1 || o.N > s.Sequences() {
		return nil, st, fmt.Errorf("%d candidates: the session holds %d sequences", o.N, s.Sequences())
	}
	if o.MaxNew < 1 {
		return nil, st, fmt.Errorf("%d new tokens per candidate, want at least 1", o.MaxNew)
	}
	if o.TopLogprobs < 0 {
		return nil, st, fmt.Errorf("top logprobs %d is negative", o.TopLogprobs)
	}
	vocab := e.Model.Config.VocabSize
	samplers := make([]*sampling.Sampler, o.N)
	for i := range samplers {
		p := o.Params
		p.Seed += uint64(i)
		var err error
		if samplers[i], err = sampling.New(p, vocab); err != nil {
			return nil, st, err
		}
	}
	if err := s.Select(0); err != nil {
		return nil, st, err
	}
	var err error
	if o.Cache != nil {
		st.Prefill, st.CachedTokens, err = s.PrefillCached(o.Cache, prompt)
	} else {
		s.Reset()
		st.Prefill, err = s.Prefill(prompt)
	}
	if err != nil {
		return nil, st, err
	}
	prefillLogits := append([]float32(nil), s.Logits()...)
	for i := 1; i < o.N; i++ {
		cs, err := s.CopyPrefix(i, 0, len(prompt))
		if err != nil {
			return nil, st, err
		}
		addStats(&st.Copy, cs)
	}

	// The device draws when no sampler needs the history and top-k bounds
	// the candidates; K covers the sampler's top-k and the alternatives.
	k := max(1, o.TopLogprobs)
	if o.Params.Temperature > 0 {
		k = max(k, o.Params.TopK)
	}
	st.OnDevice = k <= maxDeviceTopK && k <= vocab && o.Params.CanSampleTop(k) && s.CanTopKOnDevice()

	cands := make([]Candidate, o.N)
	histories := make([][]int32, o.N)
	next := make([]int32, o.N)
	scratch := make([]float32, vocab)
	var top []int32
	// take records candidate i's token and reports whether it goes on.
	take := func(i int, tok int32, raw, sampled float64, alts []TokenLogprob) bool {
		c := &cands[i]
		c.Tokens = append(c.Tokens, tok)
		c.Logprobs = append(c.Logprobs, raw)
		c.SampledLogprobs = append(c.SampledLogprobs, sampled)
		if o.TopLogprobs > 0 {
			c.Top = append(c.Top, alts)
		}
		histories[i] = append(histories[i], tok)
		next[i] = tok
		switch {
		case e.IsEOS(tok):
			c.Finish = "eos"
		case o.Stop != nil && o.Stop(i, c.Tokens):
			c.Finish = "stop"
		case len(c.Tokens) >= o.MaxNew:
			c.Finish = "length"
		case s.SeqPos(i) >= s.Ctx():
			c.Finish = "context"
		}
		return c.Finish == ""
	}
	// fromLogits draws candidate i's token on the host from a whole row.
	fromLogits := func(i int, row []float32) bool {
		copy(scratch, row)
		tok, sampled := samplers[i].SampleLogprob(scratch, histories[i])
		var alts []TokenLogprob
		if o.TopLogprobs > 0 {
			z := sampling.LogSumExp(row)
			top = sampling.TopK(row, o.TopLogprobs, top)
			for _, id := range top {
				alts = append(alts, TokenLogprob{id, float64(row[id]) - z})
			}
		}
		return take(i, tok, sampling.LogSoftmax(row, tok), sampled, alts)
	}

	t0 := time.Now()
	var live []int
	for i := range o.N {
		histories[i] = append(make([]int32, 0, len(prompt)+o.MaxNew), prompt...)
		if fromLogits(i, prefillLogits) {
			live = append(live, i)
		}
	}
	// The first tokens' draws count with the prefill, as upstream times them.
	st.Prefill.Wall += time.Since(t0)
	st.Prefill.Stages[device.StageSampling] += time.Since(t0)

	ids := make([]int32, 0, o.N)
	for len(live) > 0 {
		ids = ids[:0]
		for _, i := range live {
			ids = append(ids, next[i])
		}
		topK := 0
		if st.OnDevice {
			topK = k
		}
		ds, err := s.DecodeBatch(live, ids, topK)
		if err != nil {
			return cands, st, err
		}
		t1 := time.Now()
		still := live[:0]
		for r, i := range live {
			var goOn bool
			if st.OnDevice {
				vals, idx, lse := s.BatchTop()
				rv, ri, z := vals[r*k:(r+1)*k], idx[r*k:(r+1)*k], float64(lse[r])
				tok, sampled, err := samplers[i].SampleTop(rv, ri)
				if err != nil {
					return cands, st, err
				}
				raw := 0.0
				found := false
				for j, id := range ri {
					if id == tok {
						raw, found = float64(rv[j])-z, true
						break
					}
				}
				if !found {
					return cands, st, errors.New("rollout: the drawn token is not among the device's top-k")
				}
				var alts []TokenLogprob
				for j := range o.TopLogprobs {
					alts = append(alts, TokenLogprob{ri[j], float64(rv[j]) - z})
				}
				goOn = take(i, tok, raw, sampled, alts)
			} else {
				goOn = fromLogits(i, s.BatchLogits()[r*vocab:(r+1)*vocab])
			}
			if goOn {
				still = append(still, i)
			}
		}
		live = still
		d := time.Since(t1)
		ds.Wall += d
		ds.Stages[device.StageSampling] += d
		addStats(&st.Decode, ds)
		st.Steps++
	}
	return cands, st, nil
}
