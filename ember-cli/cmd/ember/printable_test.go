package main

import (
	"strings"
	"testing"
)

func TestPrintable(t *testing.T) {
	for in, want := range map[string]string{
		"plain text, é 你好 🙂\n\tok": "plain text, é 你好 🙂\n\tok",
		"\x1b[2Jgone\x07":          `\x1b[2Jgone\x07`,
		"a\rb\x00c\x7f":            `a\x0db\x00c\x7f`,
		"next\u0085line\u009b":     `next\u0085line\u009b`,
		"\uFFFD stays":             "\uFFFD stays",
	} {
		if got := printable(in); got != want {
			t.Errorf("printable(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestRunEscapesControlBytes: the bundled model, given byte 0x06 (a token
// its table has no entry for), repeats it; the terminal gets \x06, not the
// raw byte.
func TestRunEscapesControlBytes(t *testing.T) {
	out, _ := mustEmber(t, "run", "-m", tinyModel(t), "-p", "\x06", "-n", "3", "--temp", "0", "-q", "--backend", "cpu")
	if out != `\x06\x06\x06`+"\n" {
		t.Errorf("run printed %q, want three escaped \\x06", out)
	}
	if strings.ContainsFunc(out, needsEscape) {
		t.Errorf("raw control bytes in %q", out)
	}
}

// TestCandidatesEscapeControlBytes: run -N's text blocks escape control
// bytes as the streamed run does (--jsonl's JSON escapes them itself).
func TestCandidatesEscapeControlBytes(t *testing.T) {
	out, _ := mustEmber(t, "run", "-m", tinyModel(t), "-p", "\x06", "-n", "3", "--temp", "0", "-q", "--backend", "cpu", "-N", "2")
	want := "--- candidate 0 (3 tokens, length, sum logprob -0.0000)\n" + `\x06\x06\x06` + "\n" +
		"--- candidate 1 (3 tokens, length, sum logprob -0.0000)\n" + `\x06\x06\x06` + "\n"
	if out != want {
		t.Errorf("run -N 2 printed %q, want %q", out, want)
	}
}
