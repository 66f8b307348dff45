package npy

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Headers worked out by hand from the format description and numpy's writer
// (numpy/lib/format.py, _write_array_header and _wrap_header):
//
//	magic "\x93NUMPY", version 1 0, HEADER_LEN as little-endian uint16, then
//	the dict with sorted keys, 21 - len(str(shape[0])) spaces of growth room,
//	spaces up to one byte before a multiple of 64, and '\n'.
//
// For shape (2, 3) the dict is 59 bytes, growth room 20, so with the 10-byte
// prefix and the newline 90 bytes are used; 38 spaces more reach 128. HEADER_LEN
// is 128 - 10 = 118 = 'v'.
func TestHeaderBytes(t *testing.T) {
	tests := []struct {
		name  string
		write func(path string) error
		want  string // header, then the data bytes
	}{
		{"f4 (2, 3)", func(p string) error { return WriteFloat32(p, []float32{1, 2, 3, 4, 5, -2}, 2, 3) },
			"\x93NUMPY\x01\x00\x76\x00" +
				"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }" + strings.Repeat(" ", 20+38) + "\n" +
				"\x00\x00\x80\x3f" + "\x00\x00\x00\x40" + "\x00\x00\x40\x40" + "\x00\x00\x80\x40" + "\x00\x00\xa0\x40" + "\x00\x00\x00\xc0"},
		// (5,) is the 1-tuple spelling; 57-byte dict, 20 + 40 spaces.
		{"i4 (5,)", func(p string) error { return WriteInt32(p, []int32{1, -1, 256, 0, math.MaxInt32}) },
			"\x93NUMPY\x01\x00\x76\x00" +
				"{'descr': '<i4', 'fortran_order': False, 'shape': (5,), }" + strings.Repeat(" ", 20+40) + "\n" +
				"\x01\x00\x00\x00" + "\xff\xff\xff\xff" + "\x00\x01\x00\x00" + "\x00\x00\x00\x00" + "\xff\xff\xff\x7f"},
		// A 0-d array has no growth room: 55-byte dict, 62 spaces.
		{"f4 ()", func(p string) error { return WriteFloat32(p, []float32{0.5}, []int{}...) },
			"\x93NUMPY\x01\x00\x76\x00" +
				"{'descr': '<f4', 'fortran_order': False, 'shape': (), }" + strings.Repeat(" ", 62) + "\n" +
				"\x00\x00\x00\x3f"},
		// Two-digit first dimension: 60-byte dict, 19 spaces of growth room, 38 of padding.
		{"f4 (10, 0)", func(p string) error { return WriteFloat32(p, nil, 10, 0) },
			"\x93NUMPY\x01\x00\x76\x00" +
				"{'descr': '<f4', 'fortran_order': False, 'shape': (10, 0), }" + strings.Repeat(" ", 19+38) + "\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "a.npy")
			if err := tc.write(path); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Fatalf("file bytes\n got %q\nwant %q", got, tc.want)
			}
			if i := bytes.IndexByte(got, '\n'); (i+1)%64 != 0 {
				t.Fatalf("data starts at %d, not a multiple of 64", i+1)
			}
		})
	}
}

// TestHeaderAlreadyAligned checks numpy's quirk: when dict, growth room and
// newline end exactly on a 64-byte boundary, _wrap_header still pads a whole
// 64 bytes. Shape (1, 1, …, 10, 10) with 11 ones after the first makes the
// unpadded prefix 10 + 118 = 128 bytes.
func TestHeaderAlreadyAligned(t *testing.T) {
	shape := []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 10, 10}
	h, err := header("<f4", shape)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 192 || binary.LittleEndian.Uint16(h[8:]) != 182 {
		t.Fatalf("header is %d bytes with HEADER_LEN %d, want 192 and 182", len(h), binary.LittleEndian.Uint16(h[8:]))
	}
	if !strings.HasSuffix(string(h), ", }"+strings.Repeat(" ", 20+64)+"\n") {
		t.Fatalf("header %q does not end with 20 + 64 spaces and a newline", h)
	}
}

