package tokenizer

import (
	"slices"
	"testing"
)

// TestAddedSplit follows the cases of HF's added_vocabulary.rs tests
// (without their lowercasing normalizer); a "*" marks an added token.
func TestAddedSplit(t *testing.T) {
	tok := func(content string, single, l, r bool) *AddedToken {
		return &AddedToken{Content: content, SingleWord: single, LStrip: l, RStrip: r}
	}
	tests := []struct {
		name   string
		tokens []*AddedToken
		in     string
		want   []string
	}{
		{
			"plain",
			[]*AddedToken{tok("[CLS]", false, false, false), tok("[SEP]", false, false, false), tok("my", false, false, false), tok("name", false, false, false)},
			"[CLS] My name is Anthony [SEP]",
			[]string{"*[CLS]", " My ", "*name", " is Anthony ", "*[SEP]"},
		},
		{
			"lstrip and rstrip take the spaces",
			[]*AddedToken{tok("[CLS]", false, false, false), tok("my", false, true, true), tok("name", false, false, false)},
			"[CLS] my name is",
			[]string{"*[CLS]", "* my ", "*name", " is"},
		},
		{
			"single word",
			[]*AddedToken{tok("<mask>", true, false, false)},
			"<mask> My name <mask> A<mask> <mask>ony <mask>",
			[]string{"*<mask>", " My name ", "*<mask>", " A<mask> <mask>ony ", "*<mask>"},
		},
		{
			"single word next to punctuation and marks",
			[]*AddedToken{tok("<mask>", true, false, false)},
			"<mask>, <mask>- ◌̰<mask>",
			[]string{"*<mask>", ", ", "*<mask>", "- ◌̰<mask>"},
		},
		{
			"unicode spaces are stripped, without overlap",
			[]*AddedToken{tok("<mask>", true, true, true)},
			"Hi <mask> there\t<mask>\t<mask>\u2000",
			[]string{"Hi", "* <mask> ", "there", "*\t<mask>\t", "*<mask>\u2000"},
		},
		{
			"leftmost longest",
			[]*AddedToken{tok("<|im", false, false, false), tok("<|im_end|>", false, false, false), tok("end", false, false, false)},
			"a<|im_end|>b<|im_start|>end",
			[]string{"a", "*<|im_end|>", "b", "*<|im", "_start|>", "*end"},
		},
		{"empty", []*AddedToken{tok("x", false, false, false)}, "", []string{""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newAddedMatcher(tt.tokens, func(a *AddedToken) string { return a.Content })
			var got []string
			m.split(tt.in, func(piece string, a *AddedToken) {
				if a != nil {
					piece = "*" + piece
				}
				got = append(got, piece)
			})
			if !slices.Equal(got, tt.want) {
				t.Errorf("split(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// TestAddedIDs checks HF's id assignment: the file's ids are not used.
func TestAddedIDs(t *testing.T) {
	doc := `{"added_tokens":[
		{"id":5,"content":"X","special":true},
		{"id":3,"content":"Y","special":false},
		{"id":7,"content":"b","special":true},
		{"id":5,"content":"Z","special":false},
		{"id":9,"content":"","special":true}],
	"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":["a b"]}}`
	tk, err := Parse([]byte(doc), "ids.json")
	if err != nil {
		t.Fatal(err)
	}
	for tok, want := range map[string]int32{"X": 3, "Y": 4, "Z": 5, "b": 1, "a": 0} {
		if id, ok := tk.TokenID(tok); !ok || id != want {
			t.Errorf("TokenID(%q) = %d, %v; want %d (as tokenizers 0.23.2)", tok, id, ok, want)
		}
	}
	// "b" is an added special token, so it is cut out before BPE can merge
	// "ab"; no decoder, so tokens are joined with spaces.
	if got := tk.Encode("abXYbZa"); !slices.Equal(got, []int32{0, 1, 3, 4, 1, 5, 0}) {
		t.Errorf("Encode = %v", got)
	}
	if got := tk.Decode([]int32{0, 1, 2, 3, 4, 5, 6}, false); got != "a b ab X Y Z <|id:6|>" { // 6 has no token

		t.Errorf("Decode = %q", got)
	}
	if got := tk.Decode([]int32{0, 1, 2, 3, 4, 5, 6}, true); got != "a ab Y Z <|id:6|>" {
		t.Errorf("Decode skipping specials = %q", got)
	}
	if got := tk.VocabSize(); got != 6 {
		t.Errorf("VocabSize() = %d, want 6", got)
	}
}
