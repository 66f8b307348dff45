package snapshot

import (
	"strings"
	"testing"

	"github.com/ember-infer/ember/ember-core/config"
)

// FuzzExpected: any config.json that parses implies a tensor list of the
// right length with positive shapes, without a panic or an allocation
// sized by a hostile layer count.
func FuzzExpected(f *testing.F) {
	base := `{"model_type":"qwen3","vocab_size":1024,"hidden_size":128,"intermediate_size":384,"num_hidden_layers":%s,"num_attention_heads":4,"num_key_value_heads":2,"head_dim":32,"max_position_embeddings":2048,"rms_norm_eps":1e-6,"rope_theta":1e6,"tie_word_embeddings":true}`
	for _, l := range []string{"6", "2000000000000000000", "1e9", "4096", "-1", "0"} {
		f.Add([]byte(strings.Replace(base, "%s", l, 1)))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := config.Parse(data, "config.json")
		if err != nil {
			return
		}
		specs := Expected(c)
		want := 2 + c.NumHiddenLayers*len(LayerSuffixes)
		if !c.TieWordEmbeddings {
			want++
		}
		if len(specs) != want {
			t.Fatalf("%d specs for %d layers, want %d", len(specs), c.NumHiddenLayers, want)
		}
		for _, s := range specs {
			for _, d := range s.Shape {
				if d <= 0 {
					t.Fatalf("tensor %s has shape %v", s.Name, s.Shape)
				}
			}
		}
	})
}
