package tokenizer

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"golang.org/x/text/unicode/norm"
)

var testSpecials = []string{"<|endoftext|>", "<|im_start|>", "<|im_end|>"}

// testCorpus is a deterministic mix of prose, code, numbers, CJK, emoji,
// accents and odd whitespace, about size bytes long.
func testCorpus(size int) []string {
	words := []string{"the", "model", "token", "layer", "split", "memory", "GPU", "device", "attention",
		"don't", "We'll", "I'M", "it's", "naïve", "café", "Straße", "über", "déjà", "vu",
		"你好", "世界", "模型", "推理", "日本語", "テキスト", "한국어", "Привет", "мир", "γειά", "עברית", "العربية",
		"😀", "👍🏽", "👨\u200d👩\u200d👧", "🇺🇸", "42", "3.14159", "1,024", "2025-01-01", "0x7f",
		"func", "return", "x+1;", "{", "}", "(", ")", "==", "!=", "//", "#", "->", "...", "—", "«»"}
	seps := []string{" ", " ", " ", " ", "  ", "\n", "\n\n", "\t", ", ", ". ", "\u00a0", "\u3000", "\r\n", "    "}
	r := rand.New(rand.NewPCG(7, 11))
	var docs []string
	total := 0
	for total < size {
		var sb strings.Builder
		n := 20 + r.IntN(200)
		for i := 0; i < n; i++ {
			sb.WriteString(words[r.IntN(len(words))])
			sb.WriteString(seps[r.IntN(len(seps))])
		}
		docs = append(docs, sb.String())
		total += sb.Len()
	}
	return docs
}

// roundTripTexts are strings the trained tokenizer has not seen.
var roundTripTexts = []string{
	"",
	"Hello, World! How are you doing today?",
	"DON'T stop; we'LL see. I'D say it'ſ fine",
	"1234567890 + 0.5 = ½ ≠ Ⅻ",
	"tabs\tand\nnewlines\r\n\r\n  and   spaces   ",
	"\u00a0\u2003\u3000\u2028\u0085 unicode spaces \u202f",
	"Zürich, København, São Paulo, Ελλάδα, Україна",
	"e\u0301 a\u0308 o\u0302 — decomposed accents",
	"これは日本語の文章です。中文也可以。한국어도 됩니다.",
	"emoji: 🧑\u200d💻 👩🏿\u200d🚀 🏳️\u200d🌈 ❤️\u200d🔥 #️⃣",
	"<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n",
	"<|im_end|><|im_end|><|endoftext|>text<|im_start",
	"code: for i := 0; i < n; i++ { sum += a[i] * b[i] }",
	"\x00\x01\x7f control \ufeff bom \U0010FFFD private \ue000",
	"a\u07fd\u0301 \U00011935\U00011930 new marks",
	strings.Repeat("long repeated words ", 50),
}

// splitSpecials cuts s around the specials, leftmost-longest; it is the
// test's own reading of how HF isolates added tokens.
func splitSpecials(s string, specials []string) (pieces []string, isSpecial []bool) {
	start := 0
	for i := 0; i < len(s); {
		best := ""
		for _, sp := range specials {
			if strings.HasPrefix(s[i:], sp) && len(sp) > len(best) {
				best = sp
			}
		}
		if best == "" {
			i++
			continue
		}
		pieces, isSpecial = append(pieces, s[start:i]), append(isSpecial, false)
		pieces, isSpecial = append(pieces, best), append(isSpecial, true)
		i += len(best)
		start = i
	}
	return append(pieces, s[start:]), append(isSpecial, false)
}

// wantRoundTrip is what decode(encode(s)) must give: s made valid, with each
// stretch between specials NFC-normalized on its own (HF normalizes each
// piece separately).
func wantRoundTrip(s string, specials []string) string {
	pieces, special := splitSpecials(lossyString(s), specials)
	var sb strings.Builder
	for i, p := range pieces {
		if special[i] {
			sb.WriteString(p)
		} else {
			sb.WriteString(normalizeAsHF(norm.NFC, p))
		}
	}
	return sb.String()
}

