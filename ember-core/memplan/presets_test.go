package memplan

import (
	"fmt"
	"testing"
)

// TestPresetFacts checks docs/design.md's ground-truth table, worked out by hand:
//
// Per layer, elements (q = heads×128, kv = 8×128 = 1024):
//
//	0.6B  H 1024, I 3072:  q 2048×1024 ×2 (q,o) = 4194304, k,v 1024×1024 ×2 = 2097152,
//	      norms 128+128+1024+1024 = 2304, mlp 3×3072×1024 = 9437184  → 15730944
//	1.7B  H 2048, I 6144:  8388608 + 4194304 + (256+4096) + 37748736 → 50336000
//	4B    H 2560, I 9728:  q 4096×2560 ×2 = 20971520, 5242880, 5376, 74711040 → 100930816
//	8B    H 4096, I 12288: 33554432 + 8388608 + 8448 + 150994944 → 192946432
//	14B   H 5120, I 17408: q 5120×5120 ×2 = 52428800, 10485760, 10496, 267386880 → 330311936
//
// Embedding 151936×H; lm_head stored (0.6B, 1.7B tied but stored; 8B, 14B untied)
// adds as much again; final norm H. Bytes = 2 × elements (bf16):
//
//	0.6B  28×15730944 + 2×155582464 + 1024 = 751632384   → 1503264768 B = 1.40002 GiB
//	1.7B  28×50336000 + 2×311164928 + 2048 = 2031739904  → 4063479808 B = 3.78443 GiB
//	4B    36×100930816 + 388956160 + 2560 = 4022468096   → 8044936192 B = 7.49241 GiB
//	8B    36×192946432 + 2×622329856 + 4096 = 8190735360 → 16381470720 B = 15.2564 GiB
//	14B   40×330311936 + 2×777912320 + 5120 = 14768307200 → 29536614400 B = 27.5081 GiB
//
// KV per request = layers × seq × 8 × 128 × 2 × 2 = layers × seq × 4096 bytes:
// 28 layers → 28×2048×4096 = 224 MiB, 448 MiB at 4096; 36 → 288/576; 40 → 320/640.
func TestPresetFacts(t *testing.T) {
	for _, tc := range []struct {
		name           string
		disk           int64
		gib            string
		kv2048, kv4096 int64 // MiB
		tied, stored   bool
	}{
		{"Qwen3-0.6B", 1503264768, "1.40", 224, 448, true, true},
		{"Qwen3-1.7B", 4063479808, "3.78", 224, 448, true, true},
		{"Qwen3-4B-Instruct-2507", 8044936192, "7.49", 288, 576, true, false},
		{"Qwen3-8B", 16381470720, "15.26", 288, 576, false, true},
		{"Qwen3-14B", 29536614400, "27.51", 320, 640, false, true},
	} {
		p, ok := LookupPreset(tc.name)
		if !ok {
			t.Fatalf("no preset %s", tc.name)
		}
		m := p.Model()
		if m.DiskBytes != tc.disk || fmt.Sprintf("%.2f", GiBOf(m.DiskBytes)) != tc.gib {
			t.Errorf("%s: disk %d (%.4f GiB), want %d (%s)", tc.name, m.DiskBytes, GiBOf(m.DiskBytes), tc.disk, tc.gib)
		}
		if m.KVPerRequest(2048) != tc.kv2048*MiB || m.KVPerRequest(4096) != tc.kv4096*MiB {
			t.Errorf("%s: kv %d %d", tc.name, m.KVPerRequest(2048), m.KVPerRequest(4096))
		}
		if m.Tied() != tc.tied || m.StoresLMHead != tc.stored || !p.Seed {
			t.Errorf("%s: tied %v stored %v seed %v", tc.name, m.Tied(), m.StoresLMHead, p.Seed)
		}
		if m.Config.VocabSize != 151936 || m.Config.RMSNormEps != 1e-6 || m.Config.HeadDim != 128 {
			t.Errorf("%s: config %+v", tc.name, m.Config)
		}
		if err := m.Config.Validate(); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

// Qwen3-4B over 2 × 12 GiB at ctx 4096, batch 1, chunk 512, the CLI defaults:
// one layer is 100930816 × 2 = 201861632 bytes, its KV 4096 × 8 × 128 × 2 × 2 = 16777216.
//
//	weights dev0 18×201861632 + 777912320 (embedding)                   = 4411421696
//	weights dev1 18×201861632 + 5120 (norm) + 777912320 (lm_head copy)  = 4411426816
//	KV each 18 × 16777216                                               = 301989888
//	activations, T = 512:
//	  hidden, residual, normed 3 × 512×2560×4 = 15728640
//	  q, attn_out 2 × 512×4096×4 = 16777216; k, v 2 × 512×1024×4 = 4194304
//	  scores 32×512×4096×4 = 268435456; gate, up, act 3 × 512×9728×4 = 59768832
//	  common 364904448; dev0 + token_ids 2048 = 364906496;
//	  dev1 + p2p_recv 5242880 + logits 151936×4 = 607744 → 370755072
//	fixed 33554432 + 314572800 = 348127232
//	total dev0 = 5426445312, dev1 = 5432299008
//
// 19+17 would give dev0 5426445312 + 201861632 + 16777216 = 5645084160, so 18+18
// is the balanced split.
func TestQwen3_4BFits18Plus18(t *testing.T) {
	p, _ := LookupPreset("Qwen/Qwen3-4B-Instruct-2507")
	plan, err := Compute(p.Model(), Options{Devices: Devices(2, 12*GiB), Ctx: 4096, Batch: 1, Chunk: 512,
		Overhead: DefaultOverhead, Workspace: CUBLASWorkspace})
	if err != nil {
		t.Fatal(err)
	}
	if !plan.Fits || fmt.Sprint(plan.Split) != "[18 18]" {
		t.Fatalf("split %v fits %v", plan.Split, plan.Fits)
	}
	d0, d1 := plan.Devices[0], plan.Devices[1]
	if d0.Weights != 4411421696 || d1.Weights != 4411426816 || d0.KV != 301989888 || d1.KV != 301989888 ||
		d0.Activations != 364906496 || d1.Activations != 370755072 || d0.Total != 5426445312 || d1.Total != 5432299008 ||
		!d1.LMHeadCopy {
		t.Errorf("dev0 %+v\ndev1 %+v", d0, d1)
	}
}

// Qwen3-14B's 27.51 GiB of weights cannot fit 2 × 12 GiB whatever the split.
func TestQwen3_14BFitsNoSplit(t *testing.T) {
	p, _ := LookupPreset("qwen3-14b")
	m := p.Model()
	o := Options{Devices: Devices(2, 12*GiB), Ctx: 4096, Batch: 1, Chunk: 512, Overhead: DefaultOverhead, Workspace: CUBLASWorkspace}
	for _, s := range Splits(40, 2) {
		o.Split = s
		plan, err := Compute(m, o)
		if err != nil {
			t.Fatal(err)
		}
		if plan.Fits {
			t.Errorf("split %v fits", s)
		}
	}
	o.Split = nil
	plan, err := Compute(m, o)
	if err != nil {
		t.Fatal(err)
	}
	var short int64
	for _, d := range plan.Devices {
		short += d.Shortfall
	}
	if plan.Fits || short == 0 || !plan.AutoSplit {
		t.Errorf("auto plan %v fits %v shortfall %d", plan.Split, plan.Fits, short)
	}
}

func TestLookupPreset(t *testing.T) {
	for _, name := range []string{"Qwen3-8B", "Qwen/Qwen3-8B", "qwen/qwen3-8b", "QWEN3-8B"} {
		if p, ok := LookupPreset(name); !ok || p.Name != "Qwen3-8B" {
			t.Errorf("%q: %v %v", name, p.Name, ok)
		}
	}
	for _, name := range []string{"Qwen3-8", "Other/Qwen3-8B", ""} {
		if _, ok := LookupPreset(name); ok {
			t.Errorf("%q matched", name)
		}
	}
	// Callers cannot change the table through a returned preset.
	p, _ := LookupPreset("Qwen3-8B")
	p.Config.Architectures[0] = "x"
	if q, _ := LookupPreset("Qwen3-8B"); q.Config.Architectures[0] != "Qwen3ForCausalLM" {
		t.Error("preset table was mutated")
	}
	if len(PresetNames()) != len(Presets()) {
		t.Error("names and presets disagree")
	}
}
