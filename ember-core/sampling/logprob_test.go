package sampling

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"
)

// TestLogSoftmaxHandWorked: logits [0, ln 3] are probabilities [1/4, 3/4].
func TestLogSoftmaxHandWorked(t *testing.T) {
	x := []float32{0, float32(math.Log(3)), float32(math.NaN())}
	for tok, want := range []float64{math.Log(0.25), math.Log(0.75), math.Inf(-1)} {
		if got := LogSoftmax(x, int32(tok)); math.Abs(got-want) > 1e-7 && got != want {
			t.Errorf("LogSoftmax(token %d) = %g, want %g", tok, got, want)
		}
	}
	if got := LogSoftmax(x, 3); !math.IsInf(got, -1) {
		t.Errorf("a token outside the row: %g, want -Inf", got)
	}
}

// refDist is the distribution the sampler draws from, written from its
// definition in float64: logits / T, the top k (ties to the lower id), the
// smallest prefix whose probability reaches topP; token → log-probability.
func refDist(logits []float32, temp float32, k int, topP float64) map[int32]float64 {
	ids := make([]int32, len(logits))
	for i := range ids {
		ids[i] = int32(i)
	}
	scaled := func(i int32) float64 { return float64(logits[i] / temp) }
	sort.SliceStable(ids, func(a, b int) bool { return scaled(ids[a]) > scaled(ids[b]) })
	ids = ids[:k]
	m := scaled(ids[0])
	var z float64
	for _, i := range ids {
		z += math.Exp(scaled(i) - m)
	}
	var cum float64
	for n, i := range ids {
		cum += math.Exp(scaled(i)-m) / z
		if cum >= topP {
			ids = ids[:n+1]
			break
		}
	}
	z = 0
	for _, i := range ids {
		z += math.Exp(scaled(i) - m)
	}
	out := map[int32]float64{}
	for _, i := range ids {
		out[i] = scaled(i) - m - math.Log(z)
	}
	return out
}

// TestSampleTopMatchesSample: drawing from a row's top 64 with SampleTop gives
// the tokens Sample gives on the whole row with the same seed, and both
// report the log-probability of the reference distribution (≤ 1e-5).
func TestSampleTopMatchesSample(t *testing.T) {
	const V, K = 500, 64
	r := rand.New(rand.NewPCG(5, 6))
	for _, p := range []Params{
		{Temperature: 0.7, TopK: 40, TopP: 0.9, Seed: 1234},
		{Temperature: 1.3, TopK: 64, Seed: 9},
		{Temperature: 1, TopK: 5, TopP: 0.5, Seed: 2},
	} {
		whole, err := New(p, V)
		if err != nil {
			t.Fatal(err)
		}
		top, _ := New(p, V)
		for step := range 200 {
			logits := make([]float32, V)
			for i := range logits {
				logits[i] = float32(r.NormFloat64() * 3)
			}
			ref := refDist(logits, p.Temperature, p.TopK, float64(p.TopP))
			if p.TopP == 0 {
				ref = refDist(logits, p.Temperature, p.TopK, 2)
			}
			idx := TopK(logits, K, nil)
			vals := make([]float32, K)
			for j, i := range idx {
				vals[j] = logits[i]
			}
			tokTop, lpTop, err := top.SampleTop(vals, idx)
			if err != nil {
				t.Fatal(err)
			}
			tok, lp := whole.SampleLogprob(append([]float32(nil), logits...), nil)
			if tok != tokTop {
				t.Fatalf("%+v step %d: SampleTop drew %d, Sample %d", p, step, tokTop, tok)
			}
			want, ok := ref[tok]
			if !ok {
				t.Fatalf("%+v step %d: drew %d, outside the reference's kept set %v", p, step, tok, ref)
			}
			if math.Abs(lp-want) > 1e-5 || math.Abs(lpTop-want) > 1e-5 {
				t.Fatalf("%+v step %d: logprob %g (whole row) %g (top-k), reference %g", p, step, lp, lpTop, want)
			}
		}
	}
}

// TestSampleTopRefuses: penalties need the history, and a top-k wider than
// the candidates handed over would need the whole row.
func TestSampleTopRefuses(t *testing.T) {
	for _, p := range []Params{
		{Temperature: 1, TopK: 10, RepetitionPenalty: 1.1},
		{Temperature: 1, TopK: 10, NoRepeatNgram: 2},
		{Temperature: 1, TopK: 0},
		{Temperature: 1, TopK: 5},
	} {
		s, err := New(p, 10)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.SampleTop([]float32{3, 2, 1}, []int32{0, 1, 2}); err == nil {
			t.Errorf("%+v: SampleTop over 3 candidates was accepted", p)
		}
	}
	g, _ := New(Greedy(), 10)
	if tok, lp, err := g.SampleTop([]float32{3, 2}, []int32{7, 1}); err != nil || tok != 7 || lp != 0 {
		t.Errorf("greedy SampleTop = %d, %g, %v; want 7, 0, nil", tok, lp, err)
	}
}
