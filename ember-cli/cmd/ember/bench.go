package main

import (
	"encoding/json"
	"fmt"
	"runtime"

	"github.com/urfave/cli/v2"

	"github.com/ember-infer/ember/ember-core/bench"
)

func benchCommand() *cli.Command {
	return &cli.Command{
		Name:  "bench",
		Usage: "measure prefill and decode speed against the machine's memory bandwidth",
		UsageText: `ember bench -m MODEL [flags]

Examples:
  ember synth --preset Qwen3-0.6B --out /tmp/q06 && ember bench --backend cpu -m /tmp/q06
  ember bench --backend cpu -m /tmp/q06 --threads 2 --json`,
		Description: `Prefills --prompt-len tokens (--prefill-runs times, fastest kept), decodes
--decode-steps tokens greedily, then measures, with the same thread count in
the same run, the machine's memory read bandwidth and its float32 FMA peak.
Decode's effective weight bandwidth (weight bytes read per token × tok/s) is
reported as a fraction of the first, prefill's GFLOP/s as a fraction of the
second: the ratios are what to compare between machines and commits. The CPU
kernels in use (AVX-512 or AVX2 assembly, or pure Go) are named, and both
probes use the same ones; EMBER_KERNELS=avx2 or =go (or EMBER_NOASM=1) caps
them, to compare kernel sets on one machine, and EMBER_KERNELS=avx512bf16 opts
into the VDPBF16PS decode kernel on CPUs with AVX512_BF16.`,
		Flags: append(engineFlags(),
			&cli.IntFlag{Name: "prompt-len", Value: 512, Usage: "prefill tokens"},
			&cli.IntFlag{Name: "decode-steps", Value: 32, Usage: "decode steps"},
			&cli.IntFlag{Name: "prefill-runs", Value: 2, Usage: "time the prefill this many times and keep the fastest"},
			&cli.BoolFlag{Name: "json", Usage: "print one JSON object"},
		),
		Action: func(c *cli.Context) error {
			kv, err := kvDType(c)
			if err != nil {
				return err
			}
			e, err := openEngine(c, false)
			if err != nil {
				return err
			}
			defer e.Close()
			threads := c.Int("threads")
			if threads == 0 {
				threads = runtime.GOMAXPROCS(0)
			}
			p := startProgress(c, fmt.Sprintf("bench: prefill %d tokens ×%d, decode %d steps, then the memory and FMA probes",
				c.Int("prompt-len"), c.Int("prefill-runs"), c.Int("decode-steps")))
			r, err := bench.Run(e.Model, bench.Options{
				Threads: threads, PromptLen: c.Int("prompt-len"), DecodeSteps: c.Int("decode-steps"),
				Chunk: c.Int("chunk-len"), Overlap: c.Bool("overlap"), KVDType: kv, PrefillRuns: c.Int("prefill-runs"),
			})
			p.Stop()
			if err != nil {
				return err
			}
			if c.Bool("json") {
				b, _ := json.Marshal(r)
				fmt.Fprintln(c.App.Writer, string(b))
				return nil
			}
			w := c.App.Writer
			fmt.Fprintf(w, "model            %s (%s, %d device(s))\n", e.Snapshot.Dir, e.Backend, len(e.Devices))
			fmt.Fprintf(w, "threads          %d\n", r.Threads)
			fmt.Fprintf(w, "cpu kernels      %s\n", r.Kernels)
			fmt.Fprintf(w, "prefill          %.1f tok/s (%d tokens in %d chunk(s)%s), %.1f GFLOP/s\n",
				r.PrefillTokS, r.PromptLen, r.PrefillChunks, map[bool]string{true: ", overlapped"}[r.Overlap], r.PrefillGFLOPs)
			fmt.Fprintf(w, "machine FMA peak %.1f GFLOP/s (f32, %d threads, same run)\n", r.FMAPeakGFLOPs, r.Threads)
			fmt.Fprintf(w, "prefill fraction %.3f of FMA peak\n", r.PrefillFMAFraction)
			fmt.Fprintln(w, decodeLine(r))
			fmt.Fprintf(w, "weights/token    %.1f MiB\n", float64(r.WeightBytesPerToken)/(1<<20))
			fmt.Fprintf(w, "decode reads     %.2f GB/s\n", r.DecodeBandwidthGBs)
			fmt.Fprintf(w, "machine reads    %.2f GB/s (%d threads, same run)\n", r.ReadBandwidthGBs, r.Threads)
			fmt.Fprintf(w, "decode fraction  %.3f of read bandwidth\n", r.DecodeBandwidthFraction)
			return nil
		},
	}
}

// decodeLine is bench's decode line: tok/s, steps and heap allocations per
// step, and, when the Go runtime started OS threads during the steps (whose
// own allocations that count includes), how many.
func decodeLine(r bench.Result) string {
	line := fmt.Sprintf("decode           %.2f tok/s (%d steps, %.1f allocs/step", r.DecodeTokS, r.DecodeSteps, r.DecodeAllocsPerStep)
	switch {
	case r.DecodeThreadsStarted == 1:
		line += ", among them the Go runtime starting 1 OS thread"
	case r.DecodeThreadsStarted > 1:
		line += fmt.Sprintf(", among them the Go runtime starting %d OS threads", r.DecodeThreadsStarted)
	}
	return line + ")"
}