func buildTest(t testing.TB, size, vocab int) *Tokenizer {
	t.Helper()
	tk, err := Build(testCorpus(size), vocab, testSpecials)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func TestBuildRoundTrip(t *testing.T) {
	tk := buildTest(t, 100_000, 1000)
	r := rand.New(rand.NewPCG(3, 4))
	texts := slices.Clone(roundTripTexts)
	for i := 0; i < 300; i++ {
		texts = append(texts, randomText(r, 1+r.IntN(40)))
	}
	for _, s := range texts {
		ids := tk.Encode(s)
		if got, want := tk.Decode(ids, false), wantRoundTrip(s, testSpecials); got != want {
			t.Errorf("Decode(Encode(%q)) = %q, want %q", s, got, want)
		}
	}
	// Plain NFC for text without specials or Unicode-version edge cases.
	for _, s := range []string{"Ame\u0301lie", "ﬁve Å", "x"} {
		if got := tk.Decode(tk.Encode(s), false); got != norm.NFC.String(s) {
			t.Errorf("round trip of %q = %q", s, got)
		}
	}
}

func TestBuildLayout(t *testing.T) {
	tk := buildTest(t, 50_000, 600)
	if got := tk.VocabSize(); got != 603 {
		t.Errorf("VocabSize() = %d, want 600 + 3 specials", got)
	}
	for b := 0; b < 256; b++ {
		if s, ok := tk.Token(int32(b)); !ok || s != byteToStr[b] {
			t.Fatalf("Token(%d) = %q, want the byte token %q", b, s, byteToStr[b])
		}
	}
	for i, sp := range testSpecials {
		id := int32(600 + i)
		if got := tk.Encode(sp); !slices.Equal(got, []int32{id}) {
			t.Errorf("Encode(%q) = %v, want [%d]", sp, got, id)
		}
		if !tk.IsSpecial(id) {
			t.Errorf("IsSpecial(%d) = false", id)
		}
	}
	// Training must have learned something: common words are single tokens.
	if got := tk.Encode(" the"); len(got) != 1 {
		t.Errorf(`Encode(" the") = %v, want one token`, got)
	}
	// Specials are cut out of the training text, never learned as merges.
	if _, ok := tk.model.vocab["<|"]; ok {
		t.Error(`"<|" was learned from specials in the corpus`)
	}
}

func TestBuildErrors(t *testing.T) {
	if _, err := Build([]string{"abc"}, 255, nil); err == nil {
		t.Error("Build with vocabulary 255 succeeded")
	}
	tk, err := Build(nil, 300, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := tk.VocabSize(); got != 256 {
		t.Errorf("empty corpus: VocabSize() = %d, want 256", got)
	}
	if got := tk.Decode(tk.Encode("ok ✓"), false); got != "ok ✓" {
		t.Errorf("byte-only round trip = %q", got)
	}
}

func TestMarshalJSONRoundTrip(t *testing.T) {
	for _, tk := range []*Tokenizer{buildTest(t, 50_000, 800), loadTiny(t)} {
		data, err := tk.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		back, err := Parse(data, "marshalled.json")
		if err != nil {
			t.Fatalf("Parse(MarshalJSON()): %v", err)
		}
		again, err := back.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(data, again) {
			t.Error("MarshalJSON is not stable across Parse")
		}
		if back.VocabSize() != tk.VocabSize() {
			t.Errorf("VocabSize %d after round trip, want %d", back.VocabSize(), tk.VocabSize())
		}
		for _, s := range roundTripTexts {
			if a, b := tk.Encode(s), back.Encode(s); !slices.Equal(a, b) {
				t.Errorf("Encode(%q) = %v before MarshalJSON, %v after", s, a, b)
			}
		}
	}
}

func TestBuildDeterministic(t *testing.T) {
	a, _ := buildTest(t, 30_000, 500).MarshalJSON()
	b, _ := buildTest(t, 30_000, 500).MarshalJSON()
	if !bytes.Equal(a, b) {
		t.Error("two Builds of the same corpus differ")
	}
}

// Build's speed (300 KB in well under 2 s) is measured by BenchmarkBuild300KB,
// not asserted in a timed test.
func BenchmarkBuild300KB(b *testing.B) {
	corpus := testCorpus(300_000)
	for b.Loop() {
		if _, err := Build(corpus, 4000, testSpecials); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	tk := buildTest(b, 300_000, 4000)
	text := strings.Join(testCorpus(100_000), "")
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		tk.Encode(text)
	}
}

func ExampleBuild() {
	tk, err := Build([]string{"hello hello hello world"}, 260, []string{"<|im_end|>"})
	if err != nil {
		panic(err)
	}
	ids := tk.Encode("hello<|im_end|>")
	fmt.Println(ids, tk.Decode(ids, true))
	// Output: [259 260] hello
}

// TestBuildCovering: a corpus that runs out of merges (a few hundred bytes)
// still gives a tokenizer with a token for every one of the model's ids.
func TestBuildCovering(t *testing.T) {
	corpus := []string{"hello hello world, the world says hello"}
	tk, err := BuildCovering(corpus, 2000, testSpecials, 5000)
	if err != nil {
		t.Fatal(err)
	}
	if got := tk.VocabSize(); got != 5000 {
		t.Fatalf("VocabSize() = %d, want 5000", got)
	}
	plain, err := Build(corpus, 2000, testSpecials)
	if err != nil {
		t.Fatal(err)
	}
	learned := plain.VocabSize() - len(testSpecials) // 256 bytes + the merges the corpus allows
	if learned >= 2000 {
		t.Fatalf("the corpus gave %d tokens; the test wants one that runs out of merges", learned)
	}
	for id := range int32(5000) {
		s, ok := tk.Token(id)
		switch {
		case !ok:
			t.Fatalf("id %d has no token", id)
		case int(id) < learned:
			if p, _ := plain.Token(id); p != s {
				t.Fatalf("id %d is %q, Build gives %q", id, s, p)
			}
		case int(id) < 5000-len(testSpecials):
			if want := fmt.Sprintf("<|unused_%d|>", int(id)-learned); s != want || tk.Decode([]int32{id}, false) != want {
				t.Fatalf("id %d is %q, want %q", id, s, want)
			}
		default:
			if want := testSpecials[int(id)-(5000-len(testSpecials))]; s != want || !tk.IsSpecial(id) {
				t.Fatalf("id %d is %q (special %v), want special %q", id, s, tk.IsSpecial(id), want)
			}
		}
	}
	// Encoding is unchanged: the fillers have no merges leading to them.
	for _, s := range []string{"hello world", "<|unused_3|>", "x" + testSpecials[0]} {
		a, b := tk.Encode(s), plain.Encode(s)
		for i := range b {
			if int(b[i]) >= learned { // a special: shifted to the end
				b[i] += int32(5000 - plain.VocabSize())
			}
		}
		if !slices.Equal(a, b) {
			t.Errorf("Encode(%q) = %v, Build's tokenizer gives %v", s, a, b)
		}
	}
	if _, err := BuildCovering(corpus, 2000, testSpecials, 2002); err == nil {
		t.Error("BuildCovering with too few ids succeeded")
	}
}
