package gpucheck

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ember-infer/ember/ember-core/memplan"
	cuda "github.com/ember-infer/ember/ember-cuda"
)

// attentionFLOPs against a count query by query: 4·hd·heads per visible key.
func TestAttentionFLOPs(t *testing.T) {
	p, _ := memplan.LookupPreset(benchModel)
	cfg := &p.Config
	for _, tc := range [][2]int{{0, 1}, {0, 512}, {1536, 512}, {7, 33}} {
		start, chunk := tc[0], tc[1]
		keys := 0
		for r := range chunk {
			keys += start + r + 1
		}
		want := 4 * float64(keys) * float64(cfg.HeadDim*cfg.NumAttentionHeads)
		if got := attentionFLOPs(cfg, start, chunk); got != want {
			t.Errorf("attentionFLOPs(start %d, chunk %d) = %g, want %g", start, chunk, got, want)
		}
	}
	// The whole prompt's attention is the sum of its chunks'.
	sum := 0.0
	for start := 0; start < benchPrompt; start += benchChunk {
		sum += attentionFLOPs(cfg, start, benchChunk)
	}
	if whole := attentionFLOPs(cfg, 0, benchPrompt); math.Abs(sum-whole) > 1e-9*whole {
		t.Errorf("chunks sum to %g flops, the whole prompt %g", sum, whole)
	}
}

// benchPrefillAttention runs on the emulator at small shapes and prints its
// two lines (the figures are the emulator's virtual clock, not speeds).
func TestBenchPrefillAttentionOnEmulator(t *testing.T) {
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
	devs, err := cuda.Open([]int{0}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer devs[0].Close()
	cfg := smallHeadDim128()
	cfg.NumAttentionHeads, cfg.NumKeyValueHeads = 2, 1
	var out bytes.Buffer
	rep := &report{w: &out}
	benchPrefillAttention(rep, devs[0], cfg, 64, 32, time.Second, 1e12)
	t.Log(out.String())
	if rep.failed > 0 {
		t.Fatalf("%d failed", rep.failed)
	}
	for _, want := range []string{"prefill attention (2q/1kv×128, 64 tokens in chunks of 32, one layer): tensor cores", "prefill total:"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the report has no %q", want)
		}
	}
}
