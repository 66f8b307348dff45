package tokenizer

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/dlclark/regexp2"
)

// Qwen2Pattern is the Split regex of the Qwen2/Qwen2.5/Qwen3 tokenizers.
const Qwen2Pattern = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`

// gpt2Pattern is the regex of the ByteLevel pre-tokenizer when use_regex is true.
const gpt2Pattern = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`

// preTokenizer splits pieces of normalized text further, or rewrites them.
type preTokenizer interface {
	apply(pieces []string) []string
}

// splitBehavior is HF's SplitDelimiterBehavior.
type splitBehavior int

const (
	behaviorRemoved splitBehavior = iota
	behaviorIsolated
	behaviorMergedWithPrevious
	behaviorMergedWithNext
	behaviorContiguous
)

var behaviorNames = map[string]splitBehavior{
	"Removed":            behaviorRemoved,
	"Isolated":           behaviorIsolated,
	"MergedWithPrevious": behaviorMergedWithPrevious,
	"MergedWithNext":     behaviorMergedWithNext,
	"Contiguous":         behaviorContiguous,
}

// matcher finds the non-overlapping matches of a pattern, as byte spans.
type matcher interface {
	find(s string, out [][2]int) [][2]int
}

// splitPre is HF's Split pre-tokenizer.
type splitPre struct {
	m        matcher
	behavior splitBehavior
	invert   bool
}

type span struct {
	a, b  int
	match bool
}

func (p *splitPre) apply(pieces []string) []string {
	var out []string
	var found [][2]int
	var spans []span
	for _, s := range pieces {
		if s == "" {
			continue
		}
		found = p.m.find(s, found[:0])
		spans = spans[:0]
		prev := 0
		for _, f := range found {
			if f[0] != prev {
				spans = append(spans, span{prev, f[0], false})
			}
			spans = append(spans, span{f[0], f[1], true})
			prev = f[1]
		}
		if prev != len(s) {
			spans = append(spans, span{prev, len(s), false})
		}
		if p.invert {
			for i := range spans {
				spans[i].match = !spans[i].match
			}
		}
		for _, sp := range p.arrange(spans) {
			if sp.b > sp.a {
				out = append(out, s[sp.a:sp.b])
			}
		}
	}
	return out
}

// arrange applies the delimiter behavior to the match/non-match spans, as
// HF's NormalizedString::split does.
func (p *splitPre) arrange(spans []span) []span {
	switch p.behavior {
	case behaviorIsolated:
		return spans
	case behaviorRemoved:
		out := spans[:0:0]
		for _, sp := range spans {
			if !sp.match {
				out = append(out, sp)
			}
		}
		return out
	case behaviorMergedWithPrevious:
		var out []span
		prevMatch := false
		for _, sp := range spans {
			if sp.match && !prevMatch && len(out) > 0 {
				out[len(out)-1].b = sp.b
			} else {
				out = append(out, sp)
			}
			prevMatch = sp.match
		}
		return out
	case behaviorMergedWithNext:
		var rev []span
		prevMatch := false
		for i := len(spans) - 1; i >= 0; i-- {
			sp := spans[i]
			if sp.match && !prevMatch && len(rev) > 0 {
				rev[len(rev)-1].a = sp.a
			} else {
				rev = append(rev, sp)
			}
			prevMatch = sp.match
		}
		for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
			rev[i], rev[j] = rev[j], rev[i]
		}
		return rev
	case behaviorContiguous:
		var out []span
		prevMatch := false
		for _, sp := range spans {
			if sp.match == prevMatch && len(out) > 0 {
				out[len(out)-1].b = sp.b
			} else {
				out = append(out, sp)
			}
			prevMatch = sp.match
		}
		return out
	}
	return spans
}

// byteLevelPre is HF's ByteLevel pre-tokenizer: optional prefix space,
// optional GPT-2 regex split, then every byte becomes its byte-level rune.
type byteLevelPre struct {
	addPrefixSpace bool
	split          *splitPre // nil unless use_regex
}

func (p *byteLevelPre) apply(pieces []string) []string {
	if p.addPrefixSpace {
		for i, s := range pieces {
			if !strings.HasPrefix(s, " ") {
				pieces[i] = " " + s
			}
		}
	}
	if p.split != nil {
		pieces = p.split.apply(pieces)
	}
	for i, s := range pieces {
		pieces[i] = byteLevelString(s)
	}
	return pieces
}

