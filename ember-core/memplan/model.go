// Package memplan answers, before anything is loaded: will this model, with this
// context, batch and prefill chunk, fit on these devices with this layer split —
// per device — and which split is best?
//
// A device holds the weights of its layers (the embedding on the first device; the
// final norm and lm_head on the last), the KV cache of its layers, the activation
// buffers of one prefill step (see Activations), a cuBLAS workspace and a runtime
// overhead. The model comes from a snapshot's safetensors headers (FromSnapshot) or
// from a built-in preset (LookupPreset); docs/memory.md gives every formula.
package memplan

import (
	"fmt"
	"strings"

	"github.com/ember-infer/ember/ember-core/config"
	"github.com/ember-infer/ember/ember-core/snapshot"
)

// Model is what the planner needs to know about a model: its config and the bytes
// each weight occupies once resident on a device.
type Model struct {
	// Name labels the model in plans ("Qwen3-8B", or a snapshot's directory).
	Name string
	// Source says where the numbers come from: "preset" or "snapshot <dir>".
	Source string
	// Config is the model's config.json.
	Config *config.Config
	// LayerBytes[i] is the resident size of decoder layer i's tensors.
	LayerBytes []int64
	// EmbedBytes is the resident size of model.embed_tokens.weight.
	EmbedBytes int64
	// FinalNormBytes is the resident size of model.norm.weight.
	FinalNormBytes int64
	// LMHeadBytes is the size of lm_head: the stored tensor when the checkpoint has
	// one, else (tied) the embedding's size. It is resident on the last device unless
	// the model is tied and the embedding is on that same device.
	LMHeadBytes int64
	// WeightDTypeBytes is the size of one weight element (2 for bf16/f16, 4 for f32).
	WeightDTypeBytes int
	// KVDTypeBytes is the size of one KV cache element: the weights' dtype, so 2 for
	// bf16/f16 checkpoints (docs/design.md's 2 × 2 factor) and 4 for f32 ones.
	KVDTypeBytes int
	// StoresLMHead reports whether the checkpoint stores lm_head.weight (always for
	// untied models; some tied checkpoints store it too).
	StoresLMHead bool
	// DiskBytes is the checkpoint's tensor data size: the sum of every stored
	// tensor's bytes, headers excluded.
	DiskBytes int64
	// NumTensors is how many tensors the checkpoint stores.
	NumTensors int
}

// Tied reports whether lm_head shares the embedding's weights.
func (m *Model) Tied() bool { return m.Config.TieWordEmbeddings }

// Layers returns the number of decoder layers.
func (m *Model) Layers() int { return len(m.LayerBytes) }

// KVBytes returns the KV cache size of layers layers for batch sequences of seq
// positions: layers × seq × kv_heads × head_dim × 2 (K and V) × KVDTypeBytes × batch.
func (m *Model) KVBytes(layers, seq, batch int) int64 {
	c := m.Config
	return int64(layers) * int64(seq) * int64(c.NumKeyValueHeads) * int64(c.HeadDim) * 2 * int64(m.KVDTypeBytes) * int64(batch)
}

// KVPerRequest returns the KV cache of one sequence of seq positions over all layers.
func (m *Model) KVPerRequest(seq int) int64 { return m.KVBytes(m.Layers(), seq, 1) }

// ResidentBytes returns the weights resident across all devices for a split over
// devices devices: the stored weights, minus a tied checkpoint's stored lm_head on
// one device, plus a tied lm_head's copy when the split spans several devices.
func (m *Model) ResidentBytes(devices int) int64 {
	var n int64
	for _, b := range m.LayerBytes {
		n += b
	}
	n += m.EmbedBytes + m.FinalNormBytes
	if !m.Tied() || devices > 1 {
		n += m.LMHeadBytes
	}
	return n
}

