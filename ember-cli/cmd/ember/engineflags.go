package main

import (
	"fmt"
	"strings"
	"sync"

	"github.com/urfave/cli/v2"

	"github.com/ember-infer/ember/ember-core/device"
	"github.com/ember-infer/ember/ember-core/engine"
	"github.com/ember-infer/ember/ember-core/memplan"
)

// engineFlags are the flags of every verb that loads a model to run it.
func engineFlags() []cli.Flag {
	return append(modelFlags(), sessionFlags()...)
}

// modelFlags say which model to load, on which devices, split how.
func modelFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "model", Aliases: []string{"m"}, EnvVars: []string{"MODEL_PATH"}, Usage: "snapshot dir, HF cache dir or Org/Name id"},
		&cli.StringFlag{Name: "backend", Value: "auto", Usage: "cpu, cuda or auto (CUDA when available, else CPU)"},
		&cli.StringFlag{Name: "devices", Aliases: []string{"gpus"}, Usage: "device list, e.g. cpu:0,cpu:1 or 0,1 (default: one device)"},
		&cli.StringFlag{Name: "device-mem", Usage: "memory budget per device, e.g. 2GiB or 2GiB,1GiB (CPU default: unlimited)"},
		&cli.StringFlag{Name: "split", Usage: "layers per device, e.g. 14,14 (default: the planner's most balanced split that fits --device-mem; even when unlimited)"},
		&cli.IntFlag{Name: "threads", Usage: "CPU threads per device", DefaultText: "all cores"},
		&cli.StringFlag{Name: "kv-dtype", Value: "bf16", Usage: "KV cache type: f32, f16 or bf16"},
		&cli.BoolFlag{Name: "debug-nonfinite", Usage: "check every op's output (slow) so that NaN or Inf logits name the first layer and op that produced a non-finite value"},
	}
}

// sessionFlags size a session: context, prefill chunk, overlap.
func sessionFlags() []cli.Flag {
	return []cli.Flag{
		&cli.IntFlag{Name: "ctx", Value: 4096, Usage: "context length the KV cache holds (capped at max_position_embeddings)"},
		&cli.IntFlag{Name: "chunk-len", Aliases: []string{"chunk"}, Value: 512, Usage: "prefill chunk in tokens; 0 = whole prompt at once (--chunk is the old spelling)"},
		&cli.BoolFlag{Name: "overlap", Usage: "overlap device 0's next chunk with device 1's current one"},
	}
}

// openEngine opens the model the engine flags name; notes go to stderr.
func openEngine(c *cli.Context, needTokenizer bool) (*engine.Engine, error) {
	if err := checkThreads(c.Int("threads")); err != nil {
		return nil, err
	}
	split, err := engine.ParseSplit(c.String("split"))
	if err != nil {
		return nil, err
	}
	var mem []int64
	if s := c.String("device-mem"); s != "" {
		for _, part := range strings.Split(s, ",") {
			n, err := memplan.ParseSize(strings.TrimSpace(part))
			if err != nil {
				return nil, fmt.Errorf("--device-mem %q: %v", s, err)
			}
			mem = append(mem, n)
		}
	}
	return engine.Open(engine.Options{
		Model:          c.String("model"),
		Backend:        c.String("backend"),
		Devices:        c.String("devices"),
		DeviceMem:      mem,
		Split:          split,
		Threads:        c.Int("threads"),
		Ctx:            c.Int("ctx"),
		Chunk:          c.Int("chunk-len"),
		NeedTokenizer:  needTokenizer,
		DebugNonFinite: c.Bool("debug-nonfinite"),
		Warn:           func(s string) { note(c, s) },
	})
}

// note prints a note for the user on stderr, once per command (a sweep opens
// many engines, and "backend auto: CUDA is unavailable" is worth saying
// once), and never under -q.
func note(c *cli.Context, s string) {
	if c.Bool("quiet") {
		return
	}
	noted, ok := c.App.Metadata["noted"].(*sync.Map)
	if !ok {
		noted = &sync.Map{}
		c.App.Metadata["noted"] = noted
	}
	if _, seen := noted.LoadOrStore(s, true); !seen {
		fmt.Fprintln(c.App.ErrWriter, "ember:", s)
	}
}

// sessionCtx caps --ctx at the model's max_position_embeddings.
func sessionCtx(c *cli.Context, e *engine.Engine) int {
	return min(c.Int("ctx"), e.Snapshot.Config.MaxPositionEmbeddings)
}

func kvDType(c *cli.Context) (device.DType, error) {
	dt, err := device.ParseDType(c.String("kv-dtype"))
	if err != nil || dt == device.I32 {
		return 0, fmt.Errorf("--kv-dtype %q: want f32, f16 or bf16", c.String("kv-dtype"))
	}
	return dt, nil
}