// literalMatcher finds a fixed string (a Split pattern {"String": ...}).
type literalMatcher struct{ lit string }

func (m literalMatcher) find(s string, out [][2]int) [][2]int {
	if m.lit == "" { // an empty match at every character boundary
		for i := range s {
			out = append(out, [2]int{i, i})
		}
		return append(out, [2]int{len(s), len(s)})
	}
	for i := 0; ; {
		j := strings.Index(s[i:], m.lit)
		if j < 0 {
			return out
		}
		out = append(out, [2]int{i + j, i + j + len(m.lit)})
		i += j + len(m.lit)
	}
}

// regexMatcher runs a regexp2 (backtracking, with lookaround) pattern.
type regexMatcher struct{ re *regexp2.Regexp }

func (m regexMatcher) find(s string, out [][2]int) [][2]int {
	runes := []rune(s)
	// offs[i] is the byte offset of rune i.
	offs := make([]int, len(runes)+1)
	o := 0
	for i, r := range runes {
		offs[i] = o
		o += utf8.RuneLen(r)
	}
	offs[len(runes)] = o
	match, err := m.re.FindRunesMatch(runes)
	for err == nil && match != nil {
		a, b := offs[match.Index], offs[match.Index+match.Length]
		// Like Oniguruma's iterator (and unlike .NET), no empty match right
		// where the previous match ended.
		if b > a || len(out) == 0 || out[len(out)-1][1] != a {
			out = append(out, [2]int{a, b})
		}
		match, err = m.re.FindNextMatch(match)
	}
	return out
}

// qwen2Matcher is a hand-written scanner equivalent to Qwen2Pattern under
// Oniguruma semantics (which HF uses): \s is White_Space, \p{L} and \p{N}
// are the Unicode general categories, and (?i) folds 'ſ' (U+017F) to 's'.
// A test checks it against the regexp2 compilation of the same pattern.
type qwen2Matcher struct{}

func (qwen2Matcher) find(s string, out [][2]int) [][2]int {
	for i := 0; i < len(s); {
		e := qwen2Next(s, i)
		out = append(out, [2]int{i, e})
		i = e
	}
	return out
}

// isL is \p{L} as HF's Oniguruma (Unicode 16.0) has it.
func isL(r rune) bool {
	return unicode.IsLetter(r) || (r >= 0x1c89 && unicode.Is(letters16, r))
}

// isN is \p{N} as HF's Oniguruma (Unicode 16.0) has it.
func isN(r rune) bool {
	return unicode.IsNumber(r) || (r >= 0x10d40 && unicode.Is(numbers16, r))
}

// isSpace is \s: the White_Space property (the same in Go and Oniguruma).
func isSpace(r rune) bool { return unicode.IsSpace(r) }

// qwen2Next returns the end of the match that starts at i; every position
// starts a match because the alternatives cover every rune.
func qwen2Next(s string, i int) int {
	r, n := utf8.DecodeRuneInString(s[i:])
	// (?i:'s|'t|'re|'ve|'m|'ll|'d)
	if r == '\'' {
		if e := contraction(s, i+n); e > 0 {
			return e
		}
	}
	// [^\r\n\p{L}\p{N}]?\p{L}+
	if isL(r) {
		return runWhile(s, i+n, isL)
	}
	if r != '\r' && r != '\n' && !isN(r) && i+n < len(s) {
		if r2, n2 := utf8.DecodeRuneInString(s[i+n:]); isL(r2) {
			return runWhile(s, i+n+n2, isL)
		}
	}
	// \p{N}
	if isN(r) {
		return i + n
	}
	// ' ?[^\s\p{L}\p{N}]+[\r\n]*'
	j := i
	if r == ' ' {
		j = i + 1
	}
	if k := runWhile(s, j, isOther); k > j {
		return runWhile(s, k, isCRLF)
	}
	// Only whitespace is left.
	end := runWhile(s, i, isSpace)
	// \s*[\r\n]+ : the greedy \s* backs off to the last \r or \n of the run.
	if k := strings.LastIndexAny(s[i:end], "\r\n"); k >= 0 {
		return i + k + 1
	}
	// \s+(?!\S) : the whole run at the end of input, else all but its last rune.
	if end == len(s) {
		return end
	}
	if _, ln := utf8.DecodeLastRuneInString(s[i:end]); end-ln > i {
		return end - ln
	}
	// \s+
	return end
}