// FromConfig builds the Model of c stored in a dtype of dtypeBytes per element, from
// snapshot.Expected(c). storesLMHead says whether a tied checkpoint also stores
// lm_head.weight (it counts on disk only); it is ignored for untied configs, which
// always store it.
func FromConfig(name string, c *config.Config, dtypeBytes int, storesLMHead bool) *Model {
	m := &Model{
		Name: name, Source: "config", Config: c,
		LayerBytes:       make([]int64, c.NumHiddenLayers),
		WeightDTypeBytes: dtypeBytes, KVDTypeBytes: dtypeBytes,
		StoresLMHead: !c.TieWordEmbeddings || storesLMHead,
	}
	for _, s := range snapshot.Expected(c) {
		m.add(s.Name, s.Layer, s.NumElements()*int64(dtypeBytes))
	}
	if c.TieWordEmbeddings {
		m.LMHeadBytes = snapshot.LMHeadSpec(c).NumElements() * int64(dtypeBytes)
		if m.StoresLMHead {
			m.DiskBytes += m.LMHeadBytes
			m.NumTensors++
		}
	}
	return m
}

// add accounts one stored tensor.
func (m *Model) add(name string, layer int, bytes int64) {
	m.DiskBytes += bytes
	m.NumTensors++
	switch {
	case layer >= 0:
		m.LayerBytes[layer] += bytes
	case name == snapshot.EmbedTokens:
		m.EmbedBytes = bytes
	case name == snapshot.FinalNorm:
		m.FinalNormBytes = bytes
	case name == snapshot.LMHead:
		m.LMHeadBytes = bytes
	}
}

// FromSnapshot builds the Model of an opened snapshot from its safetensors headers:
// every tensor is resident at its stored size. The snapshot must pass Check. Tensors
// the config does not imply count on disk but are not resident.
func FromSnapshot(s *snapshot.Snapshot) (*Model, error) {
	if err := s.Check(); err != nil {
		return nil, err
	}
	c := s.Config
	m := &Model{
		Name: s.Dir, Source: "snapshot " + s.Dir, Config: c,
		LayerBytes:   make([]int64, c.NumHiddenLayers),
		StoresLMHead: s.StoresLMHead(),
	}
	for _, sp := range snapshot.Expected(c) {
		info, _ := s.Tensors.Info(sp.Name)
		m.add(sp.Name, sp.Layer, info.Bytes())
	}
	embed, _ := s.Tensors.Info(snapshot.EmbedTokens)
	size, ok := embed.DType.Size()
	if !ok {
		return nil, fmt.Errorf("snapshot %s: tensor %q has dtype %s of unknown size", s.Dir, snapshot.EmbedTokens, embed.DType)
	}
	m.WeightDTypeBytes, m.KVDTypeBytes = size, size
	if c.TieWordEmbeddings {
		m.LMHeadBytes = m.EmbedBytes
		if lm, ok := s.Tensors.Info(snapshot.LMHead); ok {
			m.LMHeadBytes = lm.Bytes()
		}
	}
	// Whatever else the checkpoint stores (a tied lm_head, extras) counts on disk.
	m.DiskBytes = s.Tensors.TensorBytes()
	m.NumTensors = len(s.Tensors.Names())
	return m, nil
}

// dtypeName names a weight element size for display.
func dtypeName(b int) string {
	switch b {
	case 2:
		return "bf16/f16"
	case 4:
		return "f32"
	}
	return fmt.Sprintf("%d-byte", b)
}

// Describe returns one line of config facts: "28 layers, hidden 1024, heads 16/8,
// head_dim 128, inter 3072, vocab 151936, tied (lm_head also stored)".
func (m *Model) Describe() string {
	c := m.Config
	var tie string
	switch {
	case !m.Tied():
		tie = "untied"
	case m.StoresLMHead:
		tie = "tied (lm_head also stored)"
	default:
		tie = "tied"
	}
	return strings.Join([]string{
		fmt.Sprintf("%d layers", c.NumHiddenLayers),
		fmt.Sprintf("hidden %d", c.HiddenSize),
		fmt.Sprintf("heads %d/%d kv", c.NumAttentionHeads, c.NumKeyValueHeads),
		fmt.Sprintf("head_dim %d", c.HeadDim),
		fmt.Sprintf("inter %d", c.IntermediateSize),
		fmt.Sprintf("vocab %d", c.VocabSize),
		fmt.Sprintf("max_pos %d", c.MaxPositionEmbeddings),
		dtypeName(m.WeightDTypeBytes),
		tie,
	}, ", ")
}
