package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"path/filepath"
	"sort"

	"github.com/ember-infer/ember/ember-core/atomicfile"
)

// Spec describes a tensor to be written.
type Spec struct {
	Name  string
	DType DType
	Shape []int64
}

// Bytes returns the number of data bytes the tensor needs, and false when the dtype
// is unknown, a dimension is negative or the size overflows an int64.
func (s Spec) Bytes() (int64, bool) {
	size, ok := s.DType.Size()
	if !ok {
		return 0, false
	}
	n := uint64(size)
	for _, d := range s.Shape {
		if d < 0 {
			return 0, false
		}
	}
	for _, d := range s.Shape {
		if d == 0 {
			return 0, true
		}
	}
	for _, d := range s.Shape {
		hi, lo := bits.Mul64(n, uint64(d))
		if hi != 0 || lo > math.MaxInt64 {
			return 0, false
		}
		n = lo
	}
	return int64(n), true
}

// WriteTensor is a tensor with its little-endian data, for Write.
type WriteTensor struct {
	Spec
	Data []byte
}

// WriteFunc writes a safetensors file at path holding specs, in order, plus
// metadata (omitted when empty). fill is called once per spec, in order, and must
// write exactly that tensor's bytes to w; it lets a generator stream weights without
// holding them all in memory. The header is padded with spaces to a multiple of 8
// bytes so the data section is 8-byte aligned. The file appears atomically: it is
// written to a temporary file in the same directory, synced and renamed over path,
// and nothing is left behind on error.
func WriteFunc(path string, specs []Spec, metadata map[string]string, fill func(i int, s Spec, w io.Writer) error) error {
	if fill == nil {
		return fmt.Errorf("safetensors %s: WriteFunc needs a fill function", path)
	}
	header, sizes, err := buildHeader(specs, metadata)
	if err != nil {
		return fmt.Errorf("safetensors %s: %w", path, err)
	}
	return writeAtomic(path, func(w io.Writer) error {
		var n [8]byte
		binary.LittleEndian.PutUint64(n[:], uint64(len(header)))
		if _, err := w.Write(n[:]); err != nil {
			return err
		}
		if _, err := w.Write(header); err != nil {
			return err
		}
		for i, s := range specs {
			cw := &limitWriter{w: w, left: sizes[i]}
			if err := fill(i, s, cw); err != nil {
				if cw.over {
					return formatErrorf("tensor %q: fill wrote more than the %d bytes shape %s of %s needs", s.Name, sizes[i], fmtShape(s.Shape), s.DType)
				}
				return fmt.Errorf("tensor %q: %w", s.Name, err)
			}
			if cw.over {
				return formatErrorf("tensor %q: fill wrote more than the %d bytes shape %s of %s needs", s.Name, sizes[i], fmtShape(s.Shape), s.DType)
			}
			if cw.left != 0 {
				return formatErrorf("tensor %q: fill wrote %d bytes but shape %s of %s needs %d", s.Name, sizes[i]-cw.left, fmtShape(s.Shape), s.DType, sizes[i])
			}
		}
		return nil
	})
}

// Write writes tensors (in order) and metadata to a safetensors file at path, like
// WriteFunc. Each tensor's Data must hold exactly its shape's bytes.
func Write(path string, tensors []WriteTensor, metadata map[string]string) error {
	specs := make([]Spec, len(tensors))
	for i, t := range tensors {
		specs[i] = t.Spec
		if need, ok := t.Spec.Bytes(); ok && int64(len(t.Data)) != need {
			return formatErrorf("safetensors %s: tensor %q: data is %d bytes but shape %s of %s needs %d", path, t.Name, len(t.Data), fmtShape(t.Shape), t.DType, need)
		}
	}
	return WriteFunc(path, specs, metadata, func(i int, _ Spec, w io.Writer) error {
		_, err := w.Write(tensors[i].Data)
		return err
	})
}

