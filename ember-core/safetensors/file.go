package safetensors

import (
	"encoding/binary"
	"fmt"
	"os"
	"sync"
)

// File is an open safetensors file. Its bytes are memory-mapped read-only (read into
// memory on platforms without mmap), so tensors are views, not copies. A File is safe
// for concurrent use; Close must not race with other calls, and every Tensor.Data
// obtained from the file is invalid after Close. As with any mapping, truncating or
// rewriting the file in place while it is open can crash the process when a view is
// read (SIGBUS); this package's writers replace files by rename, which is safe.
type File struct {
	path       string
	size       int64
	header     *Header
	dataOffset int64

	mu     sync.RWMutex
	data   []byte // the whole file; nil after Close
	unmap  func() error
	closed bool
}

// Open maps the safetensors file at path and validates its header (see
// ParseHeader). Errors name the file and wrap ErrFormat for malformed content.
func Open(path string) (*File, error) {
	osf, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors %s: %w", path, err)
	}
	defer osf.Close() // the mapping outlives the descriptor
	st, err := osf.Stat()
	if err != nil {
		return nil, fmt.Errorf("safetensors %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return nil, formatErrorf("safetensors %s: not a regular file", path)
	}
	size := st.Size()
	if size < 8 {
		return nil, formatErrorf("safetensors %s: file is %d bytes, too short for the 8-byte header length (truncated?)", path, size)
	}
	data, unmap, err := mapFile(osf, size)
	if err != nil {
		return nil, fmt.Errorf("safetensors %s: %w", path, err)
	}
	f := &File{path: path, size: size, data: data, unmap: unmap}
	if err := f.parse(); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func (f *File) parse() error {
	n := binary.LittleEndian.Uint64(f.data[:8])
	if n > MaxHeaderLen {
		return formatErrorf("safetensors %s: header length %d is more than the %d-byte limit", f.path, n, MaxHeaderLen)
	}
	if n > uint64(f.size-8) {
		return formatErrorf("safetensors %s: header length %d is more than the %d bytes after the length prefix (truncated?)", f.path, n, f.size-8)
	}
	f.dataOffset = 8 + int64(n)
	h, err := parseHeader(f.data[8:f.dataOffset], f.size-f.dataOffset)
	if err != nil {
		return prefixError(fmt.Sprintf("safetensors %s: ", f.path), err)
	}
	f.header = h
	return nil
}

// Close unmaps the file. Calling it again does nothing and returns nil.
func (f *File) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	f.closed = true
	f.data = nil
	if f.unmap == nil {
		return nil
	}
	if err := f.unmap(); err != nil {
		return fmt.Errorf("safetensors %s: unmap: %w", f.path, err)
	}
	return nil
}

// Path returns the path the file was opened with.
func (f *File) Path() string { return f.path }

// Header returns the file's validated header. Callers must not modify it.
func (f *File) Header() *Header { return f.header }

// Size returns the file size in bytes.
func (f *File) Size() int64 { return f.size }

// DataOffset returns the file offset of the data section (8 + header length); a
// tensor's bytes lie at DataOffset()+Begin .. DataOffset()+End in the file.
func (f *File) DataOffset() int64 { return f.dataOffset }

// Tensor returns a zero-copy view of the tensor called name. The returned Data is
// read-only memory (writing to it faults) and is valid until f is closed. The error
// wraps ErrNotFound when the file has no such tensor.
func (f *File) Tensor(name string) (*Tensor, error) {
	info, ok := f.header.Lookup(name)
	if !ok {
		return nil, newError(ErrNotFound, "safetensors %s: tensor %q not found", f.path, name)
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.closed {
		return nil, fmt.Errorf("safetensors %s: tensor %q: %w", f.path, name, os.ErrClosed)
	}
	lo, hi := f.dataOffset+info.Begin, f.dataOffset+info.End
	return &Tensor{TensorInfo: info, Path: f.path, Data: f.data[lo:hi:hi]}, nil
}

// Tensor is one tensor of a File: its header entry, the file it came from and its
// raw little-endian bytes.
type Tensor struct {
	TensorInfo
	// Path is the file the tensor lives in.
	Path string
	// Data is a zero-copy view into the file's mapping: read-only, valid until the
	// File (or Set) is closed.
	Data []byte
}
