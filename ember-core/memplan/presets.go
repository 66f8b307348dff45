package memplan

import (
	"strings"

	"github.com/ember-infer/ember/ember-core/config"
)

// Preset is a built-in model description, so planning works before anything is
// downloaded. With a snapshot present, plan from the snapshot instead (FromSnapshot).
type Preset struct {
	// Name is the short name ("Qwen3-8B"); lookups also accept "Org/Name".
	Name string
	// RepoID is the Hugging Face id ("Qwen/Qwen3-8B"); empty for models that live
	// nowhere but Ember (a generated test model).
	RepoID string
	// Config is the official config.json's model-defining fields.
	Config config.Config
	// DTypeBytes is the checkpoint's element size (2: the seed models are bf16).
	DTypeBytes int
	// StoresLMHead says whether a tied checkpoint also stores lm_head.weight.
	StoresLMHead bool
	// Seed marks the five models of docs/design.md's ground-truth table.
	Seed bool
}

// qwen3 fills in what every Qwen3 dense checkpoint shares.
func qwen3(hidden, layers, heads, kv, inter, maxPos int, tied bool) config.Config {
	return config.Config{
		ModelType: "qwen3", Architectures: []string{"Qwen3ForCausalLM"},
		VocabSize: 151936, HiddenSize: hidden, IntermediateSize: inter,
		NumHiddenLayers: layers, NumAttentionHeads: heads, NumKeyValueHeads: kv, HeadDim: 128,
		MaxPositionEmbeddings: maxPos, RMSNormEps: 1e-6, RopeTheta: 1e6,
		TieWordEmbeddings: tied, TorchDType: "bfloat16", HiddenAct: "silu",
		BOSTokenID: config.TokenIDs{151643}, EOSTokenID: config.TokenIDs{151645},
	}
}

// presets is the built-in table. To add a model, append an entry; everything else
// (lookup, ember presets, plan --all-presets) follows.
var presets = []Preset{
	{Name: "Qwen3-0.6B", RepoID: "Qwen/Qwen3-0.6B", Config: qwen3(1024, 28, 16, 8, 3072, 40960, true), DTypeBytes: 2, StoresLMHead: true, Seed: true},
	{Name: "Qwen3-1.7B", RepoID: "Qwen/Qwen3-1.7B", Config: qwen3(2048, 28, 16, 8, 6144, 40960, true), DTypeBytes: 2, StoresLMHead: true, Seed: true},
	{Name: "Qwen3-4B-Instruct-2507", RepoID: "Qwen/Qwen3-4B-Instruct-2507", Config: qwen3(2560, 36, 32, 8, 9728, 262144, true), DTypeBytes: 2, Seed: true},
	{Name: "Qwen3-8B", RepoID: "Qwen/Qwen3-8B", Config: qwen3(4096, 36, 32, 8, 12288, 40960, false), DTypeBytes: 2, StoresLMHead: true, Seed: true},
	{Name: "Qwen3-14B", RepoID: "Qwen/Qwen3-14B", Config: qwen3(5120, 40, 40, 8, 17408, 40960, false), DTypeBytes: 2, StoresLMHead: true, Seed: true},
	{Name: "tiny", Config: tiny(), DTypeBytes: 2},
}

// tiny is the bundled test model (testdata/models/tiny-qwen3, written by
// `ember synth --preset tiny`): a few MB in bf16, real GQA (4 query heads over 2
// KV heads), tied embeddings and six layers for interesting splits. Its token ids
// are those of the byte-level BPE tokenizer synth trains (1019 tokens, then the
// specials: <|endoftext|> = 1019, <|im_end|> = 1021).
func tiny() config.Config {
	c := qwen3(128, 6, 4, 2, 384, 2048, true)
	c.VocabSize = 1024
	c.HeadDim = 32
	c.BOSTokenID = config.TokenIDs{1019}
	c.EOSTokenID = config.TokenIDs{1021}
	return c
}

// Presets returns the built-in presets in table order (smallest seed model first).
// The slice and the configs are copies.
func Presets() []Preset {
	out := make([]Preset, len(presets))
	for i, p := range presets {
		out[i] = p.clone()
	}
	return out
}

func (p Preset) clone() Preset {
	c := p.Config
	c.Architectures = append([]string(nil), c.Architectures...)
	c.BOSTokenID = append(config.TokenIDs(nil), c.BOSTokenID...)
	c.EOSTokenID = append(config.TokenIDs(nil), c.EOSTokenID...)
	p.Config = c
	return p
}

// LookupPreset finds a preset by short name or Hugging Face id, ignoring case:
// "Qwen3-8B", "qwen/qwen3-8b" and "Qwen/Qwen3-8B" all name Qwen3-8B.
func LookupPreset(name string) (Preset, bool) {
	for _, p := range presets {
		if strings.EqualFold(name, p.Name) || (p.RepoID != "" && strings.EqualFold(name, p.RepoID)) {
			return p.clone(), true
		}
	}
	return Preset{}, false
}

// PresetNames returns the presets' short names in table order.
func PresetNames() []string {
	names := make([]string, len(presets))
	for i, p := range presets {
		names[i] = p.Name
	}
	return names
}

// Model returns the planner's description of p: weights from snapshot.Expected at
// DTypeBytes per element, plus a stored lm_head on disk when the checkpoint has one.
func (p Preset) Model() *Model {
	p = p.clone()
	m := FromConfig(p.Name, &p.Config, p.DTypeBytes, p.StoresLMHead)
	m.Source = "preset"
	return m
}
