package config

import (
	"errors"
	"strings"
	"testing"
)

// qwen3_8B is the config.json of Qwen/Qwen3-8B as published (trimmed of fields Ember ignores).
const qwen3_8B = `{
  "architectures": ["Qwen3ForCausalLM"],
  "attention_bias": false,
  "bos_token_id": 151643,
  "eos_token_id": 151645,
  "head_dim": 128,
  "hidden_act": "silu",
  "hidden_size": 4096,
  "intermediate_size": 12288,
  "max_position_embeddings": 40960,
  "model_type": "qwen3",
  "num_attention_heads": 32,
  "num_hidden_layers": 36,
  "num_key_value_heads": 8,
  "rms_norm_eps": 1e-06,
  "rope_scaling": null,
  "rope_theta": 1000000,
  "tie_word_embeddings": false,
  "torch_dtype": "bfloat16",
  "vocab_size": 151936
}`

func TestParseQwen3_8B(t *testing.T) {
	c, err := Parse([]byte(qwen3_8B), "config.json")
	if err != nil {
		t.Fatal(err)
	}
	if c.HiddenSize != 4096 || c.NumHiddenLayers != 36 || c.NumAttentionHeads != 32 ||
		c.NumKeyValueHeads != 8 || c.HeadDim != 128 || c.IntermediateSize != 12288 ||
		c.VocabSize != 151936 || c.MaxPositionEmbeddings != 40960 || c.TieWordEmbeddings ||
		c.RMSNormEps != 1e-6 || c.RopeTheta != 1e6 || c.TorchDType != "bfloat16" {
		t.Errorf("parsed %+v", c)
	}
	if len(c.BOSTokenID) != 1 || c.BOSTokenID[0] != 151643 || len(c.EOSTokenID) != 1 || c.EOSTokenID[0] != 151645 {
		t.Errorf("bos %v eos %v", c.BOSTokenID, c.EOSTokenID)
	}
	if c.QDim() != 4096 || c.KVDim() != 1024 || c.KVHeadsPerGroup() != 4 {
		t.Errorf("derived dims q=%d kv=%d group=%d", c.QDim(), c.KVDim(), c.KVHeadsPerGroup())
	}
}

func TestParseDefaults(t *testing.T) {
	// No head_dim, no num_key_value_heads, no rope_theta, eos as a list.
	c, err := Parse([]byte(`{"model_type":"qwen3","vocab_size":100,"hidden_size":64,"intermediate_size":96,
		"num_hidden_layers":2,"num_attention_heads":4,"max_position_embeddings":128,"eos_token_id":[1,2]}`), "c.json")
	if err != nil {
		t.Fatal(err)
	}
	if c.HeadDim != 16 || c.NumKeyValueHeads != 4 || c.RopeTheta != DefaultRopeTheta || c.RMSNormEps != 1e-6 {
		t.Errorf("defaults: head_dim %d kv %d theta %g eps %g", c.HeadDim, c.NumKeyValueHeads, c.RopeTheta, c.RMSNormEps)
	}
	if len(c.EOSTokenID) != 2 || c.EOSTokenID[1] != 2 {
		t.Errorf("eos list %v", c.EOSTokenID)
	}
}

