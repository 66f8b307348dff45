# Ember — build, test and fuzz the Go workspace.
# The workspace root is not a module, so packages are named per module.
PKGS := ./ember-core/... ./ember-cuda/... ./ember-report/... ./ember-cli/...
BIN  := bin/ember
FUZZTIME ?= 10s

.PHONY: build test vet fuzz fuzz-list bench demo clean test-avx512 cudaemu cudaemu-test gpu-check-emu gpu-check-emu-full

build:
	go build -o $(BIN) ./ember-cli/cmd/ember

# test is the command the README and CI run: vet, then every test with the race detector.
# The CUDA emulator is built first, so gpucheck's TestOnEmulator runs the CUDA
# op and model checks on it (docs/testing.md).
test: vet cudaemu
	go test -race -count=1 $(PKGS)

vet:
	go vet $(PKGS)

# fuzz runs each fuzz target for FUZZTIME (their seed corpora also run in `make test`).
# Targets are found by reading the test files (grep for func Fuzz), not by
# building a test binary per package to list them.
FUZZ_MODULES := ember-core ember-cuda ember-report ember-cli
fuzz:
	@set -e; for file in $$(grep -rl --include='*_test.go' '^func Fuzz' $(FUZZ_MODULES) | sort); do \
		for f in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$file); do \
			echo "fuzz ./$$(dirname $$file) $$f"; \
			go test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) ./$$(dirname $$file); \
		done; \
	done

# fuzz-list names every fuzz target with its package, without building anything.
fuzz-list:
	@grep -rH --include='*_test.go' '^func Fuzz' $(FUZZ_MODULES) | sed 's/^\(.*\)\/[^/]*_test.go:func \(Fuzz[A-Za-z0-9_]*\)(.*/.\/\1 \2/' | sort

bench:
	go test -run '^$$' -bench . -benchmem $(PKGS)

# demo runs the stage 1.2 split sweep on the bundled tiny model: CPU backend,
# two logical devices, every split, overlap off and on. The report folder is
# printed at the end; re-running DEMO_OUT reuses finished runs. Eight iterations
# per run give every median a finite 95% interval (six is the least).

DEMO_OUT ?= reports/demo_split
demo: build
	$(BIN) milestone split -m testdata/models/tiny-qwen3 --gpus cpu:0,cpu:1 --backend cpu \
		--prompt-len 128 --decode-steps 16 --chunk-len 32 --iters 8 --warmup 1 --out-dir $(DEMO_OUT)

clean:
	rm -rf bin
	$(MAKE) -C tools/cudaemu clean

# kernels compiles ember-cuda/kernels/*.cu to the PTX the binary embeds
# (compute_80: JIT-compiled by the driver for any GPU from sm_80 on), then
# assembles each PTX file with ptxas for sm_80, 86, 89 and 90 into a compressed
# fatbin beside it: the binary embeds both and loads the fatbin's SASS where it
# holds code for the GPU, so code quality does not depend on the driver's JIT
# (ember-cuda/module.go). Each file is compiled from inside its directory with
# a relative name, so neither output holds a path or date and `.ci/run` can
# check that the committed files are current.
NVCC ?= nvcc
NVCCFLAGS := -ptx -arch=compute_80 -O3
SASS_ARCHS := 80 86 89 90
FATBINFLAGS := -fatbin $(foreach a,$(SASS_ARCHS),-gencode arch=compute_80,code=sm_$(a)) -Xfatbin -compress-all
KERNEL_DIR := ember-cuda/kernels

kernels:
	@set -e; cd $(KERNEL_DIR); for cu in *.cu; do \
		echo "nvcc $(KERNEL_DIR)/$$cu"; \
		$(NVCC) $(NVCCFLAGS) -o $${cu%.cu}.ptx $$cu; \
		$(NVCC) $(FATBINFLAGS) -o $${cu%.cu}.fatbin $${cu%.cu}.ptx; \
	done

# gpu-check builds the binary and runs its GPU self-check: every CUDA op against
# the CPU op, whole models against the CPU backend, and a Qwen3-4B-shaped
# benchmark. Without a GPU it prints "no GPU" and succeeds.
gpu-check: build
	$(BIN) gpu-check

# test-avx512 runs the CPU-kernel packages' tests on an emulated AVX-512 CPU,
# with the default kernels and with EMBER_KERNELS=avx512bf16, after checking the
# guest really runs the AVX-512 kernels. tools/avx512emu/setup.sh builds the
# emulator once (into EMBER_EMU_DIR). Slow (~70x native), so not in `make test`.
test-avx512:
	tools/avx512emu/test.sh bin/avx512 ./ember-core/cpu ./ember-core/qwen3 ./ember-core/bench ./ember-core/engine

# cudaemu builds tools/cudaemu: a CUDA driver, cuBLAS and NVML for machines
# without a GPU, interpreting the embedded PTX (gcc only, seconds).
# cudaemu-test runs its own tests, and under AddressSanitizer.
CUDAEMU_DIR := $(abspath tools/cudaemu/build)
cudaemu:
	$(MAKE) -C tools/cudaemu

cudaemu-test:
	$(MAKE) -C tools/cudaemu test asan

# gpu-check-emu runs `ember gpu-check --emulator` (every op and model check at
# reduced shapes) on three emulated GPUs, the third without peer access;
# gpu-check-emu-full runs the full shapes (about a quarter of an hour).
EMU_ENV = EMBER_LIBCUDA=$(CUDAEMU_DIR)/libcuda.so.1 EMBER_CUBLAS=$(CUDAEMU_DIR)/libcublas.so.12 \
	EMBER_LIBNVML=$(CUDAEMU_DIR)/libnvidia-ml.so.1 EMBER_EMU_GPUS=3 EMBER_EMU_NOPEER=2
gpu-check-emu: build cudaemu
	$(EMU_ENV) $(BIN) gpu-check --emulator

gpu-check-emu-full: build cudaemu
	$(EMU_ENV) $(BIN) gpu-check --no-bench
