package sampling

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

var (
	inf = float32(math.Inf(1))
	nan = float32(math.NaN())
)

// The hand-worked vectors below use logits [2, 1, 0, -1]:
// softmax = [0.643914, 0.236883, 0.087144, 0.032059];
// at temperature 0.5 they become [4, 2, 0, -2], softmax
// = [0.864955, 0.117059, 0.015842, 0.002144].
var base = []float32{2, 1, 0, -1}

func TestProcessorsHandWorked(t *testing.T) {
	tests := []struct {
		name string
		p    Params
		want []float64
	}{
		{"temperature 1", Params{Temperature: 1},
			[]float64{0.6439142598879724, 0.23688281808991013, 0.08714431874203257, 0.03205860328008499}},
		{"temperature 0.5", Params{Temperature: 0.5},
			[]float64{0.8649548767993754, 0.11705891323853293, 0.01584220117850692, 0.002144008783584634}},
		{"top-k 3", Params{Temperature: 1, TopK: 3},
			[]float64{0.6652409557748218, 0.24472847105479764, 0.09003057317038046, 0}},
		{"top-k 1", Params{Temperature: 1, TopK: 1}, []float64{1, 0, 0, 0}},
		{"top-k above vocab", Params{Temperature: 1, TopK: 9},
			[]float64{0.6439142598879724, 0.23688281808991013, 0.08714431874203257, 0.03205860328008499}},
		// 0.6439 < 0.7 ≤ 0.6439+0.2369: two tokens.
		{"top-p 0.7", Params{Temperature: 1, TopP: 0.7}, []float64{0.7310585786300049, 0.2689414213699951, 0, 0}},
		// 0.8808 < 0.9 ≤ 0.9679: three tokens.
		{"top-p 0.9", Params{Temperature: 1, TopP: 0.9},
			[]float64{0.6652409557748218, 0.24472847105479764, 0.09003057317038046, 0}},
		{"top-p tiny keeps one", Params{Temperature: 1, TopP: 1e-6}, []float64{1, 0, 0, 0}},
		// After top-k 2 the nucleus is renormalised: [0.731, 0.269]; 0.7 needs only the first.
		{"top-k then top-p", Params{Temperature: 1, TopK: 2, TopP: 0.7}, []float64{1, 0, 0, 0}},
		// Ratios to the max: 1, e^-1 = 0.368, e^-2 = 0.135, e^-3 = 0.050.
		{"min-p 0.3", Params{Temperature: 1, MinP: 0.3}, []float64{0.7310585786300049, 0.2689414213699951, 0, 0}},
		{"min-p 0.1", Params{Temperature: 1, MinP: 0.1},
			[]float64{0.6652409557748218, 0.24472847105479764, 0.09003057317038046, 0}},
		{"min-p 1", Params{Temperature: 1, MinP: 1}, []float64{1, 0, 0, 0}},
		// Temperature 0.5 doubles the gaps: ratios 1, e^-2 = 0.135, …
		{"temperature then min-p", Params{Temperature: 0.5, MinP: 0.3}, []float64{1, 0, 0, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := mustNew(t, tc.p, len(base))
			got, _ := distribution(t, s, base, nil)
			assertDist(t, got, tc.want, 1e-12)
			ref, _ := reference(base, nil, tc.p)
			assertDist(t, ref, tc.want, 1e-12)
		})
	}
}

func TestTopPTiesAndExactBoundary(t *testing.T) {
	flat := []float32{0, 0, 0, 0} // every probability is exactly 0.25
	tests := []struct {
		topP float32
		want []float64
	}{
		{0.25, []float64{1, 0, 0, 0}},     // 0.25 ≥ 0.25: one token is enough
		{0.26, []float64{0.5, 0.5, 0, 0}}, // ties go to the lower ids
		{0.5, []float64{0.5, 0.5, 0, 0}},  // exactly reached with two
		{0.75, []float64{1. / 3, 1. / 3, 1. / 3, 0}},
		{0.999, []float64{0.25, 0.25, 0.25, 0.25}},
	}
	for _, tc := range tests {
		s := mustNew(t, Params{Temperature: 1, TopP: tc.topP}, 4)
		got, _ := distribution(t, s, flat, nil)
		assertDist(t, got, tc.want, 1e-12)
	}
}

