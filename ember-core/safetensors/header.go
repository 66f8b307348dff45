package safetensors

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxHeaderLen is the largest JSON header this package accepts, in bytes. It guards
// against files whose length prefix asks for an absurd allocation.
const MaxHeaderLen = 100 << 20

// metadataKey is the reserved header key for free-form string metadata.
const metadataKey = "__metadata__"

// TensorInfo describes one tensor of a header. Begin and End are byte offsets
// relative to the start of the data section, End exclusive.
type TensorInfo struct {
	Name  string
	DType DType
	Shape []int64
	Begin int64
	End   int64
}

// NumElements returns the product of the shape (1 for a scalar, 0 when any
// dimension is 0).
func (t TensorInfo) NumElements() int64 {
	n := int64(1)
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Bytes returns the size of the tensor's data, End - Begin. For a parsed header this
// always equals NumElements times the dtype size.
func (t TensorInfo) Bytes() int64 {
	return t.End - t.Begin
}

// Header is a parsed and validated safetensors header.
type Header struct {
	// Tensors holds every tensor, sorted by Begin (ties by End, then Name). They
	// cover the data section exactly, without gaps or overlaps.
	Tensors []TensorInfo
	// Metadata is the "__metadata__" object, nil when the header has none.
	Metadata map[string]string
	// DataLen is the length of the data section in bytes.
	DataLen int64

	byName map[string]int
}

// Lookup returns the tensor called name and whether the header has it.
func (h *Header) Lookup(name string) (TensorInfo, bool) {
	if h.byName != nil {
		i, ok := h.byName[name]
		if !ok {
			return TensorInfo{}, false
		}
		return h.Tensors[i], true
	}
	for _, t := range h.Tensors {
		if t.Name == name {
			return t, true
		}
	}
	return TensorInfo{}, false
}

// ParseHeader parses and validates the JSON header of a safetensors file whose data
// section is dataLen bytes long. It checks the JSON shape of every entry, that every
// dtype is known, that dimensions are non-negative and their product fits in an
// int64, that each tensor's data_offsets hold exactly its shape's bytes, and that the
// tensors cover the data section exactly (no gaps, no overlaps), as the reference
// implementation requires. Errors wrap ErrFormat (and ErrDType for an unknown dtype).
// It never panics.
func ParseHeader(headerJSON []byte, dataLen int64) (*Header, error) {
	h, err := parseHeader(headerJSON, dataLen)
	if err != nil {
		return nil, prefixError("safetensors header: ", err)
	}
	return h, nil
}

// prefixError returns err with prefix in front of its message, keeping what it
// matches with errors.Is.
func prefixError(prefix string, err error) error {
	return fmt.Errorf("%s%w", prefix, err)
}

func parseHeader(headerJSON []byte, dataLen int64) (*Header, error) {
	if dataLen < 0 {
		return nil, formatErrorf("data section length %d is negative", dataLen)
	}
	if len(headerJSON) > MaxHeaderLen {
		return nil, formatErrorf("header is %d bytes, more than the %d-byte limit", len(headerJSON), MaxHeaderLen)
	}
	if !utf8.Valid(headerJSON) {
		return nil, formatErrorf("header is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(headerJSON))
	tok, err := dec.Token()
	if err != nil {
		return nil, jsonError(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, formatErrorf("header is a JSON %s, not an object", jsonKind(tok))
	}

	h := &Header{DataLen: dataLen, byName: map[string]int{}}
	seenMeta := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, jsonError(err)
		}
		name, ok := tok.(string)
		if !ok { // cannot happen for valid JSON, but never trust that
			return nil, formatErrorf("header has a non-string key")
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, jsonError(err)
		}
		if name == metadataKey {
			if seenMeta {
				return nil, formatErrorf("header has %q twice", metadataKey)
			}
			seenMeta = true
			meta, err := parseMetadata(raw)
			if err != nil {
				return nil, err
			}
			h.Metadata = meta
			continue
		}
		if _, dup := h.byName[name]; dup {
			return nil, formatErrorf("tensor %q appears twice in the header", name)
		}
		ti, err := parseEntry(name, raw, dataLen)
		if err != nil {
			return nil, err
		}
		h.byName[name] = len(h.Tensors)
		h.Tensors = append(h.Tensors, ti)
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return nil, jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, formatErrorf("header has data after its JSON object at byte %d", dec.InputOffset())
	}

	sort.Slice(h.Tensors, func(i, j int) bool {
		a, b := h.Tensors[i], h.Tensors[j]
		if a.Begin != b.Begin {
			return a.Begin < b.Begin
		}
		if a.End != b.End {
			return a.End < b.End
		}
		return a.Name < b.Name
	})
	var end int64
	for i, t := range h.Tensors {
		h.byName[t.Name] = i
		switch {
		case t.Begin < end:
			p := h.Tensors[i-1]
			return nil, formatErrorf("tensor %q: data_offsets [%d,%d) overlap tensor %q at [%d,%d)", t.Name, t.Begin, t.End, p.Name, p.Begin, p.End)
		case t.Begin > end:
			return nil, formatErrorf("tensor %q: data_offsets [%d,%d) leave bytes [%d,%d) of the data section unused; tensors must cover it without gaps", t.Name, t.Begin, t.End, end, t.Begin)
		}
		end = t.End
	}
	if end != dataLen {
		return nil, formatErrorf("tensors cover %d bytes but the data section is %d bytes; bytes [%d,%d) are unused", end, dataLen, end, dataLen)
	}
	return h, nil
}

func parseMetadata(raw json.RawMessage) (map[string]string, error) {
	if string(raw) == "null" {
		return nil, nil
	}
	if len(raw) == 0 || raw[0] != '{' {
		return nil, formatErrorf("%q must be an object of string to string", metadataKey)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, formatErrorf("%q must be an object of string to string: %v", metadataKey, err)
	}
	meta := make(map[string]string, len(fields))
	for k, v := range fields {
		if len(v) == 0 || v[0] != '"' {
			return nil, formatErrorf("%q: key %q must map to a string, not a JSON %s", metadataKey, k, rawKind(v))
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return nil, formatErrorf("%q: key %q: %v", metadataKey, k, err)
		}
		meta[k] = s
	}
	return meta, nil
}

func parseEntry(name string, raw json.RawMessage, dataLen int64) (TensorInfo, error) {
	ti := TensorInfo{Name: name}
	if len(raw) == 0 || raw[0] != '{' {
		return ti, formatErrorf("tensor %q: entry is a JSON %s, not an object with dtype, shape and data_offsets", name, rawKind(raw))
	}
	// A map, not a struct: encoding/json matches struct fields case-insensitively,
	// and a header key is exact.
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return ti, formatErrorf("tensor %q: entry is not a valid object: %v", name, err)
	}
	var dtype string
	if r, ok := fields["dtype"]; !ok {
		return ti, formatErrorf("tensor %q: entry has no dtype", name)
	} else if len(r) == 0 || r[0] != '"' || json.Unmarshal(r, &dtype) != nil {
		return ti, formatErrorf("tensor %q: dtype is a JSON %s, not a string", name, rawKind(r))
	}
	shape, err := rawArray(fields, name, "shape")
	if err != nil {
		return ti, err
	}
	offsets, err := rawArray(fields, name, "data_offsets")
	if err != nil {
		return ti, err
	}

	ti.DType = DType(dtype)
	size, ok := ti.DType.Size()
	if !ok {
		return ti, newErrorKinds([]error{ErrFormat, ErrDType}, "tensor %q: unknown dtype %q", name, dtype)
	}

	ti.Shape = make([]int64, len(shape))
	elems := uint64(1)
	overflow := false
	for i, r := range shape {
		d, err := jsonInt(r)
		if err != nil {
			return ti, formatErrorf("tensor %q: shape[%d] is %s, not an integer", name, i, clip(r))
		}
		if d < 0 {
			return ti, formatErrorf("tensor %q: shape[%d] is %d; dimensions must be non-negative", name, i, d)
		}
		ti.Shape[i] = d
		hi, lo := bits.Mul64(elems, uint64(d))
		if hi != 0 || lo > math.MaxInt64 {
			overflow = true
		}
		elems = lo
	}
	// A zero dimension makes the product 0 even if a prefix overflowed.
	for _, d := range ti.Shape {
		if d == 0 {
			overflow, elems = false, 0
		}
	}
	hi, need := bits.Mul64(elems, uint64(size))
	if overflow || hi != 0 || need > math.MaxInt64 {
		return ti, formatErrorf("tensor %q: shape %s of %s has more bytes than fit in an int64", name, fmtShape(ti.Shape), ti.DType)
	}

	if len(offsets) != 2 {
		return ti, formatErrorf("tensor %q: data_offsets has %d values, want 2 ([begin, end])", name, len(offsets))
	}
	var off [2]int64
	for i, r := range offsets {
		v, err := jsonInt(r)
		if err != nil {
			return ti, formatErrorf("tensor %q: data_offsets[%d] is %s, not an integer", name, i, clip(r))
		}
		if v < 0 {
			return ti, formatErrorf("tensor %q: data_offsets[%d] is %d; offsets must be non-negative", name, i, v)
		}
		off[i] = v
	}
	ti.Begin, ti.End = off[0], off[1]
	if ti.Begin > ti.End {
		return ti, formatErrorf("tensor %q: data_offsets [%d,%d) begin after they end", name, ti.Begin, ti.End)
	}
	if ti.End > dataLen {
		return ti, formatErrorf("tensor %q: data_offsets [%d,%d) run past the %d-byte data section", name, ti.Begin, ti.End, dataLen)
	}
	if got := ti.End - ti.Begin; got != int64(need) {
		return ti, formatErrorf("tensor %q: data_offsets [%d,%d) hold %d bytes but shape %s of %s needs %d", name, ti.Begin, ti.End, got, fmtShape(ti.Shape), ti.DType, need)
	}
	return ti, nil
}

// rawArray returns fields[key] as an array of raw values, or an error naming the
// tensor when it is missing or not an array.
func rawArray(fields map[string]json.RawMessage, name, key string) ([]json.RawMessage, error) {
	r, ok := fields[key]
	if !ok {
		return nil, formatErrorf("tensor %q: entry has no %s", name, key)
	}
	var arr []json.RawMessage
	if len(r) == 0 || r[0] != '[' || json.Unmarshal(r, &arr) != nil {
		return nil, formatErrorf("tensor %q: %s is a JSON %s, not an array of integers", name, key, rawKind(r))
	}
	return arr, nil
}

// jsonInt parses a JSON number literal that must be an integer fitting int64.
func jsonInt(r json.RawMessage) (int64, error) {
	s := string(r)
	if s == "" || (s[0] != '-' && (s[0] < '0' || s[0] > '9')) {
		return 0, errors.New("not a number")
	}
	return strconv.ParseInt(s, 10, 64)
}

func jsonError(err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return formatErrorf("header is not valid JSON: %s at byte %d", se.Error(), se.Offset)
	}
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		return formatErrorf("header is not valid JSON: it ends early")
	}
	return formatErrorf("header is not valid JSON: %v", err)
}

