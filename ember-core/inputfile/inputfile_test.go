package inputfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	ok := filepath.Join(dir, "config.json")
	os.WriteFile(ok, []byte(`{"a":1}`), 0o644)
	if b, err := Read(ok, 7); err != nil || string(b) != `{"a":1}` {
		t.Fatalf("Read: %q, %v", b, err)
	}
	if _, err := Read(ok, 6); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), ok+" is 7 bytes, more than the 6") {
		t.Errorf("over the cap: %v", err)
	}
	zero := filepath.Join(dir, "zero.json")
	if err := os.Symlink("/dev/zero", zero); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(zero, ConfigCap); !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), zero+" is a character device") {
		t.Errorf("/dev/zero: %v", err)
	}
	fifo := filepath.Join(dir, "fifo.json")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	// Without O_NONBLOCK this open would wait for a writer forever.
	if _, err := Read(fifo, ConfigCap); !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), "is a FIFO") {
		t.Errorf("FIFO: %v", err)
	}
	if _, err := Read(dir, ConfigCap); !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("directory: %v", err)
	}
}