func TestTopPFlatNucleus(t *testing.T) {
	// A flat vocabulary of 1000 needs 900 tokens for top-p 0.9, all tied: the
	// lowest ids win.
	x := make([]float32, 1000)
	p := Params{Temperature: 1, TopP: 0.9}
	s := mustNew(t, p, len(x))
	got, _ := distribution(t, s, x, nil)
	want, _ := reference(x, nil, p)
	assertDist(t, got, want, 1e-12)
	n := 0
	for i, q := range got {
		if q > 0 {
			n++
			if i >= 900 {
				t.Fatalf("token %d kept; ties should go to the lowest ids", i)
			}
		}
	}
	if n != 900 {
		t.Fatalf("kept %d tokens, want 900", n)
	}
}

// TestTopPLargeVocab exercises the binned nucleus search on vocabularies whose
// logits spread over many bins, with and without the overflow bin, against the
// reference's full sort.
func TestTopPLargeVocab(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	x := make([]float32, 5000)
	for _, spread := range []float64{0.01, 1, 4, 30} {
		for i := range x {
			x[i] = float32(r.NormFloat64() * spread)
		}
		for _, topP := range []float32{0.1, 0.5, 0.9, 0.999} {
			for _, minP := range []float32{0, 0.01} {
				p := Params{Temperature: 1, TopP: topP, MinP: minP}
				got, _ := distribution(t, mustNew(t, p, len(x)), x, nil)
				want, _ := reference(x, nil, p)
				assertDist(t, got, want, 1e-9)
			}
		}
	}
}

func TestMinPTies(t *testing.T) {
	s := mustNew(t, Params{Temperature: 1, MinP: 1}, 4)
	got, _ := distribution(t, s, []float32{1, 0, 1, -3}, nil)
	assertDist(t, got, []float64{0.5, 0, 0.5, 0}, 1e-12)
}

func TestTopKTiesGoToLowerIDs(t *testing.T) {
	s := mustNew(t, Params{Temperature: 1, TopK: 2}, 4)
	got, _ := distribution(t, s, []float32{3, 1, 3, 3}, nil)
	assertDist(t, got, []float64{0.5, 0, 0.5, 0}, 1e-12)
}

func TestPenaltiesHandWorked(t *testing.T) {
	tests := []struct {
		name    string
		p       Params
		logits  []float32
		history []int32
		want    []float32 // logits after Sample
	}{
		// HF: positive logits are divided, negative (and zero) multiplied, once
		// per distinct token however often it occurs.
		{"repetition", Params{RepetitionPenalty: 2},
			[]float32{2, -1, 0, 3}, []int32{0, 1, 1, 2, 1}, []float32{1, -2, 0, 3}},
		{"repetition below 1 boosts", Params{RepetitionPenalty: 0.5},
			[]float32{2, -1, 0, 3}, []int32{0, 1}, []float32{4, -0.5, 0, 3}},
		{"presence and frequency", Params{PresencePenalty: 0.5, FrequencyPenalty: 0.25},
			[]float32{1, 1, 1, 1}, []int32{0, 0, 2}, []float32{0, 1, 0.25, 1}},
		// Repetition first, then the subtraction: 2/2 - 0.5, not (2-0.5)/2.
		{"repetition before presence", Params{RepetitionPenalty: 2, PresencePenalty: 0.5},
			[]float32{2, 1, 1, 1}, []int32{0}, []float32{0.5, 1, 1, 1}},
		{"out-of-range history ignored", Params{RepetitionPenalty: 2, FrequencyPenalty: 1},
			[]float32{2, 2, 2, 2}, []int32{-1, 4, 99, 3}, []float32{2, 2, 2, 0}},
		{"no-repeat 3-gram", Params{NoRepeatNgram: 3},
			[]float32{0, 0, 0, 0, 0}, []int32{1, 2, 3, 1, 2}, []float32{0, 0, 0, float32(math.Inf(-1)), 0}},
		{"no-repeat 2-gram bans every follower", Params{NoRepeatNgram: 2},
			[]float32{0, 0, 0, 0, 0}, []int32{1, 2, 1, 4, 1}, []float32{0, 0, float32(math.Inf(-1)), 0, float32(math.Inf(-1))}},
		{"no-repeat 1-gram bans the history", Params{NoRepeatNgram: 1},
			[]float32{0, 0, 0, 0, 0}, []int32{1, 3}, []float32{0, float32(math.Inf(-1)), 0, float32(math.Inf(-1)), 0}},
		{"no-repeat needs n-1 tokens of history", Params{NoRepeatNgram: 3},
			[]float32{0, 0, 0}, []int32{1}, []float32{0, 0, 0}},
		{"no-repeat with exactly n-1 tokens bans nothing", Params{NoRepeatNgram: 3},
			[]float32{0, 0, 0}, []int32{1, 2}, []float32{0, 0, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := mustNew(t, tc.p, len(tc.logits))
			x := slices.Clone(tc.logits)
			got := s.Sample(x, tc.history)
			if !slices.Equal(x, tc.want) {
				t.Fatalf("logits after Sample = %v, want %v", x, tc.want)
			}
			if want := Argmax(tc.want); got != want {
				t.Fatalf("greedy Sample = %d, want %d", got, want)
			}
			if _, want := reference(tc.logits, tc.history, tc.p); got != want {
				t.Fatalf("greedy Sample = %d, reference says %d", got, want)
			}
		})
	}
}

