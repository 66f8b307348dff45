package sampling

import (
	"fmt"
	"math"
	"sort"
)

// LogSoftmax returns log softmax(x)[tok] = x[tok] − log Σ_j exp(x[j]), in
// float64: the raw model log-probability of a token. NaN entries weigh
// nothing. It is -Inf for a token outside x or whose logit is NaN or -Inf.
func LogSoftmax(x []float32, tok int32) float64 {
	if tok < 0 || int(tok) >= len(x) || x[tok] != x[tok] {
		return math.Inf(-1)
	}
	return float64(x[tok]) - LogSumExp(x)
}

// LogSumExp returns log Σ_j exp(x[j]) in float64; NaN entries weigh nothing,
// and a vector with nothing above -Inf gives -Inf.
func LogSumExp(x []float32) float64 {
	m := math.Inf(-1)
	for _, v := range x {
		if v == v {
			m = math.Max(m, float64(v))
		}
	}
	if math.IsInf(m, 0) {
		return m
	}
	var z float64
	for _, v := range x {
		if v == v {
			z += math.Exp(float64(v) - m)
		}
	}
	return m + math.Log(z)
}

// SampleLogprob is Sample that also returns the drawn token's log-probability
// under the distribution it was drawn from: the softmax of the processed
// logits (penalties, bans, temperature) over the candidates that top-k, top-p
// and min-p kept. Greedy decoding draws from a point mass: 0.
func (s *Sampler) SampleLogprob(logits []float32, history []int32) (int32, float64) {
	cand, tok := s.filter(logits, history)
	if cand == nil {
		return tok, 0
	}
	tok = s.draw(logits, cand)
	return tok, s.logprob(logits, cand, tok)
}

// logprob is log(w_tok / Σ w) over cand, the weights of s.weights.
func (s *Sampler) logprob(logits []float32, cand []int32, tok int32) float64 {
	if len(cand) == 1 {
		return 0
	}
	_, z, m := s.weights(logits, cand)
	return float64(logits[tok]) - float64(m) - math.Log(z)
}

// CanSampleTop reports whether SampleTop can stand in for Sample with these
// parameters and k candidates: no history is needed (no penalties, no n-gram
// ban) and greedy decoding or a top-k of at most k.
func (p Params) CanSampleTop(k int) bool {
	if p.needsCounts() || p.NoRepeatNgram > 0 || k < 1 {
		return false
	}
	return p.greedy() || (p.TopK > 0 && p.TopK <= k)
}

// SampleTop draws the next token from the k best raw logits of a row, vals
// (descending, ties by lower id, as TopK and a device's TopK give them) with
// their token ids idx, when CanSampleTop(len(vals)): the draw, and the
// generator's state after it, are those of Sample on the whole row, so a
// device that hands back only its top-k gives the same tokens as the host.
// It returns the token and its log-probability under the distribution drawn
// from (0 for greedy decoding).
func (s *Sampler) SampleTop(vals []float32, idx []int32) (int32, float64, error) {
	k := len(vals)
	if k != len(idx) || !s.p.CanSampleTop(k) {
		return -1, 0, fmt.Errorf("%w: top-%d candidates cannot stand in for the whole row with top-k %d, penalties or n-gram bans", ErrInvalidParams, k, s.p.TopK)
	}
	if s.p.greedy() {
		return idx[0], 0, nil
	}
	s.grow(k)
	// Scale as filter does, in float32, into a scratch row indexed by candidate
	// position; then order as selectTop would over the whole row.
	negInf := float32(math.Inf(-1))
	t := s.p.Temperature
	row := s.topRow[:0]
	cand := s.cand[:0]
	for j, v := range vals {
		if t != 1 {
			v /= t
		}
		if v != v {
			v = negInf
		}
		row = append(row, v)
		if v > negInf {
			cand = append(cand, int32(j))
		}
	}
	s.topRow = row
	if len(cand) == 0 {
		return idx[0], 0, nil
	}
	sort.SliceStable(cand, func(a, b int) bool {
		x, y := row[cand[a]], row[cand[b]]
		if x != y {
			return x > y
		}
		return idx[cand[a]] < idx[cand[b]]
	})
	cand = cand[:min(len(cand), s.p.TopK)]
	if s.p.topPActive() && len(cand) > 1 {
		cand, _ = s.topP(row, cand, true)
	}
	if s.p.minPActive() && len(cand) > 1 {
		cand = minP(row, cand, s.p.MinP, true)
	}
	j := s.draw(row, cand)
	return idx[j], s.logprob(row, cand, j), nil
}
