// Package gpucheck is `ember gpu-check`: on a machine with an NVIDIA GPU it
// checks every CUDA op against the CPU op on random inputs, whole synthetic
// models against the CPU backend (one GPU, the same GPU twice as a layer
// split, and a split over two GPUs with peer and with staged copies where
// the machine has them, each split with and without overlap), and
// benchmarks Qwen3-4B shapes. It needs nothing but the binary: no Go, no
// CUDA toolkit, no network. Options.Emulator runs the checks at reduced
// shapes on tools/cudaemu, the CUDA emulator CI runs them on.
package gpucheck

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

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
	// Emulator runs every op and model check at reduced shapes (a small
	// vocabulary, short prefills, narrow models), for the CUDA emulator
	// (tools/cudaemu), where the full shapes take a quarter of an hour, and
	// skips the benchmark, whose timings would be the emulator's.
	Emulator bool
}

// ErrFailed is returned when a check failed; the report says which.
var ErrFailed = errors.New("gpu-check failed")

// Run runs the checks and prints one line per check to w. Without a GPU (no
// driver, no device) it prints "no GPU" and the reason, and returns nil.
func Run(w io.Writer, o Options) error {
	if o.Emulator && os.Getenv("EMBER_CUDA_TUNE_COPIES") == "" {
		// The decode matmul tuner's weight copies keep a timed weight out
		// of a GPU's L2; the emulator has none, and interpreting up to 32
		// copies for every shape and batch bucket took most of the run.
		os.Setenv("EMBER_CUDA_TUNE_COPIES", "1")
		defer os.Unsetenv("EMBER_CUDA_TUNE_COPIES") // read when a device opens, all within Run
	}
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
	fmt.Fprintf(w, "%s: %s, compute capability %d.%d, %d SMs, budget %.1f GiB (%.1f GiB free); driver %s; kernels %s\n",
		g.Name(), g.GPUName(), major, minor, g.Multiprocessors(), gib(total), gib(free), cuda.DriverVersion(), g.KernelImage())
	var partners []int
	if inv, err := cuda.ListGPUs(); err == nil {
		fmt.Fprintf(w, "NVML: driver %s, %d GPU(s)\n", inv.Driver, len(inv.GPUs))
		partners = partnerGPUs(inv, o.GPU)
	}
	sh, ms := fullShapes, fullModels
	if o.Emulator {
		sh, ms = emulatorShapes, emulatorModels
		fmt.Fprintf(w, "emulator: reduced shapes (vocabulary %d, prompts of %d tokens, %d greedy steps)\n", sh.sampleVocab, ms.prompt, ms.steps)
	}
	if !o.NoOps {
		rep.section("ops: CUDA against CPU on random inputs")
		checkOps(rep, g, o.Seed, sh, partners)
	}
	if !o.NoModel {
		rep.section("models: CUDA against CPU (bf16 KV cache)")
		tmp, clean, err := tempDir()
		if err != nil {
			return err
		}
		checkModels(rep, o.GPU, o.Seed, tmp, ms, partners)
		checkBatchModel(rep, o.GPU, o.Seed, tmp, ms, o.Emulator)
		clean()
	}
	if !o.NoBench && o.Emulator {
		rep.section("benchmark")
		rep.info("skipped: an emulator's timings say nothing about a GPU")
	} else if !o.NoBench {
		rep.section("benchmark")
		g.Close() // the benchmark wants the whole GPU
		benchmark(rep, o.GPU)
		rep.section("batched decode and prefix cache")
		batchFigures(rep, o.GPU, fullFigures, false)
	}
	if o.Emulator && !o.NoModel {
		// The figures' code paths, at reduced shapes; not a benchmark.
		rep.section("batched decode and prefix cache (emulator: reduced shapes, not speed figures)")
		batchFigures(rep, o.GPU, emulatorFigures, true)
	}
	fmt.Fprintf(w, "\ngpu-check: %d checks, %d failed\n", rep.checks, rep.failed)
	if rep.failed > 0 {
		return ErrFailed
	}
	return nil
}

func gib(b int64) float64 { return float64(b) / (1 << 30) }

// partnerGPUs picks the GPUs the two-GPU checks pair with gpu: the first
// that NVML says has peer access to it and the first that has not, where
// they exist.
func partnerGPUs(inv *cuda.Inventory, gpu int) []int {
	peer, staged := -1, -1
	for j := range inv.GPUs {
		if j == gpu || gpu >= len(inv.P2P) || j >= len(inv.P2P[gpu]) {
			continue
		}
		ok := strings.HasPrefix(inv.P2P[gpu][j], "OK") && strings.HasPrefix(inv.P2P[j][gpu], "OK")
		if ok && peer < 0 {
			peer = j
		} else if !ok && staged < 0 {
			staged = j
		}
	}
	var out []int
	for _, j := range []int{peer, staged} {
		if j >= 0 {
			out = append(out, j)
		}
	}
	return out
}