func TestRoundTripFloat32(t *testing.T) {
	dir := t.TempDir()
	big := make([]float32, 3*chunkElems+18) // several write and read chunks
	for i := range big {
		big[i] = float32(i)*0.25 - 1000
	}
	special := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)),
		float32(math.Copysign(0, -1)), math.SmallestNonzeroFloat32, math.MaxFloat32}
	tests := []struct {
		data  []float32
		shape []int
	}{
		{[]float32{1, 2, 3, 4, 5, 6}, []int{2, 3}},
		{[]float32{1, 2, 3, 4, 5, 6}, []int{3, 2}},
		{[]float32{1, 2, 3, 4, 5, 6}, nil},
		{[]float32{7}, []int{}},
		{[]float32{}, []int{0}},
		{nil, []int{2, 0, 3}},
		{special, []int{1, 6, 1}},
		{big, []int{3, len(big) / 3}},
	}
	for i, tc := range tests {
		path := filepath.Join(dir, "r.npy")
		if err := WriteFloat32(path, tc.data, tc.shape...); err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		data, shape, err := ReadFloat32(path)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		wantShape := tc.shape
		if wantShape == nil {
			wantShape = []int{len(tc.data)}
		}
		if !slices.Equal(shape, wantShape) || shape == nil {
			t.Fatalf("case %d: shape %v, want %v", i, shape, wantShape)
		}
		if len(data) != len(tc.data) {
			t.Fatalf("case %d: %d values, want %d", i, len(data), len(tc.data))
		}
		for j := range data {
			if math.Float32bits(data[j]) != math.Float32bits(tc.data[j]) {
				t.Fatalf("case %d: value %d is %v, want %v", i, j, data[j], tc.data[j])
			}
		}
	}
	assertNoTemps(t, dir, "r.npy")
}

func TestRoundTripInt32(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ids.npy")
	in := []int32{math.MinInt32, -1, 0, 1, 151935, math.MaxInt32}
	if err := WriteInt32(path, in, 2, 3); err != nil {
		t.Fatal(err)
	}
	data, shape, err := ReadInt32(path)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(data, in) || !slices.Equal(shape, []int{2, 3}) {
		t.Fatalf("read %v %v, want %v [2 3]", data, shape, in)
	}
	if _, _, err := ReadFloat32(path); !errors.Is(err, ErrDType) {
		t.Fatalf("ReadFloat32 of an int32 file: error %v, want ErrDType", err)
	}
}

func TestWriteReplacesAtomically(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "logits.npy")
	if err := WriteFloat32(path, []float32{1, 2}); err != nil {
		t.Fatal(err)
	}
	if err := WriteFloat32(path, []float32{3, 4, 5}, 3, 1); err != nil {
		t.Fatal(err)
	}
	data, shape, err := ReadFloat32(path)
	if err != nil || !slices.Equal(data, []float32{3, 4, 5}) || !slices.Equal(shape, []int{3, 1}) {
		t.Fatalf("after overwrite: %v %v %v", data, shape, err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", st.Mode().Perm())
	}
	// A failed write leaves the old file alone.
	if err := WriteFloat32(path, []float32{1}, 2); err == nil {
		t.Fatal("mismatched shape written")
	}
	if data, _, _ := ReadFloat32(path); !slices.Equal(data, []float32{3, 4, 5}) {
		t.Fatalf("failed write changed the file: %v", data)
	}
	assertNoTemps(t, dir, "logits.npy")
}

func TestWriteErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.npy")
	tests := []struct {
		name  string
		err   error
		check error
	}{
		{"shape holds more", WriteFloat32(path, []float32{1, 2, 3}, 2, 2), ErrShape},
		{"shape holds fewer", WriteInt32(path, []int32{1, 2, 3}, 2), ErrShape},
		{"negative dimension", WriteFloat32(path, nil, -1, 0), ErrShape},
		{"overflowing shape", WriteFloat32(path, nil, math.MaxInt/2, 3), ErrShape},
		{"scalar needs one value", WriteFloat32(path, []float32{1, 2}, []int{}...), ErrShape},
		{"missing directory", WriteFloat32(filepath.Join(dir, "no", "x.npy"), []float32{1}), os.ErrNotExist},
	}
	for _, tc := range tests {
		if !errors.Is(tc.err, tc.check) {
			t.Errorf("%s: error %v, want %v", tc.name, tc.err, tc.check)
			continue
		}
		if msg := tc.err.Error(); !strings.Contains(msg, "x.npy") || strings.Contains(msg, "\n") {
			t.Errorf("%s: error %q should be one line naming the file", tc.name, msg)
		}
	}
	assertNoTemps(t, dir, "")
}

