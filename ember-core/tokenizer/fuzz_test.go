package tokenizer

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

// FuzzParse feeds arbitrary bytes to the tokenizer.json parser. Whatever
// parses must encode, decode and survive MarshalJSON → Parse unchanged.
func FuzzParse(f *testing.F) {
	tiny, err := os.ReadFile(filepath.Join("testdata", "tiny.json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(tiny)
	f.Add([]byte(`{"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":["a b"]}}`))
	f.Add([]byte(`{"model":{"vocab":{"a":0,"b":1,"ab":2},"merges":[["a","b"]]},"added_tokens":[{"id":9,"content":"b","special":true,"lstrip":true}]}`))
	f.Add([]byte(`{"model":{"type":"BPE","vocab":{"a":2147483647},"merges":[]},"added_tokens":[{"id":1,"content":"x"}]}`))
	f.Add([]byte(`{"pre_tokenizer":{"type":"Split","pattern":{"Regex":"(?i)a+"},"behavior":"Contiguous","invert":true},"model":{"type":"BPE","vocab":{},"merges":[]}}`))
	f.Add([]byte(`{"normalizer":{"type":"Sequence","normalizers":[{"type":"NFKD"}]},"model":{"type":"WordPiece"}}`))
	f.Add([]byte(`{"model":{"type":"BPE","vocab":{"a":0},"merges":["a"]}}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"decoder":{"type":"ByteLevel"},"model":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		tk, err := Parse(data, "fuzz.json")
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("multi-line error %q", err)
			}
			return
		}
		inputs := []string{"", "hello world", "ab a b <|im_end|>", "x\u0301 \u00a0 你好 😀", "\xff\xfe"}
		for _, s := range inputs {
			ids := tk.Encode(s)
			if out := tk.Decode(ids, false); !utf8.ValidString(out) {
				t.Errorf("Decode gave invalid UTF-8 %q", out)
			}
		}
		tk.Decode([]int32{-1, 0, 1, 2, int32(tk.VocabSize()), 1 << 30}, true)
		data2, err := tk.MarshalJSON()
		if err != nil {
			t.Fatalf("MarshalJSON: %v", err)
		}
		back, err := Parse(data2, "fuzz-marshalled.json")
		if err != nil {
			t.Fatalf("Parse(MarshalJSON()): %v\n%s", err, data2)
		}
		for _, s := range inputs {
			if a, b := tk.Encode(s), back.Encode(s); !slices.Equal(a, b) {
				t.Errorf("Encode(%q) = %v, after MarshalJSON %v", s, a, b)
			}
		}
	})
}

var (
	fuzzTokOnce sync.Once
	fuzzTok     *Tokenizer
)

func fuzzTokenizer(t testing.TB) *Tokenizer {
	fuzzTokOnce.Do(func() {
		tk, err := Build(testCorpus(30_000), 500, testSpecials)
		if err != nil {
			t.Fatal(err)
		}
		fuzzTok = tk
	})
	return fuzzTok
}

// FuzzEncodeRoundTrip checks decode(encode(s)) gives back s, normalized,
// and that streaming decode agrees with Decode.
func FuzzEncodeRoundTrip(f *testing.F) {
	for _, s := range roundTripTexts {
		f.Add(s)
	}
	f.Add("\xe4\xbd\xa0\xe4\xbd")
	f.Add("<|im_end|>\u0338 >\u0338")
	f.Add("'S 'ſ 'LL \u1c89'd")
	f.Fuzz(func(t *testing.T, s string) {
		tk := fuzzTokenizer(t)
		ids := tk.Encode(s)
		got := tk.Decode(ids, false)
		if want := wantRoundTrip(s, testSpecials); got != want {
			t.Fatalf("Decode(Encode(%q)) = %q, want %q", s, got, want)
		}
		st := tk.NewStream(false)
		var sb strings.Builder
		for _, id := range ids {
			p := st.Push(id)
			if !utf8.ValidString(p) {
				t.Fatalf("Push gave invalid UTF-8 %q", p)
			}
			sb.WriteString(p)
		}
		sb.WriteString(st.Flush())
		if sb.String() != got {
			t.Fatalf("stream %q, Decode %q", sb.String(), got)
		}
	})
}

// FuzzQwen2Scanner compares the hand-written Qwen2 scanner with regexp2
// running the same pattern.
func FuzzQwen2Scanner(f *testing.F) {
	for _, s := range []string{"DON'T we'LL", "  word \t\n x", "你好，世界", "a\u00a0\u00a0b", "'ſ'K"} {
		f.Add(s)
	}
	re, err := compileRegexp2(Qwen2Pattern)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		s = strings.ToValidUTF8(s, "\uFFFD")
		got := qwen2Matcher{}.find(s, nil)
		want := regexMatcher{re}.find(s, nil)
		if !slices.Equal(got, want) {
			t.Fatalf("spans of %q: scanner %v, regexp2 %v", s, got, want)
		}
	})
}
