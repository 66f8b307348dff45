package safetensors

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/x448/float16"
)

// BF16ToF32 widens a bfloat16 bit pattern to float32. It is exact: bfloat16 is the
// top half of a float32.
func BF16ToF32(h uint16) float32 {
	return math.Float32frombits(uint32(h) << 16)
}

// F32ToBF16 narrows f to bfloat16, rounding to nearest with ties to even. Values
// beyond the bfloat16 range become ±Inf; a NaN stays a (quiet) NaN with its sign.
func F32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 { // NaN: truncating could leave an all-zero mantissa (Inf)
		return uint16(b>>16) | 0x0040
	}
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}

// F16ToF32 widens an IEEE 754 half-precision bit pattern to float32 (exact).
func F16ToF32(h uint16) float32 {
	return float16.Frombits(h).Float32()
}

// F32ToF16 narrows f to IEEE 754 half precision, rounding to nearest with ties to
// even; out-of-range values become ±Inf and NaN stays NaN.
func F32ToF16(f float32) uint16 {
	return float16.Fromfloat32(f).Bits()
}

// Decode converts little-endian elements of dtype in src to float32 in dst. dtype
// must be F32, F16 or BF16 (else the error wraps ErrDType), and src must hold exactly
// len(dst) elements.
func Decode(dtype DType, src []byte, dst []float32) error {
	size, ok := dtype.Size()
	if !ok || !dtype.Readable() {
		return dtypeError(dtype)
	}
	if len(src) != len(dst)*size {
		return fmt.Errorf("safetensors: decode %s: %d source bytes for %d values, want %d", dtype, len(src), len(dst), len(dst)*size)
	}
	switch dtype {
	case F32:
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
		}
	case BF16:
		for i := range dst {
			dst[i] = BF16ToF32(binary.LittleEndian.Uint16(src[2*i:]))
		}
	case F16:
		for i := range dst {
			dst[i] = F16ToF32(binary.LittleEndian.Uint16(src[2*i:]))
		}
	}
	return nil
}

// Encode converts src to little-endian elements of dtype (F32, F16 or BF16, else the
// error wraps ErrDType), rounding to nearest even when narrowing.
func Encode(dtype DType, src []float32) ([]byte, error) {
	size, ok := dtype.Size()
	if !ok || !dtype.Readable() {
		return nil, dtypeError(dtype)
	}
	out := make([]byte, len(src)*size)
	switch dtype {
	case F32:
		for i, v := range src {
			binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(v))
		}
	case BF16:
		for i, v := range src {
			binary.LittleEndian.PutUint16(out[2*i:], F32ToBF16(v))
		}
	case F16:
		for i, v := range src {
			binary.LittleEndian.PutUint16(out[2*i:], F32ToF16(v))
		}
	}
	return out, nil
}

func dtypeError(dtype DType) error {
	if _, ok := dtype.Size(); !ok {
		return newError(ErrDType, "safetensors: unknown dtype %q", dtype)
	}
	return newError(ErrDType, "safetensors: dtype %s cannot be converted to float32 (only F32, F16 and BF16 can)", dtype)
}

// Float32 returns the tensor's values converted to a new float32 slice. Only F32,
// F16 and BF16 tensors convert; for others the error wraps ErrDType and names the
// dtype, the tensor and the file.
func (t *Tensor) Float32() ([]float32, error) {
	n, err := t.check()
	if err != nil {
		return nil, err
	}
	dst := make([]float32, n)
	if err := Decode(t.DType, t.Data, dst); err != nil {
		return nil, fmt.Errorf("safetensors %s: tensor %q: %w", t.Path, t.Name, err)
	}
	return dst, nil
}

// DecodeInto converts the tensor's values into dst, which must have exactly
// NumElements() elements. Errors are as for Float32.
func (t *Tensor) DecodeInto(dst []float32) error {
	n, err := t.check()
	if err != nil {
		return err
	}
	if int64(len(dst)) != n {
		return fmt.Errorf("safetensors %s: tensor %q: destination holds %d values but shape %s has %d", t.Path, t.Name, len(dst), fmtShape(t.Shape), n)
	}
	if err := Decode(t.DType, t.Data, dst); err != nil {
		return fmt.Errorf("safetensors %s: tensor %q: %w", t.Path, t.Name, err)
	}
	return nil
}

// check returns the element count of a convertible tensor whose Data matches its
// shape, so a hand-built Tensor cannot make Float32 allocate nonsense.
func (t *Tensor) check() (int64, error) {
	if !t.DType.Readable() {
		return 0, newError(ErrDType, "safetensors %s: tensor %q has dtype %s, which cannot be converted to float32 (only F32, F16 and BF16 can)", t.Path, t.Name, t.DType)
	}
	size, _ := t.DType.Size()
	n := t.NumElements()
	if n < 0 || n > int64(len(t.Data)) || n*int64(size) != int64(len(t.Data)) {
		return 0, formatErrorf("safetensors %s: tensor %q: data is %d bytes but shape %s of %s needs %d elements of %d bytes", t.Path, t.Name, len(t.Data), fmtShape(t.Shape), t.DType, n, size)
	}
	return n, nil
}