func TestPenaltiesReusableAcrossCalls(t *testing.T) {
	// The per-token counts must be clean after every call.
	s := mustNew(t, Params{FrequencyPenalty: 1}, 3)
	for range 3 {
		x := []float32{5, 5, 5}
		s.Sample(x, []int32{0, 0, 1})
		if !slices.Equal(x, []float32{3, 4, 5}) {
			t.Fatalf("logits after Sample = %v, want [3 4 5]", x)
		}
	}
}

// TestAgainstReference compares the whole pipeline with the naive reference on
// random logits, histories and parameter combinations.
func TestAgainstReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	pick := func(xs ...float32) float32 { return xs[r.IntN(len(xs))] }
	const V = 40
	s := map[Params]*Sampler{}
	for i := range 600 {
		p := Params{
			Temperature:       pick(0, 0.3, 0.7, 1, 1.6),
			TopK:              []int{0, 1, 3, 10, 39, 40, 80}[r.IntN(7)],
			TopP:              pick(0, 0.2, 0.8, 0.95, 1),
			MinP:              pick(0, 0.02, 0.2, 1),
			RepetitionPenalty: pick(0, 1, 1.3, 0.7),
			PresencePenalty:   pick(0, 0.5, -0.4),
			FrequencyPenalty:  pick(0, 0.3, -1),
			NoRepeatNgram:     r.IntN(4),
		}
		logits := make([]float32, V)
		for j := range logits {
			logits[j] = float32(r.NormFloat64() * 3)
			if r.IntN(30) == 0 {
				logits[j] = pick(nan, float32(math.Inf(-1)))
			}
		}
		history := make([]int32, r.IntN(30))
		for j := range history {
			history[j] = int32(r.IntN(V/4)) * 4 / 3 // small alphabet: n-grams repeat
			if r.IntN(40) == 0 {
				history[j] = int32(pick(-1, V, 1000))
			}
		}
		if s[p] == nil {
			s[p] = mustNew(t, p, V)
		}
		got, gtok := distribution(t, s[p], logits, history)
		want, wtok := reference(logits, history, p)
		if gtok != wtok || (got == nil) != (want == nil) {
			t.Fatalf("case %d %+v: token %d (dist %v), reference %d (dist %v)", i, p, gtok, got != nil, wtok, want != nil)
		}
		if want != nil {
			assertDist(t, got, want, 1e-6) // float32 penalties are grouped differently
		}
	}
}

