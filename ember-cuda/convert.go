package cuda

import (
	"encoding/binary"
	"math"

	"github.com/x448/float16"
)

// Host-side conversions for Upload and Download, rounding as the CPU backend
// does so that a tensor round-trips to the same bits on either backend.

// f32ToBF16 narrows f with round to nearest, ties to even; a NaN stays a
// quiet NaN of the same sign.
func f32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 {
		return uint16(b>>16) | 0x0040
	}
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}

// bf16ToF32 widens a bfloat16 exactly.
func bf16ToF32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// encode writes src in the storage type (bf16, fp16 or f32 when neither) as
// little-endian bytes into dst.
func encode(dst []byte, src []float32, bf, f16 bool) {
	switch {
	case bf:
		for i, v := range src {
			binary.LittleEndian.PutUint16(dst[2*i:], f32ToBF16(v))
		}
	case f16:
		for i, v := range src {
			binary.LittleEndian.PutUint16(dst[2*i:], float16.Fromfloat32(v).Bits())
		}
	default:
		for i, v := range src {
			binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(v))
		}
	}
}

// decode widens little-endian bytes of the storage type into dst.
func decode(dst []float32, src []byte, bf, f16 bool) {
	switch {
	case bf:
		for i := range dst {
			dst[i] = bf16ToF32(binary.LittleEndian.Uint16(src[2*i:]))
		}
	case f16:
		for i := range dst {
			dst[i] = float16.Frombits(binary.LittleEndian.Uint16(src[2*i:])).Float32()
		}
	default:
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
		}
	}
}

func putI32(b []byte, v int32) { binary.LittleEndian.PutUint32(b, uint32(v)) }
func getI32(b []byte) int32    { return int32(binary.LittleEndian.Uint32(b)) }
