package cpu

import (
	"fmt"
	"testing"

	"github.com/ember-infer/ember/ember-core/device"
)

// BenchmarkMatMul multiplies by a Qwen3-0.6B MLP-sized weight [3072, 1024]
// for one row (decode) and 512 rows (a prefill chunk), with the assembly
// kernels (AVX-512 and AVX2, where the CPU has them) and with the pure-Go
// ones. SetBytes is the weight's bytes, so MB/s is the weight bandwidth a
// decode step gets; GFLOP/s counts 2·n·o·k.
//
//	go test -run '^$' -bench MatMul -cpu 1,2 ./ember-core/cpu
func BenchmarkMatMul(b *testing.B) {
	const o, k = 3072, 1024
	for _, ks := range []int{kernelsAVX512, kernelsAVX2, kernelsGo} {
		if ks == kernelsAVX512 && !haveAVX512 || ks == kernelsAVX2 && !haveAVX2 {
			continue
		}
		kern := kernelSetNames[ks]
		for _, dt := range []device.DType{device.BF16, device.F16, device.F32} {
			for _, n := range []int{1, 512} {
				b.Run(fmt.Sprintf("%s/%v/n=%d", kern, dt, n), func(b *testing.B) {
					withKernels(ks, func() {
						d := New(Options{})
						w, _ := weight(b, d, "w", dt, randVals(newRand(1), o*k, 1), o, k)
						x := upload(b, d, device.F32, randVals(newRand(2), n*k, 1), n, k)
						out := mustAlloc(b, d, device.F32, n, o)
						b.SetBytes(int64(o * k * dt.Size()))
						b.ReportAllocs()
						for b.Loop() {
							if err := d.MatMul(out, x, w); err != nil {
								b.Fatal(err)
							}
						}
						b.ReportMetric(float64(2*n*o*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
					})
				})
			}
		}
	}
}
