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

// BenchmarkAttentionPrefill is one layer's attention over a 512-token prefill
// at Qwen3-0.6B's shape (16 query heads, 8 kv heads of 128, an F16 cache).
// GFLOP/s counts the scores and the weighted values (2·2·heads·hd per
// query-row pair, causal).
//
//	go test -run '^$' -bench AttentionPrefill -cpu 1,2 ./ember-core/cpu
func BenchmarkAttentionPrefill(b *testing.B) {
	const n, heads, kvHeads, hd = 512, 16, 8, 128
	d := New(Options{})
	qDim, kvDim := heads*hd, kvHeads*hd
	q := upload(b, d, device.F32, randVals(newRand(1), n*qDim, 1), n, qDim)
	kc := upload(b, d, device.F16, randVals(newRand(2), n*kvDim, 1), n, kvDim)
	vc := upload(b, d, device.F16, randVals(newRand(3), n*kvDim, 1), n, kvDim)
	out := mustAlloc(b, d, device.F32, n, qDim)
	b.ReportAllocs()
	for b.Loop() {
		if err := d.Attention(out, q, kc, vc, 0, heads, kvHeads, hd); err != nil {
			b.Fatal(err)
		}
	}
	flops := 2 * 2 * float64(heads*hd) * float64(n) * float64(n+1) / 2
	b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// BenchmarkAttentionDecode is one decode step's attention at Qwen3-0.6B's
// shape (16 query heads, 8 kv heads of 128, F16 caches) after 512 tokens,
// one layer per op over 28 layers' caches in turn, so that the caches come
// from memory as in a model's step (58 MB, more than most L3s) rather than
// from cache. MB/s counts each cache byte once.
//
//	go test -run '^$' -bench AttentionDecode ./ember-core/cpu
func BenchmarkAttentionDecode(b *testing.B) {
	const ctx, heads, kvHeads, hd, layers = 513, 16, 8, 128, 28
	d := New(Options{})
	qDim, kvDim := heads*hd, kvHeads*hd
	q := upload(b, d, device.F32, randVals(newRand(1), qDim, 1), 1, qDim)
	kcs, vcs := make([]device.Tensor, layers), make([]device.Tensor, layers)
	for l := range layers {
		kcs[l] = upload(b, d, device.F16, randVals(newRand(uint64(2+l)), ctx*kvDim, 1), ctx, kvDim)
		vcs[l] = upload(b, d, device.F16, randVals(newRand(uint64(100+l)), ctx*kvDim, 1), ctx, kvDim)
	}
	out := mustAlloc(b, d, device.F32, 1, qDim)
	b.SetBytes(int64(2 * ctx * kvDim * device.F16.Size()))
	b.ReportAllocs()
	l := 0
	for b.Loop() {
		if err := d.Attention(out, q, kcs[l], vcs[l], ctx-1, heads, kvHeads, hd); err != nil {
			b.Fatal(err)
		}
		l = (l + 1) % layers
	}
}

// BenchmarkLogSumExpTopK is a batched decode step's sampling over eight rows
// of a Qwen3 vocabulary (151,936 logits): LogSumExp for the logprobs and
// TopK with k = 1 (greedy).
//
//	go test -run '^$' -bench LogSumExpTopK ./ember-core/cpu
func BenchmarkLogSumExpTopK(b *testing.B) {
	const n, vocab = 8, 151936
	d := New(Options{})
	x := upload(b, d, device.F32, randVals(newRand(1), n*vocab, 8), n, vocab)
	lse := mustAlloc(b, d, device.F32, n)
	vals, idx := mustAlloc(b, d, device.F32, n, 1), mustAlloc(b, d, device.I32, n, 1)
	b.ReportAllocs()
	for b.Loop() {
		if err := d.LogSumExp(lse, x); err != nil {
			b.Fatal(err)
		}
		if err := d.TopK(vals, idx, x, 1); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBatchAttention is one layer's attention in a batched decode step
// of eight sequences at Qwen3-0.6B's shape (16 query heads, 8 kv heads of
// 128, BF16 caches), each row at position 64 over its own caches.
//
//	go test -run '^$' -bench BatchAttention ./ember-core/cpu
func BenchmarkBatchAttention(b *testing.B) {
	const B, ctx, heads, kvHeads, hd = 8, 65, 16, 8, 128
	d := New(Options{})
	qDim, kvDim := heads*hd, kvHeads*hd
	q := upload(b, d, device.F32, randVals(newRand(1), B*qDim, 1), B, qDim)
	starts, pos := make([]int, B), make([]int32, B)
	kc, vc := make([]device.Tensor, B), make([]device.Tensor, B)
	for i := range B {
		starts[i], pos[i] = ctx-1, int32(ctx-1)
		kc[i] = upload(b, d, device.BF16, randVals(newRand(uint64(2+i)), ctx*kvDim, 1), ctx, kvDim)
		vc[i] = upload(b, d, device.BF16, randVals(newRand(uint64(100+i)), ctx*kvDim, 1), ctx, kvDim)
	}
	pt := uploadI32(b, d, pos, B)
	out := mustAlloc(b, d, device.F32, B, qDim)
	b.ReportAllocs()
	for b.Loop() {
		if err := d.BatchAttention(out, q, pt, kc, vc, starts, heads, kvHeads, hd); err != nil {
			b.Fatal(err)
		}
	}
}