// jsonKind names the JSON type of a token returned by json.Decoder.Token.
func jsonKind(tok json.Token) string {
	switch v := tok.(type) {
	case json.Delim:
		if v == '[' {
			return "array"
		}
		return "delimiter " + string(v)
	case string:
		return "string"
	case float64, json.Number:
		return "number"
	case bool:
		return "boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", tok)
}

// rawKind names the JSON type of a raw value.
func rawKind(r json.RawMessage) string {
	if len(r) == 0 {
		return "nothing"
	}
	switch c := r[0]; {
	case c == '{':
		return "object"
	case c == '[':
		return "array"
	case c == '"':
		return "string"
	case c == 't' || c == 'f':
		return "boolean"
	case c == 'n':
		return "null"
	default:
		return "number"
	}
}

// clip shortens a raw JSON value for an error message.
func clip(r json.RawMessage) string {
	const max = 32
	if len(r) <= max {
		return string(r)
	}
	n := max
	for n > 0 && !utf8.RuneStart(r[n]) {
		n--
	}
	return string(r[:n]) + "…"
}

// fmtShape prints a shape the way PyTorch users read it: [2,3].
func fmtShape(shape []int64) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, d := range shape {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(d, 10))
	}
	b.WriteByte(']')
	return b.String()
}