func TestParseErrors(t *testing.T) {
	edit := func(from, to string) string {
		if !strings.Contains(qwen3_8B, from) {
			t.Fatalf("fixture lacks %q", from)
		}
		return strings.Replace(qwen3_8B, from, to, 1)
	}
	cases := []struct {
		name, json, want string
	}{
		{"not json", `{"model_type":`, `config.json: not a JSON object`},
		{"missing hidden_size", edit(`"hidden_size": 4096,`, ``), `config.json: field "hidden_size" is missing`},
		{"heads not divisible", edit(`"num_key_value_heads": 8`, `"num_key_value_heads": 5`), `field "num_attention_heads" (32) is not divisible by "num_key_value_heads" (5)`},
		{"wrong model type", edit(`"model_type": "qwen3"`, `"model_type": "llama"`), `field "model_type" is "llama", want "qwen3"`},
		{"wrong architecture", edit(`"Qwen3ForCausalLM"`, `"Qwen3MoeForCausalLM"`), `field "architectures" names "Qwen3MoeForCausalLM"`},
		{"zero layers", edit(`"num_hidden_layers": 36`, `"num_hidden_layers": 0`), `field "num_hidden_layers" is 0, want a positive integer`},
		{"negative vocab", edit(`"vocab_size": 151936`, `"vocab_size": -1`), `field "vocab_size" is -1`},
		{"yarn scaling", edit(`"rope_scaling": null`, `"rope_scaling": {"rope_type": "yarn", "factor": 4.0}`), `field "rope_scaling" has type "yarn", which Ember does not implement`},
		{"string size", edit(`"hidden_size": 4096`, `"hidden_size": "4096"`), `field "hidden_size": want int`},
		{"eos out of vocab", edit(`"eos_token_id": 151645`, `"eos_token_id": [151645, 200000]`), `token id 200000`},
		{"eos wrong type", edit(`"eos_token_id": 151645`, `"eos_token_id": "x"`), `want an integer or a list of integers`},
		{"odd head_dim", edit(`"head_dim": 128`, `"head_dim": 127`), `field "head_dim" is 127, want an even number`},
		{"dtype", edit(`"torch_dtype": "bfloat16"`, `"torch_dtype": "int8"`), `field "torch_dtype" is "int8"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.json), "config.json")
			if err == nil {
				t.Fatalf("no error, want one containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			if !strings.Contains(err.Error(), "config.json") {
				t.Errorf("error %q does not name the file", err)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %q does not wrap ErrInvalid", err)
			}
			if strings.Count(strings.TrimSpace(err.Error()), "\n") > 0 {
				t.Errorf("error spans several lines: %q", err)
			}
		})
	}
}

func TestGeneration(t *testing.T) {
	g, err := ParseGeneration([]byte(`{"bos_token_id":151643,"do_sample":true,"eos_token_id":[151645,151643],
		"pad_token_id":151643,"temperature":0.6,"top_k":20,"top_p":0.95}`), "generation_config.json")
	if err != nil {
		t.Fatal(err)
	}
	if *g.Temperature != 0.6 || *g.TopK != 20 || *g.TopP != 0.95 || !*g.DoSample || g.MinP != nil {
		t.Errorf("parsed %+v", g)
	}
	eos := EOS(&Config{EOSTokenID: TokenIDs{7}}, g)
	if len(eos) != 2 || eos[0] != 151645 || eos[1] != 151643 {
		t.Errorf("EOS = %v, want generation_config's [151645 151643]", eos)
	}
	if eos := EOS(&Config{EOSTokenID: TokenIDs{7}}, &Generation{}); len(eos) != 1 || eos[0] != 7 {
		t.Errorf("EOS fallback = %v, want config's [7]", eos)
	}
	for _, bad := range []struct{ json, want string }{
		{`{"top_p": 1.5}`, `field "top_p" is 1.5`},
		{`{"top_k": -1}`, `field "top_k" is -1`},
		{`{"temperature": "hot"}`, `field "temperature"`},
		{`[1]`, `not a JSON object`},
	} {
		_, err := ParseGeneration([]byte(bad.json), "generation_config.json")
		if err == nil || !strings.Contains(err.Error(), bad.want) || !strings.Contains(err.Error(), "generation_config.json") {
			t.Errorf("ParseGeneration(%s) error %v, want one naming the file and %q", bad.json, err, bad.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(qwen3_8B))
	f.Add([]byte(`{"model_type":"qwen3","vocab_size":1,"hidden_size":2,"intermediate_size":2,"num_hidden_layers":1,"num_attention_heads":1,"max_position_embeddings":1}`))
	f.Add([]byte(`{"rope_scaling":{"type":"linear"}}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"eos_token_id":[1,"a"]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, "config.json")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "config.json: ") {
				t.Errorf("error %q does not start with the file name", err)
			}
			return
		}
		if c.NumAttentionHeads%c.NumKeyValueHeads != 0 || c.HeadDim <= 0 || c.HiddenSize <= 0 {
			t.Errorf("accepted an invalid config: %+v", c)
		}
	})
}

func FuzzParseGeneration(f *testing.F) {
	f.Add([]byte(`{"eos_token_id":[151645,151643],"temperature":0.6}`))
	f.Add([]byte(`{"top_k":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = ParseGeneration(data, "generation_config.json")
	})
}
