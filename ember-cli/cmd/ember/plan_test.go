package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var updateMemoryDoc = flag.Bool("update-memory-doc", false, "rewrite the generated tables of docs/memory.md")

// docBlock matches a generated block of docs/memory.md: a comment naming the ember
// command, then a fenced block holding "$ ember …" and its stdout.
var docBlock = regexp.MustCompile("(?s)<!-- ember ([^\n]*?) -->\n```\n.*?```\n")

// TestMemoryDoc checks that every generated table of docs/memory.md is what its
// command prints now (with -update-memory-doc, rewrites them).
func TestMemoryDoc(t *testing.T) {
	path, err := filepath.Abs(filepath.Join("..", "..", "..", "docs", "memory.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	isolate(t)
	blocks := 0
	got := docBlock.ReplaceAllStringFunc(string(doc), func(block string) string {
		blocks++
		args := strings.Fields(docBlock.FindStringSubmatch(block)[1])
		out, _ := mustEmber(t, args...)
		return fmt.Sprintf("<!-- ember %s -->\n```\n$ ember %s\n%s```\n", strings.Join(args, " "), strings.Join(args, " "), out)
	})
	if blocks == 0 {
		t.Fatal("no generated blocks in docs/memory.md")
	}
	if got == string(doc) {
		return
	}
	if *updateMemoryDoc {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("docs/memory.md is stale; regenerate with: go test ./ember-cli/cmd/ember -run TestMemoryDoc -update-memory-doc")
}

// planJSON mirrors the documented fields of ember plan --json (docs/memory.md).
type planJSON struct {
	Ctx, Batch, Chunk int
	StepTokens        int `json:"step_tokens"`
	Devices           []struct {
		ID       int   `json:"id"`
		Capacity int64 `json:"capacity_bytes"`
	}
	OverheadBytes  int64 `json:"overhead_bytes"`
	WorkspaceBytes int64 `json:"workspace_bytes"`
	Models         []modelJSON
}

type modelJSON struct {
	Model                string
	Source               string
	WeightsDiskGiB       float64 `json:"weights_disk_gib"`
	WeightsDiskBytes     int64   `json:"weights_disk_bytes"`
	WeightsResidentBytes int64   `json:"weights_resident_bytes"`
	KVMiB2048            float64 `json:"kv_mib_2048"`
	KVMiB4096            float64 `json:"kv_mib_4096"`
	Split                []int
	AutoSplit            bool `json:"auto_split"`
	Fits                 bool
	Devices              []struct {
		Weights     int64 `json:"weights_bytes"`
		KV          int64 `json:"kv_bytes"`
		Activations int64 `json:"activation_bytes"`
		Workspace   int64 `json:"workspace_bytes"`
		Overhead    int64 `json:"overhead_bytes"`
		Total       int64 `json:"total_bytes"`
		Capacity    int64 `json:"capacity_bytes"`
		Free        int64 `json:"free_bytes"`
		Fits        bool  `json:"fits"`
		Shortfall   int64 `json:"shortfall_bytes"`
		Buffers     []struct {
			Name  string
			Dims  []int64
			Bytes int64
		} `json:"activation_buffers"`
	}
}

func decodePlan(t *testing.T, out string) planJSON {
	t.Helper()
	var p planJSON
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return p
}

// TestPlanAllPresetsJSON is the acceptance check against docs/design.md's table. The
// numbers are worked out by hand in ember-core/memplan/presets_test.go:
// on disk 1503264768, 4063479808, 8044936192, 16381470720, 29536614400 bytes =
// 1.40, 3.78, 7.49, 15.26, 27.51 GiB; KV per request layers × seq × 8 × 128 × 2 × 2
// = 28 → 224/448 MiB, 36 → 288/576 MiB, 40 → 320/640 MiB.
func TestPlanAllPresetsJSON(t *testing.T) {
	isolate(t)
	out, _ := mustEmber(t, "plan", "--all-presets", "--gpus", "2", "--gpu-mem", "12GiB", "--json")
	p := decodePlan(t, out)
	want := []struct {
		model    string
		gib      string
		disk     int64
		kv2, kv4 float64
		fits     bool
	}{
		{"Qwen3-0.6B", "1.40", 1503264768, 224, 448, true},
		{"Qwen3-1.7B", "3.78", 4063479808, 224, 448, true},
		{"Qwen3-4B-Instruct-2507", "7.49", 8044936192, 288, 576, true},
		{"Qwen3-8B", "15.26", 16381470720, 288, 576, true},
		{"Qwen3-14B", "27.51", 29536614400, 320, 640, false},
	}
	rows := map[string]modelJSON{}
	for _, m := range p.Models {
		rows[m.Model] = m
	}
	for i, w := range want {
		m, ok := rows[w.model]
		if !ok {
			t.Fatalf("no row for %s", w.model)
		}
		if m.Model != w.model || m.WeightsDiskBytes != w.disk || m.KVMiB2048 != w.kv2 || m.KVMiB4096 != w.kv4 ||
			m.Fits != w.fits || !m.AutoSplit || m.Source != "preset" {
			t.Errorf("row %d: %+v, want %+v", i, m, w)
		}
		if !strings.Contains(out, `"weights_disk_gib": `+w.gib+",") {
			t.Errorf("%s: weights_disk_gib is not %s in the JSON text", w.model, w.gib)
		}
		for j, d := range m.Devices {
			if d.Capacity != 12<<30 || d.Free != d.Capacity-d.Total || d.Fits != (d.Total <= d.Capacity) ||
				d.Total != d.Weights+d.KV+d.Activations+d.Workspace+d.Overhead ||
				d.Workspace != 32<<20 || d.Overhead != 300<<20 || d.Shortfall != max(0, d.Total-d.Capacity) {
				t.Errorf("%s device %d inconsistent: %+v", w.model, j, d)
			}
		}
	}
	if p.Ctx != 4096 || p.Batch != 1 || p.Chunk != 512 || len(p.Devices) != 2 {
		t.Errorf("settings %+v", p)
	}

	// 4B at ctx 4096 fits 18+18. Per device (hand-worked in memplan's
	// TestQwen3_4BFits18Plus18): weights 18×201861632 + 777912320 = 4411421696 on
	// GPU0, + 5120 (final norm) on GPU1 with its lm_head copy; KV 18×4096×8×128×2×2 =
	// 301989888 each.
	b4 := rows["Qwen3-4B-Instruct-2507"]
	if fmt.Sprint(b4.Split) != "[18 18]" || !b4.Fits || b4.Devices[0].Weights != 4411421696 ||
		b4.Devices[1].Weights != 4411426816 || b4.Devices[0].KV != 301989888 {
		t.Errorf("4B: split %v fits %v devices %+v", b4.Split, b4.Fits, b4.Devices)
	}
	// 14B: shortfall reported on each device of the most balanced split.
	b14 := rows["Qwen3-14B"]
	for i, d := range b14.Devices {
		if d.Fits || d.Shortfall <= 0 {
			t.Errorf("14B device %d: %+v", i, d)
		}
	}
}

// TestPlan14BNoSplitFits tries every split of Qwen3-14B's 40 layers over 2 × 12 GiB.
func TestPlan14BNoSplitFits(t *testing.T) {
	isolate(t)
	for a := 1; a < 40; a++ {
		out, _ := mustEmber(t, "plan", "--model", "Qwen3-14B", "--gpus", "2", "--gpu-mem", "12GiB", "--split", fmt.Sprintf("%d,%d", a, 40-a), "--json")
		if p := decodePlan(t, out); p.Models[0].Fits || p.Models[0].AutoSplit {
			t.Errorf("14B split %d+%d fits", a, 40-a)
		}
	}
}

func TestPlanPresetFallbackSaysSo(t *testing.T) {
	isolate(t)
	for _, name := range []string{"Qwen/Qwen3-8B", "Qwen3-8B", "qwen3-8b"} {
		out, errs := mustEmber(t, "plan", "--model", name, "--gpus", "2")
		if !strings.Contains(errs, "using the built-in preset Qwen3-8B") || !strings.Contains(errs, "models--Qwen--Qwen3-8B") {
			t.Errorf("%s: stderr %q", name, errs)
		}
		if !strings.Contains(out, "Qwen3-8B") || !strings.Contains(out, "15.26 GiB") {
			t.Errorf("%s: stdout %s", name, out)
		}
	}
	// MODEL_PATH is --model's default.
	t.Setenv("MODEL_PATH", "Qwen3-14B")
	out, _ := mustEmber(t, "plan")
	if !strings.Contains(out, "Qwen3-14B") {
		t.Errorf("MODEL_PATH ignored: %s", out)
	}
	// …and does not conflict with --all-presets.
	mustEmber(t, "plan", "--all-presets")
}

func TestPlanDevicesAndMemory(t *testing.T) {
	isolate(t)
	out, _ := mustEmber(t, "plan", "-m", "Qwen3-8B", "--devices", "1,0", "--gpu-mem", "12GiB,10GiB", "--json")
	p := decodePlan(t, out)
	if len(p.Devices) != 2 || p.Devices[0].ID != 1 || p.Devices[1].Capacity != 10<<30 {
		t.Errorf("devices %+v", p.Devices)
	}
	// A size list alone sets the GPU count; so does --split.
	out, _ = mustEmber(t, "plan", "-m", "Qwen3-8B", "--gpu-mem", "12GiB,12GiB", "--json")
	if p := decodePlan(t, out); len(p.Devices) != 2 {
		t.Errorf("devices %+v", p.Devices)
	}
	out, _ = mustEmber(t, "plan", "-m", "Qwen3-8B", "--split", "20+16", "--overhead", "1GiB", "--json")
	p = decodePlan(t, out)
	if len(p.Devices) != 2 || fmt.Sprint(p.Models[0].Split) != "[20 16]" || p.Models[0].AutoSplit ||
		p.Models[0].Devices[0].Overhead != 1<<30 {
		t.Errorf("split %v auto %v devices %+v", p.Models[0].Split, p.Models[0].AutoSplit, p.Devices)
	}
}

// TestPlanChunk: attention scores are heads × chunk × ctx, heads × ctx × ctx unchunked.
// Qwen3-8B, one GPU, ctx 4096: 32×512×4096×4 = 268435456 bytes at chunk 512,
// 32×4096×4096×4 = 2147483648 unchunked.
func TestPlanChunk(t *testing.T) {
	isolate(t)
	scores := func(chunk string) (string, int64, int64) {
		out, _ := mustEmber(t, "plan", "-m", "Qwen3-8B", "--chunk", chunk, "--json")
		d := decodePlan(t, out).Models[0].Devices[0]
		for _, b := range d.Buffers {
			if b.Name == "scores" {
				return fmt.Sprint(b.Dims), b.Bytes, d.Activations
			}
		}
		t.Fatal("no scores buffer")
		return "", 0, 0
	}
	dims512, b512, a512 := scores("512")
	dims0, b0, a0 := scores("0")
	if dims512 != "[1 32 512 4096]" || b512 != 268435456 || dims0 != "[1 32 4096 4096]" || b0 != 2147483648 || a0 <= a512 {
		t.Errorf("chunk 512: %s %d (act %d); unchunked: %s %d (act %d)", dims512, b512, a512, dims0, b0, a0)
	}
	out, _ := mustEmber(t, "plan", "-m", "Qwen3-8B", "--detail")
	if !strings.Contains(out, "scores") || !strings.Contains(out, "1×32×512×4096") {
		t.Errorf("--detail:\n%s", out)
	}
}

func TestPlanHumanTable(t *testing.T) {
	isolate(t)
	out, _ := mustEmber(t, "plan", "--all-presets", "--gpus", "2", "--gpu-mem", "12GiB")
	for _, want := range []string{
		"ctx 4096, batch 1, chunk 512", "18+18 (auto)", "224 / 448 MiB", "27.51 GiB",
		"Qwen3-14B: no split fits; the most balanced, 20+20, is short by",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.HasSuffix(l, " ") {
			t.Errorf("trailing space: %q", l)
		}
	}
}
