package main

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ember-infer/ember/ember-core/config"
	"github.com/ember-infer/ember/ember-core/memplan"
	"github.com/ember-infer/ember/ember-core/safetensors"
	"github.com/ember-infer/ember/ember-core/snapshot"
)

// writeSparseSnapshot writes a snapshot of c into dir whose model.safetensors has a
// real header (bf16, every tensor the config implies, plus lm_head.weight when
// storeLMHead) and a data section that is a file-system hole: a Qwen3-0.6B-shaped
// checkpoint of 1.4 GB that takes a few kilobytes of disk and no time to write.
// Planning reads headers only, so the zeros are never touched.
func writeSparseSnapshot(t *testing.T, dir string, c *config.Config, storeLMHead bool) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cj, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), cj, 0o644); err != nil {
		t.Fatal(err)
	}
	specs := snapshot.Expected(c)
	if c.TieWordEmbeddings && storeLMHead {
		specs = append(specs, snapshot.LMHeadSpec(c))
	}
	var hdr strings.Builder
	hdr.WriteString(`{"__metadata__":{"format":"pt"}`)
	var off int64
	for _, s := range specs {
		n := s.NumElements() * 2
		shape, _ := json.Marshal(s.Shape)
		fmt.Fprintf(&hdr, `,%q:{"dtype":"BF16","shape":%s,"data_offsets":[%d,%d]}`, s.Name, shape, off, off+n)
		off += n
	}
	hdr.WriteString("}")
	for hdr.Len()%8 != 0 {
		hdr.WriteString(" ")
	}
	f, err := os.Create(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := binary.Write(f, binary.LittleEndian, uint64(hdr.Len())); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(hdr.String()); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(8 + int64(hdr.Len()) + off); err != nil {
		t.Fatal(err)
	}
}

// tableOf returns the plan part of ember's human output: from the settings line
// ("ctx …") to the end.
func tableOf(t *testing.T, out string) string {
	t.Helper()
	i := strings.Index(out, "ctx ")
	if i < 0 {
		t.Fatalf("no plan table in:\n%s", out)
	}
	return out[i:]
}

// TestInspectMatchesPlanPreset writes a snapshot shaped exactly like Qwen3-0.6B (the
// preset's config; tied, lm_head also stored; a sparse file, see writeSparseSnapshot)
// and checks that "ember inspect DIR" prints the same plan row as "ember plan --model
// Qwen3-0.6B", which falls back to the built-in preset: the snapshot's safetensors
// headers and the preset's derived tensor list must agree to the byte.
func TestInspectMatchesPlanPreset(t *testing.T) {
	base := isolate(t)
	p, _ := memplan.LookupPreset("Qwen3-0.6B")
	dir := filepath.Join(base, "Qwen3-0.6B")
	writeSparseSnapshot(t, dir, &p.Config, true)

	for _, flags := range [][]string{
		nil,
		{"--gpus", "2", "--gpu-mem", "12GiB"},
		{"--gpus", "2", "--gpu-mem", "4GiB", "--ctx", "32768", "--chunk", "0"}, // does not fit
	} {
		insp, _ := mustEmber(t, append(append([]string{"inspect"}, flags...), dir)...)
		plan, errs := mustEmber(t, append([]string{"plan", "--model", "Qwen3-0.6B"}, flags...)...)
		if !strings.Contains(errs, "built-in preset") {
			t.Errorf("plan did not use the preset: %q", errs)
		}
		if got, want := tableOf(t, insp), tableOf(t, plan); got != want {
			t.Errorf("flags %v: inspect's plan\n%s\ndiffers from plan's\n%s", flags, got, want)
		}

		// Same in JSON, but for where the numbers came from.
		inspJ, _ := mustEmber(t, append(append([]string{"inspect", "--json"}, flags...), dir)...)
		planJ, _ := mustEmber(t, append([]string{"plan", "--json", "--model", "Qwen3-0.6B"}, flags...)...)
		var id struct {
			Plan json.RawMessage `json:"plan"`
		}
		if err := json.Unmarshal([]byte(inspJ), &id); err != nil {
			t.Fatal(err)
		}
		norm := func(raw string) string {
			var v map[string]any
			if err := json.Unmarshal([]byte(raw), &v); err != nil {
				t.Fatal(err)
			}
			for _, m := range v["models"].([]any) {
				row := m.(map[string]any)
				delete(row, "source")
				delete(row, "path")
			}
			b, _ := json.Marshal(v)
			return string(b)
		}
		if got, want := norm(string(id.Plan)), norm(planJ); got != want {
			t.Errorf("flags %v: inspect --json plan\n%s\ndiffers from plan --json\n%s", flags, got, want)
		}
	}

	out, _ := mustEmber(t, "inspect", dir)
	for _, want := range []string{
		"model     Qwen3-0.6B",
		"28 layers, hidden 1024, heads 16/8 kv, head_dim 128, inter 3072, vocab 151936, max_pos 40960, bf16/f16, tied (lm_head also stored)",
		"tensors   311, BF16×311", // embedding + 28×11 + final norm + lm_head
		// 1.40 GiB on disk; resident on one GPU without the stored lm_head:
		// 1503264768 - 151936×1024×2 = 1503264768 - 311164928 = 1192099840.
		"1.40 GiB of tensor data (1503264768 bytes)",
		"resident  1.11 GiB over 1 GPU(s) with split 28 (1192099840 bytes)",
		"tied, but the checkpoint also stores lm_head.weight",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("inspect lacks %q:\n%s", want, out)
		}
	}
}

