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
		Description: `Prefills --prompt-len tokens, decodes --decode-steps tokens greedily, then
measures the machine's memory read bandwidth with the same thread count in the
same run. Decode's effective weight bandwidth (weight bytes read per token ×
tok/s) is reported as a fraction of it: the ratio is what to compare between
machines and commits.`,
		Flags: append(engineFlags(),
			&cli.IntFlag{Name: "prompt-len", Value: 512, Usage: "prefill tokens"},
			&cli.IntFlag{Name: "decode-steps", Value: 32, Usage: "decode steps"},
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
			r, err := bench.Run(e.Model, bench.Options{
				Threads: threads, PromptLen: c.Int("prompt-len"), DecodeSteps: c.Int("decode-steps"),
				Chunk: c.Int("chunk"), KVDType: kv,
			})
			if err != nil {
				return err
			}
			if c.Bool("json") {
				b, _ := json.Marshal(r)
				fmt.Fprintln(c.App.Writer, string(b))
				return nil
			}
			fmt.Fprintf(c.App.Writer, "model            %s (%s, %d device(s))\n", e.Snapshot.Dir, e.Backend, len(e.Devices))
			fmt.Fprintf(c.App.Writer, "threads          %d\n", r.Threads)
			fmt.Fprintf(c.App.Writer, "prefill          %.1f tok/s (%d tokens)\n", r.PrefillTokS, r.PromptLen)
			fmt.Fprintf(c.App.Writer, "decode           %.2f tok/s (%d steps)\n", r.DecodeTokS, r.DecodeSteps)
			fmt.Fprintf(c.App.Writer, "weights/token    %.1f MiB\n", float64(r.WeightBytesPerToken)/(1<<20))
			fmt.Fprintf(c.App.Writer, "decode reads     %.2f GB/s\n", r.DecodeBandwidthGBs)
			fmt.Fprintf(c.App.Writer, "machine reads    %.2f GB/s (%d threads, same run)\n", r.ReadBandwidthGBs, r.Threads)
			fmt.Fprintf(c.App.Writer, "fraction         %.3f of read bandwidth\n", r.DecodeBandwidthFraction)
			return nil
		},
	}
}
