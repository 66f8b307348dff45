package safetensors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// rawFile assembles a safetensors file from a header and a data section by hand, so
// tests can build files the writer would refuse to produce.
func rawFile(header string, data []byte) []byte {
	b := make([]byte, 8, 8+len(header)+len(data))
	binary.LittleEndian.PutUint64(b, uint64(len(header)))
	b = append(b, header...)
	return append(b, data...)
}

// writeBytes writes b to dir/name and returns the path.
func writeBytes(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// mustWrite writes tensors with Write and fails the test on error.
func mustWrite(t *testing.T, path string, tensors []WriteTensor, meta map[string]string) {
	t.Helper()
	if err := Write(path, tensors, meta); err != nil {
		t.Fatalf("Write(%s): %v", path, err)
	}
}

// f32Tensor builds an F32 WriteTensor from values.
func f32Tensor(t *testing.T, name string, shape []int64, vals ...float32) WriteTensor {
	t.Helper()
	return encTensor(t, name, F32, shape, vals...)
}

func encTensor(t *testing.T, name string, dt DType, shape []int64, vals ...float32) WriteTensor {
	t.Helper()
	b, err := Encode(dt, vals)
	if err != nil {
		t.Fatal(err)
	}
	return WriteTensor{Spec: Spec{Name: name, DType: dt, Shape: shape}, Data: b}
}

// checkErr asserts err is non-nil, matches every sentinel in is, is one line and
// contains every substring in want.
func checkErr(t *testing.T, err error, is []error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one containing %q", want)
	}
	msg := err.Error()
	for _, s := range is {
		if !errors.Is(err, s) {
			t.Errorf("error %q does not match %v", msg, s)
		}
	}
	for _, s := range want {
		if !strings.Contains(msg, s) {
			t.Errorf("error %q does not contain %q", msg, s)
		}
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("error %q spans several lines", msg)
	}
}

