package cpu

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/ember-infer/ember/ember-core/device"
)

// BenchmarkMatMulSmallBatch multiplies n = 1, 4, 8, 16 rows by a BF16 weight
// larger than the L3 cache ([16384, 1024], 32 MiB), as a batched decode step
// does, with the small-batch kernels (and, for comparison, with n = 8 through
// the prefill path's widened panel). SetBytes is the weight's bytes; GFLOP/s
// counts 2·n·o·k.
//
//	go test -run '^$' -bench MatMulSmallBatch -cpu 1,2 ./ember-core/cpu
func BenchmarkMatMulSmallBatch(b *testing.B) {
	const o, k = 16384, 1024
	d := New(Options{Threads: runtime.GOMAXPROCS(0)})
	w, _ := weight(b, d, "w", device.BF16, randVals(newRand(1), o*k, 1), o, k)
	for _, n := range []int{1, 4, 8, 16} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			x := upload(b, d, device.F32, randVals(newRand(2), n*k, 1), n, k)
			out := mustAlloc(b, d, device.F32, n, o)
			b.SetBytes(int64(o * k * 2))
			for b.Loop() {
				if err := d.MatMul(out, x, w); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(2*n*o*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