// valid returns the bytes of a correct '<f4' file of shape (2, 3).
func valid(t testing.TB) []byte {
	var b bytes.Buffer
	if err := encode(&b, []float32{1, 2, 3, 4, 5, 6}, []int{2, 3}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// withHeader builds a file from a version, a raw header text and n float32 values.
func withHeader(major byte, text string, n int) []byte {
	b := []byte("\x93NUMPY")
	b = append(b, major, 0)
	if major == 1 {
		b = binary.LittleEndian.AppendUint16(b, uint16(len(text)))
	} else {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(text)))
	}
	b = append(b, text...)
	return append(b, make([]byte, 4*n)...)
}

func TestReadOtherWriters(t *testing.T) {
	tests := []struct {
		name  string
		file  []byte
		shape []int
	}{
		{"version 2.0", withHeader(2, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n", 6), []int{2, 3}},
		{"version 3.0", withHeader(3, "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }\n", 4), []int{4}},
		{"other key order, double quotes, no trailing comma",
			withHeader(1, `{"shape": (2, 3), "fortran_order": False, "descr": "<f4"}`+"\n", 6), []int{2, 3}},
		{"python 2 longs", withHeader(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 3L), }  \n", 6), []int{2, 3}},
		{"tuple trailing comma", withHeader(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2,), }\n", 2), []int{1, 2}},
		{"16-byte alignment of old numpy", withHeader(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }   \n", 3), []int{3}},
		{"empty", withHeader(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 5), }\n", 0), []int{0, 5}},
	}
	for _, tc := range tests {
		path := filepath.Join(t.TempDir(), "o.npy")
		if err := os.WriteFile(path, tc.file, 0o644); err != nil {
			t.Fatal(err)
		}
		_, shape, err := ReadFloat32(path)
		if err != nil || !slices.Equal(shape, tc.shape) {
			t.Errorf("%s: shape %v, error %v; want %v", tc.name, shape, err, tc.shape)
		}
	}
}

func TestReadBadInputs(t *testing.T) {
	good := valid(t)
	hdr := func(s string) string {
		return "{'descr': '<f4', 'fortran_order': False, 'shape': " + s + ", }\n"
	}
	mutate := func(f func(b []byte) []byte) []byte { return f(slices.Clone(good)) }
	tests := []struct {
		name string
		file []byte
		kind error
		says string
	}{
		{"empty file", nil, ErrFormat, "too short"},
		{"wrong magic", mutate(func(b []byte) []byte { b[1] = 'n'; return b }), ErrFormat, "not a .npy file"},
		{"zip file", []byte("PK\x03\x04\x14\x00\x00\x00\x08\x00"), ErrFormat, "not a .npy file"},
		{"version 4.0", mutate(func(b []byte) []byte { b[6] = 4; return b }), ErrFormat, "version 4.0"},
		{"version 1.1", mutate(func(b []byte) []byte { b[7] = 1; return b }), ErrFormat, "version 1.1"},
		{"truncated in length", good[:9], ErrFormat, "truncated"},
		{"truncated in header", good[:100], ErrFormat, "truncated"},
		{"truncated in data", good[:len(good)-1], ErrFormat, "needs 6 values"},
		{"trailing bytes", append(slices.Clone(good), 0, 0, 0, 0), ErrFormat, "needs 6 values"},
		{"shape mismatch", withHeader(1, hdr("(2, 4)"), 6), ErrFormat, "shape (2, 4)"},
		{"int32 dtype", withHeader(1, "{'descr': '<i4', 'fortran_order': False, 'shape': (6,), }\n", 6), ErrDType, `"<i4"`},
		{"float64 dtype", withHeader(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }\n", 6), ErrDType, `"<f8"`},
		{"big-endian", withHeader(1, "{'descr': '>f4', 'fortran_order': False, 'shape': (6,), }\n", 6), ErrDType, `">f4"`},
		{"fortran order", withHeader(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }\n", 6), ErrDType, "Fortran"},
		{"int is not a tuple", withHeader(1, hdr("(6)"), 6), ErrFormat, "not a tuple"},
		{"negative dimension", withHeader(1, hdr("(-6,)"), 6), ErrFormat, "bad header"},
		{"overflowing shape", withHeader(1, hdr("(9223372036854775807, 2)"), 6), ErrFormat, "too large"},
		{"huge dimension", withHeader(1, hdr("(99999999999999999999,)"), 6), ErrFormat, "too large"},
		{"missing key", withHeader(1, "{'descr': '<f4', 'shape': (6,), }\n", 6), ErrFormat, "missing"},
		{"extra key", withHeader(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), 'x': 1}\n", 6), ErrFormat, "unexpected key"},
		{"duplicate key", withHeader(1, "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (6,)}\n", 6), ErrFormat, "twice"},
		{"junk after dict", withHeader(1, hdr("(6,)")+"x", 6), ErrFormat, "after the dict"},
		{"unterminated", withHeader(1, "{'descr': '<f4", 6), ErrFormat, "unterminated"},
		{"not a dict", withHeader(1, "['descr']\n", 6), ErrFormat, "bad header"},
		{"huge header length", withHeader(2, strings.Repeat(" ", maxHeader+1), 0), ErrFormat, "header"},
		{"header length past the end", mutate(func(b []byte) []byte { b[8], b[9] = 0xff, 0xff; return b }), ErrFormat, "truncated"},
	}
	dir := t.TempDir()
	for _, tc := range tests {
		path := filepath.Join(dir, "bad.npy")
		if err := os.WriteFile(path, tc.file, 0o644); err != nil {
			t.Fatal(err)
		}
		data, shape, err := ReadFloat32(path)
		if err == nil {
			t.Errorf("%s: read %v %v, want an error", tc.name, data, shape)
			continue
		}
		msg := err.Error()
		if !errors.Is(err, tc.kind) || !strings.Contains(msg, path) || !strings.Contains(msg, tc.says) || strings.Contains(msg, "\n") {
			t.Errorf("%s: error %q; want one line naming the file, saying %q, wrapping %v", tc.name, msg, tc.says, tc.kind)
		}
	}
	if _, _, err := ReadFloat32(filepath.Join(dir, "absent.npy")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: error %v, want os.ErrNotExist", err)
	}
}

func FuzzRead(f *testing.F) {
	good := valid(f)
	f.Add(good)
	f.Add(good[:len(good)-3])
	f.Add(good[:64])
	f.Add([]byte("\x93NUMPY"))
	f.Add(withHeader(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }\n", 1))
	f.Add(withHeader(2, `{"shape": (1, 2,), "fortran_order": False, "descr": "<f4"}`, 2))
	f.Add(withHeader(3, "{'descr': '<f4', 'fortran_order': True, 'shape': (2L, 1L), }\n", 2))
	f.Add(withHeader(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 9223372036854775807), }\n", 0))
	f.Add(withHeader(1, "{'descr': '<i4', 'fortran_order': False, 'shape': (6)}\n", 6))
	f.Fuzz(func(t *testing.T, b []byte) {
		data, shape, err := decode[float32](bytes.NewReader(b), int64(len(b)), "fuzz.npy")
		if err != nil {
			if !errors.Is(err, ErrFormat) && !errors.Is(err, ErrDType) {
				t.Fatalf("error %v wraps neither ErrFormat nor ErrDType", err)
			}
			return
		}
		if n, ok := count(shape); !ok || n != len(data) {
			t.Fatalf("shape %v with %d values", shape, len(data))
		}
		// Whatever was read writes and reads back bit for bit.
		var out bytes.Buffer
		if err := encode(&out, data, shape); err != nil {
			t.Fatal(err)
		}
		again, shape2, err := decode[float32](bytes.NewReader(out.Bytes()), int64(out.Len()), "again.npy")
		if err != nil || !slices.Equal(shape, shape2) || len(again) != len(data) {
			t.Fatalf("re-read: %v %v, %v", shape2, len(again), err)
		}
		for i := range data {
			if math.Float32bits(again[i]) != math.Float32bits(data[i]) {
				t.Fatalf("value %d changed from %v to %v", i, data[i], again[i])
			}
		}
	})
}

// assertNoTemps fails when dir holds anything but keep (temporary files left
// behind by a write).
func assertNoTemps(t *testing.T, dir, keep string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != keep {
			t.Errorf("unexpected file %s left in %s", e.Name(), dir)
		}
	}
}
