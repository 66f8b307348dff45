package cuda

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ember-infer/ember/ember-core/cpu"
	"github.com/ember-infer/ember/ember-core/device"
)

// TestConversionsMatchCPU checks that Upload's narrowing and Download's
// widening give the bits the CPU backend gives, so both backends start from
// the same 16-bit values.
func TestConversionsMatchCPU(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	src := []float32{0, -0, 1, -1, 65504, 65520, 1e-8, float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), 3.14159, 1.00390625, 1.01171875}
	for range 1000 {
		src = append(src, float32(r.NormFloat64()*math.Pow(10, float64(r.IntN(8)-4))))
	}
	c := cpu.New(cpu.Options{Threads: 1})
	for _, dt := range []device.DType{device.BF16, device.F16, device.F32} {
		tt, err := c.Alloc(dt, len(src))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Upload(tt, src); err != nil {
			t.Fatal(err)
		}
		want := make([]float32, len(src))
		if err := c.Download(want, tt); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, len(src)*dt.Size())
		encode(buf, src, dt == device.BF16, dt == device.F16)
		got := make([]float32, len(src))
		decode(got, buf, dt == device.BF16, dt == device.F16)
		for i := range src {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) && !(got[i] != got[i] && want[i] != want[i]) {
				t.Errorf("%v: %v → %v, CPU backend gives %v", dt, src[i], got[i], want[i])
			}
		}
	}
}
