package sampling

import (
	"fmt"
	"math"
	"slices"
	"testing"
)

// reference is a deliberately naive implementation of the processors, written
// straight from their definitions (maps, full sorts, float64 softmax). It returns
// the final distribution over the vocabulary, or nil and the argmax for greedy
// decoding.
func reference(logits []float32, history []int32, p Params) ([]float64, int32) {
	x := slices.Clone(logits)
	V := int32(len(x))
	negInf := float32(math.Inf(-1))

	count := map[int32]int{}
	for _, id := range history {
		if id >= 0 && id < V {
			count[id]++
		}
	}
	for id, c := range count {
		v := x[id]
		if p.RepetitionPenalty != 0 && p.RepetitionPenalty != 1 {
			if v > 0 {
				v = v / p.RepetitionPenalty
			} else {
				v = v * p.RepetitionPenalty
			}
		}
		v = v - p.PresencePenalty - float32(c)*p.FrequencyPenalty
		x[id] = v
	}

	// Hugging Face's _get_ngrams / _get_generated_ngrams, with string keys.
	if n := p.NoRepeatNgram; n > 0 && len(history)+1 >= n {
		next := map[string][]int32{}
		for i := 0; i+n <= len(history); i++ {
			key := fmt.Sprint(history[i : i+n-1])
			next[key] = append(next[key], history[i+n-1])
		}
		for _, id := range next[fmt.Sprint(history[len(history)-n+1:])] {
			if id >= 0 && id < V {
				x[id] = negInf
			}
		}
	}

	if p.Temperature == 0 {
		best := int32(-1)
		for i, v := range x {
			if !math.IsNaN(float64(v)) && (best < 0 || v > x[best]) {
				best = int32(i)
			}
		}
		return nil, best
	}

	y := make([]float64, len(x))
	var keep []int
	for i, v := range x {
		y[i] = float64(v / p.Temperature)
		if math.IsNaN(y[i]) {
			y[i] = math.Inf(-1)
		}
		if !math.IsInf(y[i], -1) {
			keep = append(keep, i)
		}
	}
	slices.SortStableFunc(keep, func(a, b int) int {
		switch {
		case y[a] > y[b]:
			return -1
		case y[a] < y[b]:
			return 1
		}
		return a - b
	})
	softmax := func(keep []int) []float64 {
		var z float64
		pr := make([]float64, len(keep))
		for j, i := range keep {
			pr[j] = math.Exp(y[i] - y[keep[0]])
			z += pr[j]
		}
		for j := range pr {
			pr[j] /= z
		}
		return pr
	}
	if p.TopK > 0 && p.TopK < len(keep) {
		keep = keep[:p.TopK]
	}
	if p.TopP > 0 && p.TopP < 1 && len(keep) > 0 {
		var cum float64
		for j, q := range softmax(keep) {
			cum += q
			if cum >= float64(p.TopP) {
				keep = keep[:j+1]
				break
			}
		}
	}
	if p.MinP > 0 && len(keep) > 0 {
		pr := softmax(keep)
		var kept []int
		for j, i := range keep {
			if pr[j] >= float64(p.MinP)*pr[0] {
				kept = append(kept, i)
			}
		}
		keep = kept
	}
	out := make([]float64, len(x))
	for j, q := range softmax(keep) {
		out[keep[j]] = q
	}
	return out, -1
}

// distribution runs the sampler's processors on a copy of logits and returns the
// distribution the draw would use, or nil and the token for a decided call.
func distribution(t *testing.T, s *Sampler, logits []float32, history []int32) ([]float64, int32) {
	t.Helper()
	x := slices.Clone(logits)
	cand, tok := s.filter(x, history)
	if cand == nil {
		return nil, tok
	}
	if len(cand) == 0 {
		t.Fatalf("filter returned an empty, non-nil candidate list")
	}
	w, z, _ := s.weights(x, cand)
	out := make([]float64, len(x))
	for j, c := range cand {
		if out[c] != 0 {
			t.Fatalf("token %d is a candidate twice", c)
		}
		out[c] = w[j] / z
	}
	return out, -1
}

func mustNew(t testing.TB, p Params, vocab int) *Sampler {
	t.Helper()
	s, err := New(p, vocab)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func assertDist(t *testing.T, got, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("distribution over %d tokens, want %d", len(got), len(want))
	}
	for i := range want {
		if (got[i] == 0) != (want[i] == 0) || math.Abs(got[i]-want[i]) > tol {
			t.Fatalf("token %d: probability %.12g, want %.12g\n got %v\nwant %v", i, got[i], want[i], got, want)
		}
	}
}
