// Package atomicfile writes files so that readers see the old content or the
// new, never a torn one: data goes to a temp file in the same directory, is
// synced, and is renamed over the target.
package atomicfile

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// WriteFile atomically replaces path with data.
func WriteFile(path string, data []byte) error {
	return WriteWith(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// WriteWith atomically replaces path with what fill writes (through a 1 MiB
// buffer, so fill may write in small pieces). The file is made readable by all
// (0644), synced, renamed into place, and the directory synced where the
// platform allows. When fill fails its error is returned as is, for the caller
// to put in context; other failures name path. Either way path is untouched
// and the temp file is removed.
func WriteWith(path string, fill func(w io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	bw := bufio.NewWriterSize(tmp, 1<<20)
	if err = fill(bw); err != nil {
		return err
	}
	for _, step := range []func() error{bw.Flush, func() error { return tmp.Chmod(0o644) }, tmp.Sync, tmp.Close, func() error { return os.Rename(tmp.Name(), path) }} {
		if err = step(); err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
	}
	syncDir(dir)
	return nil
}

// syncDir makes a rename in dir durable where the platform allows syncing a
// directory; failure is ignored because the data itself is already synced.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	d.Sync()
	d.Close()
}
