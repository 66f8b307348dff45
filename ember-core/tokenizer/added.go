package tokenizer

import (
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// AddedToken is one entry of a tokenizer.json "added_tokens" list: a string
// matched in the input before normalization and pre-tokenization. Its ID is
// the one HF assigns: a content already in the model vocabulary keeps that
// id; otherwise ids follow the vocabulary in list order (for every real file
// this is the id written there).
type AddedToken struct {
	ID         int32
	Content    string
	SingleWord bool // only match when not inside a word
	LStrip     bool // also swallow the whitespace on its left
	RStrip     bool // also swallow the whitespace on its right
	Normalized bool // match against the normalized text instead of the raw text
	Special    bool // skipped by Decode(ids, true)
}

// addedMatcher finds added tokens in text the way HF's AddedVocabulary does:
// an Aho-Corasick automaton with leftmost-longest semantics, then the
// single_word / lstrip / rstrip adjustments of find_matches.
type addedMatcher struct {
	byFirst [256][]*AddedToken // candidates by first byte, longest first
	pattern map[*AddedToken]string
}

func newAddedMatcher(tokens []*AddedToken, pattern func(*AddedToken) string) *addedMatcher {
	m := &addedMatcher{pattern: map[*AddedToken]string{}}
	for _, t := range tokens {
		p := pattern(t)
		if p == "" {
			continue
		}
		m.pattern[t] = p
		m.byFirst[p[0]] = append(m.byFirst[p[0]], t)
	}
	for i := range m.byFirst {
		c := m.byFirst[i]
		// Longest first; equal lengths keep insertion order (the first
		// pattern wins, as in aho-corasick).
		sort.SliceStable(c, func(a, b int) bool { return len(m.pattern[c[a]]) > len(m.pattern[c[b]]) })
	}
	return m
}

func (m *addedMatcher) empty() bool { return len(m.pattern) == 0 }

// next returns the leftmost-longest match at or after from.
func (m *addedMatcher) next(s string, from int) (a, b int, tok *AddedToken) {
	for i := from; i < len(s); i++ {
		for _, t := range m.byFirst[s[i]] {
			if p := m.pattern[t]; strings.HasPrefix(s[i:], p) {
				return i, i + len(p), t
			}
		}
	}
	return -1, -1, nil
}

// split cuts s into text pieces (tok == nil) and added tokens, calling emit
// for each in order. Pieces may be empty only when s is.
func (m *addedMatcher) split(s string, emit func(piece string, tok *AddedToken)) {
	if m.empty() || s == "" {
		emit(s, nil)
		return
	}
	startOffset := 0
	for pos := 0; pos < len(s); {
		a, b, tok := m.next(s, pos)
		if tok == nil {
			break
		}
		pos = b
		if tok.SingleWord {
			startSpace := a == 0 || !endsWithWord(s[:a])
			stopSpace := b == len(s) || !startsWithWord(s[b:])
			if !startSpace || !stopSpace {
				continue
			}
		}
		if tok.LStrip {
			a = max(leftmostSpaceAtEnd(s[:a]), startOffset)
		}
		if tok.RStrip {
			b += rightmostSpaceAtStart(s[b:])
		}
		if startOffset < a {
			emit(s[startOffset:a], nil)
		}
		emit(s[a:b], tok)
		startOffset = b
		// rstrip may have swallowed text past the automaton's position; the
		// automaton itself goes on from the end of the raw match, as in HF.
	}
	if startOffset < len(s) {
		emit(s[startOffset:], nil)
	}
}

// isWordRune is Rust regex's Unicode \w: Alphabetic, marks, decimal digits,
// connector punctuation and the joiners.
func isWordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.Is(unicode.Nl, r) || unicode.Is(unicode.Other_Alphabetic, r) ||
		unicode.IsMark(r) || unicode.Is(unicode.Nd, r) || unicode.Is(unicode.Pc, r) ||
		r == 0x200C || r == 0x200D
}

func endsWithWord(s string) bool {
	r, n := utf8.DecodeLastRuneInString(s)
	return n > 0 && isWordRune(r)
}

func startsWithWord(s string) bool {
	r, n := utf8.DecodeRuneInString(s)
	return n > 0 && isWordRune(r)
}

// leftmostSpaceAtEnd is the start of the trailing whitespace of s.
func leftmostSpaceAtEnd(s string) int {
	return len(strings.TrimRightFunc(s, unicode.IsSpace))
}

// rightmostSpaceAtStart is the length of the leading whitespace of s.
func rightmostSpaceAtStart(s string) int {
	return len(s) - len(strings.TrimLeftFunc(s, unicode.IsSpace))
}
