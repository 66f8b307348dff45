package safetensors

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// headerSeeds are valid and nearly valid headers; the fuzzer mutates from here.
var headerSeeds = []struct {
	header  string
	dataLen int64
}{
	{`{}`, 0},
	{`{}      `, 0},
	{`{"__metadata__":{"format":"pt"}}`, 0},
	{`{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}`, 16},
	{`{"a":{"dtype":"BF16","shape":[3],"data_offsets":[0,6]},"b":{"dtype":"F16","shape":[],"data_offsets":[6,8]}}`, 8},
	{`{"z":{"dtype":"I64","shape":[0],"data_offsets":[0,0]},"y":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`, 1},
	{`{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,12]}}`, 12},
	{`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, 12},
	{`{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,16]}}`, 16},
	{`{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,16]}}`, 16},
	{`{"a":{"dtype":"Q4","shape":[1],"data_offsets":[0,1]}}`, 1},
	{`{"__metadata__":{"k":1}}`, 0},
	{`[{"a":1}]`, 0},
	{`{"a":`, 0},
}

// FuzzParseHeader checks that ParseHeader never panics, that failures wrap
// ErrFormat, and that what it accepts satisfies the documented invariants.
func FuzzParseHeader(f *testing.F) {
	for _, s := range headerSeeds {
		f.Add([]byte(s.header), s.dataLen)
	}
	f.Fuzz(func(t *testing.T, header []byte, dataLen int64) {
		h, err := ParseHeader(header, dataLen)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error %q does not wrap ErrFormat", err)
			}
			return
		}
		checkHeader(t, h, dataLen)
	})
}

// checkHeader asserts the invariants of a parsed header: sorted, contiguous,
// covering the data section, and every size consistent with its shape.
func checkHeader(t *testing.T, h *Header, dataLen int64) {
	t.Helper()
	if h.DataLen != dataLen {
		t.Fatalf("DataLen = %d, want %d", h.DataLen, dataLen)
	}
	var end int64
	for _, ti := range h.Tensors {
		size, ok := ti.DType.Size()
		if !ok {
			t.Fatalf("tensor %q has unknown dtype %q", ti.Name, ti.DType)
		}
		if ti.Begin != end || ti.End < ti.Begin {
			t.Fatalf("tensor %q at [%d,%d) after end %d", ti.Name, ti.Begin, ti.End, end)
		}
		if ti.Bytes() != ti.NumElements()*int64(size) {
			t.Fatalf("tensor %q: %d bytes for %d elements of %d", ti.Name, ti.Bytes(), ti.NumElements(), size)
		}
		if got, ok := h.Lookup(ti.Name); !ok || got.Begin != ti.Begin {
			t.Fatalf("Lookup(%q) = %+v, %v", ti.Name, got, ok)
		}
		end = ti.End
	}
	if end != dataLen {
		t.Fatalf("tensors end at %d, data section is %d", end, dataLen)
	}
}

// FuzzOpen writes arbitrary bytes to a file and opens it: no panic, errors wrap
// ErrFormat, and every tensor of an accepted file can be viewed and, when its dtype
// allows, decoded.
func FuzzOpen(f *testing.F) {
	for _, s := range headerSeeds {
		f.Add(rawFile(s.header, make([]byte, max(0, s.dataLen))))
	}
	f.Add([]byte{})
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, '{', '}'})
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "fuzz.safetensors")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		file, err := Open(path)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error %q does not wrap ErrFormat", err)
			}
			return
		}
		defer file.Close()
		checkHeader(t, file.Header(), file.Size()-file.DataOffset())
		for _, ti := range file.Header().Tensors {
			tn, err := file.Tensor(ti.Name)
			if err != nil {
				t.Fatal(err)
			}
			if int64(len(tn.Data)) != ti.Bytes() {
				t.Fatalf("tensor %q: %d bytes of data, want %d", ti.Name, len(tn.Data), ti.Bytes())
			}
			if _, err := tn.Float32(); (err == nil) != ti.DType.Readable() {
				t.Fatalf("tensor %q (%s): Float32 error %v", ti.Name, ti.DType, err)
			}
		}
	})
}
