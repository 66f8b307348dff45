package synth

import (
	"math"
	"strings"

	"github.com/ember-infer/ember/ember-core/config"
	"github.com/ember-infer/ember/ember-core/safetensors"
	"github.com/ember-infer/ember/ember-core/snapshot"
	"github.com/ember-infer/ember/ember-core/tokenizer"
)

// A text model (Options.Text) is a random model whose MLPs also hold a
// next-token table learnt from the corpus: every token is followed by the
// token that followed its first occurrence there, so greedy decoding replays
// the corpus ("Hello, my name is" → " Ember. I run Qwen3 models on one or
// two GPUs and measure where the time goes. I run …"). The text comes out
// right only when the embedding, every layer in turn, the norms and the
// lm_head all compute what they should, so it shows at a glance that the
// engine works, and a test can check it word for word.
//
// How: the hidden vector has an input half (the first hidden/2 dimensions)
// and an output half; dimension 0 of every embedding is the constant
// patternBias, which gives the MLP gates a threshold. Each table entry a → b
// is one MLP unit in layer (slot mod layers): its gate and up rows read only
// the input half and match a's normalised embedding (the gate is patternGate
// on a, and about -patternGate on any other token, where silu is ~0), and
// its down column writes patternGain × the output half of b's embedding minus
// a's own output half. Since no unit reads the output half, units never
// chain, and the tied lm_head then scores b's embedding highest. The random
// attention and MLP outputs are scaled by patternBackground so that they
// perturb the residual stream without drowning the table.
const (
	patternGate       = 8    // gate pre-activation of a unit on its own token (minus its threshold on others)
	patternBias       = 0.35 // embedding dimension 0 of every token
	patternGain       = 5    // output half of the successor, in embeddings
	patternBackground = 0.02 // scale of the random o_proj and down_proj weights
)

// pattern is the table laid out as weights: per layer, the gate and up rows
// and the down columns of the units (nil where a row or column is random).
type pattern struct {
	hidden, inter int
	gate, up      [][][]float32 // [layer][row] → hidden values
	down          [][][]float32 // [layer][column] → hidden values
}

// successors returns the table: for each token of the corpus in order of
// first appearance, the token that followed that first appearance.
func successors(tok *tokenizer.Tokenizer) (order []int32, next map[int32]int32) {
	ids := tok.Encode(strings.Join(Corpus(), ""))
	next = map[int32]int32{}
	for i := 0; i+1 < len(ids); i++ {
		if _, ok := next[ids[i]]; !ok {
			next[ids[i]] = ids[i+1]
			order = append(order, ids[i])
		}
	}
	return order, next
}

// newPattern builds the weights of the table for cfg, from the embedding and
// post-attention norm values Write stores (as rounded to opt.DType).
func newPattern(cfg *config.Config, tok *tokenizer.Tokenizer, opt Options) *pattern {
	order, next := successors(tok)
	layers, hidden, inter := cfg.NumHiddenLayers, cfg.HiddenSize, cfg.IntermediateSize
	if cap := layers * inter; len(order) > cap {
		order = order[:cap]
	}
	need := map[int32]bool{}
	for _, a := range order {
		need[a], need[next[a]] = true, true
	}
	emb := map[int32][]float32{}
	embSpec := snapshot.Spec{Name: snapshot.EmbedTokens, Shape: []int64{int64(cfg.VocabSize), int64(hidden)}, Layer: snapshot.NoLayer}
	var row []float32
	values(embSpec, opt, func(i int64, v float32) {
		row = append(row, v)
		if len(row) == hidden {
			if id := int32(i / int64(hidden)); need[id] {
				emb[id] = row
				row = nil
			} else {
				row = row[:0]
			}
		}
	})
	for _, r := range emb {
		r[0] = rounded(patternBias, opt.DType)
	}
	p := &pattern{hidden: hidden, inter: inter,
		gate: make([][][]float32, layers), up: make([][][]float32, layers), down: make([][][]float32, layers)}
	half := hidden / 2
	act := float32(patternGate / (1 + math.Exp(-patternGate))) // silu(patternGate) × up's 1
	for l := range layers {
		p.gate[l], p.up[l], p.down[l] = make([][]float32, inter), make([][]float32, inter), make([][]float32, inter)
		var norm []float32
		name := snapshot.LayerName(l, snapshot.PostAttentionLayerNorm)
		values(snapshot.Spec{Name: name, Shape: []int64{int64(hidden)}, Layer: l}, opt, func(_ int64, v float32) { norm = append(norm, v) })
		for slot := l; slot < len(order); slot += layers {
			a, b := order[slot], next[order[slot]]
			j := slot / layers
			// The unit's input: a's embedding as the layer's RMSNorm gives it.
			ea, eb := emb[a], emb[b]
			var ss float64
			for _, v := range ea {
				ss += float64(v) * float64(v)
			}
			inv := 1 / math.Sqrt(ss/float64(hidden)+cfg.RMSNormEps)
			var pp float64
			n := make([]float64, half)
			for d := range half {
				n[d] = float64(ea[d]) * inv * float64(norm[d])
				pp += n[d] * n[d]
			}
			// Matching without dimension 0: u·n is 1 on a and ~N(0, 1/half)
			// elsewhere; the gate is 2·patternGate·(u·n - 1/2), the threshold
			// coming from the constant dimension 0.
			pp -= n[0] * n[0]
			g, u, dn := make([]float32, hidden), make([]float32, hidden), make([]float32, hidden)
			for d := 1; d < half; d++ {
				u[d] = float32(n[d] / pp)
				g[d] = 2 * patternGate * u[d]
			}
			g[0] = float32(-patternGate / n[0])
			for d := half; d < hidden; d++ {
				dn[d] = (patternGain*eb[d] - ea[d]) / act
			}
			p.gate[l][j], p.up[l][j], p.down[l][j] = g, u, dn
		}
	}
	return p
}

// overrider returns how tensor name's random values v become its stored
// ones (element i), or nil when they are stored as they are.
func (p *pattern) overrider(name string) func(i int64, v float32) float32 {
	hidden, inter := int64(p.hidden), int64(p.inter)
	l, suffix, ok := snapshot.ParseLayerName(name)
	if !ok {
		if name == snapshot.EmbedTokens || name == snapshot.LMHead {
			return func(i int64, v float32) float32 {
				if i%hidden == 0 {
					return patternBias
				}
				return v
			}
		}
		return nil
	}
	switch suffix {
	case snapshot.OProj:
		return func(_ int64, v float32) float32 { return v * patternBackground }
	case snapshot.GateProj, snapshot.UpProj:
		rows := p.gate[l]
		if suffix == snapshot.UpProj {
			rows = p.up[l]
		}
		return func(i int64, v float32) float32 {
			if r := rows[i/hidden]; r != nil {
				return r[i%hidden]
			}
			return v
		}
	case snapshot.DownProj:
		cols := p.down[l]
		return func(i int64, v float32) float32 {
			if c := cols[i%inter]; c != nil {
				return c[i/inter]
			}
			return v * patternBackground
		}
	}
	return nil
}

// rounded is v as dt stores it.
func rounded(v float32, dt safetensors.DType) float32 {
	switch dt {
	case safetensors.F16:
		return safetensors.F16ToF32(safetensors.F32ToF16(v))
	case safetensors.BF16:
		return safetensors.BF16ToF32(safetensors.F32ToBF16(v))
	}
	return v
}