func isOther(r rune) bool { return !isSpace(r) && !isL(r) && !isN(r) }
func isCRLF(r rune) bool  { return r == '\r' || r == '\n' }

func runWhile(s string, i int, f func(rune) bool) int {
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		if !f(r) {
			break
		}
		i += n
	}
	return i
}

// contraction matches s|t|re|ve|m|ll|d case-insensitively at i (just after
// an apostrophe) and returns the end, or 0.
func contraction(s string, i int) int {
	next := func(j int) (rune, int) {
		if j >= len(s) {
			return 0, 0
		}
		r, n := utf8.DecodeRuneInString(s[j:])
		if r == 'ſ' {
			r = 's'
		}
		return unicode.ToLower(r), n
	}
	r, n := next(i)
	var second rune
	switch r {
	case 's', 't', 'm', 'd':
		return i + n
	case 'r', 'v':
		second = 'e'
	case 'l':
		second = 'l'
	default:
		return 0
	}
	if r2, n2 := next(i + n); r2 == second && n2 > 0 {
		return i + n + n2
	}
	return 0
}

// compilePattern turns a tokenizer.json Split regex into a matcher. The
// Qwen2 pattern gets the hand-written scanner; anything else is compiled
// with regexp2 after rewritePattern.
func compilePattern(pattern string) (matcher, error) {
	if pattern == Qwen2Pattern {
		return qwen2Matcher{}, nil
	}
	re, err := compileRegexp2(pattern)
	if err != nil {
		return nil, err
	}
	return regexMatcher{re}, nil
}

func compileRegexp2(pattern string) (*regexp2.Regexp, error) {
	rewritten, err := rewritePattern(pattern)
	if err != nil {
		return nil, err
	}
	re, err := regexp2.Compile(rewritten, regexp2.None)
	if err != nil {
		return nil, fmt.Errorf("regex %q: %w", pattern, err)
	}
	return re, nil
}

// rewritePattern brings regexp2's .NET semantics in line with Oniguruma's:
//   - a literal letter inside a (?i) scope becomes a class of its whole
//     case-fold orbit, so (?i)s also matches 'ſ' (.NET compares lowercase
//     forms, and 'ſ' lowercases to itself);
//   - \p{L} and \p{N} gain the code points Unicode 16.0 added (Go's tables
//     are 15.0); \P{L} and \P{N} too, except inside a class.
//
// \s needs nothing: both engines use the White_Space property.
func rewritePattern(p string) (string, error) {
	var sb strings.Builder
	stack := []bool{false} // case-insensitivity per open group
	for i := 0; i < len(p); {
		c := p[i]
		switch {
		case c == '\\':
			n := escapeLen(p, i)
			sb.WriteString(widenCategory(p[i:i+n], false))
			i += n
		case c == '[':
			n, err := classLen(p, i)
			if err != nil {
				return "", err
			}
			for j := i; j < i+n; {
				if p[j] == '\\' {
					m := escapeLen(p, j)
					sb.WriteString(widenCategory(p[j:j+m], true))
					j += m
					continue
				}
				sb.WriteByte(p[j])
				j++
			}
			i += n
		case c == '(':
			ci := stack[len(stack)-1]
			hdr := i + 1
			if hdr < len(p) && p[hdr] == '?' {
				k := hdr + 1
				on, flags := true, ci
				for k < len(p) && strings.IndexByte("imsxn-", p[k]) >= 0 {
					switch p[k] {
					case '-':
						on = false
					case 'i':
						flags = on
					}
					k++
				}
				if k > hdr+1 && k < len(p) && p[k] == ')' { // (?i) applies to the rest of the group
					stack[len(stack)-1] = flags
					sb.WriteString(p[i : k+1])
					i = k + 1
					continue
				}
				if k > hdr+1 && k < len(p) && p[k] == ':' {
					ci = flags
				}
				hdr = groupHeaderEnd(p, k)
				if k < len(p) && p[k] == '#' { // a comment: copy it whole
					sb.WriteString(p[i:hdr])
					i = hdr
					continue
				}
			}
			stack = append(stack, ci)
			sb.WriteString(p[i:hdr])
			i = hdr
		case c == ')':
			if len(stack) > 1 {
				stack = stack[:len(stack)-1]
			}
			sb.WriteByte(c)
			i++
		default:
			r, n := utf8.DecodeRuneInString(p[i:])
			if stack[len(stack)-1] && unicode.IsLetter(r) {
				sb.WriteString(foldClass(r))
			} else {
				sb.WriteString(p[i : i+n])
			}
			i += n
		}
	}
	return sb.String(), nil
}

