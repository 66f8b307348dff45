package cuda

import (
	"encoding/binary"
	"math"

	"github.com/ember-infer/ember/ember-core/safetensors"
)

// Host-side conversions for Upload and Download. The scalar conversions are
// safetensors', as the CPU backend's are, so that a tensor round-trips to the
// same bits on either backend.

// encode writes src in the storage type (bf16, fp16 or f32 when neither) as
// little-endian bytes into dst.
func encode(dst []byte, src []float32, bf, f16 bool) {
	switch {
	case bf:
		for i, v := range src {
			binary.LittleEndian.PutUint16(dst[2*i:], safetensors.F32ToBF16(v))
		}
	case f16:
		for i, v := range src {
			binary.LittleEndian.PutUint16(dst[2*i:], safetensors.F32ToF16(v))
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
			dst[i] = safetensors.BF16ToF32(binary.LittleEndian.Uint16(src[2*i:]))
		}
	case f16:
		for i := range dst {
			dst[i] = safetensors.F16ToF32(binary.LittleEndian.Uint16(src[2*i:]))
		}
	default:
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
		}
	}
}

func putI32(b []byte, v int32) { binary.LittleEndian.PutUint32(b, uint32(v)) }
func getI32(b []byte) int32    { return int32(binary.LittleEndian.Uint32(b)) }