func TestOpenRejectsBadFiles(t *testing.T) {
	const w = "model.norm.weight"
	f32x4 := `{"` + w + `":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}`
	huge := make([]byte, 8)
	binary.LittleEndian.PutUint64(huge, MaxHeaderLen+1)
	tests := []struct {
		name string
		file []byte
		is   []error
		want []string // besides the path
	}{
		{"truncated", []byte{1, 2, 3, 4, 5}, []error{ErrFormat}, []string{"5 bytes", "truncated"}},
		{"empty", nil, []error{ErrFormat}, []string{"0 bytes"}},
		{"header length beyond file", append(rawFile(f32x4, make([]byte, 16))[:8], `{"a"`...), []error{ErrFormat}, []string{"header length " + strconv.Itoa(len(f32x4)), "4 bytes after the length prefix", "truncated"}},
		{"header length over cap", append(huge, "{}"...), []error{ErrFormat}, []string{"header length 104857601", "limit"}},
		{"header not JSON", rawFile(`{"a":`, nil), []error{ErrFormat}, []string{"not valid JSON"}},
		{"header garbage", rawFile(`hello`, nil), []error{ErrFormat}, []string{"not valid JSON", "invalid character"}},
		{"header not object", rawFile(`[1,2]`, nil), []error{ErrFormat}, []string{"JSON array, not an object"}},
		{"trailing data after object", rawFile(`{} {}`, nil), []error{ErrFormat}, []string{"data after its JSON object"}},
		{"invalid UTF-8", rawFile("{\"\xff\":1}", nil), []error{ErrFormat}, []string{"UTF-8"}},
		{"entry not object", rawFile(`{"`+w+`":[1]}`, nil), []error{ErrFormat}, []string{w, "not an object"}},
		{"missing dtype", rawFile(`{"`+w+`":{"shape":[0],"data_offsets":[0,0]}}`, nil), []error{ErrFormat}, []string{w, "no dtype"}},
		{"dtype field case", rawFile(`{"`+w+`":{"DTYPE":"F32","shape":[0],"data_offsets":[0,0]}}`, nil), []error{ErrFormat}, []string{w, "no dtype"}},
		{"dtype not string", rawFile(`{"`+w+`":{"dtype":4,"shape":[0],"data_offsets":[0,0]}}`, nil), []error{ErrFormat}, []string{w, "dtype is a JSON number"}},
		{"shape not array", rawFile(`{"`+w+`":{"dtype":"F32","shape":"4","data_offsets":[0,16]}}`, make([]byte, 16)), []error{ErrFormat}, []string{w, "shape is a JSON string"}},
		{"shape not integer", rawFile(`{"`+w+`":{"dtype":"F32","shape":[1.5],"data_offsets":[0,16]}}`, make([]byte, 16)), []error{ErrFormat}, []string{w, "shape[0] is 1.5"}},
		{"missing data_offsets", rawFile(`{"`+w+`":{"dtype":"F32","shape":[4]}}`, nil), []error{ErrFormat}, []string{w, "no data_offsets"}},
		{"unknown dtype", rawFile(`{"`+w+`":{"dtype":"F4","shape":[4],"data_offsets":[0,16]}}`, make([]byte, 16)), []error{ErrFormat, ErrDType}, []string{w, `unknown dtype "F4"`}},
		{"negative dim", rawFile(`{"`+w+`":{"dtype":"F32","shape":[2,-2],"data_offsets":[0,16]}}`, make([]byte, 16)), []error{ErrFormat}, []string{w, "shape[1] is -2", "non-negative"}},
		{"shape overflow", rawFile(`{"`+w+`":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,16]}}`, make([]byte, 16)), []error{ErrFormat}, []string{w, "[4294967296,4294967296]", "int64"}},
		{"shape overflow by dtype size", rawFile(`{"`+w+`":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,16]}}`, make([]byte, 16)), []error{ErrFormat}, []string{w, "int64"}},
		{"offsets count", rawFile(`{"`+w+`":{"dtype":"F32","shape":[4],"data_offsets":[0]}}`, make([]byte, 16)), []error{ErrFormat}, []string{w, "has 1 values, want 2"}},
		{"negative offset", rawFile(`{"`+w+`":{"dtype":"F32","shape":[4],"data_offsets":[-16,0]}}`, make([]byte, 16)), []error{ErrFormat}, []string{w, "data_offsets[0] is -16"}},
		{"begin after end", rawFile(`{"`+w+`":{"dtype":"F32","shape":[4],"data_offsets":[16,0]}}`, make([]byte, 16)), []error{ErrFormat}, []string{w, "[16,0) begin after they end"}},
		{"offsets out of range", rawFile(f32x4, make([]byte, 12)), []error{ErrFormat}, []string{w, "[0,16) run past the 12-byte data section"}},
		{"length mismatch", rawFile(`{"`+w+`":{"dtype":"F32","shape":[4],"data_offsets":[0,12]}}`, make([]byte, 12)), []error{ErrFormat},
			[]string{`tensor "model.norm.weight": data_offsets [0,12) hold 12 bytes but shape [4] of F32 needs 16`}},
		{"overlap", rawFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, make([]byte, 12)),
			[]error{ErrFormat}, []string{`tensor "b": data_offsets [4,12) overlap tensor "a" at [0,8)`}},
		{"zero-size tensor inside another", rawFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"z":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}}`, make([]byte, 8)),
			[]error{ErrFormat}, []string{`tensor "z"`, `overlap tensor "a"`}},
		{"gap", rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}`, make([]byte, 12)),
			[]error{ErrFormat}, []string{`tensor "b"`, "bytes [4,8)", "without gaps"}},
		{"gap at start", rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, make([]byte, 8)),
			[]error{ErrFormat}, []string{`tensor "a"`, "bytes [0,4)"}},
		{"unused tail", rawFile(f32x4, make([]byte, 20)), []error{ErrFormat}, []string{"cover 16 bytes but the data section is 20 bytes"}},
		{"duplicate tensor", rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, make([]byte, 8)),
			[]error{ErrFormat}, []string{`tensor "a" appears twice`}},
		{"metadata not object", rawFile(`{"__metadata__":"x"}`, nil), []error{ErrFormat}, []string{"__metadata__", "string to string"}},
		{"metadata value not string", rawFile(`{"__metadata__":{"format":1}}`, nil), []error{ErrFormat}, []string{"__metadata__", `key "format" must map to a string, not a JSON number`}},
	}
	dir := t.TempDir()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writeBytes(t, dir, strings.ReplaceAll(tc.name, " ", "_")+".safetensors", tc.file)
			f, err := Open(path)
			if err == nil {
				f.Close()
			}
			checkErr(t, err, tc.is, append([]string{"safetensors " + path + ": "}, tc.want...)...)
		})
	}
}