func TestNaNAndInf(t *testing.T) {
	ninf := float32(math.Inf(-1))
	t.Run("greedy skips NaN", func(t *testing.T) {
		s := mustNew(t, Greedy(), 4)
		if got := s.Sample([]float32{nan, 1, 2, nan}, nil); got != 2 {
			t.Fatalf("Sample = %d, want 2", got)
		}
		if got := s.Sample([]float32{nan, nan}, nil); got != -1 {
			t.Fatalf("Sample of all NaN = %d, want -1", got)
		}
		if got := s.Sample(nil, nil); got != -1 {
			t.Fatalf("Sample of nothing = %d, want -1", got)
		}
	})
	t.Run("sampling never draws NaN or -Inf", func(t *testing.T) {
		s := mustNew(t, Params{Temperature: 1, Seed: 7}, 4)
		x := make([]float32, 4)
		seen := [4]int{}
		for range 2000 {
			copy(x, []float32{nan, 0, ninf, 0})
			seen[s.Sample(x, nil)]++
		}
		if seen[0] != 0 || seen[2] != 0 || seen[1] == 0 || seen[3] == 0 {
			t.Fatalf("draw counts %v, want only tokens 1 and 3", seen)
		}
	})
	t.Run("NaN becomes -Inf in place", func(t *testing.T) {
		s := mustNew(t, Params{Temperature: 2}, 3)
		x := []float32{nan, 4, ninf}
		if got := s.Sample(x, nil); got != 1 {
			t.Fatalf("Sample = %d, want 1", got)
		}
		if !slices.Equal(x, []float32{ninf, 2, ninf}) {
			t.Fatalf("logits after Sample = %v, want [-Inf 2 -Inf]", x)
		}
	})
	t.Run("+Inf tokens share the mass", func(t *testing.T) {
		s := mustNew(t, Params{Temperature: 1, TopP: 0.9, MinP: 0.1}, 4)
		got, _ := distribution(t, s, []float32{0, inf, 100, inf}, nil)
		assertDist(t, got, []float64{0, 0.5, 0, 0.5}, 0)
		s = mustNew(t, Params{Temperature: 1}, 4)
		got, _ = distribution(t, s, []float32{0, inf, 100, inf}, nil)
		assertDist(t, got, []float64{0, 0.5, 0, 0.5}, 0)
	})
	t.Run("everything banned", func(t *testing.T) {
		for _, p := range []Params{Greedy(), {Temperature: 1, TopK: 2, TopP: 0.5, MinP: 0.5}} {
			p.NoRepeatNgram = 1
			s := mustNew(t, p, 3)
			if got := s.Sample([]float32{1, 2, 3}, []int32{2, 0, 1}); got != 0 {
				t.Fatalf("%+v: Sample = %d, want 0 (first of all -Inf)", p, got)
			}
			if got := s.Sample([]float32{nan, nan, nan}, nil); p.Temperature != 0 && got != 0 {
				t.Fatalf("%+v: Sample of all NaN = %d, want 0", p, got)
			}
		}
	})
	t.Run("penalties keep -Inf", func(t *testing.T) {
		s := mustNew(t, Params{RepetitionPenalty: 1.5, PresencePenalty: 1, FrequencyPenalty: 1}, 2)
		x := []float32{ninf, 1}
		s.Sample(x, []int32{0, 0})
		if x[0] != ninf {
			t.Fatalf("penalised -Inf = %v", x[0])
		}
	})
}

func TestLogitsLongerThanVocab(t *testing.T) {
	s := mustNew(t, Params{Temperature: 1, TopK: 3, FrequencyPenalty: 1}, 2)
	x := []float32{0, 0, 0, 0, 9, 0}
	if got := s.Sample(x, []int32{5}); got != 4 {
		t.Fatalf("Sample = %d, want 4", got)
	}
}

func drawSequence(s *Sampler, logits []float32, n int) []int32 {
	x := make([]float32, len(logits))
	out := make([]int32, n)
	for i := range out {
		copy(x, logits)
		out[i] = s.Sample(x, nil)
	}
	return out
}

func TestSeededReproducibility(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	logits := make([]float32, 500)
	for i := range logits {
		logits[i] = float32(r.NormFloat64())
	}
	p := Params{Temperature: 1, TopP: 0.95, Seed: 42}
	a := drawSequence(mustNew(t, p, len(logits)), logits, 200)
	b := drawSequence(mustNew(t, p, len(logits)), logits, 200)
	if !slices.Equal(a, b) {
		t.Fatal("two samplers with the same seed drew different sequences")
	}
	p.Seed = 43
	s := mustNew(t, p, len(logits))
	c := drawSequence(s, logits, 200)
	if slices.Equal(a, c) {
		t.Fatal("seeds 42 and 43 drew the same 200 tokens")
	}
	s.Reset(42)
	if d := drawSequence(s, logits, 200); !slices.Equal(a, d) {
		t.Fatal("Reset(42) did not replay the seed-42 sequence")
	}
	if s.Params().Seed != 42 {
		t.Fatalf("Params().Seed = %d after Reset(42)", s.Params().Seed)
	}
}

