package gpucheck

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestOnEmulator runs the op and model checks at the emulator's shapes on
// tools/cudaemu — its fake driver, cuBLAS and NVML, interpreting Ember's PTX
// — with three emulated GPUs, the third without peer access, so that copies
// and splits go both peer to peer and staged through host memory. It needs
// the library built (make cudaemu; EMBER_CUDAEMU_DIR names another build)
// and skips without it.
func TestOnEmulator(t *testing.T) {
	dir := os.Getenv("EMBER_CUDAEMU_DIR")
	if dir == "" {
		dir = filepath.Join("..", "..", "tools", "cudaemu", "build")
	}
	if _, err := os.Stat(filepath.Join(dir, EmulatorLibraries["EMBER_LIBCUDA"])); err != nil {
		t.Skipf("the CUDA emulator is not built (make cudaemu, or set EMBER_CUDAEMU_DIR): %v", err)
	}
	for env := range EmulatorLibraries {
		t.Setenv(env, "")
	}
	if err := UseEmulator(dir); err != nil {
		t.Fatal(err)
	}
	t.Setenv("EMBER_EMU_GPUS", "3")
	t.Setenv("EMBER_EMU_NOPEER", "2")
	var out bytes.Buffer
	err := Run(&out, Options{NoBench: true, Seed: 1, Emulator: true})
	t.Log(out.String())
	if err != nil {
		t.Fatal(err)
	}
	report := out.String()
	if strings.HasPrefix(report, "no GPU") {
		t.Fatalf("the emulator offered no GPU")
	}
	for _, want := range []string{
		"CopyFrom cuda:0 → cuda:0#1 (one GPU)", "(peer to peer)", "(staged through host memory)",
		"split 0,0 overlap:", "split 0,1 overlap (peer copies)", "split 0,2 overlap (copies staged through host memory)",
		"TopK 40 + SampleSorted", "Attention decode cache BF16", "MatMul GEMV", "MatMul cuBLAS",
		"Attention prefill tensor cores BF16", "Attention prefill tensor cores F16",
		"LogSumExp [8 5003]", "MatMul GEMV batch w BF16", "MatMul GEMV gate/up + SiLU·mul fused w BF16 2×[256 512] x [16 512]",
		"batched decode of 4 sequences: batched steps replayed from graphs", "B=8 / B=1", "cached / uncached",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("the report has no %q", want)
		}
	}
	// Decode steps must have been captured into graphs and replayed.
	replays := 0
	for _, m := range regexp.MustCompile(`(\d+) replays`).FindAllStringSubmatch(report, -1) {
		n, _ := strconv.Atoi(m[1])
		replays += n
	}
	if replays == 0 {
		t.Error("no decode step was replayed from a graph")
	}
}
