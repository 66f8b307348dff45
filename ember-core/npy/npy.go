// Package npy writes and reads NumPy .npy files holding little-endian float32
// ('<f4') or int32 ('<i4') arrays in C order, as `ember check --dump` writes
// logits [n_positions, vocab] and hidden states for comparison in Python.
//
// Files are written in format version 1.0 byte for byte as numpy.save writes
// them: the same header text, the same spare room after the shape, and the data
// starting at a multiple of 64 bytes. Reading accepts versions 1.0, 2.0 and 3.0.
package npy

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ErrFormat is wrapped by every error that reports a malformed file: bad magic,
// unknown version, unparsable header, a size that does not match the shape.
var ErrFormat = errors.New("npy: malformed file")

// ErrDType is wrapped by errors for a file whose dtype is not the one asked for
// (or for arrays in Fortran order, which this package does not handle).
var ErrDType = errors.New("npy: unsupported dtype")

// ErrShape is wrapped by write errors for a shape that does not describe the data.
var ErrShape = errors.New("npy: shape does not match data")

// kindError is a one-sentence error that matches its sentinel with errors.Is
// without repeating the sentinel's text.
type kindError struct {
	msg   string
	kind  error
	cause error
}

func (e *kindError) Error() string { return e.msg }

func (e *kindError) Unwrap() []error {
	if e.cause == nil {
		return []error{e.kind}
	}
	return []error{e.kind, e.cause}
}

func newError(kind error, format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	return &kindError{msg: err.Error(), kind: kind, cause: errors.Unwrap(err)}
}

const (
	magic = "\x93NUMPY"
	// prefixLen is the magic, the two version bytes and the version 1.0 header
	// length field.
	prefixLen = len(magic) + 2 + 2
	// align is numpy's ARRAY_ALIGN: the data starts at a multiple of it.
	align = 64
	// growthDigits is numpy's GROWTH_AXIS_MAX_DIGITS: numpy leaves room after
	// the header for the first dimension to grow to this many digits in place.
	growthDigits = 21
	// maxHeader bounds the header a reader will believe (numpy's own default
	// limit is 10000).
	maxHeader = 1 << 20
)

// element is the Go type of an array element; descr is its NumPy spelling.
type element interface{ float32 | int32 }

func descr[T element]() string {
	var zero T
	if _, ok := any(zero).(float32); ok {
		return "<f4"
	}
	return "<i4"
}

// shapeString spells shape as a Python tuple: (), (5,), (2, 3).
func shapeString(shape []int) string {
	var b strings.Builder
	b.WriteByte('(')
	for i, d := range shape {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Itoa(d))
	}
	if len(shape) == 1 {
		b.WriteByte(',')
	}
	b.WriteByte(')')
	return b.String()
}

// header returns the complete version 1.0 prefix, magic to newline, as
// numpy.lib.format._write_array_header writes it: the dict with sorted keys,
// spaces for the first dimension to grow to 21 digits, then spaces and '\n' up
// to the next multiple of 64 (a whole 64 more when it is already aligned, as
// numpy does).
func header(descr string, shape []int) ([]byte, error) {
	dict := "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shapeString(shape) + ", }"
	if len(shape) > 0 {
		dict += strings.Repeat(" ", max(0, growthDigits-len(strconv.Itoa(shape[0]))))
	}
	hlen := len(dict) + 1 // the newline
	pad := align - (prefixLen+hlen)%align
	if hlen+pad > math.MaxUint16 {
		return nil, newError(ErrShape, "shape %s needs a header of %d bytes, more than format 1.0 allows", shapeString(shape), hlen+pad)
	}
	out := make([]byte, 0, prefixLen+hlen+pad)
	out = append(out, magic...)
	out = append(out, 1, 0)
	out = binary.LittleEndian.AppendUint16(out, uint16(hlen+pad))
	out = append(out, dict...)
	for range pad {
		out = append(out, ' ')
	}
	return append(out, '\n'), nil
}

// count returns the number of elements of shape, or false when a dimension is
// negative or the product overflows an int.
func count(shape []int) (int, bool) {
	n := 1
	for _, d := range shape {
		if d < 0 {
			return 0, false
		}
		if d != 0 && n > math.MaxInt/d {
			return 0, false
		}
		n *= d
	}
	return n, true
}

// putAll encodes src little-endian into dst, which holds 4 bytes per element.
func putAll[T element](dst []byte, src []T) {
	switch s := any(src).(type) {
	case []float32:
		for i, v := range s {
			binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(v))
		}
	case []int32:
		for i, v := range s {
			binary.LittleEndian.PutUint32(dst[4*i:], uint32(v))
		}
	}
}

// getAll decodes little-endian src into dst, which has one element per 4 bytes.
func getAll[T element](dst []T, src []byte) {
	switch d := any(dst).(type) {
	case []float32:
		for i := range d {
			d[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
		}
	case []int32:
		for i := range d {
			d[i] = int32(binary.LittleEndian.Uint32(src[4*i:]))
		}
	}
}
