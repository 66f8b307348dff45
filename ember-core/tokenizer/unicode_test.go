package tokenizer

import (
	"slices"
	"testing"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
	"golang.org/x/text/unicode/rangetable"
)

// TestUnicodeShimsCurrent recomputes normBarriers from Go's tables and
// checks the Unicode 16.0 additions are still missing from them. A failure
// means Go or x/text moved to another Unicode version: regenerate the tables
// in unicode_tables.go (and re-derive letters16/numbers16 against HF).
func TestUnicodeShimsCurrent(t *testing.T) {
	if testing.Short() {
		t.Skip("scans all code points")
	}
	assigned9 := rangetable.Assigned("9.0.0")
	var want []rune
	var buf [utf8.UTFMax]byte
	for r := rune(0x300); r <= unicode.MaxRune; r++ {
		if r >= 0xd800 && r <= 0xdfff || unicode.Is(assigned9, r) {
			continue
		}
		b := buf[:utf8.EncodeRune(buf[:], r)]
		inert := true
		for _, f := range []norm.Form{norm.NFC, norm.NFKC} {
			p := f.Properties(b)
			if p.CCC() != 0 || len(p.Decomposition()) > 0 || !p.BoundaryBefore() || !p.BoundaryAfter() {
				inert = false
			}
		}
		if !inert {
			want = append(want, r)
		}
	}
	var got []rune
	for _, r16 := range normBarriers.R16 {
		for r := rune(r16.Lo); r <= rune(r16.Hi); r++ {
			got = append(got, r)
		}
	}
	for _, r32 := range normBarriers.R32 {
		for r := rune(r32.Lo); r <= rune(r32.Hi); r++ {
			got = append(got, r)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("normBarriers is stale: %d code points now, %d in the table", len(want), len(got))
	}
	for _, tab := range []*unicode.RangeTable{letters16, numbers16} {
		for _, r32 := range tab.R32 {
			if unicode.IsLetter(rune(r32.Lo)) || unicode.IsNumber(rune(r32.Lo)) {
				t.Errorf("Go's tables now classify %U: letters16/numbers16 need regenerating", r32.Lo)
			}
		}
	}
}

func TestNormalizeAsHF(t *testing.T) {
	tests := []struct{ in, want string }{
		{"e\u0301", "é"},
		{"Å", "Å"},
		// U+07FD (Unicode 11) is unknown to HF's Unicode 9.0 tables: it
		// blocks the composition Go alone would make.
		{"a\u07fd\u0301", "a\u07fd\u0301"},
		{"a\u0301\u07fd", "á\u07fd"},
		// U+11935 U+11930 composes to U+11938 only since Unicode 13.
		{"\U00011935\U00011930", "\U00011935\U00011930"},
		{"plain ascii", "plain ascii"},
	}
	for _, tt := range tests {
		if got := normalizeAsHF(norm.NFC, tt.in); got != tt.want {
			t.Errorf("normalizeAsHF(NFC, %+q) = %+q, want %+q", tt.in, got, tt.want)
		}
	}
	if got := normalizeAsHF(norm.NFKC, "\U0001fbf2ﬁ"); got != "\U0001fbf2fi" {
		t.Errorf("NFKC: %+q", got)
	}
}

func TestClassesUnicode16(t *testing.T) {
	for _, r := range []rune{0x1c89, 0x105c0, 0x13460, 0x2ebf0} {
		if !isL(r) {
			t.Errorf("isL(%U) = false; Unicode 16.0 makes it a letter", r)
		}
	}
	for _, r := range []rune{0x10d40, 0x1e5f1} {
		if !isN(r) {
			t.Errorf("isN(%U) = false", r)
		}
	}
	if isL('1') || isN('a') || isL(' ') {
		t.Error("basic classes wrong")
	}
}