// TestFrequenciesMatchSoftmax draws many times from a 4-token vocabulary and
// checks each frequency against its probability within 5 standard deviations.
func TestFrequenciesMatchSoftmax(t *testing.T) {
	const n = 100_000
	tests := []struct {
		p    Params
		want []float64
	}{
		{Params{Temperature: 1, Seed: 1},
			[]float64{0.6439142598879724, 0.23688281808991013, 0.08714431874203257, 0.03205860328008499}},
		{Params{Temperature: 0.5, Seed: 2},
			[]float64{0.8649548767993754, 0.11705891323853293, 0.01584220117850692, 0.002144008783584634}},
		{Params{Temperature: 1, TopK: 3, Seed: 3},
			[]float64{0.6652409557748218, 0.24472847105479764, 0.09003057317038046, 0}},
		{Params{Temperature: 1, TopP: 0.7, Seed: 4}, []float64{0.7310585786300049, 0.2689414213699951, 0, 0}},
	}
	for _, tc := range tests {
		s := mustNew(t, tc.p, 4)
		var counts [4]int
		for _, tok := range drawSequence(s, base, n) {
			counts[tok]++
		}
		for i, p := range tc.want {
			f := float64(counts[i]) / n
			if sd := math.Sqrt(p * (1 - p) / n); math.Abs(f-p) > 5*sd {
				t.Errorf("%+v: token %d drawn with frequency %.5f, want %.5f ± %.5f", tc.p, i, f, p, 5*sd)
			}
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		p     Params
		field string
	}{
		{Params{Temperature: -0.1}, "Temperature"},
		{Params{Temperature: nan}, "Temperature"},
		{Params{Temperature: inf}, "Temperature"},
		{Params{TopK: -1}, "TopK"},
		{Params{TopP: 1.5}, "TopP"},
		{Params{TopP: -0.1}, "TopP"},
		{Params{TopP: nan}, "TopP"},
		{Params{MinP: 2}, "MinP"},
		{Params{MinP: nan}, "MinP"},
		{Params{RepetitionPenalty: -1}, "RepetitionPenalty"},
		{Params{RepetitionPenalty: inf}, "RepetitionPenalty"},
		{Params{PresencePenalty: 2.5}, "PresencePenalty"},
		{Params{FrequencyPenalty: -3}, "FrequencyPenalty"},
		{Params{FrequencyPenalty: nan}, "FrequencyPenalty"},
		{Params{NoRepeatNgram: -2}, "NoRepeatNgram"},
	}
	for _, tc := range tests {
		err := tc.p.Validate()
		if err == nil {
			t.Errorf("%+v: Validate() = nil, want an error about %s", tc.p, tc.field)
			continue
		}
		msg := err.Error()
		if !errors.Is(err, ErrInvalidParams) || !strings.Contains(msg, tc.field+" is") ||
			!strings.Contains(msg, "want") || strings.Contains(msg, "\n") {
			t.Errorf("%+v: Validate() = %q, want one sentence naming %s and the allowed range", tc.p, msg, tc.field)
		}
		if _, err := New(tc.p, 10); !errors.Is(err, ErrInvalidParams) {
			t.Errorf("%+v: New error = %v, want ErrInvalidParams", tc.p, err)
		}
	}
	for _, p := range []Params{Greedy(), {Temperature: 0.7, TopK: 20, TopP: 0.8, MinP: 0.05,
		RepetitionPenalty: 1.1, PresencePenalty: 1.5, FrequencyPenalty: -2, NoRepeatNgram: 3, Seed: 1}, {TopP: 1, MinP: 1, RepetitionPenalty: 1}} {
		if err := p.Validate(); err != nil {
			t.Errorf("%+v: Validate() = %v, want nil", p, err)
		}
	}
	if _, err := New(Greedy(), 0); !errors.Is(err, ErrInvalidParams) || !strings.Contains(err.Error(), "vocab") {
		t.Errorf("New with vocab 0: error %v", err)
	}
}

func TestArgmax(t *testing.T) {
	ninf := float32(math.Inf(-1))
	tests := []struct {
		x    []float32
		want int32
	}{
		{nil, -1},
		{[]float32{nan}, -1},
		{[]float32{1, 3, 3, 2}, 1},
		{[]float32{nan, -5, nan}, 1},
		{[]float32{1, nan, 2}, 2},
		{[]float32{ninf, ninf}, 0},
		{[]float32{nan, ninf, 0, inf, inf}, 3},
	}
	for _, tc := range tests {
		if got := Argmax(tc.x); got != tc.want {
			t.Errorf("Argmax(%v) = %d, want %d", tc.x, got, tc.want)
		}
	}
}

func TestTopK(t *testing.T) {
	ninf := float32(math.Inf(-1))
	tests := []struct {
		x    []float32
		k    int
		want []int32
	}{
		{[]float32{1, 3, 2}, 2, []int32{1, 2}},
		{[]float32{1, 3, 3, 2, 3}, 2, []int32{1, 2}},
		{[]float32{1, 3, 3, 2, 3}, 4, []int32{1, 2, 4, 3}},
		{[]float32{nan, ninf, 0}, 3, []int32{2, 1, 0}},
		{[]float32{5}, 3, []int32{0}},
		{[]float32{5, 6}, 0, []int32{}},
		{[]float32{5, 6}, -1, []int32{}},
		{nil, 2, []int32{}},
	}
	for _, tc := range tests {
		if got := TopK(tc.x, tc.k, nil); !slices.Equal(got, tc.want) {
			t.Errorf("TopK(%v, %d) = %v, want %v", tc.x, tc.k, got, tc.want)
		}
	}

	// Against a full stable sort, with many ties and some NaN.
	r := rand.New(rand.NewPCG(5, 6))
	var idx []int32
	for range 300 {
		x := make([]float32, 1+r.IntN(200))
		for i := range x {
			x[i] = float32(r.IntN(10))
			if r.IntN(20) == 0 {
				x[i] = nan
			}
		}
		all := make([]int32, len(x))
		for i := range all {
			all[i] = int32(i)
		}
		slices.SortStableFunc(all, func(a, b int32) int {
			an, bn := math.IsNaN(float64(x[a])), math.IsNaN(float64(x[b]))
			switch {
			case an != bn && an:
				return 1
			case an != bn:
				return -1
			case an || x[a] == x[b]:
				return 0
			case x[a] > x[b]:
				return -1
			}
			return 1
		})
		k := r.IntN(len(x) + 2)
		idx = TopK(x, k, idx)
		if want := all[:min(k, len(x))]; !slices.Equal(idx, want) {
			t.Fatalf("TopK(%v, %d) = %v, want %v", x, k, idx, want)
		}
	}
}

func TestTopKReusesIdx(t *testing.T) {
	x := []float32{3, 1, 4, 1, 5, 9, 2, 6}
	idx := make([]int32, 0, 8)
	if n := testing.AllocsPerRun(10, func() { idx = TopK(x, 5, idx) }); n != 0 {
		t.Fatalf("TopK allocated %v times per call with a large enough idx", n)
	}
	if !slices.Equal(idx, []int32{5, 7, 4, 2, 0}) {
		t.Fatalf("TopK = %v", idx)
	}
}

func TestSampleDoesNotAllocate(t *testing.T) {
	const V = 4096
	r := rand.New(rand.NewPCG(7, 8))
	logits := make([]float32, V)
	for i := range logits {
		logits[i] = float32(r.NormFloat64() * 2)
	}
	history := make([]int32, 300)
	for i := range history {
		history[i] = int32(r.IntN(V))
	}
	x := make([]float32, V)
	for _, p := range []Params{
		Greedy(),
		{Temperature: 0.7, TopK: 20, TopP: 0.8, RepetitionPenalty: 1.1, NoRepeatNgram: 3},
		{Temperature: 1, TopP: 0.95, MinP: 0.05, PresencePenalty: 0.5, FrequencyPenalty: 0.5},
		{Temperature: 1},
	} {
		s := mustNew(t, p, V)
		if n := testing.AllocsPerRun(20, func() { copy(x, logits); s.Sample(x, history) }); n != 0 {
			t.Errorf("%+v: Sample allocated %v times per call", p, n)
		}
	}
}
