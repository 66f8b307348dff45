package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestIsTerminal: /dev/null is a character device but not a terminal, so no
// progress line is drawn into it (ember bench 2>/dev/null counted the
// redraws' allocations as the decode steps'); nor into a regular file.
func TestIsTerminal(t *testing.T) {
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	if isTerminal(null) {
		t.Errorf("%s counts as a terminal", os.DevNull)
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if isTerminal(f) {
		t.Error("a regular file counts as a terminal")
	}
	if isTerminal(&bytes.Buffer{}) {
		t.Error("a bytes.Buffer counts as a terminal")
	}
}

// TestProgressDraw checks the line draw writes and that a redraw allocates
// nothing: the ticker redraws while ember bench counts the decode steps'
// allocations.
func TestProgressDraw(t *testing.T) {
	var buf bytes.Buffer
	p := &progress{w: &buf, label: "bench: prefill 512 tokens", start: time.Now(), detail: "decode"}
	p.draw()
	p.draw()
	if got, want := buf.String(), "\r\033[Kember: / bench: prefill 512 tokens: decode (0s)\r\033[Kember: - bench: prefill 512 tokens: decode (0s)"; got != want {
		t.Errorf("draw wrote %q, want %q", got, want)
	}
	p.w = io.Discard
	if n := testing.AllocsPerRun(100, p.draw); n != 0 {
		t.Errorf("a redraw allocates %.1f times, want 0", n)
	}
}
