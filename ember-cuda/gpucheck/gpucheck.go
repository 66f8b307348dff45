// Package gpucheck is `ember gpu-check`: on a machine with an NVIDIA GPU it
// checks every CUDA op against the CPU op on random inputs, whole synthetic
// models against the CPU backend (one GPU, and the same GPU twice as a layer
// split with and without overlap), and benchmarks Qwen3-4B shapes. It needs
// nothing but the binary: no Go, no CUDA toolkit, no network.
package gpucheck

import (
	"errors"
	"fmt"
	"io"

	"github.com/ember-infer/ember/ember-core/device"
	cuda "github.com/ember-infer/ember/ember-cuda"
)

// Options choose what gpu-check runs.
type Options struct {
	GPU     int    // the GPU to check
	Seed    uint64 // of the random inputs and models
	NoOps   bool   // skip the op checks
	NoModel bool   // skip the model checks
	NoBench bool   // skip the benchmark
}

// ErrFailed is returned when a check failed; the report says which.
var ErrFailed = errors.New("gpu-check failed")

// Run runs the checks and prints one line per check to w. Without a GPU (no
// driver, no device) it prints "no GPU" and the reason, and returns nil.
func Run(w io.Writer, o Options) error {
	devs, err := cuda.Open([]int{o.GPU}, nil)
	if err != nil {
		if errors.Is(err, device.ErrUnavailable) {
			fmt.Fprintf(w, "no GPU: %v\n", err)
			return nil
		}
		return err
	}
	g := devs[0]
	defer g.Close()
	rep := &report{w: w}
	major, minor := g.ComputeCapability()
	total, free := g.MemInfo()
	fmt.Fprintf(w, "%s: %s, compute capability %d.%d, %d SMs, budget %.1f GiB (%.1f GiB free); driver %s\n",
		g.Name(), g.GPUName(), major, minor, g.Multiprocessors(), gib(total), gib(free), cuda.DriverVersion())
	if inv, err := cuda.ListGPUs(); err == nil {
		fmt.Fprintf(w, "NVML: driver %s, %d GPU(s)\n", inv.Driver, len(inv.GPUs))
	}
	if !o.NoOps {
		rep.section("ops: CUDA against CPU on random inputs")
		checkOps(rep, g, o.Seed)
	}
	if !o.NoModel {
		rep.section("models: CUDA against CPU (bf16 KV cache)")
		tmp, clean, err := tempDir()
		if err != nil {
			return err
		}
		checkModels(rep, o.GPU, o.Seed, tmp)
		clean()
	}
	if !o.NoBench {
		rep.section("benchmark")
		g.Close() // the benchmark wants the whole GPU
		benchmark(rep, o.GPU)
	}
	fmt.Fprintf(w, "\ngpu-check: %d checks, %d failed\n", rep.checks, rep.failed)
	if rep.failed > 0 {
		return ErrFailed
	}
	return nil
}

func gib(b int64) float64 { return float64(b) / (1 << 30) }
