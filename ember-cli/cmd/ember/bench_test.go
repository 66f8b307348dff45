package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/ember-infer/ember/ember-core/bench"
)

// TestDecodeLine: the decode line says when the Go runtime started OS
// threads during the counted steps, whose allocations the count includes.
func TestDecodeLine(t *testing.T) {
	for _, c := range []struct {
		threads int
		want    string
	}{
		{0, "decode           24.32 tok/s (32 steps, 0.0 allocs/step)"},
		{1, "decode           24.32 tok/s (32 steps, 0.2 allocs/step, among them the Go runtime starting 1 OS thread)"},
		{2, "decode           24.32 tok/s (32 steps, 0.2 allocs/step, among them the Go runtime starting 2 OS threads)"},
	} {
		allocs := map[bool]float64{true: 0, false: 0.21875}[c.threads == 0]
		r := bench.Result{DecodeTokS: 24.321, DecodeSteps: 32, DecodeAllocsPerStep: allocs, DecodeThreadsStarted: c.threads}
		if got := decodeLine(r); got != c.want {
			t.Errorf("%d threads started: %q, want %q", c.threads, got, c.want)
		}
	}
}

// TestBenchJSON runs `ember bench --json` on the tiny model and checks that
// the machine probes and their ratios are there and consistent.
func TestBenchJSON(t *testing.T) {
	out, _ := mustEmber(t, "bench", "--backend", "cpu", "-m", repoPath(t, "testdata", "models", "tiny-qwen3"),
		"--threads", "1", "--prompt-len", "8", "--decode-steps", "2", "--json")
	var r map[string]any
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("output %q: %v", out, err)
	}
	for _, k := range []string{"prefill_tok_s", "decode_tok_s", "read_bandwidth_gbs", "decode_bandwidth_fraction",
		"fma_peak_gflops", "prefill_gflops", "prefill_fma_fraction", "decode_allocs_per_step", "decode_threads_started"} {
		if _, ok := r[k].(float64); !ok {
			t.Errorf("%s missing or not a number in %s", k, out)
		}
	}
	if peak, _ := r["fma_peak_gflops"].(float64); !(peak > 0) {
		t.Errorf("fma_peak_gflops = %v", r["fma_peak_gflops"])
	}
	if got, want := r["prefill_fma_fraction"], r["prefill_gflops"].(float64)/r["fma_peak_gflops"].(float64); got != want {
		t.Errorf("prefill_fma_fraction = %v, want %v", got, want)
	}
	if r["devices"] != 1.0 || r["prefill_chunks"] != 1.0 || r["overlap"] != false {
		t.Errorf("one device, 8 tokens in one 512-token chunk: devices %v, prefill_chunks %v, overlap %v", r["devices"], r["prefill_chunks"], r["overlap"])
	}
	// --chunk and --overlap reach the prefill: 16 tokens in chunks of 4 over
	// two devices.
	out, _ = mustEmber(t, "bench", "--backend", "cpu", "-m", repoPath(t, "testdata", "models", "tiny-qwen3"),
		"--devices", "cpu:0,cpu:1", "--split", "3,3", "--chunk", "4", "--overlap",
		"--threads", "1", "--prompt-len", "16", "--decode-steps", "2", "--json")
	r = nil
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("output %q: %v", out, err)
	}
	if r["devices"] != 2.0 || r["prefill_chunks"] != 4.0 || r["overlap"] != true {
		t.Errorf("--chunk 4 --overlap on 2 devices: devices %v, prefill_chunks %v, overlap %v", r["devices"], r["prefill_chunks"], r["overlap"])
	}
	human, _ := mustEmber(t, "bench", "--backend", "cpu", "-m", repoPath(t, "testdata", "models", "tiny-qwen3"),
		"--threads", "1", "--prompt-len", "8", "--decode-steps", "2")
	for _, s := range []string{"machine FMA peak", "prefill fraction", "decode fraction", "cpu kernels"} {
		if !strings.Contains(human, s) {
			t.Errorf("human output lacks %q:\n%s", s, human)
		}
	}
}
