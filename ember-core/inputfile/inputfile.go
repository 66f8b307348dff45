// Package inputfile reads the small files a user points Ember at (config.json,
// tokenizer.json, generation_config.json, index files, CSVs) with the checks
// model.safetensors already had: only a regular file, and only up to a size
// cap. A config.json linked to /dev/zero would otherwise be read until memory
// ran out, and a FIFO would block forever.
package inputfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
)

// ErrNotRegular is wrapped by Read for a device, FIFO, socket or directory.
var ErrNotRegular = errors.New("not a regular file")

// ErrTooLarge is wrapped by Read for a file over its cap.
var ErrTooLarge = errors.New("file too large")

// Caps for the inputs Ember reads whole, each far above any real one (Qwen3's
// tokenizer.json is 11 MB, its config.json 1 KB).
const (
	ConfigCap    = 1 << 20   // config.json, generation_config.json
	TokenizerCap = 256 << 20 // tokenizer.json
	IndexCap     = 64 << 20  // model.safetensors.index.json
	TableCap     = 1 << 30   // report CSVs
)

// Read returns the content of the regular file at path, refusing anything
// else and anything larger than limit bytes, each in one sentence naming the
// file. The open does not block on a FIFO.
func Read(path string, limit int64) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is %s, %w: want a file", path, kind(st.Mode()), ErrNotRegular)
	}
	if st.Size() > limit {
		return nil, fmt.Errorf("%s is %d bytes, more than the %d Ember reads from such a file: %w", path, st.Size(), limit, ErrTooLarge)
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if int64(len(b)) > limit { // it grew while being read
		return nil, fmt.Errorf("%s grew past the %d bytes Ember reads from such a file: %w", path, limit, ErrTooLarge)
	}
	return b, nil
}

func kind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeNamedPipe != 0:
		return "a FIFO"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeCharDevice != 0:
		return "a character device"
	case m&os.ModeDevice != 0:
		return "a block device"
	}
	return "not a regular file (" + m.Type().String() + ")"
}