func TestParseHeaderAccepts(t *testing.T) {
	tests := []struct {
		name    string
		header  string
		dataLen int64
		want    []TensorInfo
		meta    map[string]string
	}{
		{"empty", `{}`, 0, nil, nil},
		{"space padded", `{}      `, 0, nil, nil},
		{"metadata", `{"__metadata__":{"format":"pt"}}`, 0, nil, map[string]string{"format": "pt"}},
		{"null metadata", `{"__metadata__":null}`, 0, nil, nil},
		{"sorted by offset, zero-size and scalar", `{
			"b":{"dtype":"BF16","shape":[3],"data_offsets":[4,10]},
			"s":{"dtype":"F32","shape":[],"data_offsets":[0,4]},
			"z":{"dtype":"I64","shape":[0,5],"data_offsets":[10,10]},
			"extra":{"dtype":"U8","shape":[2],"data_offsets":[10,12],"ignored":true}}`, 12,
			[]TensorInfo{
				{Name: "s", DType: F32, Shape: []int64{}, Begin: 0, End: 4},
				{Name: "b", DType: BF16, Shape: []int64{3}, Begin: 4, End: 10},
				{Name: "z", DType: I64, Shape: []int64{0, 5}, Begin: 10, End: 10},
				{Name: "extra", DType: U8, Shape: []int64{2}, Begin: 10, End: 12},
			}, nil},
		{"zero dim beats overflow", `{"z":{"dtype":"F64","shape":[9223372036854775807,9223372036854775807,0],"data_offsets":[0,0]}}`, 0,
			[]TensorInfo{{Name: "z", DType: F64, Shape: []int64{math.MaxInt64, math.MaxInt64, 0}}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := ParseHeader([]byte(tc.header), tc.dataLen)
			if err != nil {
				t.Fatal(err)
			}
			if len(h.Tensors) != len(tc.want) || (len(tc.want) > 0 && !reflect.DeepEqual(h.Tensors, tc.want)) {
				t.Errorf("Tensors = %+v, want %+v", h.Tensors, tc.want)
			}
			if !reflect.DeepEqual(h.Metadata, tc.meta) {
				t.Errorf("Metadata = %v, want %v", h.Metadata, tc.meta)
			}
			for _, w := range tc.want {
				got, ok := h.Lookup(w.Name)
				if !ok || got.Name != w.Name {
					t.Errorf("Lookup(%q) = %+v, %v", w.Name, got, ok)
				}
			}
			if _, ok := h.Lookup("missing"); ok {
				t.Error("Lookup(missing) found something")
			}
		})
	}
}

func TestParseHeaderErrorsArePrefixed(t *testing.T) {
	_, err := ParseHeader([]byte(`{"x":{"dtype":"F32","shape":[4],"data_offsets":[0,12]}}`), 12)
	checkErr(t, err, []error{ErrFormat}, `safetensors header: tensor "x": data_offsets [0,12) hold 12 bytes but shape [4] of F32 needs 16`)
	_, err = ParseHeader([]byte(`{}`), -1)
	checkErr(t, err, []error{ErrFormat}, "negative")
}

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.safetensors")
	// Values exactly representable in every dtype, so decoding must give them back bit for bit.
	vals := []float32{1, -2, 0.5, 0, float32(math.Inf(1)), -0.375, 1024, 3}
	meta := map[string]string{"format": "pt", "note": `quotes " and \ and ünïcode`}
	tensors := []WriteTensor{
		encTensor(t, "w.f32", F32, []int64{2, 4}, vals...),
		encTensor(t, "w.f16", F16, []int64{8}, vals...),
		encTensor(t, "w.bf16", BF16, []int64{4, 2}, vals...),
		encTensor(t, "empty", BF16, []int64{0, 3}),
		{Spec: Spec{Name: "ids", DType: I64, Shape: []int64{2}}, Data: make([]byte, 16)},
		encTensor(t, "scalar", F32, nil, 7),
	}
	mustWrite(t, path, tensors, meta)

	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := binary.LittleEndian.Uint64(raw)
	if (8+n)%8 != 0 || raw[8+n-1] != ' ' && raw[8+n-1] != '}' {
		t.Errorf("header length %d does not put the data section on an 8-byte boundary", n)
	}

	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Path() != path || f.Size() != int64(len(raw)) || f.DataOffset() != int64(8+n) {
		t.Errorf("Path/Size/DataOffset = %s/%d/%d", f.Path(), f.Size(), f.DataOffset())
	}
	if !reflect.DeepEqual(f.Header().Metadata, meta) {
		t.Errorf("metadata = %v, want %v", f.Header().Metadata, meta)
	}
	for _, name := range []string{"w.f32", "w.f16", "w.bf16"} {
		tn, err := f.Tensor(name)
		if err != nil {
			t.Fatal(err)
		}
		got, err := tn.Float32()
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, vals) {
			t.Errorf("%s = %v, want %v", name, got, vals)
		}
		dst := make([]float32, len(vals))
		if err := tn.DecodeInto(dst); err != nil || !reflect.DeepEqual(dst, vals) {
			t.Errorf("%s DecodeInto = %v, %v", name, dst, err)
		}
		if err := tn.DecodeInto(dst[:3]); err == nil {
			t.Errorf("%s DecodeInto a 3-value slice succeeded", name)
		}
	}
	for name, want := range map[string][]float32{"empty": {}, "scalar": {7}} {
		tn, err := f.Tensor(name)
		if err != nil {
			t.Fatal(err)
		}
		got, err := tn.Float32()
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %v, %v; want %v", name, got, err, want)
		}
	}
	ids, err := f.Tensor("ids")
	if err != nil {
		t.Fatal(err)
	}
	_, err = ids.Float32()
	checkErr(t, err, []error{ErrDType}, path, `"ids"`, "I64")

	_, err = f.Tensor("nope")
	checkErr(t, err, []error{ErrNotFound}, path, `"nope"`)
}

