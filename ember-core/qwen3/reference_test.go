package qwen3

import (
	"math"
	"testing"

	"github.com/ember-infer/ember/ember-core/config"
	"github.com/ember-infer/ember/ember-core/safetensors"
	"github.com/ember-infer/ember/ember-core/snapshot"
)

// refModel is a straightforward float64 Qwen3 forward pass, written from the
// Hugging Face modeling code's math with no device interface, no caching and no
// chunking: the yardstick the engine is tested against.
type refModel struct {
	c *config.Config
	w map[string][]float64
}

func newRef(t *testing.T, c *config.Config, set *safetensors.Set) *refModel {
	t.Helper()
	r := &refModel{c: c, w: map[string][]float64{}}
	for _, name := range set.Names() {
		tt, err := set.Tensor(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := tt.Float32()
		if err != nil {
			t.Fatal(err)
		}
		d := make([]float64, len(f))
		for i, v := range f {
			d[i] = float64(v)
		}
		r.w[name] = d
	}
	return r
}

func (r *refModel) weight(name string) []float64 {
	w, ok := r.w[name]
	if !ok {
		panic("reference: no tensor " + name)
	}
	return w
}

// linear returns x·wᵀ for w [out, in].
func linear(x, w []float64, in int) []float64 {
	out := len(w) / in
	y := make([]float64, out)
	for o := range out {
		var s float64
		for i := range in {
			s += x[i] * w[o*in+i]
		}
		y[o] = s
	}
	return y
}

func rmsnorm(x, w []float64, eps float64) []float64 {
	var ss float64
	for _, v := range x {
		ss += v * v
	}
	inv := 1 / math.Sqrt(ss/float64(len(x))+eps)
	y := make([]float64, len(x))
	for i := range x {
		y[i] = x[i] * inv * w[i]
	}
	return y
}

func rope(x []float64, pos int, theta float64) {
	half := len(x) / 2
	for j := range half {
		invFreq := math.Pow(theta, -2*float64(j)/float64(len(x)))
		a := float64(pos) * invFreq
		c, s := math.Cos(a), math.Sin(a)
		x1, x2 := x[j], x[j+half]
		x[j] = x1*c - x2*s
		x[j+half] = x2*c + x1*s
	}
}

// forward returns the logits [n][vocab] of ids at positions 0..n-1, and the
// hidden states numbered as Hugging Face's output_hidden_states.
func (r *refModel) forward(ids []int32) (logits [][]float64, hidden [][][]float64) {
	c := r.c
	H, hd, nh, nkv := c.HiddenSize, c.HeadDim, c.NumAttentionHeads, c.NumKeyValueHeads
	n := len(ids)
	emb := r.weight(snapshot.EmbedTokens)
	x := make([][]float64, n)
	for i, id := range ids {
		x[i] = append([]float64(nil), emb[int(id)*H:(int(id)+1)*H]...)
	}
	snap := func() [][]float64 {
		s := make([][]float64, n)
		for i := range x {
			s[i] = append([]float64(nil), x[i]...)
		}
		return s
	}
	hidden = append(hidden, snap())
	for l := range c.NumHiddenLayers {
		w := func(s string) []float64 { return r.weight(snapshot.LayerName(l, s)) }
		q := make([][]float64, n)
		k := make([][]float64, n)
		v := make([][]float64, n)
		for i := range n {
			h := rmsnorm(x[i], w(snapshot.InputLayerNorm), c.RMSNormEps)
			q[i] = linear(h, w(snapshot.QProj), H)
			k[i] = linear(h, w(snapshot.KProj), H)
			v[i] = linear(h, w(snapshot.VProj), H)
			for hh := range nh {
				seg := rmsnorm(q[i][hh*hd:(hh+1)*hd], w(snapshot.QNorm), c.RMSNormEps)
				rope(seg, i, c.RopeTheta)
				copy(q[i][hh*hd:], seg)
			}
			for hh := range nkv {
				seg := rmsnorm(k[i][hh*hd:(hh+1)*hd], w(snapshot.KNorm), c.RMSNormEps)
				rope(seg, i, c.RopeTheta)
				copy(k[i][hh*hd:], seg)
			}
		}
		for i := range n {
			attn := make([]float64, nh*hd)
			for hh := range nh {
				g := hh / (nh / nkv)
				scores := make([]float64, i+1)
				mx := math.Inf(-1)
				for j := 0; j <= i; j++ {
					var s float64
					for d := range hd {
						s += q[i][hh*hd+d] * k[j][g*hd+d]
					}
					scores[j] = s / math.Sqrt(float64(hd))
					mx = math.Max(mx, scores[j])
				}
				var sum float64
				for j := range scores {
					scores[j] = math.Exp(scores[j] - mx)
					sum += scores[j]
				}
				for j := range scores {
					for d := range hd {
						attn[hh*hd+d] += scores[j] / sum * v[j][g*hd+d]
					}
				}
			}
			o := linear(attn, w(snapshot.OProj), nh*hd)
			for d := range H {
				x[i][d] += o[d]
			}
			h := rmsnorm(x[i], w(snapshot.PostAttentionLayerNorm), c.RMSNormEps)
			gate := linear(h, w(snapshot.GateProj), H)
			up := linear(h, w(snapshot.UpProj), H)
			for d := range gate {
				gate[d] = gate[d] / (1 + math.Exp(-gate[d])) * up[d]
			}
			down := linear(gate, w(snapshot.DownProj), c.IntermediateSize)
			for d := range H {
				x[i][d] += down[d]
			}
		}
		hidden = append(hidden, snap())
	}
	head := r.w[snapshot.LMHead]
	if c.TieWordEmbeddings || head == nil {
		head = emb
	}
	for i := range n {
		x[i] = rmsnorm(x[i], r.weight(snapshot.FinalNorm), c.RMSNormEps)
		logits = append(logits, linear(x[i], head, H))
	}
	hidden[len(hidden)-1] = snap()
	return logits, hidden
}
