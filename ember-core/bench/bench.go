// Package bench measures the engine against the machine it runs on: prefill and
// decode speed, and the memory read bandwidth that bounds decode, measured in
// the same run with the same thread count so that the ratio means something on
// a noisy machine.
package bench

import (
	"fmt"
	"runtime"
	"runtime/pprof"
	"sync"
	"time"
	"unsafe"

	"github.com/ember-infer/ember/ember-core/config"
	"github.com/ember-infer/ember/ember-core/cpu"
	"github.com/ember-infer/ember/ember-core/device"
	"github.com/ember-infer/ember/ember-core/engine"
	"github.com/ember-infer/ember/ember-core/qwen3"
)

// ReadBandwidth measures how fast threads goroutines can read memory: each sums
// its share of a buffer of size bytes (far larger than the caches), several
// passes, best pass kept. It returns bytes per second.
//
// Where the CPU device runs its AVX2 kernels the sum is an AVX2 loop of 256-bit
// loads, the same width the decode kernels read weights with; a plain Go loop
// of 8-byte loads can be bound by the core rather than by memory and would
// flatter the decode ratio. Elsewhere it is that Go loop.
func ReadBandwidth(threads, size int) float64 {
	if threads < 1 {
		threads = runtime.GOMAXPROCS(0)
	}
	const block = 32 // uint64s per 256-byte block, readSum's unit
	n := max(size/8/block, threads) * block
	buf := make([]uint64, n)
	for i := range buf {
		buf[i] = uint64(i)
	}
	simd := cpu.SIMD()
	sinks := make([]uint64, threads*8) // padded so goroutines do not share a cache line
	best := time.Duration(1<<63 - 1)
	for pass := 0; pass < 5; pass++ {
		var wg sync.WaitGroup
		t0 := time.Now()
		for w := range threads {
			lo, hi := w*(n/block)/threads*block, (w+1)*(n/block)/threads*block
			wg.Add(1)
			go func() {
				defer wg.Done()
				if simd {
					sinks[w*8] += readSum((*byte)(unsafe.Pointer(&buf[lo])), (hi-lo)*8)
				} else {
					sinks[w*8] += sum(buf[lo:hi])
				}
			}()
		}
		wg.Wait()
		best = min(best, time.Since(t0))
	}
	return float64(n*8) / best.Seconds()
}

// sum reads xs with four independent accumulators so the loop is bound by
// loads, not by one add chain.
func sum(xs []uint64) uint64 {
	var a, b, c, d uint64
	i := 0
	for ; i+4 <= len(xs); i += 4 {
		a += xs[i]
		b += xs[i+1]
		c += xs[i+2]
		d += xs[i+3]
	}
	for ; i < len(xs); i++ {
		a += xs[i]
	}
	return a + b + c + d
}

// FMAPeak measures the float32 multiply-add peak of threads goroutines, in
// flop/s: each runs a loop of independent multiply-adds with no memory
// operands, about 50 ms a pass, best of three passes. Where the CPU device runs
// its AVX-512 kernels the loop is sixteen 16-lane VFMADD231PS chains, where it
// runs the AVX2 ones twelve 8-lane chains — the instruction the GEMM kernel is
// built on, so prefill GFLOP/s over this is the fraction of the machine's peak
// that prefill reaches. Elsewhere it is a Go loop of eight float32 a·b+c
// chains, the peak the pure-Go kernels could reach.
func FMAPeak(threads int) float64 {
	if threads < 1 {
		threads = runtime.GOMAXPROCS(0)
	}
	loop, flopsPerIter := fmaLoopGo, 16.0
	switch cpu.SIMDWidth() {
	case 16:
		loop, flopsPerIter = func(n int) { fmaLoop512(n) }, 512
	case 8:
		loop, flopsPerIter = func(n int) { fmaLoop(n) }, 192
	}
	// Calibrate one goroutine's iterations for about 50 ms.
	iters := 1 << 14
	for {
		t0 := time.Now()
		loop(iters)
		if d := time.Since(t0); d > 5*time.Millisecond || iters > 1<<28 {
			iters = max(1, int(float64(iters)*float64(50*time.Millisecond)/float64(d)))
			break
		}
		iters *= 4
	}
	best := time.Duration(1<<63 - 1)
	for range 3 {
		var start, done sync.WaitGroup
		start.Add(1)
		done.Add(threads)
		for range threads {
			go func() {
				defer done.Done()
				start.Wait()
				loop(iters)
			}()
		}
		t0 := time.Now()
		start.Done()
		done.Wait()
		best = min(best, time.Since(t0))
	}
	return float64(threads) * float64(iters) * flopsPerIter / best.Seconds()
}