func TestWriteRefusesBadInput(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.safetensors")
	mustWrite(t, path, []WriteTensor{f32Tensor(t, "old", []int64{1}, 1)}, nil)
	before, _ := os.ReadFile(path)

	fillN := func(n int) func(int, Spec, io.Writer) error {
		return func(_ int, _ Spec, w io.Writer) error {
			_, err := w.Write(make([]byte, n))
			return err
		}
	}
	spec := []Spec{{Name: "t", DType: F32, Shape: []int64{4}}}
	tests := []struct {
		name string
		run  func() error
		is   []error
		want []string
	}{
		{"short fill", func() error { return WriteFunc(path, spec, nil, fillN(12)) }, []error{ErrFormat}, []string{`tensor "t": fill wrote 12 bytes but shape [4] of F32 needs 16`}},
		{"long fill", func() error { return WriteFunc(path, spec, nil, fillN(20)) }, []error{ErrFormat}, []string{`tensor "t": fill wrote more than the 16 bytes`}},
		{"data length", func() error {
			return Write(path, []WriteTensor{{Spec: spec[0], Data: make([]byte, 3)}}, nil)
		}, []error{ErrFormat}, []string{`tensor "t": data is 3 bytes but shape [4] of F32 needs 16`}},
		{"unknown dtype", func() error {
			return Write(path, []WriteTensor{{Spec: Spec{Name: "t", DType: "Q4"}}}, nil)
		}, []error{ErrDType}, []string{`"Q4"`}},
		{"negative dim", func() error {
			return Write(path, []WriteTensor{{Spec: Spec{Name: "t", DType: F32, Shape: []int64{-1}}}}, nil)
		}, []error{ErrFormat}, []string{`tensor "t"`, "[-1]"}},
		{"duplicate", func() error {
			return Write(path, []WriteTensor{f32Tensor(t, "t", nil, 1), f32Tensor(t, "t", nil, 1)}, nil)
		}, []error{ErrFormat}, []string{`tensor "t" is listed twice`}},
		{"reserved name", func() error {
			return Write(path, []WriteTensor{f32Tensor(t, "__metadata__", nil, 1)}, nil)
		}, []error{ErrFormat}, []string{"reserved"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkErr(t, tc.run(), tc.is, append([]string{path}, tc.want...)...)
			after, _ := os.ReadFile(path)
			if !bytes.Equal(before, after) {
				t.Error("a failed write changed the existing file")
			}
			ents, _ := os.ReadDir(dir)
			if len(ents) != 1 {
				t.Errorf("a failed write left %d entries in the directory", len(ents))
			}
		})
	}
}

