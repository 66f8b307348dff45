package tokenizer

import (
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

// streamAll pushes ids one by one, checking each piece is valid UTF-8, and
// returns the pieces (the last one from Flush).
func streamAll(t *testing.T, tk *Tokenizer, ids []int32, skipSpecial bool) []string {
	t.Helper()
	s := tk.NewStream(skipSpecial)
	var pieces []string
	for _, id := range ids {
		p := s.Push(id)
		if !utf8.ValidString(p) {
			t.Fatalf("Push(%d) returned invalid UTF-8 %q", id, p)
		}
		pieces = append(pieces, p)
	}
	return append(pieces, s.Flush())
}

func TestStreamBytes(t *testing.T) {
	tk := buildTest(t, 20_000, 300)
	b := func(s string) []int32 { // one byte token per byte
		ids := make([]int32, len(s))
		for i := range len(s) {
			ids[i] = int32(s[i])
		}
		return ids
	}
	tests := []struct {
		name string
		ids  []int32
		want []string // per Push, then Flush
	}{
		{"cjk split in bytes", b("你"), []string{"", "", "你", ""}},
		{"emoji split in bytes", b("😀!"), []string{"", "", "", "😀", "!", ""}},
		{"invalid then ascii", b("\xe4A"), []string{"", "\uFFFDA", ""}},
		{"truncated at end", b("a\xe4\xbd"), []string{"a", "", "", "\uFFFD"}},
		{"stray continuation", b("\xbd"), []string{"\uFFFD", ""}},
		{"two lead bytes", b("\xe4\xe4\xbd\xa0"), []string{"", "\uFFFD", "", "你", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := streamAll(t, tk, tt.ids, false)
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("pieces %q, want %q", got, tt.want)
			}
		})
	}
}

func TestStreamMatchesDecode(t *testing.T) {
	tk := buildTest(t, 50_000, 400)
	r := rand.New(rand.NewPCG(5, 6))
	var seqs [][]int32
	for _, s := range roundTripTexts {
		seqs = append(seqs, tk.Encode(s))
	}
	for i := 0; i < 300; i++ { // arbitrary ids, specials and unknown ones included
		ids := make([]int32, r.IntN(12))
		for j := range ids {
			ids[j] = int32(r.IntN(tk.VocabSize()+5)) - 2
		}
		seqs = append(seqs, ids)
	}
	for _, ids := range seqs {
		for _, skip := range []bool{false, true} {
			got := strings.Join(streamAll(t, tk, ids, skip), "")
			if want := tk.Decode(ids, skip); got != want {
				t.Errorf("stream of %v (skip %v) = %q, Decode = %q", ids, skip, got, want)
			}
		}
	}
}

func TestStreamSkipsSpecial(t *testing.T) {
	tk := loadTiny(t)
	got := streamAll(t, tk, []int32{41, 29, 34, 42}, true)
	if strings.Join(got, "|") != "|hello| world||" {
		t.Errorf("pieces %q", got)
	}
}