// buildHeader returns the padded JSON header for specs and each tensor's size.
func buildHeader(specs []Spec, metadata map[string]string) ([]byte, []int64, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	if len(metadata) > 0 {
		m, err := json.Marshal(metadata)
		if err != nil {
			return nil, nil, err
		}
		buf.WriteString(`"` + metadataKey + `":`)
		buf.Write(m)
	}
	sizes := make([]int64, len(specs))
	seen := make(map[string]bool, len(specs))
	var off int64
	for i, s := range specs {
		if s.Name == metadataKey {
			return nil, nil, formatErrorf("tensor name %q is reserved", metadataKey)
		}
		if seen[s.Name] {
			return nil, nil, formatErrorf("tensor %q is listed twice", s.Name)
		}
		seen[s.Name] = true
		if _, ok := s.DType.Size(); !ok {
			return nil, nil, newError(ErrDType, "tensor %q: unknown dtype %q", s.Name, s.DType)
		}
		n, ok := s.Bytes()
		if !ok {
			return nil, nil, formatErrorf("tensor %q: shape %s of %s is invalid (negative dimension or size overflow)", s.Name, fmtShape(s.Shape), s.DType)
		}
		if off > math.MaxInt64-n {
			return nil, nil, formatErrorf("tensor %q: data section would exceed %d bytes", s.Name, int64(math.MaxInt64))
		}
		sizes[i] = n
		name, _ := json.Marshal(s.Name)
		shape := s.Shape
		if shape == nil {
			shape = []int64{}
		}
		sh, _ := json.Marshal(shape)
		if buf.Len() > 1 {
			buf.WriteByte(',')
		}
		fmt.Fprintf(&buf, `%s:{"dtype":%q,"shape":%s,"data_offsets":[%d,%d]}`, name, string(s.DType), sh, off, off+n)
		off += n
	}
	buf.WriteByte('}')
	for buf.Len()%8 != 0 {
		buf.WriteByte(' ')
	}
	if buf.Len() > MaxHeaderLen {
		return nil, nil, formatErrorf("header would be %d bytes, more than the %d-byte limit", buf.Len(), MaxHeaderLen)
	}
	return buf.Bytes(), sizes, nil
}

// limitWriter passes at most left bytes through and records an attempt to write
// more, so one bad fill cannot shift every later tensor.
type limitWriter struct {
	w    io.Writer
	left int64
	over bool
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > l.left {
		l.over = true
		return 0, errors.New("write exceeds the tensor's size")
	}
	n, err := l.w.Write(p)
	l.left -= int64(n)
	return n, err
}

// WriteIndex writes a Hugging Face model.safetensors.index.json at path mapping each
// tensor name to its shard file name, with metadata.total_size = totalSize (the sum
// of tensor data bytes). The write is atomic, like WriteFunc.
func WriteIndex(path string, weightMap map[string]string, totalSize int64) error {
	if totalSize < 0 {
		return fmt.Errorf("safetensors index %s: total size %d is negative", path, totalSize)
	}
	for name, shard := range weightMap {
		if !filepath.IsLocal(shard) {
			return fmt.Errorf("safetensors index %s: tensor %q: shard %q is not a path inside the index's directory", path, name, shard)
		}
	}
	names := make([]string, 0, len(weightMap))
	for n := range weightMap {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "{\n  \"metadata\": {\n    \"total_size\": %d\n  },\n  \"weight_map\": {", totalSize)
	for i, n := range names {
		k, _ := json.Marshal(n)
		v, _ := json.Marshal(weightMap[n])
		if i > 0 {
			buf.WriteByte(',')
		}
		fmt.Fprintf(&buf, "\n    %s: %s", k, v)
	}
	if len(names) > 0 {
		buf.WriteString("\n  ")
	}
	buf.WriteString("}\n}\n")
	return writeAtomic(path, func(w io.Writer) error {
		_, err := w.Write(buf.Bytes())
		return err
	})
}

// writeAtomic writes a file through write with atomicfile, naming the file in
// every error.
func writeAtomic(path string, write func(w io.Writer) error) error {
	var fillErr error
	err := atomicfile.WriteWith(path, func(w io.Writer) error {
		fillErr = write(w)
		return fillErr
	})
	switch {
	case fillErr != nil:
		return prefixError(fmt.Sprintf("safetensors %s: ", path), fillErr)
	case err != nil:
		return fmt.Errorf("safetensors: %w", err)
	}
	return nil
}