// TestInspectCacheAndID: a models--Org--Name cache directory and its id resolve to
// the snapshot refs/main names; a preset name finds the preset's id in the cache.
func TestInspectCacheAndID(t *testing.T) {
	base := isolate(t)
	p, _ := memplan.LookupPreset("Qwen3-0.6B")
	cache := filepath.Join(base, "huggingface_hub_cache", "models--Qwen--Qwen3-0.6B")
	writeSparseSnapshot(t, filepath.Join(cache, "snapshots", "abc123"), &p.Config, true)
	if err := os.MkdirAll(filepath.Join(cache, "refs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cache, "refs", "main"), []byte("abc123"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, arg := range []string{cache, "Qwen/Qwen3-0.6B", "Qwen3-0.6B"} {
		out, errs := mustEmber(t, "inspect", arg)
		if errs != "" || !strings.Contains(out, "model     Qwen/Qwen3-0.6B") ||
			!strings.Contains(out, filepath.Join(cache, "snapshots", "abc123")) || !strings.Contains(out, "revision abc123 (refs/main)") {
			t.Errorf("inspect %s:\nstdout %s\nstderr %s", arg, out, errs)
		}
	}
}

// TestInspectSmallSnapshot: a small snapshot written with the safetensors writer
// (snapshot.WriteZero) prints the same plan as ember plan --model DIR, and a
// checkpoint that does not match its config is refused with the tensor named.
func TestInspectSmallSnapshot(t *testing.T) {
	base := isolate(t)
	c := &config.Config{
		ModelType: "qwen3", VocabSize: 1000, HiddenSize: 64, IntermediateSize: 128,
		NumHiddenLayers: 4, NumAttentionHeads: 4, NumKeyValueHeads: 2, HeadDim: 16,
		MaxPositionEmbeddings: 512, RMSNormEps: 1e-6, RopeTheta: 1e6,
		TieWordEmbeddings: true, TorchDType: "bfloat16",
	}
	dir := filepath.Join(base, "small")
	if err := snapshot.WriteZero(dir, c, safetensors.BF16, false); err != nil {
		t.Fatal(err)
	}
	flags := []string{"--gpus", "2", "--ctx", "256", "--batch", "2", "--chunk", "64"}
	insp, _ := mustEmber(t, append(append([]string{"inspect"}, flags...), dir)...)
	plan, _ := mustEmber(t, append([]string{"plan", "--model", dir}, flags...)...)
	if tableOf(t, insp) != tableOf(t, plan) {
		t.Errorf("inspect\n%s\nplan\n%s", insp, plan)
	}
	// Hand-worked in memplan's TestSplitByHand: 2+2, weights 276096 | 276224 bytes.
	out, _ := mustEmber(t, append([]string{"plan", "--json", "--model", dir}, flags...)...)
	m := decodePlan(t, out).Models[0]
	if fmt.Sprint(m.Split) != "[2 2]" || m.Devices[0].Weights != 276096 || m.Devices[1].Weights != 276224 || m.Source != "snapshot" {
		t.Errorf("%+v", m)
	}

	// Break the checkpoint: up_proj of layer 3 transposed.
	specs := snapshot.Expected(c)
	var ts []safetensors.WriteTensor
	for _, s := range specs {
		shape := s.Shape
		if s.Name == snapshot.LayerName(3, snapshot.UpProj) {
			shape = []int64{64, 128}
		}
		ts = append(ts, safetensors.WriteTensor{Spec: safetensors.Spec{Name: s.Name, DType: safetensors.BF16, Shape: shape},
			Data: make([]byte, s.NumElements()*2)})
	}
	if err := safetensors.Write(filepath.Join(dir, "model.safetensors"), ts, nil); err != nil {
		t.Fatal(err)
	}
	_, errs, code := ember(t, "inspect", dir)
	if code != 1 || !strings.Contains(errs, `tensor "model.layers.3.mlp.up_proj.weight" has shape [64, 128]`) {
		t.Errorf("exit %d stderr %q", code, errs)
	}
}

// TestInspectPreset: with no snapshot, inspect shows the preset and says so.
func TestInspectPreset(t *testing.T) {
	isolate(t)
	out, errs := mustEmber(t, "inspect", "Qwen/Qwen3-8B")
	// 1 embedding + 36 × 11 + final norm + lm_head = 399 tensors.
	for _, want := range []string{"snapshot  none: built-in preset", "tensors   399, BF16×399 (preset)", "untied", "15.26 GiB"} {
		if !strings.Contains(out, want) {
			t.Errorf("inspect lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errs, "using the built-in preset Qwen3-8B") {
		t.Errorf("stderr %q", errs)
	}
}
