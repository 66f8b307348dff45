package tokenizer

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// testdata/tiny.json is a hand-written Qwen2-layout tokenizer (NFC, Qwen2
// Split regex, ByteLevel, BPE) with this vocabulary:
//
//	 0 h   1 e   2 l   3 o   4 w   5 r   6 d   7 s   8 t   9 i  10 m  11 n  12 '
//	13 <  14 |  15 >  16 _  17 1  18 2  19 Ġ (space)  20 Ċ (\n)  21 ĉ (\t)
//	22 Ã (byte C3)  23 © (byte A9)  24 Â (byte C2)  25 ł (byte A0)
//
// and these merges, by rank (the result's id in brackets):
//
//	0 "h e" [26 he]        5 "o r" [31 or]          10 "Ã ©" [36 Ã© = é]
//	1 "l l" [27 ll]        6 "Ġw or" [32 Ġwor]      11 "l d" [37 ld]
//	2 "he ll" [28 hell]    7 "Ġwor l" [33 Ġworl]    12 "Ġ Ġ" [38 ĠĠ]
//	3 "hell o" [29 hello]  8 "Ġworl d" [34 Ġworld]  13 "' t" [39 't]
//	4 "Ġ w" [30 Ġw]        9 "' s" [35 's]
//
// plus the special added tokens 40 <|endoftext|>, 41 <|im_start|>,
// 42 <|im_end|>. There is no unk token: a character outside the vocabulary
// is dropped, as HF drops it. (Every expectation below was also checked
// against Hugging Face tokenizers 0.23.2.)
func loadTiny(t *testing.T) *Tokenizer {
	t.Helper()
	tk, err := Load(filepath.Join("testdata", "tiny.json"))
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func TestEncodeTiny(t *testing.T) {
	tk := loadTiny(t)
	tests := []struct {
		name string
		in   string
		want []int32
	}{
		// "hello": h e l l o → he(0) ll(1) → hell(2) → hello(3).
		// " world": Ġ w o r l d → Ġw(4), or(5) → Ġwor(6) → Ġworl(7) beats
		// l d(11) → Ġworld(8).
		{"two words", "hello world", []int32{29, 34}},
		// The regex cuts "'s" off; ' s merges at rank 9.
		{"contraction", "hello's", []int32{29, 35}},
		// o l d: no "o l" merge; "l d" (rank 11) applies.
		{"rank order", "old", []int32{3, 37}},
		// w o r l d without the space: or(5), then ld(11); no "w or" merge.
		{"no space", "world", []int32{4, 31, 37}},
		// "\n" is its own word (\s*[\r\n]+) and maps to Ċ.
		{"newline", "hello\nworld", []int32{29, 20, 4, 31, 37}},
		// é is C3 A9 → Ã © → merge 10.
		{"composed", "é", []int32{36}},
		// NFC first: e + U+0301 becomes é.
		{"decomposed", "e\u0301", []int32{36}},
		{"specials around text", "<|im_start|>hello<|im_end|>", []int32{41, 29, 42}},
		{"adjacent specials", "<|im_end|><|im_end|>", []int32{42, 42}},
		{"special at end", "hello<|im_start|>", []int32{29, 41}},
		{"special alone", "<|im_start|>", []int32{41}},
		// Words "<|", "im", "_end": characters only, no merges apply.
		{"not split inside", "<|im_end", []int32{13, 14, 9, 10, 16, 1, 11, 6}},
		{"special then tab", "<|endoftext|>\t", []int32{40, 21}},
		// \s+(?!\S) leaves the last space to the word: " ", " world".
		{"two leading spaces", "  world", []int32{19, 34}},
		// Trailing spaces stay one word: ĠĠ (merge 12).
		{"trailing spaces", "hello  ", []int32{29, 38}},
		// "it" + "'s".
		{"it's", "it's", []int32{9, 8, 35}},
		// Digits are split one by one.
		{"digits", "12", []int32{17, 18}},
		// NBSP (C2 A0) is the optional non-letter before a word.
		{"nbsp word", "\u00a0world", []int32{24, 25, 4, 31, 37}},
		// Case-insensitive contraction "'T": ' kept, T not in the vocabulary.
		{"unknown letters dropped", "it'T", []int32{9, 8, 12}},
		{"all unknown", "HELLO", []int32{}},
		{"empty", "", []int32{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tk.Encode(tt.in)
			if !slices.Equal(got, tt.want) {
				t.Errorf("Encode(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestDecodeTiny(t *testing.T) {
	tk := loadTiny(t)
	tests := []struct {
		name        string
		ids         []int32
		skipSpecial bool
		want        string
	}{
		{"words", []int32{29, 34}, false, "hello world"},
		{"lone lead byte", []int32{22}, false, "\uFFFD"},
		// C3 C3 A9: the first C3 is cut off by the second, which completes é.
		{"lead byte then é", []int32{22, 22, 23}, false, "\uFFFDé"},
		{"invalid then ascii", []int32{22, 13, 14}, false, "\uFFFD<|"},
		{"nbsp", []int32{24, 25}, false, "\u00a0"},
		{"keep specials", []int32{41, 29, 42}, false, "<|im_start|>hello<|im_end|>"},
		{"skip specials", []int32{41, 29, 42}, true, "hello"},
		{"id with no token", []int32{999, -1, 29}, false, "<|id:999|><|id:-1|>hello"},
		{"id with no token, skipping specials", []int32{41, 999, 42}, true, "<|id:999|>"},
		// The marker after a cut-off lead byte: the byte is U+FFFD, the marker intact.
		{"lead byte then no token", []int32{22, 1000}, false, "\uFFFD<|id:1000|>"},
		{"empty", nil, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tk.Decode(tt.ids, tt.skipSpecial); got != tt.want {
				t.Errorf("Decode(%v, %v) = %q, want %q", tt.ids, tt.skipSpecial, got, tt.want)
			}
		})
	}
}

func TestLossyUTF8(t *testing.T) {
	// Expectations follow Rust's String::from_utf8_lossy (maximal subparts).
	tests := []struct {
		in   string
		want string
	}{
		{"abc", "abc"},
		{"\xe4\xbd", "\uFFFD"},                 // truncated 3-byte sequence: one U+FFFD
		{"\xe4\xbd\xe4\xbd\xa0", "\uFFFD你"},    // truncated, then complete
		{"\xff\xfe", "\uFFFD\uFFFD"},           // never valid: one each
		{"\xed\xa0\x80", "\uFFFD\uFFFD\uFFFD"}, // surrogate: ED then A0 is out of range
		{"\xf0\x9f\x98", "\uFFFD"},             // truncated emoji
		{"\xf0\x9f\x98\x80!", "😀!"},
		{"\xc0\xaf", "\uFFFD\uFFFD"},                     // overlong
		{"\xf4\x90\x80\x80", "\uFFFD\uFFFD\uFFFD\uFFFD"}, // above U+10FFFF
		{"a\x80b", "a\uFFFDb"},
	}
	for _, tt := range tests {
		if got := lossyUTF8([]byte(tt.in)); got != tt.want {
			t.Errorf("lossyUTF8(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestAccessors(t *testing.T) {
	tk := loadTiny(t)
	if got := tk.VocabSize(); got != 43 {
		t.Errorf("VocabSize() = %d, want 43", got)
	}
	lookups := []struct {
		tok string
		id  int32
	}{{"h", 0}, {"Ġworld", 34}, {"<|im_end|>", 42}, {"<|endoftext|>", 40}}
	for _, l := range lookups {
		if id, ok := tk.TokenID(l.tok); !ok || id != l.id {
			t.Errorf("TokenID(%q) = %d, %v; want %d", l.tok, id, ok, l.id)
		}
		if s, ok := tk.Token(l.id); !ok || s != l.tok {
			t.Errorf("Token(%d) = %q, %v; want %q", l.id, s, ok, l.tok)
		}
	}
	if _, ok := tk.TokenID("nope"); ok {
		t.Error(`TokenID("nope") found`)
	}
	if _, ok := tk.Token(43); ok {
		t.Error("Token(43) found")
	}
	if !tk.IsSpecial(41) || tk.IsSpecial(29) || tk.IsSpecial(-5) {
		t.Error("IsSpecial wrong")
	}
	if n := len(tk.AddedTokens()); n != 3 {
		t.Errorf("AddedTokens() has %d tokens, want 3", n)
	}
}

func TestParseErrors(t *testing.T) {
	base, err := os.ReadFile(filepath.Join("testdata", "tiny.json"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(base)
	tests := []struct {
		name        string
		data        string
		wantField   string
		unsupported bool
	}{
		{"not json", "{", "invalid JSON", false},
		{"unigram", strings.Replace(doc, `"type": "BPE"`, `"type": "Unigram"`, 1), `model.type: unsupported model type "Unigram"`, true},
		{"no model", `{"added_tokens": []}`, "model: missing", false},
		{"lowercase", strings.Replace(doc, `"normalizer": {
    "type": "NFC"
  }`, `"normalizer": {"type": "Lowercase"}`, 1), `normalizer.type: unsupported normalizer type "Lowercase"`, true},
		{"whitespace pre", strings.Replace(doc, `"type": "Split"`, `"type": "Whitespace"`, 1), `pre_tokenizer.pretokenizers[0].type: unsupported pre-tokenizer type "Whitespace"`, true},
		{"bad regex", strings.Replace(doc, `"Regex": "(?i:`, `"Regex": "((?i:`, 1), "pre_tokenizer.pretokenizers[0].pattern.Regex", false},
		{"bad behavior", strings.Replace(doc, `"Isolated"`, `"Sideways"`, 1), `pre_tokenizer.pretokenizers[0].behavior: unsupported split behavior "Sideways"`, true},
		{"merge token missing", strings.Replace(doc, `"h e"`, `"h q"`, 1), `model.merges: merge 0: token "q" is not in the vocabulary`, false},
		{"merge result missing", strings.Replace(doc, `"he": 26`, `"hx": 26`, 1), `model.merges: merge 0: merged token "he" is not in the vocabulary`, false},
		{"bad merge string", strings.Replace(doc, `"h e"`, `"h e x"`, 1), "model.merges", false},
		{"negative id", strings.Replace(doc, `"h": 0`, `"h": -1`, 1), "model.vocab", false},
		{"dropout", strings.Replace(doc, `"dropout": null`, `"dropout": 0.1`, 1), "model.dropout", true},
		{"unk missing", strings.Replace(doc, `"unk_token": null`, `"unk_token": "<unk>"`, 1), `model.unk_token: "<unk>" is not in the vocabulary`, false},
		{"decoder", strings.Replace(doc, `"decoder": {
    "type": "ByteLevel"`, `"decoder": {
    "type": "WordPiece"`, 1), `decoder.type: unsupported decoder type "WordPiece"`, true},
		{"post processor", strings.Replace(doc, `"post_processor": {
    "type": "ByteLevel"`, `"post_processor": {
    "type": "TemplateProcessing"`, 1), "post_processor.type", true},
		{"added id", strings.Replace(doc, `"id": 40`, `"id": -40`, 1), "added_tokens[0].id", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.data == doc {
				t.Fatal("test edit did not apply")
			}
			_, err := Parse([]byte(tt.data), "x.json")
			if err == nil {
				t.Fatal("Parse succeeded")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "tokenizer x.json: ") || !strings.Contains(msg, tt.wantField) {
				t.Errorf("error %q does not name file and %q", msg, tt.wantField)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error %q is more than one line", msg)
			}
			if got := errors.Is(err, ErrUnsupported); got != tt.unsupported {
				t.Errorf("errors.Is(err, ErrUnsupported) = %v, want %v", got, tt.unsupported)
			}
		})
	}
	if _, err := Load(filepath.Join("testdata", "missing.json")); err == nil || !strings.Contains(err.Error(), "missing.json") {
		t.Errorf("Load of a missing file: %v", err)
	}
}

func TestMergesAsPairs(t *testing.T) {
	base, err := os.ReadFile(filepath.Join("testdata", "tiny.json"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(base)
	for _, m := range []string{"h e", "l l", "he ll", "hell o", "Ġ w", "o r", "Ġw or", "Ġwor l", "Ġworl d", "' s", "Ã ©", "l d", "Ġ Ġ", "' t"} {
		a, b, _ := strings.Cut(m, " ")
		doc = strings.Replace(doc, `"`+m+`"`, `["`+a+`", "`+b+`"]`, 1)
	}
	tk, err := Parse([]byte(doc), "pairs.json")
	if err != nil {
		t.Fatal(err)
	}
	if got := tk.Encode("hello world"); !slices.Equal(got, []int32{29, 34}) {
		t.Errorf("Encode with pair merges = %v, want [29 34]", got)
	}
}

func TestConcurrentEncode(t *testing.T) {
	tk := loadTiny(t)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				if got := tk.Encode("hello world old"); !slices.Equal(got, []int32{29, 34, 19, 3, 37}) {
					t.Errorf("Encode = %v", got)
					return
				}
			}
		}()
	}
	wg.Wait()
}
