package main

import (
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// TestProfileDefaults: ember profile takes ember_stage_breakdown's flags with
// its defaults (benchmarks/stage_breakdown.cpp of upstream).
func TestProfileDefaults(t *testing.T) {
	want := map[string]string{"prompt-len": "2048", "decode-steps": "256", "chunk-len": "512", "iters": "3", "warmup": "1"}
	bools := []string{"overlap", "no-overlap", "pipeline", "no-pipeline", "decode-with-sampling", "decode-no-sampling"}
	got := map[string]cli.Flag{}
	for _, f := range profileCommand().Flags {
		for _, n := range f.Names() {
			got[n] = f
		}
	}
	for name, def := range want {
		f, ok := got[name].(*cli.IntFlag)
		if !ok || f.GetDefaultText() != def {
			t.Errorf("--%s: %v, want an int flag defaulting to %s", name, got[name], def)
		}
	}
	for _, name := range append(bools, "gpus", "split", "model", "csv") {
		if got[name] == nil {
			t.Errorf("no --%s", name)
		}
	}
	for _, name := range bools {
		if f, ok := got[name].(*cli.BoolFlag); !ok || f.Value {
			t.Errorf("--%s must be an off-by-default switch", name)
		}
	}
}

// TestPrefillChunk: upstream chunks the prefill only with two devices and
// --pipeline or --overlap; otherwise the whole prompt goes at once (0).
func TestPrefillChunk(t *testing.T) {
	for _, c := range []struct {
		devices           int
		pipeline, overlap bool
		want              int
	}{
		{1, false, false, 0}, {1, true, false, 0}, {1, false, true, 0}, {1, true, true, 0},
		{2, false, false, 0}, {2, true, false, 512}, {2, false, true, 512}, {2, true, true, 512},
	} {
		if got := prefillChunk(c.devices, 512, c.pipeline, c.overlap); got != c.want {
			t.Errorf("prefillChunk(%d devices, pipeline %v, overlap %v) = %d, want %d", c.devices, c.pipeline, c.overlap, got, c.want)
		}
	}
}

// TestMilestoneDefaults: the milestone verbs take the upstream scripts' flags
// with their argparse defaults.
func TestMilestoneDefaults(t *testing.T) {
	common := map[string]string{"chunk-len": "512", "iters": "3", "warmup": "1", "min-chunk-len": "64", "retry-runtime-unavailable": "2", "build-dir": "build"}
	for _, c := range []struct {
		cmd  *cli.Command
		want map[string]string
	}{
		{splitCommand(), map[string]string{"gpus": "0,1", "prompt-len": "2048", "decode-steps": "128", "llama-single-device": "CUDA0", "llama-dual-device": "CUDA0/CUDA1", "llama-dual-split-mode": "layer", "llama-dual-tensor-split": ""}},
		{stage1Command(), map[string]string{"gpus": "0", "prompt-lens": "512,1024,2048,4096", "decode-steps": "64,128,256", "split": ""}},
	} {
		defs := map[string]string{}
		on := map[string]bool{}
		for _, f := range c.cmd.Flags {
			switch f := f.(type) {
			case *cli.StringFlag:
				defs[f.Name] = f.Value
			case *cli.IntFlag:
				defs[f.Name] = f.GetDefaultText()
			case *cli.BoolFlag:
				on[f.Name] = f.Value
			}
		}
		for k, v := range common {
			c.want[k] = v
		}
		for k, v := range c.want {
			if d, ok := defs[k]; !ok || d != v {
				t.Errorf("%s --%s: default %q (present %v), want %q", c.cmd.Name, k, d, ok, v)
			}
		}
		for _, k := range []string{"decode-with-sampling", "pipeline-2gpu", "retry-oom", "continue-on-error", "skip-existing"} {
			if !on[k] {
				t.Errorf("%s --%s should be on by default", c.cmd.Name, k)
			}
		}
		for _, k := range []string{"decode-no-sampling", "no-pipeline-2gpu", "no-retry-oom", "stop-on-error", "no-skip-existing"} {
			if v, ok := on[k]; !ok || v {
				t.Errorf("%s --%s should be an off-by-default switch", c.cmd.Name, k)
			}
		}
	}
}

// TestProfileEmptyGPUs: --gpus given empty (or only commas) is
// ember_stage_breakdown's "--gpus is empty"; it profiled device 0.
func TestProfileEmptyGPUs(t *testing.T) {
	isolate(t)
	m := tinyModel(t)
	for _, v := range []string{"", " , "} {
		_, stderr, code := ember(t, "profile", "-m", m, "--backend", "cpu", "--gpus", v, "--prompt-len", "8", "--decode-steps", "1", "--iters", "1", "--warmup", "0")
		if code == 0 || strings.TrimSpace(stderr) != "ember: --gpus is empty" {
			t.Errorf("--gpus %q: exit %d, %q", v, code, stderr)
		}
	}
}
