package gpucheck

import (
	"fmt"
	"math"
)

// LogitsTolerance is the bf16 tolerance logits from the CUDA backend are held
// to against the CPU backend: the largest difference at most 2⁻⁵ (3.1%) of the
// largest reference logit. cuBLAS multiplies activations rounded to the
// weights' 16-bit type (8 significant bits for bf16), and the rounding
// compounds over the layers; 2⁻⁵ is a few bf16 roundings of a logit.
const LogitsTolerance = 1.0 / 32

// Diff compares logits [rows × vocab] with a reference.
type Diff struct {
	Rows, Vocab int
	MaxAbs      float64 // largest |got - want|
	MaxRef      float64 // largest |want|
	ArgmaxAgree int     // rows whose argmax is the same
}

// Rel is MaxAbs as a fraction of MaxRef.
func (d Diff) Rel() float64 {
	if d.MaxRef == 0 {
		return d.MaxAbs
	}
	return d.MaxAbs / d.MaxRef
}

// OK reports whether the difference is within tol (a fraction of MaxRef)
// and no value is NaN where the reference has a number.
func (d Diff) OK(tol float64) bool { return d.Rel() <= tol && !math.IsNaN(d.MaxAbs) }

// String is the one-line verdict of `ember check --against` and gpu-check.
func (d Diff) String() string {
	return fmt.Sprintf("max |Δlogit| %.4g = %.2f%% of max |logit| %.4g over %d positions, argmax agrees at %d/%d",
		d.MaxAbs, 100*d.Rel(), d.MaxRef, d.Rows, d.ArgmaxAgree, d.Rows)
}

// CompareLogits compares got with want, both [rows × vocab].
func CompareLogits(got, want []float32, vocab int) (Diff, error) {
	if len(got) != len(want) || vocab <= 0 || len(want)%vocab != 0 {
		return Diff{}, fmt.Errorf("logits of %d and %d values do not compare as rows of %d", len(got), len(want), vocab)
	}
	d := Diff{Rows: len(want) / vocab, Vocab: vocab}
	for r := range d.Rows {
		g, w := got[r*vocab:(r+1)*vocab], want[r*vocab:(r+1)*vocab]
		if argmax(g) == argmax(w) {
			d.ArgmaxAgree++
		}
		for i := range w {
			wv, gv := float64(w[i]), float64(g[i])
			if math.IsNaN(wv) {
				continue
			}
			d.MaxRef = max(d.MaxRef, math.Abs(wv))
			diff := math.Abs(gv - wv)
			if math.IsNaN(gv) {
				diff = math.NaN()
			}
			if math.IsNaN(diff) || diff > d.MaxAbs {
				d.MaxAbs = diff
			}
		}
	}
	return d, nil
}

func argmax(x []float32) int {
	best := -1
	for i, v := range x {
		if v == v && (best < 0 || v > x[best]) {
			best = i
		}
	}
	return best
}

// relErr is max|got - want| over max|want|: the error measure of the op
// checks, insensitive to the inputs' scale.
func relErr(got, want []float32) float64 {
	var maxDiff, maxRef float64
	for i := range want {
		maxRef = max(maxRef, math.Abs(float64(want[i])))
		d := math.Abs(float64(got[i]) - float64(want[i]))
		if d != d || d > maxDiff {
			maxDiff = d
		}
	}
	if maxRef == 0 {
		return maxDiff
	}
	return maxDiff / maxRef
}

// sameBits reports whether got and want are bit for bit equal (any NaN
// equals any NaN), and the first index that differs.
func sameBits(got, want []float32) (bool, int) {
	for i := range want {
		g, w := got[i], want[i]
		if math.Float32bits(g) != math.Float32bits(w) && !(g != g && w != w) {
			return false, i
		}
	}
	return true, -1
}
