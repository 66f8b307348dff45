package safetensors

// DType is a safetensors element type as spelled in a file header ("F32", "BF16", …).
type DType string

// The element types Ember knows by name. Only F32, F16 and BF16 can be decoded to
// float32; the others are recognised (so a header that uses them parses) but are
// refused with ErrDType when a caller asks for floats.
const (
	BOOL   DType = "BOOL"
	U8     DType = "U8"
	I8     DType = "I8"
	I16    DType = "I16"
	U16    DType = "U16"
	F16    DType = "F16"
	BF16   DType = "BF16"
	I32    DType = "I32"
	U32    DType = "U32"
	F32    DType = "F32"
	I64    DType = "I64"
	U64    DType = "U64"
	F64    DType = "F64"
	F8E4M3 DType = "F8_E4M3"
	F8E5M2 DType = "F8_E5M2"
)

var dtypeSizes = map[DType]int{
	BOOL: 1, U8: 1, I8: 1, F8E4M3: 1, F8E5M2: 1,
	I16: 2, U16: 2, F16: 2, BF16: 2,
	I32: 4, U32: 4, F32: 4,
	I64: 8, U64: 8, F64: 8,
}

// Size reports the number of bytes one element of d occupies, and false when d is
// not a dtype this package knows.
func (d DType) Size() (int, bool) {
	n, ok := dtypeSizes[d]
	return n, ok
}

// Readable reports whether tensors of type d can be decoded to float32
// (F32, F16 and BF16).
func (d DType) Readable() bool {
	return d == F32 || d == F16 || d == BF16
}