// fmaSeed keeps the Go peak loop's operands unknown to the compiler.
var fmaSeed = [2]float32{0.999, 1e-3}

// fmaLoopGo runs n iterations of eight independent float32 multiply-add
// chains (16 flops each).
func fmaLoopGo(n int) {
	m, c := fmaSeed[0], fmaSeed[1]
	var a0, a1, a2, a3, a4, a5, a6, a7 float32
	for range n {
		a0 = a0*m + c
		a1 = a1*m + c
		a2 = a2*m + c
		a3 = a3*m + c
		a4 = a4*m + c
		a5 = a5*m + c
		a6 = a6*m + c
		a7 = a7*m + c
	}
	fmaSink = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7
}

var fmaSink float32

// PrefillFLOPs counts the floating-point operations of a prefill of n tokens
// from position 0 that keeps only the last position's logits: 2 per
// multiply-add of every layer matmul for every token, of the lm_head for the
// last token, and of attention's scores and weighted values (each query at
// position i reads i+1 cache rows). Norms, RoPE, softmax and SiLU are not
// counted; they are a few percent.
func PrefillFLOPs(c *config.Config, n int) float64 {
	h, q, kv, inter := float64(c.HiddenSize), float64(c.QDim()), float64(c.KVDim()), float64(c.IntermediateSize)
	perToken := 2 * (h*q + 2*h*kv + q*h + 3*h*inter) // q, k, v, o, gate, up, down
	rows := float64(n) * float64(n+1) / 2            // Σ (i+1) over the queries
	attn := 2 * 2 * float64(c.NumAttentionHeads*c.HeadDim) * rows
	return float64(c.NumHiddenLayers)*(float64(n)*perToken+attn) + 2*h*float64(c.VocabSize)
}

// WeightBytesPerToken is what one decode step reads of the model's weights:
// every layer tensor, the final norm and the lm_head; of the embedding only one
// row (it is gathered, not multiplied), unless it also serves as the lm_head.
func WeightBytesPerToken(m *qwen3.Model) int64 {
	var total int64
	for _, l := range m.Layers {
		for _, t := range []device.Tensor{l.InputNorm, l.Q, l.K, l.V, l.QNorm, l.KNorm, l.O, l.PostNorm, l.Gate, l.Up, l.Down} {
			total += t.Bytes()
		}
	}
	total += m.Norm.Bytes() + m.LMHead.Bytes()
	rows, _ := device.Rows(m.Embed)
	total += m.Embed.Bytes() / int64(rows)
	return total
}

// Result is one benchmark run.
type Result struct {
	Threads   int `json:"threads"`
	Devices   int `json:"devices"`
	PromptLen int `json:"prompt_len"`
	// PrefillChunks is how many chunks the prefill ran in (Options.Chunk),
	// Overlap whether the devices overlapped them (two or more devices and
	// chunks).
	PrefillChunks           int     `json:"prefill_chunks"`
	Overlap                 bool    `json:"overlap"`
	DecodeSteps             int     `json:"decode_steps"`
	PrefillTokS             float64 `json:"prefill_tok_s"`
	DecodeTokS              float64 `json:"decode_tok_s"`
	WeightBytesPerToken     int64   `json:"weight_bytes_per_token"`
	ReadBandwidthGBs        float64 `json:"read_bandwidth_gbs"`
	DecodeBandwidthGBs      float64 `json:"decode_bandwidth_gbs"`
	DecodeBandwidthFraction float64 `json:"decode_bandwidth_fraction"`
	// DecodeAllocsPerStep is the heap allocations per decode step (want 0).
	DecodeAllocsPerStep float64 `json:"decode_allocs_per_step"`
	// DecodeThreadsStarted is how many OS threads the Go runtime started
	// during the decode steps (each is several of its own heap allocations,
	// counted in DecodeAllocsPerStep, not the engine's).
	DecodeThreadsStarted int `json:"decode_threads_started"`
	// PrefillGFLOPs is PrefillFLOPs over the prefill's wall time.
	PrefillGFLOPs float64 `json:"prefill_gflops"`
	// FMAPeakGFLOPs is FMAPeak with the same threads, same run.
	FMAPeakGFLOPs      float64 `json:"fma_peak_gflops"`
	PrefillFMAFraction float64 `json:"prefill_fma_fraction"`
	// Kernels names the CPU device's inner loops (cpu.Kernels).
	Kernels string `json:"kernels"`
}

// Options for Run.
type Options struct {
	Threads     int
	PromptLen   int
	DecodeSteps int
	Chunk       int
	// Overlap overlaps the devices' prefill chunks (with two or more devices).
	Overlap bool
	KVDType device.DType
	// BandwidthBytes is the buffer the read-bandwidth probe sums (default 512 MiB).
	BandwidthBytes int
	// PrefillRuns is how many times the prefill is timed, the fastest kept
	// (default 2), as the probes keep their best pass: on a shared machine one
	// run can lose a core to another process.
	PrefillRuns int
}

