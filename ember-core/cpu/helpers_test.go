package cpu

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"unsafe"

	"github.com/ember-infer/ember/ember-core/device"
)

// Helpers shared by the tests: deterministic random inputs, tensors built
// through the public interface, and comparisons with stated tolerances.

var floatTypes = []device.DType{device.F32, device.F16, device.BF16}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15)) }

// randVals returns n values uniform in [-scale, scale).
func randVals(r *rand.Rand, n int, scale float32) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = (2*r.Float32() - 1) * scale
	}
	return v
}

// alignedBytes returns n zero bytes starting on an 8-byte boundary.
func alignedBytes(n int) []byte {
	w := make([]uint64, (n+8)/8)
	return unsafe.Slice((*byte)(unsafe.Pointer(&w[0])), len(w)*8)[:n]
}

// encodeLE returns vals in dt's little-endian layout (8-byte aligned) and the
// values the bytes decode to, which is what a reference must use.
func encodeLE(t testing.TB, dt device.DType, vals []float32) ([]byte, []float32) {
	t.Helper()
	b := alignedBytes(len(vals) * dt.Size())
	dec := make([]float32, len(vals))
	for i, v := range vals {
		switch dt {
		case device.F32:
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
			dec[i] = v
		case device.BF16:
			h := f32ToBF16(v)
			binary.LittleEndian.PutUint16(b[2*i:], h)
			dec[i] = bf16ToF32(h)
		case device.F16:
			h := f32ToF16(v)
			binary.LittleEndian.PutUint16(b[2*i:], h)
			dec[i] = f16Table[h]
		default:
			t.Fatalf("encodeLE: dtype %v", dt)
		}
	}
	return b, dec
}

// quantize returns the values vals become when stored as dt.
func quantize(dt device.DType, vals []float32) []float32 {
	out := make([]float32, len(vals))
	for i, v := range vals {
		switch dt {
		case device.BF16:
			out[i] = bf16ToF32(f32ToBF16(v))
		case device.F16:
			out[i] = f16Table[f32ToF16(v)]
		default:
			out[i] = v
		}
	}
	return out
}

func mustAlloc(t testing.TB, d *Device, dt device.DType, shape ...int) device.Tensor {
	t.Helper()
	x, err := d.Alloc(dt, shape...)
	if err != nil {
		t.Fatalf("Alloc(%v, %v): %v", dt, shape, err)
	}
	return x
}

// upload allocates a dt tensor of shape on d and uploads vals into it.
func upload(t testing.TB, d *Device, dt device.DType, vals []float32, shape ...int) device.Tensor {
	t.Helper()
	x := mustAlloc(t, d, dt, shape...)
	if err := d.Upload(x, vals); err != nil {
		t.Fatalf("Upload: %v", err)
	}
	return x
}

func uploadI32(t testing.TB, d *Device, vals []int32, shape ...int) device.Tensor {
	t.Helper()
	x := mustAlloc(t, d, device.I32, shape...)
	if err := d.Upload(x, vals); err != nil {
		t.Fatalf("Upload: %v", err)
	}
	return x
}

// weight loads vals as the weight name in dt and returns it with the values it holds.
func weight(t testing.TB, d *Device, name string, dt device.DType, vals []float32, shape ...int) (device.Tensor, []float32) {
	t.Helper()
	b, dec := encodeLE(t, dt, vals)
	w, err := d.LoadWeight(name, dt, b, shape...)
	if err != nil {
		t.Fatalf("LoadWeight(%s): %v", name, err)
	}
	return w, dec
}

func download(t testing.TB, d *Device, x device.Tensor) []float32 {
	t.Helper()
	out := make([]float32, device.Elems(x.Shape()))
	if err := d.Download(out, x); err != nil {
		t.Fatalf("Download: %v", err)
	}
	return out
}

func downloadI32(t testing.TB, d *Device, x device.Tensor) []int32 {
	t.Helper()
	out := make([]int32, device.Elems(x.Shape()))
	if err := d.Download(out, x); err != nil {
		t.Fatalf("Download: %v", err)
	}
	return out
}

// checkClose fails when |got[i] - want[i]| > tol[i] for any i. tol is usually
// a relative bound times the magnitude of the terms that produced want[i].
func checkClose(t testing.TB, what string, got []float32, want, tol []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	bad := 0
	for i := range got {
		if diff := math.Abs(float64(got[i]) - want[i]); !(diff <= tol[i]) {
			if bad < 5 {
				t.Errorf("%s[%d] = %v, want %v (diff %.3g > tol %.3g)", what, i, got[i], want[i], diff, tol[i])
			}
			bad++
		}
	}
	if bad > 5 {
		t.Errorf("%s: %d of %d values out of tolerance", what, bad, len(got))
	}
}

// checkBitwise fails unless a and b hold identical bits.
func checkBitwise(t testing.TB, what string, a, b []float32) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%s: lengths %d and %d differ", what, len(a), len(b))
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			t.Fatalf("%s[%d]: %v vs %v (bits %#x vs %#x)", what, i, a[i], b[i], math.Float32bits(a[i]), math.Float32bits(b[i]))
		}
	}
}

// wantErr fails unless err is non-nil and mentions every one of parts.
func wantErr(t testing.TB, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one mentioning %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not mention %q", err, p)
		}
	}
}
