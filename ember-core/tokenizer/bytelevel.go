package tokenizer

import (
	"strings"
	"unicode/utf8"
)

// The byte-level alphabet (GPT-2's bytes_to_unicode): every byte gets a
// printable rune, so that a vocabulary of strings can name arbitrary bytes.
// Printable Latin-1 bytes map to themselves; the other 68 bytes map to
// U+0100 onwards in byte order (space becomes 'Ġ', newline 'Ċ').
var (
	byteToRune [256]rune
	byteToStr  [256]string
	runeToByte = map[rune]byte{}
)

func init() {
	printable := func(b int) bool {
		return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)
	}
	n := 0
	for b := 0; b < 256; b++ {
		r := rune(b)
		if !printable(b) {
			r = rune(256 + n)
			n++
		}
		byteToRune[b] = r
		byteToStr[b] = string(r)
		runeToByte[r] = byte(b)
	}
}

// byteLevelString maps every byte of s to its byte-level rune.
func byteLevelString(s string) string {
	var sb strings.Builder
	sb.Grow(2 * len(s))
	for i := 0; i < len(s); i++ {
		sb.WriteString(byteToStr[s[i]])
	}
	return sb.String()
}

// appendTokenBytes appends the bytes a token stands for under the ByteLevel
// decoder: if every rune of tok is in the byte-level alphabet, the bytes they
// name; otherwise tok's own UTF-8 bytes (how HF passes added tokens such as
// "<think>" or a token with a plain space through the decoder).
func appendTokenBytes(dst []byte, tok string) []byte {
	start := len(dst)
	for _, r := range tok {
		b, ok := runeToByte[r]
		if !ok {
			return append(dst[:start], tok...)
		}
		dst = append(dst, b)
	}
	return dst
}

// lossyUTF8 converts b to a string the way Rust's String::from_utf8_lossy
// does: each maximal invalid subpart (the longest prefix of a well-formed
// sequence, or one byte) becomes one U+FFFD.
func lossyUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	var sb strings.Builder
	sb.Grow(len(b) + 8)
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r != utf8.RuneError || n > 1 {
			sb.Write(b[i : i+n])
			i += n
			continue
		}
		sb.WriteRune(utf8.RuneError)
		i += invalidSubpart(b[i:])
	}
	return sb.String()
}

// lossyString is lossyUTF8 for a string input.
func lossyString(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return lossyUTF8([]byte(s))
}

// invalidSubpart returns the length (≥ 1) of the maximal invalid subpart at
// the start of b, which must not begin with a valid sequence (Unicode §3.9,
// "U+FFFD substitution of maximal subparts").
func invalidSubpart(b []byte) int {
	lo, hi, need := seqBounds(b[0])
	if need == 0 {
		return 1
	}
	n := 1
	for k := 0; k < need && n < len(b); k++ {
		c := b[n]
		if k > 0 {
			lo, hi = 0x80, 0xBF
		}
		if c < lo || c > hi {
			break
		}
		n++
	}
	return n
}

// seqBounds gives, for a lead byte, the allowed range of the second byte and
// the number of continuation bytes; need is 0 for bytes that cannot start a
// multi-byte sequence.
func seqBounds(lead byte) (lo, hi byte, need int) {
	switch {
	case lead >= 0xC2 && lead <= 0xDF:
		return 0x80, 0xBF, 1
	case lead == 0xE0:
		return 0xA0, 0xBF, 2
	case lead == 0xED:
		return 0x80, 0x9F, 2
	case lead >= 0xE1 && lead <= 0xEF:
		return 0x80, 0xBF, 2
	case lead == 0xF0:
		return 0x90, 0xBF, 3
	case lead >= 0xF1 && lead <= 0xF3:
		return 0x80, 0xBF, 3
	case lead == 0xF4:
		return 0x80, 0x8F, 3
	}
	return 0, 0, 0
}

// incompleteTail returns how many bytes at the end of b form a proper prefix
// of a well-formed UTF-8 sequence, one that more bytes could still complete.
func incompleteTail(b []byte) int {
	for k := 1; k <= 3 && k <= len(b); k++ {
		start := len(b) - k
		lo, hi, need := seqBounds(b[start])
		if need == 0 {
			if b[start] >= 0x80 && b[start] <= 0xBF {
				continue // a continuation byte: look further back
			}
			return 0
		}
		if k > need {
			return 0
		}
		ok := true
		for j := start + 1; j < len(b); j++ {
			l, h := byte(0x80), byte(0xBF)
			if j == start+1 {
				l, h = lo, hi
			}
			if b[j] < l || b[j] > h {
				ok = false
				break
			}
		}
		if ok {
			return k
		}
		return 0
	}
	return 0
}
