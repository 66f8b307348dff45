package tokenizer

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// The words the Qwen2 regex cuts text into, worked out by hand from the
// pattern's alternatives, tried left to right at each position:
//
//	1 (?i:'s|'t|'re|'ve|'m|'ll|'d)   contractions, any case
//	2 [^\r\n\p{L}\p{N}]?\p{L}+       a word, with one leading non-letter
//	3 \p{N}                          one digit
//	4  ?[^\s\p{L}\p{N}]+[\r\n]*      punctuation, with newlines after it
//	5 \s*[\r\n]+                     whitespace up to its last newline
//	6 \s+(?!\S)                      whitespace not followed by a non-space
//	7 \s+                            any whitespace
func TestPreTokenizeQwen2(t *testing.T) {
	tk := loadTiny(t)
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"upper contraction", "DON'T", []string{"DON", "'T"}},
		{"mixed case contraction", "we'LL", []string{"we", "'LL"}},
		{"contraction re", "They'Re", []string{"They", "'Re"}},
		{"contraction m", "I'm", []string{"I", "'m"}},
		// Oniguruma's (?i) folds ſ (U+017F) to s: "'ſ" is a contraction,
		// so the x after it starts a new word (checked against HF).
		{"long s folds to s", "it'ſx", []string{"it", "'ſ", "x"}},
		{"kelvin sign is no contraction", "'Kx", []string{"'Kx"}},
		// "'x" is no contraction: alternative 2 takes the apostrophe as the
		// word's leading non-letter.
		{"not a contraction", "'xyz", []string{"'xyz"}},
		{"digits one by one", "12345", []string{"1", "2", "3", "4", "5"}},
		{"digits after word", "abc123", []string{"abc", "1", "2", "3"}},
		{"other numbers", "Ⅻ½٣", []string{"Ⅻ", "½", "٣"}},
		{"nbsp leads word", "a\u00a0b", []string{"a", "\u00a0b"}},
		{"ideographic space leads word", "a\u3000b", []string{"a", "\u3000b"}},
		// \t\n: alternative 5 ends at the last newline.
		{"tab newline", "a\t\nb", []string{"a", "\t\n", "b"}},
		{"space newline space", "a \n b", []string{"a", " \n", " b"}},
		{"trailing spaces", "hello   ", []string{"hello", "   "}},
		// \s+(?!\S) backs off one space so that " word" keeps its space.
		{"two spaces before word", "  word", []string{" ", " word"}},
		{"three spaces inside", "a   b", []string{"a", "  ", " b"}},
		{"nbsp run before word", "a\u00a0\u00a0b", []string{"a", "\u00a0", "\u00a0b"}},
		{"tab before word", "\tword", []string{"\tword"}},
		{"cjk", "你好世界", []string{"你好世界"}},
		// A full-width comma is the non-letter that may lead a word.
		{"cjk punctuation", "你好，世界。", []string{"你好", "，世界", "。"}},
		{"japanese", "日本語のテキスト", []string{"日本語のテキスト"}},
		{"emoji zwj family", "👨\u200d👩\u200d👧", []string{"👨\u200d👩\u200d👧"}},
		{"emoji after space", "hi 👍🏽!", []string{"hi", " 👍🏽!"}},
		{"flag", "🇺🇸🇫🇷", []string{"🇺🇸🇫🇷"}},
		{"punctuation and newlines", "Hi!!!\n\nThere", []string{"Hi", "!!!\n\n", "There"}},
		{"crlf after punctuation", "x?\r\n", []string{"x", "?\r\n"}},
		{"space punctuation", "a ...", []string{"a", " ..."}},
		{"code", "f(x) {\n\treturn x+1;\n}", []string{"f", "(x", ")", " {\n", "\treturn", " x", "+", "1", ";\n", "}"}},
		// NFC runs first: e + combining acute is one letter.
		{"nfc", "cafe\u0301!", []string{"café", "!"}},
		// A lone combining mark is a non-letter that can lead a word.
		{"mark leads word", "\u0301x", []string{"\u0301x"}},
		{"only spaces", "   ", []string{"   "}},
		{"empty", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tk.PreTokenize(tt.in)
			if len(got) == 0 {
				got = nil
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("PreTokenize(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// interestingRunes feed the scanner cross-check: every class boundary the
// pattern cares about, including Unicode 16.0 letters and digits.
var interestingRunes = []rune{
	'a', 'Z', 's', 'S', 't', 'T', 'r', 'e', 'v', 'm', 'l', 'L', 'd', 'D', 'ſ', 'K', 'k', 'İ',
	'\'', '\'', '\'', ' ', ' ', ' ', '\t', '\n', '\r', '\v', '\f', 0x85, 0xa0, 0x1680, 0x2000, 0x200a,
	0x2028, 0x2029, 0x202f, 0x205f, 0x3000, 0x200b, 0xfeff, '0', '9', '٣', 'Ⅻ', '½',
	'!', '.', ',', '?', '-', '_', '(', '"', '\u0301', '\u0338', 'é', '你', '。', '，',
	'😀', '👍', 0x200d, 0x1f3fd, 'ß', 'Ω', 0x1c89, 0xa7cb, 0x105c0, 0x10d40, 0x116d0, 0x13460,
	0xe000, 0x10ffff, 0,
}

func randomText(r *rand.Rand, n int) string {
	var sb strings.Builder
	for i := 0; i < n; i++ {
		if r.IntN(8) == 0 {
			sb.WriteRune(rune(r.IntN(0x30000)))
			continue
		}
		sb.WriteRune(interestingRunes[r.IntN(len(interestingRunes))])
	}
	return strings.ToValidUTF8(sb.String(), "?")
}

// TestQwen2ScannerMatchesRegex checks the hand-written scanner against
// regexp2 running the (rewritten) Qwen2 pattern.
func TestQwen2ScannerMatchesRegex(t *testing.T) {
	re, err := compileRegexp2(Qwen2Pattern)
	if err != nil {
		t.Fatal(err)
	}
	rx := regexMatcher{re}
	check := func(s string) {
		t.Helper()
		got := qwen2Matcher{}.find(s, nil)
		want := rx.find(s, nil)
		if !slices.Equal(got, want) {
			t.Fatalf("spans of %q:\nscanner %v\nregexp2 %v", s, got, want)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 3000; i++ {
		check(randomText(r, 1+r.IntN(12)))
	}
	for _, s := range []string{"", "'s", "'S", "'ſ", "'LL", "'lL", "'re", "'RE", "' s", "  x", "x  ", "\r\n\r\n", " \t\n x", "a\u2028b"} {
		check(s)
	}
}

func TestRewritePattern(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{`(?i:'s)`, `(?i:'[sſS])`},
		{`(?i)ab|c`, `(?i)[aA][bB]|[cC]`},
		{`(?i:x)y`, `(?i:[xX])y`},
		{`(?<name>a)(?i:b)`, `(?<name>a)(?i:[bB])`},
		{`(?i)(?<word>k)`, "(?i)(?<word>[k\u212aK])"}, // with the Kelvin sign
		{`(?i)\x41[a-z]`, `(?i)\x41[a-z]`},
		{`\s+(?!\S)`, `\s+(?!\S)`},
		{`(?#note)(?i:q)`, `(?#note)(?i:[qQ])`},
	}
	for _, tt := range tests {
		got, err := rewritePattern(tt.in)
		if err != nil {
			t.Fatalf("rewritePattern(%q): %v", tt.in, err)
		}
		if got != tt.want {
			t.Errorf("rewritePattern(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	got, _ := rewritePattern(`\p{L}[^\p{N}]`)
	if !strings.HasPrefix(got, `[\p{L}`) || !strings.Contains(got, `[^\p{N}`+string(rune(0x10d40))) {
		t.Errorf("category widening missing in %q", got)
	}
	if _, err := rewritePattern(`[abc`); err == nil {
		t.Error("unterminated class accepted")
	}
}

func TestSplitBehaviors(t *testing.T) {
	// Pieces of "a,b,,c" split on ",", per HF's SplitDelimiterBehavior.
	tests := []struct {
		behavior splitBehavior
		invert   bool
		want     []string
	}{
		{behaviorRemoved, false, []string{"a", "b", "c"}},
		{behaviorIsolated, false, []string{"a", ",", "b", ",", ",", "c"}},
		{behaviorMergedWithPrevious, false, []string{"a,", "b,", ",", "c"}},
		{behaviorMergedWithNext, false, []string{"a", ",b", ",", ",c"}},
		{behaviorContiguous, false, []string{"a", ",", "b", ",,", "c"}},
		{behaviorRemoved, true, []string{",", ",", ","}},
	}
	for _, tt := range tests {
		p := &splitPre{m: literalMatcher{","}, behavior: tt.behavior, invert: tt.invert}
		if got := p.apply([]string{"a,b,,c"}); !slices.Equal(got, tt.want) {
			t.Errorf("behavior %d invert %v: %q, want %q", tt.behavior, tt.invert, got, tt.want)
		}
	}
}
