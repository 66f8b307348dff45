package gpucheck

import (
	"math"

	"github.com/ember-infer/ember/ember-core/sampling"
)

// sampleRef is the host side of SampleSorted's contract: the top k logits
// (best first, ties by lower id, NaN last, as TopK ranks them), divided by
// temp, then top-p, then min-p as ember-core/sampling applies them to sorted
// candidates, then the draw with u in [0, 1): the first candidate whose
// cumulative weight passes u times the total. NaN weighs nothing, as the host
// sampler reads it as -Inf; when the best candidate is -Inf or NaN, every
// logit is, and the answer is the host sampler's: index 0.
func sampleRef(logits []float32, k int, temp, topP, minP float32, u float64) int32 {
	idx := sampling.TopK(logits, k, nil)
	s := make([]float32, k)
	for j, i := range idx {
		s[j] = logits[i] / temp
	}
	m := float64(s[0])
	if !(m > math.Inf(-1)) {
		return 0
	}
	w := func(j int) float64 {
		switch {
		case float64(s[j]) == m:
			return 1
		case s[j] != s[j]:
			return 0
		}
		return math.Exp(float64(s[j]) - m)
	}
	kept := k
	if topP > 0 && topP < 1 {
		var z float64
		for j := range k {
			z += w(j)
		}
		target, cum := float64(topP)*z, 0.0
		for j := range k {
			cum += w(j)
			if cum >= target {
				kept = j + 1
				break
			}
		}
	}
	if minP > 0 {
		floor := m + math.Log(float64(minP))
		j := 1
		for j < kept && float64(s[j]) >= floor {
			j++
		}
		kept = j
	}
	var z float64
	for j := range kept {
		z += w(j)
	}
	target, cum := u*z, 0.0
	pick := idx[0]
	for j := range kept {
		if w(j) == 0 {
			continue
		}
		cum += w(j)
		pick = idx[j]
		if target < cum {
			break
		}
	}
	return pick
}
