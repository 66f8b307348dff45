package npy

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
)

// ReadFloat32 reads a '<f4' array in C order from path and returns its values
// and shape (empty for a 0-d array). It checks the magic, the version (1.0, 2.0
// or 3.0), the dtype, that fortran_order is False and that the data is exactly
// as long as the shape says; a failure is one sentence naming the file, wrapping
// ErrFormat or ErrDType.
func ReadFloat32(path string) (data []float32, shape []int, err error) {
	return readFile[float32](path)
}

// ReadInt32 reads an '<i4' array in C order from path, with the checks of
// ReadFloat32.
func ReadInt32(path string) (data []int32, shape []int, err error) {
	return readFile[int32](path)
}

func readFile[T element](path string) ([]T, []int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("npy: read %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("npy: read %s: %w", path, err)
	}
	return decode[T](bufio.NewReaderSize(f, 1<<16), st.Size(), path)
}

// decode reads a whole .npy file of size bytes from r; name is only for errors.
func decode[T element](r io.Reader, size int64, name string) ([]T, []int, error) {
	h, err := readHeader(r, size, name)
	if err != nil {
		return nil, nil, err
	}
	if want := descr[T](); h.descr != want {
		return nil, nil, newError(ErrDType, "npy: %s holds dtype %q, want %q", name, h.descr, want)
	}
	if h.fortran {
		return nil, nil, newError(ErrDType, "npy: %s is in Fortran order, which is not supported", name)
	}
	n, ok := count(h.shape)
	if !ok {
		return nil, nil, newError(ErrFormat, "npy: %s: shape %s is too large", name, shapeString(h.shape))
	}
	have := size - h.dataOffset
	if int64(n) > have/4 || int64(n)*4 != have {
		return nil, nil, newError(ErrFormat, "npy: %s: shape %s needs %d values of 4 bytes but the file has %d data bytes",
			name, shapeString(h.shape), n, have)
	}
	data := make([]T, n)
	buf := make([]byte, 4*min(n, chunkElems))
	for done := 0; done < n; {
		k := min(n-done, chunkElems)
		if _, err := io.ReadFull(r, buf[:4*k]); err != nil {
			return nil, nil, readError(name, err)
		}
		getAll(data[done:done+k], buf[:4*k])
		done += k
	}
	return data, h.shape, nil
}

func readError(name string, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return newError(ErrFormat, "npy: %s is truncated", name)
	}
	return fmt.Errorf("npy: read %s: %w", name, err)
}

type fileHeader struct {
	descr      string
	fortran    bool
	shape      []int
	dataOffset int64
}

// readHeader reads the magic, the version, the header length and the header
// dict, leaving r at the first data byte.
func readHeader(r io.Reader, size int64, name string) (fileHeader, error) {
	var pre [8]byte
	if size < int64(len(pre)) {
		return fileHeader{}, newError(ErrFormat, "npy: %s is too short (%d bytes) to be a .npy file", name, size)
	}
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		return fileHeader{}, readError(name, err)
	}
	if string(pre[:len(magic)]) != magic {
		return fileHeader{}, newError(ErrFormat, "npy: %s is not a .npy file (it starts %q, not \"\\x93NUMPY\")", name, pre[:len(magic)])
	}
	major, minor := pre[6], pre[7]
	lenBytes := 4
	switch {
	case major == 1 && minor == 0:
		lenBytes = 2
	case (major == 2 || major == 3) && minor == 0:
	default:
		return fileHeader{}, newError(ErrFormat, "npy: %s has format version %d.%d, want 1.0, 2.0 or 3.0", name, major, minor)
	}
	var lb [4]byte
	if _, err := io.ReadFull(r, lb[:lenBytes]); err != nil {
		return fileHeader{}, readError(name, err)
	}
	hlen := int64(binary.LittleEndian.Uint32(lb[:]))
	offset := int64(len(pre)+lenBytes) + hlen
	if hlen > maxHeader {
		return fileHeader{}, newError(ErrFormat, "npy: %s declares a %d-byte header, more than the %d this reader accepts", name, hlen, maxHeader)
	}
	if offset > size {
		return fileHeader{}, newError(ErrFormat, "npy: %s is truncated inside its %d-byte header", name, hlen)
	}
	text := make([]byte, hlen)
	if _, err := io.ReadFull(r, text); err != nil {
		return fileHeader{}, readError(name, err)
	}
	h, err := parseHeader(string(text))
	if err != nil {
		return fileHeader{}, newError(ErrFormat, "npy: %s: bad header: %v", name, err)
	}
	h.dataOffset = offset
	return h, nil
}

