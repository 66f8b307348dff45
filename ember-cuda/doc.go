// Package cuda is Ember's CUDA device: device.Device on NVIDIA GPUs.
//
// Nothing of CUDA is needed to build it. The driver (libcuda.so.1) and cuBLAS
// (libcublas.so.13, .12 or .11; EMBER_CUBLAS overrides) are opened with dlopen
// when devices are first opened (shim.c declares the few types it needs), and
// the kernels are PTX compiled by `make kernels` from kernels/*.cu and
// embedded in the binary (module.go), JIT-compiled by the driver for the GPU
// at hand. Without a driver or a GPU, Open fails with one sentence wrapping
// device.ErrUnavailable.
//
// Each logical device (the same GPU may be opened twice, for a layer split on
// one GPU) has the GPU's primary context, a compute stream on which its ops
// run in issue order, a copy stream for CopyFrom (peer to peer where the GPUs
// allow it, else staged through pinned host memory, ordered with events on
// both devices), a cuBLAS handle and a byte budget (memory.go). Prefill
// matmuls go to cublasGemmEx; decode matmuls (one row, or up to 16 rows of a
// batched step, each weight row read once for all of them) to a GEMV kernel
// or cuBLAS, whichever the device measured faster for the shape and
// batch-size bucket (tune.go). Prefill
// attention over an f16 or bf16 cache at head_dim 64 or 128 runs on tensor
// cores (prefill.go, kernels/attention_mma.cu: mma.sync with Q and P in the
// cache's type, f32 accumulation and softmax), chunks under 16 queries and
// other caches on CUDA cores.
//
// Ops are collected in a segment (segment.go) and launched in batches; a
// decode step's segment is captured into a CUDA graph the second time it is
// seen and replayed from then on, one graph per context bucket (graph.go);
// a batched step of B sequences is one graph too, keyed by B and the
// sequences, each row's position read from the params buffer. A
// step whose launches equal the last replayed one's, positions aside, replays
// that graph without computing its key. While a step collects, its ops fold
// into fewer kernels (fuse.go): the residual add into the next RMSNorm, q/k/v
// into one GEMV launch, gate/up/SiLU·mul into one, q_norm/k_norm/RoPE/KV
// append into one.
// Stage timings come from CUDA events recorded when the stage changes and
// read when the host waits anyway (stream.go); decode steps carry them only
// while stage timing is on (SetStageTiming, which `ember profile` uses), as
// they would be event nodes of every replayed graph. DecodeStepStats counts
// a step's launches and its host time, for gpu-check; the Go benchmark
// BenchmarkFakeDecodeQwen3_4B measures them on the fake driver.
//
// The driver must be CUDA 11.8 or newer (the PTX is ISA 7.8); an older one,
// or one that rejects the PTX, makes CUDA unavailable. cuBLAS is chosen among
// the libraries the driver's CUDA version can run, moving on to the next when
// a handle does not start.
//
// The model, the layer split, the chunked pipeline and the profiling come from
// ember-core; nothing here re-implements them. `ember gpu-check` (package
// gpucheck) checks every op and whole models against the CPU backend.
package cuda
