package main

import (
	"fmt"
	"strings"
	"unicode"
)

// printable escapes the control characters of generated text, so that what
// a model emits can never move the cursor, clear the screen or ring the
// bell: newline and tab stay as they are; every other C0 or C1 control
// character and DEL becomes \xNN (\u0085 … for C1).
func printable(s string) string {
	if !strings.ContainsFunc(s, needsEscape) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case !needsEscape(r):
			b.WriteRune(r)
		case r < 0x80:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			fmt.Fprintf(&b, `\u%04x`, r)
		}
	}
	return b.String()
}

func needsEscape(r rune) bool { return r != '\n' && r != '\t' && unicode.IsControl(r) }