// parseHeader parses the Python dict literal of a header, which must have
// exactly the keys 'descr' (a string), 'fortran_order' (True or False) and
// 'shape' (a tuple of non-negative ints), in any order, and nothing after it but
// whitespace.
func parseHeader(s string) (fileHeader, error) {
	p := &parser{s: s}
	var h fileHeader
	seen := map[string]bool{}
	if err := p.expect('{'); err != nil {
		return h, err
	}
	for {
		if p.peek() == '}' {
			p.i++
			break
		}
		key, err := p.str()
		if err != nil {
			return h, err
		}
		if seen[key] {
			return h, fmt.Errorf("key %q appears twice", key)
		}
		seen[key] = true
		if err := p.expect(':'); err != nil {
			return h, err
		}
		switch key {
		case "descr":
			h.descr, err = p.str()
		case "fortran_order":
			h.fortran, err = p.boolean()
		case "shape":
			h.shape, err = p.tuple()
		default:
			return h, fmt.Errorf("unexpected key %q", key)
		}
		if err != nil {
			return h, err
		}
		if p.peek() == ',' {
			p.i++
			continue
		}
		if err := p.expect('}'); err != nil {
			return h, err
		}
		break
	}
	for _, k := range []string{"descr", "fortran_order", "shape"} {
		if !seen[k] {
			return h, fmt.Errorf("key %q is missing", k)
		}
	}
	if p.peek() != 0 {
		return h, fmt.Errorf("unexpected %q after the dict", p.s[p.i])
	}
	return h, nil
}

// parser is a cursor over a header; every method skips leading whitespace.
type parser struct {
	s string
	i int
}

// peek skips whitespace and returns the next byte, or 0 at the end.
func (p *parser) peek() byte {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
			continue
		}
		return p.s[p.i]
	}
	return 0
}

func (p *parser) expect(c byte) error {
	if got := p.peek(); got != c {
		if got == 0 {
			return fmt.Errorf("want %q at offset %d, found the end", c, p.i)
		}
		return fmt.Errorf("want %q at offset %d, found %q", c, p.i, got)
	}
	p.i++
	return nil
}

// str reads a quoted string without escapes.
func (p *parser) str() (string, error) {
	q := p.peek()
	if q != '\'' && q != '"' {
		return "", fmt.Errorf("want a quoted string at offset %d", p.i)
	}
	start := p.i + 1
	for j := start; j < len(p.s); j++ {
		switch p.s[j] {
		case '\\':
			return "", fmt.Errorf("escaped string at offset %d", p.i)
		case q:
			p.i = j + 1
			return p.s[start:j], nil
		}
	}
	return "", fmt.Errorf("unterminated string at offset %d", p.i)
}

func (p *parser) boolean() (bool, error) {
	p.peek()
	for _, lit := range []string{"True", "False"} {
		if len(p.s)-p.i >= len(lit) && p.s[p.i:p.i+len(lit)] == lit {
			p.i += len(lit)
			return lit == "True", nil
		}
	}
	return false, fmt.Errorf("want True or False at offset %d", p.i)
}

// tuple reads a Python tuple of non-negative ints: (), (5,), (2, 3), (2, 3,).
// A Python 2 long suffix (2L) is accepted; (5) is an int, not a tuple, so it is
// refused as numpy refuses it.
func (p *parser) tuple() ([]int, error) {
	if err := p.expect('('); err != nil {
		return nil, err
	}
	shape := []int{}
	trailingComma := false
	for p.peek() != ')' {
		if len(shape) > 0 && !trailingComma {
			return nil, fmt.Errorf("want ',' or ')' at offset %d", p.i)
		}
		d, err := p.int()
		if err != nil {
			return nil, err
		}
		shape = append(shape, d)
		trailingComma = p.peek() == ','
		if trailingComma {
			p.i++
		}
	}
	p.i++
	if len(shape) == 1 && !trailingComma {
		return nil, fmt.Errorf("shape (%d) is an int, not a tuple", shape[0])
	}
	return shape, nil
}

func (p *parser) int() (int, error) {
	p.peek()
	j := p.i
	for j < len(p.s) && p.s[j] >= '0' && p.s[j] <= '9' {
		j++
	}
	if j == p.i {
		return 0, fmt.Errorf("want a non-negative integer at offset %d", p.i)
	}
	d, err := strconv.Atoi(p.s[p.i:j])
	if err != nil {
		return 0, fmt.Errorf("dimension %s at offset %d is too large", p.s[p.i:j], p.i)
	}
	p.i = j
	if p.i < len(p.s) && p.s[p.i] == 'L' {
		p.i++
	}
	return d, nil
}
