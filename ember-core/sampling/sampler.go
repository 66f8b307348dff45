package sampling

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// pcgStream is the second half of the 128-bit PCG seed; Params.Seed is the first.
const pcgStream = 0x9e3779b97f4a7c15

// Sampler draws tokens according to its Params. It is not safe for concurrent
// use; give each sequence its own.
type Sampler struct {
	p   Params
	pcg *rand.PCG
	rng *rand.Rand

	counts []int32                  // per-token occurrences in the history; all zero between calls
	cand   []int32                  // surviving token ids
	spare  []int32                  // scratch the size of cand, swapped with it by the filters
	edge   []int32                  // top-p: the candidates of the bin where the nucleus ends
	w      []float64                // softmax weights of cand, relative to the largest
	mass   [nucleusBins + 1]float64 // top-p: probability mass per bin
	topRow []float32                // SampleTop: the candidates' scaled logits
}

// New returns a Sampler for logits vectors of length vocab, with its buffers
// allocated up front. It fails when p does not validate or vocab is not positive.
func New(p Params, vocab int) (*Sampler, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if vocab <= 0 {
		return nil, fmt.Errorf("%w: vocab is %d, want a size > 0", ErrInvalidParams, vocab)
	}
	s := &Sampler{p: p, pcg: rand.NewPCG(p.Seed, pcgStream)}
	s.rng = rand.New(s.pcg)
	s.grow(vocab)
	return s, nil
}

// Params returns the parameters s was created with, Seed updated by Reset.
func (s *Sampler) Params() Params { return s.p }

// Uniform draws a number in [0, 1) from the sampler's seeded generator: what a
// device that samples on its own side (the CUDA backend) uses for its draw, so
// that runs stay reproducible from the seed.
func (s *Sampler) Uniform() float64 { return s.rng.Float64() }

// Reset reseeds the generator, so the draws that follow repeat those of a fresh
// Sampler created with this seed.
func (s *Sampler) Reset(seed uint64) {
	s.p.Seed = seed
	s.pcg.Seed(seed, pcgStream)
}

func (s *Sampler) grow(n int) {
	if cap(s.cand) >= n {
		return
	}
	s.cand = make([]int32, 0, n)
	s.spare = make([]int32, 0, n)
	s.edge = make([]int32, 0, n)
	s.w = make([]float64, 0, n)
	if s.p.needsCounts() {
		s.counts = make([]int32, n)
	}
}

// Sample returns the next token id given the logits for the next position and
// the history of ids so far (prompt and generated tokens; ids outside
// [0, len(logits)) are ignored).
//
// Sample modifies logits in place: penalties, n-gram bans (-Inf) and temperature
// scaling are applied to it, and NaN entries become -Inf when sampling. Tokens
// removed by top-k, top-p or min-p are left as they were. NaN never wins.
//
// When every token is NaN or -Inf the result is Argmax(logits): the first -Inf
// entry, or -1 if logits is empty or all NaN in greedy mode.
func (s *Sampler) Sample(logits []float32, history []int32) int32 {
	cand, tok := s.filter(logits, history)
	if cand == nil {
		return tok
	}
	return s.draw(logits, cand)
}

// filter runs every processor. It returns the surviving candidates (non-empty)
// for the draw, or nil and the token when the answer is already known: greedy
// decoding, or nothing left to draw from.
func (s *Sampler) filter(logits []float32, history []int32) ([]int32, int32) {
	if len(logits) == 0 {
		return nil, -1
	}
	s.grow(len(logits))
	if s.p.needsCounts() {
		s.applyPenalties(logits, history)
	}
	if s.p.NoRepeatNgram > 0 {
		banNgrams(logits, history, s.p.NoRepeatNgram)
	}
	if s.p.greedy() {
		return nil, Argmax(logits)
	}

	negInf := float32(math.Inf(-1))
	t := s.p.Temperature
	cand := s.cand[:0]
	for i, v := range logits {
		if t != 1 {
			v /= t
		}
		if v != v {
			v = negInf
		}
		logits[i] = v
		if v > negInf {
			cand = append(cand, int32(i))
		}
	}
	if len(cand) == 0 {
		return nil, Argmax(logits)
	}

	sorted := false
	if s.p.topKActive(len(cand)) {
		cand = s.swap(selectTop(logits, cand, s.p.TopK, s.spare))
		sorted = true
	}
	if s.p.topPActive() && len(cand) > 1 {
		cand, sorted = s.topP(logits, cand, sorted)
	}
	if s.p.minPActive() && len(cand) > 1 {
		cand = minP(logits, cand, s.p.MinP, sorted)
	}
	return cand, -1
}

// swap makes next (which lives in s.spare) the candidate buffer and returns it.
func (s *Sampler) swap(next []int32) []int32 {
	s.cand, s.spare = next, s.cand
	return next
}

