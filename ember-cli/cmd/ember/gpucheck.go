package main

import (
	"os"

	"github.com/urfave/cli/v2"

	"github.com/ember-infer/ember/ember-cuda/gpucheck"
)

func gpuCheckCommand() *cli.Command {
	return &cli.Command{
		Name:  "gpu-check",
		Usage: "check the CUDA backend against the CPU backend on this machine's GPU, then benchmark it",
		UsageText: `ember gpu-check [--gpu N] [--no-bench] [--emulator]

Examples:
  ember gpu-check
  ember gpu-check --gpu 1 --no-bench
  EMBER_CUDAEMU_DIR=tools/cudaemu/build ember gpu-check --emulator`,
		Description: `Needs only this binary and the NVIDIA driver: no Go, no CUDA toolkit, no network.
Without a GPU it prints "no GPU" with the reason and exits 0.

With one it prints a line per check, PASS or FAIL with the error and its tolerance:
every CUDA op against the CPU op on random inputs at several shapes and dtypes; the
tiny model (the bundled model's config, synthesised with --seed) and a synthetic
head_dim-128 model on one GPU and as a layer
split over the same GPU twice (0,0), with and without overlap: prompt logits
against the CPU backend within the bf16 tolerance, then 32 greedy tokens identical
to the CPU's; a batched session of 4 prompts of different lengths against 4 CPU
sessions (greedy tokens, logits, top-k and log-sum-exp). Then a benchmark at
Qwen3-4B shapes (weights generated on the GPU):
prefill tok/s for 2048 tokens, decode tok/s at context 2048, the measured
device-to-device copy bandwidth, decode as a fraction of the bandwidth bound
(weights + KV bytes per token / bandwidth), GEMV against cuBLAS for each decode
matmul, the prefill matmuls against plain cuBLAS GEMMs of the same shapes, prefill
attention on tensor cores and on CUDA cores, and the whole prefill's rate as a
fraction of plain cuBLAS's; then batched decode throughput B=8 over B=1, and a
2048-token prefill with a cached 1024-token prefix over the same prefill uncached.
Exits 1 when a check fails; benchmark targets are reported, not enforced.

When the machine has more GPUs, the copies and the model splits also pair the
checked GPU with another: one with peer access and one without (staged copies).

--emulator runs every op and model check at reduced shapes (small vocabulary,
short prompts, narrow models) and no benchmark (the batched and prefix-cache
figures run at toy shapes, their numbers the emulator's), for the CUDA emulator of
tools/cudaemu (make cudaemu). With EMBER_CUDAEMU_DIR set to its build directory,
EMBER_LIBCUDA, EMBER_CUBLAS and EMBER_LIBNVML default to the libraries there.`,
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "gpu", Usage: "GPU index to check"},
			&cli.Uint64Flag{Name: "seed", Value: 1, Usage: "seed of the random inputs and models"},
			&cli.BoolFlag{Name: "no-bench", Usage: "skip the benchmark"},
			&cli.BoolFlag{Name: "no-models", Usage: "skip the model checks"},
			&cli.BoolFlag{Name: "no-ops", Usage: "skip the op checks"},
			&cli.BoolFlag{Name: "emulator", Usage: "reduced shapes and no benchmark, for tools/cudaemu (EMBER_CUDAEMU_DIR)"},
		},
		Action: func(c *cli.Context) error {
			if c.Bool("emulator") {
				if err := gpucheck.UseEmulator(os.Getenv("EMBER_CUDAEMU_DIR")); err != nil {
					return err
				}
			}
			return gpucheck.Run(c.App.Writer, gpucheck.Options{GPU: c.Int("gpu"), Seed: c.Uint64("seed"),
				NoOps: c.Bool("no-ops"), NoModel: c.Bool("no-models"), NoBench: c.Bool("no-bench"),
				Emulator: c.Bool("emulator")})
		},
	}
}
