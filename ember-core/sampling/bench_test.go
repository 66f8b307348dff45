package sampling

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkSample measures one call at Qwen3's vocabulary size. It reports 0
// allocs/op: the sampler reuses its buffers.
func BenchmarkSample(b *testing.B) {
	const V = 151936
	r := rand.New(rand.NewPCG(1, 1))
	logits := make([]float32, V)
	for i := range logits {
		logits[i] = float32(r.NormFloat64() * 3)
	}
	history := make([]int32, 2048)
	for i := range history {
		history[i] = int32(r.IntN(V))
	}
	for _, bc := range []struct {
		name string
		p    Params
	}{
		{"greedy", Greedy()},
		{"qwen3-default", Params{Temperature: 0.6, TopK: 20, TopP: 0.95}},
		{"penalties+ngram", Params{Temperature: 0.7, TopK: 20, TopP: 0.8, RepetitionPenalty: 1.05,
			PresencePenalty: 0.5, FrequencyPenalty: 0.1, NoRepeatNgram: 3}},
		{"full-vocab-top-p", Params{Temperature: 1, TopP: 0.9}},
		{"full-vocab", Params{Temperature: 1}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s, err := New(bc.p, V)
			if err != nil {
				b.Fatal(err)
			}
			x := make([]float32, V)
			b.ReportAllocs()
			for b.Loop() {
				copy(x, logits)
				s.Sample(x, history)
			}
		})
	}
}
