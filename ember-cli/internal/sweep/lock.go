package sweep

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// LockName is the file inside a sweep folder that Lock holds.
const LockName = ".ember-sweep.lock"

// ErrLocked is returned (wrapped, with who holds it) when another sweep holds
// the folder.
var ErrLocked = errors.New("the folder is in use by another sweep")

// FolderLock is an exclusive lock on a sweep folder: two sweeps measuring at
// once would contend for the same cores or GPUs and overwrite each other's
// per-run files. It is an flock(2) on LockName, so it dies with its holder:
// a crashed sweep never leaves a stale lock behind.
type FolderLock struct {
	f *os.File
	// Fresh is true when the folder had no lock file before this one: no
	// Ember sweep has used it (it may hold an upstream script's runs).
	Fresh bool
}

// Lock takes the folder's lock, without waiting, and records holder (who
// holds it: process, host, command) in the lock file for the next sweep to
// name. When another sweep holds it, the error names that sweep.
func Lock(dir, holder string) (*FolderLock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	p := filepath.Join(dir, LockName)
	_, statErr := os.Stat(p)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			who, _ := io.ReadAll(io.LimitReader(f, 4096))
			w := strings.TrimSpace(string(who))
			if w == "" {
				w = "a sweep that has not yet said who it is"
			}
			return nil, fmt.Errorf("--out-dir %s: %w (%s); wait for it to finish or choose another --out-dir", dir, ErrLocked, w)
		}
		return nil, fmt.Errorf("--out-dir %s: locking %s: %w", dir, p, err)
	}
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(holder+"\n"), 0)
	}
	return &FolderLock{f: f, Fresh: errors.Is(statErr, fs.ErrNotExist)}, nil
}

// Unlock releases the lock (closing the file releases the flock).
func (l *FolderLock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	l.f.Truncate(0)
	err := l.f.Close()
	l.f = nil
	return err
}

// Holder describes this process for the lock file: pid, host and command.
func Holder(args []string, started string) string {
	host, _ := os.Hostname()
	return fmt.Sprintf("pid %d on %s, started %s: %s", os.Getpid(), host, started, strings.Join(args, " "))
}