func TestConversionBitPatterns(t *testing.T) {
	nan32 := math.Float32frombits(0x7fc00000)
	tests := []struct {
		name string
		f    float32
		bf16 uint16
		f16  uint16
	}{
		{"one", 1, 0x3f80, 0x3c00},
		{"minus two", -2, 0xc000, 0xc000},
		{"zero", 0, 0x0000, 0x0000},
		{"negative zero", float32(math.Copysign(0, -1)), 0x8000, 0x8000},
		{"half", 0.5, 0x3f00, 0x3800},
		{"+inf", float32(math.Inf(1)), 0x7f80, 0x7c00},
		{"-inf", float32(math.Inf(-1)), 0xff80, 0xfc00},
		{"f16 max", 65504, 0x4780, 0x7bff},
		{"f16 overflow to inf", 65536, 0x4780, 0x7c00},
		{"f16 smallest subnormal", float32(math.Ldexp(1, -24)), 0x3380, 0x0001},
		{"f16 largest subnormal", float32(1023 * math.Ldexp(1, -24)), 0x3880, 0x03ff},
		{"f16 half of smallest subnormal ties to even zero", float32(math.Ldexp(1, -25)), 0x3300, 0x0000},
		{"bf16 smallest subnormal", math.Float32frombits(0x00010000), 0x0001, 0x0000},
		// 1 + 2^-8 is halfway between bf16 1.0 (even) and 1.0078125: ties to even → 1.0.
		{"bf16 tie to even down", math.Float32frombits(0x3f808000), 0x3f80, 0x3c04},
		// 1.0078125 + 2^-8 is halfway between 0x3f81 (odd) and 0x3f82: ties to even → up.
		{"bf16 tie to even up", math.Float32frombits(0x3f818000), 0x3f82, 0x3c0c},
		{"bf16 above half rounds up", math.Float32frombits(0x3f808001), 0x3f81, 0x3c04},
		{"bf16 below half rounds down", math.Float32frombits(0x3f807fff), 0x3f80, 0x3c04},
		// 1 + 2^-11 is halfway between f16 1.0 and 1+2^-10: ties to even → 1.0.
		{"f16 tie to even down", float32(1 + math.Ldexp(1, -11)), 0x3f80, 0x3c00},
		{"f16 tie to even up", float32(1 + 3*math.Ldexp(1, -11)), 0x3f80, 0x3c02},
		{"bf16 rounds max float to inf", math.MaxFloat32, 0x7f80, 0x7c00},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := F32ToBF16(tc.f); got != tc.bf16 {
				t.Errorf("F32ToBF16(%g) = %#04x, want %#04x", tc.f, got, tc.bf16)
			}
			if got := F32ToF16(tc.f); got != tc.f16 {
				t.Errorf("F32ToF16(%g) = %#04x, want %#04x", tc.f, got, tc.f16)
			}
		})
	}

	widen := []struct {
		bits      uint16
		bf16, f16 float32
	}{
		{0x3f80, 1, 1.875},
		{0x3c00, 0.0078125, 1},
		{0x0001, math.Float32frombits(0x00010000), float32(math.Ldexp(1, -24))},
		{0x7f80, float32(math.Inf(1)), float32(math.NaN())},
		{0x4780, 65536, 7.5},
		{0x7c00, 2.658455991569832e+36, float32(math.Inf(1))},
		{0xc000, -2, -2},
	}
	for _, tc := range widen {
		if got := BF16ToF32(tc.bits); got != tc.bf16 {
			t.Errorf("BF16ToF32(%#04x) = %g, want %g", tc.bits, got, tc.bf16)
		}
		if got := F16ToF32(tc.bits); got != tc.f16 && !(math.IsNaN(float64(got)) && math.IsNaN(float64(tc.f16))) {
			t.Errorf("F16ToF32(%#04x) = %g, want %g", tc.bits, got, tc.f16)
		}
	}

	// NaN stays NaN both ways, including NaNs whose payload lives only in the low
	// mantissa bits that bf16 truncation drops.
	for _, n := range []float32{nan32, math.Float32frombits(0x7f800001), math.Float32frombits(0xff800001)} {
		if b := F32ToBF16(n); !math.IsNaN(float64(BF16ToF32(b))) {
			t.Errorf("F32ToBF16(NaN %#08x) = %#04x, not a NaN", math.Float32bits(n), b)
		}
		if h := F32ToF16(n); !math.IsNaN(float64(F16ToF32(h))) {
			t.Errorf("F32ToF16(NaN %#08x) = %#04x, not a NaN", math.Float32bits(n), h)
		}
	}
	if b := F32ToBF16(math.Float32frombits(0xff800001)); b&0x8000 == 0 {
		t.Errorf("negative NaN lost its sign: %#04x", b)
	}
	if !math.IsNaN(float64(BF16ToF32(0x7fc0))) || !math.IsNaN(float64(F16ToF32(0x7e00))) {
		t.Error("NaN bit patterns do not widen to NaN")
	}
}