// groupHeaderEnd returns where the header of a "(?" group ends, given k, the
// index just past "(?" and any flag letters: after "(?i:", "(?=", "(?<=",
// "(?<name>", "(?P<name>", or a whole "(?#comment)".
func groupHeaderEnd(p string, k int) int {
	if k >= len(p) {
		return len(p)
	}
	closeAt := func(from int, c byte) int {
		if j := strings.IndexByte(p[from:], c); j >= 0 {
			return from + j + 1
		}
		return len(p)
	}
	switch c := p[k]; {
	case c == ':' || c == '=' || c == '!' || c == '>':
		return k + 1
	case c == '<' && k+1 < len(p) && (p[k+1] == '=' || p[k+1] == '!'):
		return k + 2
	case c == '<':
		return closeAt(k+1, '>')
	case c == '\'':
		return closeAt(k+1, '\'')
	case c == 'P' && k+1 < len(p) && p[k+1] == '<':
		return closeAt(k+2, '>')
	case c == '#':
		return closeAt(k+1, ')')
	}
	return k
}

// widenCategory rewrites one escape: \p{L} / \p{N} (and their negations
// outside a class) gain the Unicode 16.0 additions.
func widenCategory(esc string, inClass bool) string {
	var extra string
	switch esc[min(len(esc), 2):] {
	case "{L}", "L":
		extra = classRanges(letters16)
	case "{N}", "N":
		extra = classRanges(numbers16)
	default:
		return esc
	}
	switch {
	case esc[1] == 'p' && inClass:
		return esc + extra
	case esc[1] == 'p':
		return "[" + esc + extra + "]"
	case esc[1] == 'P' && !inClass:
		return "[^\\p" + esc[2:] + extra + "]"
	}
	return esc
}

// classRanges spells a range table as class members (literal runes, which
// regexp2 accepts beyond the BMP where \u cannot reach).
func classRanges(t *unicode.RangeTable) string {
	var sb strings.Builder
	for _, r := range t.R16 {
		sb.WriteString(string(rune(r.Lo)) + "-" + string(rune(r.Hi)))
	}
	for _, r := range t.R32 {
		sb.WriteString(string(rune(r.Lo)) + "-" + string(rune(r.Hi)))
	}
	return sb.String()
}

// foldClass returns "[...]" listing r's simple case-fold orbit.
func foldClass(r rune) string {
	orbit := []rune{r}
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		orbit = append(orbit, f)
	}
	if len(orbit) == 1 {
		return string(r)
	}
	return "[" + string(orbit) + "]"
}

// escapeLen is the length of the escape sequence starting at p[i] == '\\'.
func escapeLen(p string, i int) int {
	if i+1 >= len(p) {
		return 1
	}
	switch p[i+1] {
	case 'p', 'P', 'x', 'u', 'k':
		if i+2 < len(p) && (p[i+2] == '{' || p[i+2] == '<') {
			closer := byte('}')
			if p[i+2] == '<' {
				closer = '>'
			}
			if j := strings.IndexByte(p[i+2:], closer); j >= 0 {
				return j + 3
			}
			return len(p) - i
		}
		switch p[i+1] {
		case 'x':
			return min(4, len(p)-i)
		case 'u':
			return min(6, len(p)-i)
		case 'p', 'P':
			return min(3, len(p)-i)
		}
	case 'c':
		return min(3, len(p)-i)
	}
	_, n := utf8.DecodeRuneInString(p[i+1:])
	return 1 + n
}

// classLen is the length of the bracket expression starting at p[i] == '['
// (up to the first unescaped ']' that is not its first member).
func classLen(p string, i int) (int, error) {
	j := i + 1
	if j < len(p) && p[j] == '^' {
		j++
	}
	if j < len(p) && p[j] == ']' {
		j++
	}
	for j < len(p) {
		switch p[j] {
		case '\\':
			j += escapeLen(p, j)
			continue
		case ']':
			return j + 1 - i, nil
		}
		j++
	}
	return 0, fmt.Errorf("regex %q: unterminated character class", p)
}
