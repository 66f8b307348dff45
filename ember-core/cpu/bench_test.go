package cpu

import (
	"fmt"
	"testing"

	"github.com/ember-infer/ember/ember-core/device"
)

// BenchmarkMatMulBF16 multiplies by a Qwen3-0.6B MLP-sized BF16 weight
// [3072, 1024] for one row (decode) and 64 rows (a prefill chunk). SetBytes is
// the weight's bytes, so MB/s is the weight bandwidth a decode step gets.
func BenchmarkMatMulBF16(b *testing.B) {
	const o, k = 3072, 1024
	for _, n := range []int{1, 64} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			d := New(Options{})
			w, _ := weight(b, d, "w", device.BF16, randVals(newRand(1), o*k, 1), o, k)
			x := upload(b, d, device.F32, randVals(newRand(2), n*k, 1), n, k)
			out := mustAlloc(b, d, device.F32, n, o)
			b.SetBytes(int64(o * k * 2))
			b.ReportAllocs()
			for b.Loop() {
				if err := d.MatMul(out, x, w); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(2*n*o*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