func TestDecodeEncode(t *testing.T) {
	src := []byte{0x80, 0x3f, 0x00, 0xc0} // bf16 1, -2 little-endian
	dst := make([]float32, 2)
	if err := Decode(BF16, src, dst); err != nil || dst[0] != 1 || dst[1] != -2 {
		t.Errorf("Decode(BF16) = %v, %v", dst, err)
	}
	if err := Decode(BF16, src[:3], dst); err == nil {
		t.Error("Decode accepted 3 bytes for 2 BF16 values")
	}
	checkErr(t, Decode(I32, src, dst[:1]), []error{ErrDType}, "I32")
	checkErr(t, Decode("X9", src, dst), []error{ErrDType}, `"X9"`)
	_, err := Encode(U8, []float32{1})
	checkErr(t, err, []error{ErrDType}, "U8")
	enc, err := Encode(F16, []float32{1, -2})
	if err != nil || !bytes.Equal(enc, []byte{0x00, 0x3c, 0x00, 0xc0}) {
		t.Errorf("Encode(F16) = % x, %v", enc, err)
	}

	// A hand-built tensor whose data disagrees with its shape is refused, not decoded.
	bad := &Tensor{TensorInfo: TensorInfo{Name: "x", DType: F32, Shape: []int64{1 << 40}}, Path: "p", Data: make([]byte, 8)}
	_, err = bad.Float32()
	checkErr(t, err, []error{ErrFormat}, `"x"`)
}

func TestDTypes(t *testing.T) {
	for _, tc := range []struct {
		d        DType
		size     int
		known    bool
		readable bool
	}{
		{F32, 4, true, true}, {F16, 2, true, true}, {BF16, 2, true, true},
		{BOOL, 1, true, false}, {U8, 1, true, false}, {I8, 1, true, false},
		{I16, 2, true, false}, {U16, 2, true, false}, {I32, 4, true, false},
		{U32, 4, true, false}, {I64, 8, true, false}, {U64, 8, true, false},
		{F64, 8, true, false}, {F8E4M3, 1, true, false}, {F8E5M2, 1, true, false},
		{"f32", 0, false, false}, {"", 0, false, false},
	} {
		size, ok := tc.d.Size()
		if size != tc.size || ok != tc.known || tc.d.Readable() != tc.readable {
			t.Errorf("%q: Size = %d, %v; Readable = %v", tc.d, size, ok, tc.d.Readable())
		}
	}
}

func TestZeroCopy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.safetensors")
	mustWrite(t, path, []WriteTensor{f32Tensor(t, "a", []int64{2}, 1, 2), f32Tensor(t, "b", []int64{3}, 3, 4, 5)}, nil)
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(f.data)))
	hi := lo + uintptr(len(f.data))
	for _, name := range []string{"a", "b"} {
		tn, err := f.Tensor(name)
		if err != nil {
			t.Fatal(err)
		}
		p := uintptr(unsafe.Pointer(unsafe.SliceData(tn.Data)))
		if want := lo + uintptr(f.DataOffset()+tn.Begin); p != want || p+uintptr(len(tn.Data)) > hi {
			t.Errorf("%s: Data at %#x, want %#x inside mapping [%#x,%#x)", name, p, want, lo, hi)
		}
		if cap(tn.Data) != len(tn.Data) {
			t.Errorf("%s: cap %d reaches past the tensor's %d bytes", name, cap(tn.Data), len(tn.Data))
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if _, err := f.Tensor("a"); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Tensor after Close = %v, want os.ErrClosed", err)
	}
}

