package snapshot

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/ember-infer/ember/ember-core/config"
)

// Tensor names outside the decoder layers, as Qwen3ForCausalLM checkpoints spell them.
const (
	// EmbedTokens is the token embedding, [vocab, hidden].
	EmbedTokens = "model.embed_tokens.weight"
	// FinalNorm is the RMSNorm weight after the last layer, [hidden].
	FinalNorm = "model.norm.weight"
	// LMHead is the output projection, [vocab, hidden]; usually absent when tied.
	LMHead = "lm_head.weight"
)

// Suffixes of the per-layer tensors; LayerName joins one to a layer index. Linear
// weights are stored [out, in].
const (
	// InputLayerNorm is the RMSNorm weight before attention, [hidden].
	InputLayerNorm = "input_layernorm.weight"
	// QProj is the query projection, [heads*head_dim, hidden].
	QProj = "self_attn.q_proj.weight"
	// KProj is the key projection, [kv_heads*head_dim, hidden].
	KProj = "self_attn.k_proj.weight"
	// VProj is the value projection, [kv_heads*head_dim, hidden].
	VProj = "self_attn.v_proj.weight"
	// OProj is the attention output projection, [hidden, heads*head_dim].
	OProj = "self_attn.o_proj.weight"
	// QNorm is the per-head RMSNorm weight applied to queries, [head_dim].
	QNorm = "self_attn.q_norm.weight"
	// KNorm is the per-head RMSNorm weight applied to keys, [head_dim].
	KNorm = "self_attn.k_norm.weight"
	// PostAttentionLayerNorm is the RMSNorm weight before the MLP, [hidden].
	PostAttentionLayerNorm = "post_attention_layernorm.weight"
	// GateProj is the MLP gate projection, [intermediate, hidden].
	GateProj = "mlp.gate_proj.weight"
	// UpProj is the MLP up projection, [intermediate, hidden].
	UpProj = "mlp.up_proj.weight"
	// DownProj is the MLP down projection, [hidden, intermediate].
	DownProj = "mlp.down_proj.weight"
)

// LayerSuffixes lists the per-layer tensor suffixes in the order Expected emits them.
var LayerSuffixes = []string{
	InputLayerNorm, QProj, KProj, VProj, OProj, QNorm, KNorm,
	PostAttentionLayerNorm, GateProj, UpProj, DownProj,
}

const layerPrefix = "model.layers."

// NoLayer is Spec.Layer for tensors that belong to no decoder layer.
const NoLayer = -1

// LayerName returns the full name of a per-layer tensor:
// LayerName(3, QProj) = "model.layers.3.self_attn.q_proj.weight".
func LayerName(i int, suffix string) string {
	return layerPrefix + strconv.Itoa(i) + "." + suffix
}

// ParseLayerName splits a per-layer tensor name into its layer index and suffix; ok
// is false for names outside model.layers.N.
func ParseLayerName(name string) (layer int, suffix string, ok bool) {
	rest, found := strings.CutPrefix(name, layerPrefix)
	if !found {
		return NoLayer, "", false
	}
	num, suffix, found := strings.Cut(rest, ".")
	if !found || suffix == "" {
		return NoLayer, "", false
	}
	i, err := strconv.Atoi(num)
	if err != nil || i < 0 || strconv.Itoa(i) != num {
		return NoLayer, "", false
	}
	return i, suffix, true
}

// Spec is a tensor a config implies: its name, its shape ([out, in] for linear
// weights) and the decoder layer it belongs to (NoLayer for the embedding, the
// final norm and lm_head).
type Spec struct {
	Name  string
	Shape []int64
	Layer int
}

// NumElements returns the product of the shape.
func (s Spec) NumElements() int64 {
	n := int64(1)
	for _, d := range s.Shape {
		n *= d
	}
	return n
}

// String returns "name [d0 d1]".
func (s Spec) String() string { return fmt.Sprintf("%s %v", s.Name, s.Shape) }

// LayerSpecs returns the tensors of decoder layer i, in LayerSuffixes order.
func LayerSpecs(c *config.Config, i int) []Spec {
	h, q, kv := int64(c.HiddenSize), int64(c.QDim()), int64(c.KVDim())
	inter, hd := int64(c.IntermediateSize), int64(c.HeadDim)
	shapes := map[string][]int64{
		InputLayerNorm:         {h},
		QProj:                  {q, h},
		KProj:                  {kv, h},
		VProj:                  {kv, h},
		OProj:                  {h, q},
		QNorm:                  {hd},
		KNorm:                  {hd},
		PostAttentionLayerNorm: {h},
		GateProj:               {inter, h},
		UpProj:                 {inter, h},
		DownProj:               {h, inter},
	}
	specs := make([]Spec, 0, len(LayerSuffixes))
	for _, suf := range LayerSuffixes {
		specs = append(specs, Spec{Name: LayerName(i, suf), Shape: shapes[suf], Layer: i})
	}
	return specs
}

// LMHeadSpec returns the lm_head tensor of c, whether or not c ties it to the
// embedding.
func LMHeadSpec(c *config.Config) Spec {
	return Spec{Name: LMHead, Shape: []int64{int64(c.VocabSize), int64(c.HiddenSize)}, Layer: NoLayer}
}

// Expected returns every tensor a Qwen3 config implies, in load order: the
// embedding, each layer's tensors, the final norm, and lm_head unless the config
// ties it to the embedding (a tied checkpoint may still store lm_head.weight; see
// Snapshot.StoresLMHead).
func Expected(c *config.Config) []Spec {
	specs := make([]Spec, 0, 3+c.NumHiddenLayers*len(LayerSuffixes))
	specs = append(specs, Spec{Name: EmbedTokens, Shape: []int64{int64(c.VocabSize), int64(c.HiddenSize)}, Layer: NoLayer})
	for i := 0; i < c.NumHiddenLayers; i++ {
		specs = append(specs, LayerSpecs(c, i)...)
	}
	specs = append(specs, Spec{Name: FinalNorm, Shape: []int64{int64(c.HiddenSize)}, Layer: NoLayer})
	if !c.TieWordEmbeddings {
		specs = append(specs, LMHeadSpec(c))
	}
	return specs
}