// Run measures prefill of PromptLen tokens (the fastest of PrefillRuns) and
// DecodeSteps greedy decode steps after it on m, then, with the same threads,
// the machine's read bandwidth and FMA peak.
func Run(m *qwen3.Model, o Options) (Result, error) {
	if o.PromptLen < 1 || o.DecodeSteps < 1 {
		return Result{}, fmt.Errorf("bench needs a prompt of at least 1 token and at least 1 decode step (got %d and %d)", o.PromptLen, o.DecodeSteps)
	}
	if o.Threads < 1 {
		o.Threads = runtime.GOMAXPROCS(0)
	}
	if o.BandwidthBytes == 0 {
		o.BandwidthBytes = 512 << 20
	}
	ctx := o.PromptLen + o.DecodeSteps
	s, err := m.NewSession(qwen3.SessionOptions{Ctx: ctx, Chunk: o.Chunk, Overlap: o.Overlap, KVDType: o.KVDType})
	if err != nil {
		return Result{}, err
	}
	defer s.Close()
	vocab := m.Config.VocabSize
	ids := make([]int32, o.PromptLen)
	for i := range ids {
		ids[i] = int32((i*7919 + 13) % vocab) // a fixed, spread-out prompt
	}
	// Warm up once (page in the weights, make the session's decode views),
	// then measure.
	if _, err := s.Prefill(ids[:min(len(ids), 8)]); err != nil {
		return Result{}, err
	}
	if ctx > min(len(ids), 8) {
		if _, _, err := s.DecodeGreedy(1); err != nil {
			return Result{}, err
		}
	}
	if o.PrefillRuns < 1 {
		o.PrefillRuns = 2
	}
	var pst qwen3.Stats
	for run := range o.PrefillRuns {
		s.Reset()
		st, err := s.Prefill(ids)
		if err != nil {
			return Result{}, err
		}
		if run == 0 || st.Wall < pst.Wall {
			pst = st
		}
	}
	next := int32(1)
	// Finish any garbage collection the loading and prefill started, so that
	// the allocation count below is the decode steps' own (a collection running
	// alongside allocates for itself) and the timing is the steps' alone.
	runtime.GC()
	var ms0, ms1 runtime.MemStats
	threads := pprof.Lookup("threadcreate")
	threads0 := threads.Count()
	runtime.ReadMemStats(&ms0)
	t0 := time.Now()
	for step := range o.DecodeSteps {
		if next, _, err = s.DecodeGreedy(next); err != nil {
			return Result{}, err
		}
		// A row with no finite maximum comes back as an id outside the
		// vocabulary: one compare a step, instead of timing garbage.
		if next < 0 || int(next) >= vocab {
			return Result{}, fmt.Errorf("bench: %w", &engine.NonFiniteError{Step: step + 1, Index: -1})
		}
	}
	decode := time.Since(t0)
	runtime.ReadMemStats(&ms1)
	threadsStarted := threads.Count() - threads0
	r := Result{
		Threads:             o.Threads,
		Devices:             len(m.Split),
		PromptLen:           o.PromptLen,
		PrefillChunks:       pst.Chunks,
		Overlap:             o.Overlap && len(m.Split) > 1 && pst.Chunks > 1,
		DecodeSteps:         o.DecodeSteps,
		PrefillTokS:         float64(o.PromptLen) / pst.Wall.Seconds(),
		DecodeTokS:          float64(o.DecodeSteps) / decode.Seconds(),
		WeightBytesPerToken: WeightBytesPerToken(m),
		ReadBandwidthGBs:    ReadBandwidth(o.Threads, o.BandwidthBytes) / 1e9,
	}
	r.DecodeBandwidthGBs = float64(r.WeightBytesPerToken) * r.DecodeTokS / 1e9
	r.DecodeBandwidthFraction = r.DecodeBandwidthGBs / r.ReadBandwidthGBs
	r.DecodeAllocsPerStep = float64(ms1.Mallocs-ms0.Mallocs) / float64(o.DecodeSteps)
	r.DecodeThreadsStarted = threadsStarted
	r.PrefillGFLOPs = PrefillFLOPs(m.Config, o.PromptLen) / pst.Wall.Seconds() / 1e9
	r.FMAPeakGFLOPs = FMAPeak(o.Threads) / 1e9
	r.PrefillFMAFraction = r.PrefillGFLOPs / r.FMAPeakGFLOPs
	r.Kernels = cpu.Kernels()
	return r, nil
}