// writeShards writes a two-shard checkpoint and its index into dir and returns the
// expected tensor data bytes.
func writeShards(t *testing.T, dir string) int64 {
	t.Helper()
	mustWrite(t, filepath.Join(dir, "model-00001-of-00002.safetensors"), []WriteTensor{
		encTensor(t, "model.embed_tokens.weight", BF16, []int64{4, 3}, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12),
		encTensor(t, "model.layers.0.input_layernorm.weight", F32, []int64{3}, 1, 1, 1),
	}, map[string]string{"format": "pt"})
	mustWrite(t, filepath.Join(dir, "model-00002-of-00002.safetensors"), []WriteTensor{
		encTensor(t, "model.norm.weight", F16, []int64{3}, 0.5, 0.25, 2),
		encTensor(t, "lm_head.weight", BF16, []int64{4, 3}, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1),
	}, nil)
	total := int64(4*3*2 + 3*4 + 3*2 + 4*3*2)
	if err := WriteIndex(filepath.Join(dir, IndexFileName), map[string]string{
		"model.embed_tokens.weight":             "model-00001-of-00002.safetensors",
		"model.layers.0.input_layernorm.weight": "model-00001-of-00002.safetensors",
		"model.norm.weight":                     "model-00002-of-00002.safetensors",
		"lm_head.weight":                        "model-00002-of-00002.safetensors",
	}, total); err != nil {
		t.Fatal(err)
	}
	return total
}

func TestShardedSnapshot(t *testing.T) {
	dir := t.TempDir()
	total := writeShards(t, dir)
	s, err := OpenSnapshot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	wantNames := []string{"lm_head.weight", "model.embed_tokens.weight", "model.layers.0.input_layernorm.weight", "model.norm.weight"}
	if got := s.Names(); !reflect.DeepEqual(got, wantNames) {
		t.Errorf("Names = %v", got)
	}
	if got := s.TensorBytes(); got != total || got != 66 {
		t.Errorf("TensorBytes = %d, want %d", got, total)
	}
	var fileBytes int64
	for _, p := range s.Files() {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		fileBytes += st.Size()
	}
	if got := s.FileBytes(); got != fileBytes {
		t.Errorf("FileBytes = %d, want %d", got, fileBytes)
	}
	if len(s.Files()) != 2 || !strings.HasSuffix(s.Files()[1], "model-00002-of-00002.safetensors") {
		t.Errorf("Files = %v", s.Files())
	}
	for name, want := range map[string][]float32{
		"model.norm.weight": {0.5, 0.25, 2},
		"lm_head.weight":    {12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1},
	} {
		tn, err := s.Tensor(name)
		if err != nil {
			t.Fatal(err)
		}
		got, err := tn.Float32()
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %v, %v; want %v", name, got, err, want)
		}
		if !strings.HasSuffix(tn.Path, "model-00002-of-00002.safetensors") {
			t.Errorf("%s: Path = %s", name, tn.Path)
		}
	}
	if info, ok := s.Info("model.embed_tokens.weight"); !ok || info.DType != BF16 || !reflect.DeepEqual(info.Shape, []int64{4, 3}) || info.Bytes() != 24 {
		t.Errorf("Info = %+v, %v", info, ok)
	}
	if _, ok := s.Info("nope"); ok {
		t.Error("Info(nope) found something")
	}
	_, err = s.Tensor("nope")
	checkErr(t, err, []error{ErrNotFound}, `"nope"`, IndexFileName)
}

func TestOpenIndexRejects(t *testing.T) {
	const shard1, shard2 = "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"
	tests := []struct {
		name  string
		index map[string]string
		raw   string // used instead of index when set
		is    []error
		want  []string
	}{
		{"tensor missing from named shard", map[string]string{"model.norm.weight": shard1, "lm_head.weight": shard2}, "",
			[]error{ErrNotFound, ErrFormat}, []string{`tensor "model.norm.weight"`, shard1, "does not contain it"}},
		{"tensor in no shard", map[string]string{"ghost.weight": shard2}, "",
			[]error{ErrNotFound}, []string{`tensor "ghost.weight"`, shard2}},
		{"missing shard file", map[string]string{"lm_head.weight": "model-00003-of-00003.safetensors"}, "",
			[]error{ErrNotFound}, []string{"model-00003-of-00003.safetensors", "does not exist"}},
		{"shard outside directory", map[string]string{"lm_head.weight": "../x.safetensors"}, `{"weight_map":{"lm_head.weight":"../x.safetensors"}}`,
			[]error{ErrFormat}, []string{`"../x.safetensors"`, `tensor "lm_head.weight"`}},
		{"empty weight map", nil, `{"metadata":{},"weight_map":{}}`, []error{ErrFormat}, []string{"weight_map is missing or empty"}},
		{"not JSON", nil, `{"weight_map":`, []error{ErrFormat}, []string{"weight_map"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeShards(t, dir)
			index := filepath.Join(dir, "custom.index.json")
			if tc.raw != "" {
				writeBytes(t, dir, filepath.Base(index), []byte(tc.raw))
			} else if err := WriteIndex(index, tc.index, 0); err != nil {
				t.Fatal(err)
			}
			s, err := OpenIndex(index)
			if err == nil {
				s.Close()
			}
			checkErr(t, err, tc.is, append([]string{index}, tc.want...)...)
		})
	}
}

