package tokenizer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestRealTokenizer runs when EMBER_TOKENIZER_JSON names a real Qwen
// tokenizer.json (e.g. from a Qwen3-0.6B snapshot): round trips over a
// varied corpus, and for the Qwen3 vocabulary the token ids Hugging Face
// tokenizers 0.23.2 gives (testdata/qwen3_golden.json).
func TestRealTokenizer(t *testing.T) {
	path := os.Getenv("EMBER_TOKENIZER_JSON")
	if path == "" {
		t.Skip("set EMBER_TOKENIZER_JSON to a Qwen tokenizer.json to run")
	}
	start := time.Now()
	tk, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("loaded %s in %v: vocabulary %d", path, time.Since(start), tk.VocabSize())
	specials := []string{}
	for _, a := range tk.AddedTokens() {
		specials = append(specials, a.Content)
	}
	corpus := append(slices.Clone(roundTripTexts), testCorpus(20_000)...)
	for _, s := range corpus {
		if got, want := tk.Decode(tk.Encode(s), false), wantRoundTrip(s, specials); got != want {
			t.Errorf("Decode(Encode(%q)) = %q, want %q", s, got, want)
		}
	}

	im, ok := tk.TokenID("<|im_end|>")
	if tk.VocabSize() != 151669 || !ok || im != 151645 {
		t.Logf("not the Qwen3 vocabulary (size %d): golden ids skipped", tk.VocabSize())
		return
	}
	data, err := os.ReadFile(filepath.Join("testdata", "qwen3_golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var golden struct {
		Cases []struct {
			Text string  `json:"text"`
			IDs  []int32 `json:"ids"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(data, &golden); err != nil {
		t.Fatal(err)
	}
	for _, c := range golden.Cases {
		if got := tk.Encode(c.Text); !slices.Equal(got, c.IDs) && !(len(got) == 0 && len(c.IDs) == 0) {
			t.Errorf("Encode(%q) = %v, HF gives %v", c.Text, got, c.IDs)
		}
	}
	prompt := ChatPrompt([]Message{{"user", "Hi"}}, true, false)
	if got := tk.Decode(tk.Encode(prompt), false); !strings.HasSuffix(got, "<think>\n\n</think>\n\n") {
		t.Errorf("chat prompt round trip = %q", got)
	}
}
