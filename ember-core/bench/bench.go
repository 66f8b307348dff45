// Package bench measures the engine against the machine it runs on: prefill and
// decode speed, and the memory read bandwidth that bounds decode, measured in
// the same run with the same thread count so that the ratio means something on
// a noisy machine.
package bench

import (
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/ember-infer/ember/ember-core/device"
	"github.com/ember-infer/ember/ember-core/qwen3"
)

// ReadBandwidth measures how fast threads goroutines can read memory: each sums
// its share of a buffer of size bytes (far larger than the caches), several
// passes, best pass kept. It returns bytes per second.
func ReadBandwidth(threads, size int) float64 {
	if threads < 1 {
		threads = runtime.GOMAXPROCS(0)
	}
	n := size / 8
	buf := make([]uint64, n)
	for i := range buf {
		buf[i] = uint64(i)
	}
	sinks := make([]uint64, threads*8) // padded so goroutines do not share a cache line
	best := time.Duration(1<<63 - 1)
	for pass := 0; pass < 5; pass++ {
		var wg sync.WaitGroup
		t0 := time.Now()
		for w := range threads {
			lo, hi := w*n/threads, (w+1)*n/threads
			wg.Add(1)
			go func() {
				defer wg.Done()
				sinks[w*8] += sum(buf[lo:hi])
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
	Threads                 int     `json:"threads"`
	PromptLen               int     `json:"prompt_len"`
	DecodeSteps             int     `json:"decode_steps"`
	PrefillTokS             float64 `json:"prefill_tok_s"`
	DecodeTokS              float64 `json:"decode_tok_s"`
	WeightBytesPerToken     int64   `json:"weight_bytes_per_token"`
	ReadBandwidthGBs        float64 `json:"read_bandwidth_gbs"`
	DecodeBandwidthGBs      float64 `json:"decode_bandwidth_gbs"`
	DecodeBandwidthFraction float64 `json:"decode_bandwidth_fraction"`
}

// Options for Run.
type Options struct {
	Threads     int
	PromptLen   int
	DecodeSteps int
	Chunk       int
	KVDType     device.DType
	// BandwidthBytes is the buffer the read-bandwidth probe sums (default 512 MiB).
	BandwidthBytes int
}

// Run measures prefill of PromptLen tokens and DecodeSteps greedy decode steps
// after it on m, then the machine's read bandwidth with the same threads.
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
	s, err := m.NewSession(qwen3.SessionOptions{Ctx: ctx, Chunk: o.Chunk, KVDType: o.KVDType})
	if err != nil {
		return Result{}, err
	}
	defer s.Close()
	vocab := m.Config.VocabSize
	ids := make([]int32, o.PromptLen)
	for i := range ids {
		ids[i] = int32((i*7919 + 13) % vocab) // a fixed, spread-out prompt
	}
	// Warm up once (page in the weights), then measure.
	if _, err := s.Prefill(ids[:min(len(ids), 8)]); err != nil {
		return Result{}, err
	}
	s.Reset()
	pst, err := s.Prefill(ids)
	if err != nil {
		return Result{}, err
	}
	next := int32(1)
	t0 := time.Now()
	for range o.DecodeSteps {
		if next, _, err = s.DecodeGreedy(next); err != nil {
			return Result{}, err
		}
	}
	decode := time.Since(t0)
	r := Result{
		Threads:             o.Threads,
		PromptLen:           o.PromptLen,
		DecodeSteps:         o.DecodeSteps,
		PrefillTokS:         float64(o.PromptLen) / pst.Wall.Seconds(),
		DecodeTokS:          float64(o.DecodeSteps) / decode.Seconds(),
		WeightBytesPerToken: WeightBytesPerToken(m),
		ReadBandwidthGBs:    ReadBandwidth(o.Threads, o.BandwidthBytes) / 1e9,
	}
	r.DecodeBandwidthGBs = float64(r.WeightBytesPerToken) * r.DecodeTokS / 1e9
	r.DecodeBandwidthFraction = r.DecodeBandwidthGBs / r.ReadBandwidthGBs
	return r, nil
}