// applyPenalties applies the repetition penalty and the presence/frequency
// penalties once per distinct token of the history. The first pass counts, the
// second applies at the first occurrence and clears the count, so counts is all
// zero again on return.
func (s *Sampler) applyPenalties(logits []float32, history []int32) {
	n := int32(len(logits))
	for _, id := range history {
		if id >= 0 && id < n {
			s.counts[id]++
		}
	}
	rp, pp, fp := s.p.RepetitionPenalty, s.p.PresencePenalty, s.p.FrequencyPenalty
	rep := s.p.repetition()
	for _, id := range history {
		if id < 0 || id >= n || s.counts[id] == 0 {
			continue
		}
		v := logits[id]
		if rep {
			if v > 0 {
				v /= rp
			} else {
				v *= rp
			}
		}
		v -= float32(s.counts[id])*fp + pp
		logits[id] = v
		s.counts[id] = 0
	}
}

// banNgrams sets to -Inf every token that would complete an n-gram already in
// history: for each earlier position where the last n-1 tokens of history occur,
// the token that followed them there. With n = 1 every token of the history is
// banned. Like Hugging Face, it bans nothing while the history is shorter than
// n-1 tokens.
func banNgrams(logits []float32, history []int32, n int) {
	L := len(history)
	if L+1 < n {
		return
	}
	negInf := float32(math.Inf(-1))
	prefix := history[L-n+1:]
	for i := 0; i+n <= L; i++ {
		match := true
		for j, id := range prefix {
			if history[i+j] != id {
				match = false
				break
			}
		}
		if id := history[i+n-1]; match && id >= 0 && int(id) < len(logits) {
			logits[id] = negInf
		}
	}
}

// weights fills s.w with the softmax weights of cand relative to the largest
// logit m, and returns them with their sum and m.
func (s *Sampler) weights(logits []float32, cand []int32) (w []float64, z float64, m float32) {
	m = logits[cand[0]]
	for _, c := range cand[1:] {
		m = max(m, logits[c])
	}
	w = s.w[:len(cand)]
	for j, c := range cand {
		w[j] = weight(logits[c], m)
		z += w[j]
	}
	return w, z, m
}

// weight is exp(x - m) for a logit x not above the maximum m. A token equal to
// the maximum weighs 1 even when the maximum is +Inf, so +Inf logits share the
// probability and every other token gets none.
func weight(x, m float32) float64 {
	if x == m {
		return 1
	}
	return math.Exp(float64(x) - float64(m))
}

// topP keeps the smallest prefix of the candidates, best first, whose
// probability mass reaches TopP, and reports whether the result is sorted.
//
// Sorting a whole vocabulary for every token is too slow, so unsorted
// candidates are first binned by their distance below the top logit
// (nucleusScale bins per nat). Whole bins are kept while the mass stays short of
// the target; only the bin where the nucleus ends is sorted. The kept set is the
// same as with a full sort.
func (s *Sampler) topP(logits []float32, cand []int32, sorted bool) ([]int32, bool) {
	w, z, m := s.weights(logits, cand)
	target := float64(s.p.TopP) * z
	var cum float64
	if sorted {
		for j := range cand {
			cum += w[j]
			if cum >= target {
				return cand[:j+1], true
			}
		}
		return cand, true // rounding left the sum a hair short
	}

	clear(s.mass[:])
	for j, c := range cand {
		s.mass[bin(logits[c], m)] += w[j]
	}
	edge := 0
	for edge < len(s.mass)-1 && cum+s.mass[edge] < target {
		cum += s.mass[edge]
		edge++
	}
	kept, tail := s.spare[:0], s.edge[:0]
	for _, c := range cand {
		switch b := bin(logits[c], m); {
		case b < edge:
			kept = append(kept, c)
		case b == edge:
			tail = append(tail, c)
		}
	}
	sortDesc(logits, tail)
	for _, c := range tail {
		kept = append(kept, c)
		cum += weight(logits[c], m)
		if cum >= target {
			break
		}
	}
	return s.swap(kept), false
}

// Nucleus bins: nucleusBins bins of 1/nucleusScale nat below the top logit,
// then one bin for everything further down (weights below e^-32).
const (
	nucleusBins  = 2048
	nucleusScale = 64
)

// bin returns the nucleus bin of logit x when the top logit is m.
func bin(x, m float32) int {
	if x == m {
		return 0
	}
	d := (float64(m) - float64(x)) * nucleusScale
	if !(d < nucleusBins) { // also +Inf - x and m - -Inf
		return nucleusBins
	}
	return int(d)
}

// minP drops candidates whose probability is below p times the largest, that
// is whose logit is below max + ln(minP). The order of cand is kept.
func minP(logits []float32, cand []int32, p float32, sorted bool) []int32 {
	m := logits[cand[0]]
	if !sorted {
		for _, c := range cand[1:] {
			m = max(m, logits[c])
		}
	}
	floor := float64(m) + math.Log(float64(p))
	kept := cand[:0]
	for _, c := range cand {
		if float64(logits[c]) >= floor {
			kept = append(kept, c)
		}
	}
	return kept
}

// draw picks one candidate with probability proportional to its softmax weight.
func (s *Sampler) draw(logits []float32, cand []int32) int32 {
	if len(cand) == 1 {
		return cand[0]
	}
	w, z, _ := s.weights(logits, cand)
	u := s.rng.Float64() * z
	var cum float64
	last := cand[0]
	for j, c := range cand {
		if w[j] == 0 {
			continue
		}
		cum += w[j]
		last = c
		if u < cum {
			return c
		}
	}
	return last
}