func TestDuplicateTensorAcrossFiles(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.safetensors"), filepath.Join(dir, "b.safetensors")
	mustWrite(t, a, []WriteTensor{f32Tensor(t, "x", nil, 1)}, nil)
	mustWrite(t, b, []WriteTensor{f32Tensor(t, "y", nil, 2), f32Tensor(t, "x", nil, 3)}, nil)
	s, err := OpenFiles(a, b)
	if err == nil {
		s.Close()
	}
	checkErr(t, err, []error{ErrFormat}, `tensor "x"`, a, b)

	// The same refusal applies to shards reached through an index.
	if err := WriteIndex(filepath.Join(dir, IndexFileName), map[string]string{"x": "a.safetensors", "y": "b.safetensors"}, 12); err != nil {
		t.Fatal(err)
	}
	s, err = OpenSnapshot(dir)
	if err == nil {
		s.Close()
	}
	checkErr(t, err, []error{ErrFormat}, `tensor "x"`)
}

func TestOpenSnapshotFallbacks(t *testing.T) {
	t.Run("single file preferred over others", func(t *testing.T) {
		dir := t.TempDir()
		mustWrite(t, filepath.Join(dir, SingleFileName), []WriteTensor{f32Tensor(t, "w", nil, 1)}, nil)
		mustWrite(t, filepath.Join(dir, "other.safetensors"), []WriteTensor{f32Tensor(t, "w", nil, 2)}, nil)
		s, err := OpenSnapshot(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if files := s.Files(); len(files) != 1 || filepath.Base(files[0]) != SingleFileName {
			t.Errorf("Files = %v", files)
		}
	})
	t.Run("all safetensors sorted", func(t *testing.T) {
		dir := t.TempDir()
		mustWrite(t, filepath.Join(dir, "b.safetensors"), []WriteTensor{f32Tensor(t, "y", nil, 1)}, nil)
		mustWrite(t, filepath.Join(dir, "a.safetensors"), []WriteTensor{f32Tensor(t, "x", []int64{2}, 1, 2)}, nil)
		s, err := OpenSnapshot(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if files := s.Files(); len(files) != 2 || filepath.Base(files[0]) != "a.safetensors" {
			t.Errorf("Files = %v", files)
		}
		if got := s.TensorBytes(); got != 12 {
			t.Errorf("TensorBytes = %d, want 12", got)
		}
	})
	t.Run("file path", func(t *testing.T) {
		dir := t.TempDir()
		p := filepath.Join(dir, "x.safetensors")
		mustWrite(t, p, []WriteTensor{f32Tensor(t, "w", nil, 1)}, nil)
		s, err := OpenSnapshot(p)
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
	})
	t.Run("empty directory", func(t *testing.T) {
		dir := t.TempDir()
		_, err := OpenSnapshot(dir)
		checkErr(t, err, []error{ErrNotFound}, dir, "no "+IndexFileName)
	})
	t.Run("no files", func(t *testing.T) {
		_, err := OpenFiles()
		checkErr(t, err, []error{ErrNotFound})
	})
}

func TestWriteIndexFormat(t *testing.T) {
	p := filepath.Join(t.TempDir(), IndexFileName)
	if err := WriteIndex(p, map[string]string{"b": "s2.safetensors", "a": "s1.safetensors"}, 42); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(p)
	want := "{\n  \"metadata\": {\n    \"total_size\": 42\n  },\n  \"weight_map\": {\n    \"a\": \"s1.safetensors\",\n    \"b\": \"s2.safetensors\"\n  }\n}\n"
	if string(got) != want {
		t.Errorf("index =\n%s\nwant\n%s", got, want)
	}
	if err := WriteIndex(p, nil, -1); err == nil {
		t.Error("WriteIndex accepted a negative total size")
	}
}

func BenchmarkDecodeBF16(b *testing.B) {
	src := make([]byte, 2<<20)
	dst := make([]float32, len(src)/2)
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		if err := Decode(BF16, src, dst); err != nil {
			b.Fatal(err)
		}
	}
}
