package memplan

import (
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ember-infer/ember/ember-core/config"
	"github.com/ember-infer/ember/ember-core/safetensors"
	"github.com/ember-infer/ember/ember-core/snapshot"
)

// small is a hand-workable tied model: vocab 1000, hidden 64, inter 128, 4 layers,
// 4 heads, 2 kv heads, head_dim 16, bf16.
//
// Per layer, elements: q 64×64 = 4096, k 32×64 = 2048, v 2048, o 64×64 = 4096,
// q_norm + k_norm 16+16 = 32, input/post norms 64+64 = 128, gate/up/down 3×128×64 =
// 24576; sum 37024 → 74048 bytes. Embedding 1000×64 = 64000 → 128000 bytes; final
// norm 64 → 128 bytes; a tied lm_head copy is 128000 bytes.
func small() *config.Config {
	return &config.Config{
		ModelType: "qwen3", VocabSize: 1000, HiddenSize: 64, IntermediateSize: 128,
		NumHiddenLayers: 4, NumAttentionHeads: 4, NumKeyValueHeads: 2, HeadDim: 16,
		MaxPositionEmbeddings: 512, RMSNormEps: 1e-6, RopeTheta: 1e6,
		TieWordEmbeddings: true, TorchDType: "bfloat16",
	}
}

// smallOpts: ctx 256, batch 2, chunk 64, 1 MiB workspace, 2 MiB overhead.
func smallOpts(capacities ...int64) Options {
	o := Options{Ctx: 256, Batch: 2, Chunk: 64, Workspace: 1 << 20, Overhead: 2 << 20}
	for i, c := range capacities {
		o.Devices = append(o.Devices, Device{ID: i, Capacity: c})
	}
	return o
}

func TestSmallModel(t *testing.T) {
	m := FromConfig("small", small(), 2, false)
	if m.LayerBytes[0] != 74048 || m.EmbedBytes != 128000 || m.FinalNormBytes != 128 || m.LMHeadBytes != 128000 {
		t.Errorf("layer %d embed %d norm %d lm_head %d", m.LayerBytes[0], m.EmbedBytes, m.FinalNormBytes, m.LMHeadBytes)
	}
	// On disk: 4×74048 + 128000 + 128 = 424320 (tied, lm_head not stored).
	if m.DiskBytes != 424320 || m.NumTensors != 1+4*11+1 {
		t.Errorf("disk %d tensors %d", m.DiskBytes, m.NumTensors)
	}
	if s := FromConfig("small", small(), 2, true); s.DiskBytes != 424320+128000 || s.NumTensors != 47 {
		t.Errorf("stored lm_head: disk %d tensors %d", s.DiskBytes, s.NumTensors)
	}
}

// TestSplitByHand checks every per-device number of the small model split 2+2 over
// two devices of 4,500,000 bytes.
func TestSplitByHand(t *testing.T) {
	m := FromConfig("small", small(), 2, false)
	o := smallOpts(4_500_000, 4_500_000)
	o.Split = []int{2, 2}
	p, err := Compute(m, o)
	if err != nil {
		t.Fatal(err)
	}
	// Weights: dev0 2×74048 + 128000 (embedding) = 276096;
	//          dev1 2×74048 + 128 (final norm) + 128000 (tied lm_head copy) = 276224.
	// KV each: 2 layers × 256 ctx × 2 kv heads × 16 head_dim × 2 (K,V) × 2 bytes × batch 2 = 131072.
	// Activations (B=2, T=64, f32):
	//   hidden, residual, normed: 3 × 2×64×64×4 = 3 × 32768 = 98304
	//   q 2×64×64×4 = 32768, k 2×64×32×4 = 16384, v 16384, attn_out 32768 → 98304
	//   scores 2×4 heads×64×256×4 = 524288
	//   gate, up, act: 3 × 2×64×128×4 = 3 × 65536 = 196608
	//   common 98304 + 98304 + 524288 + 196608 = 917504
	//   dev0 + token_ids 2×64×4 = 512 → 918016
	//   dev1 + p2p_recv 2×64×64×4 = 32768 + logits 2×1000×4 = 8000 → 958272
	// Fixed: 1048576 + 2097152 = 3145728.
	// Totals: dev0 276096 + 131072 + 918016 + 3145728 = 4470912 (free 29088);
	//         dev1 276224 + 131072 + 958272 + 3145728 = 4511296 (short 11296).
	want := []DevicePlan{
		{Device: 0, FirstLayer: 0, Layers: 2, Weights: 276096, KV: 131072, Activations: 918016,
			Workspace: 1048576, Overhead: 2097152, Total: 4470912, Capacity: 4500000, Free: 29088, Fits: true},
		{Device: 1, FirstLayer: 2, Layers: 2, Weights: 276224, KV: 131072, Activations: 958272,
			Workspace: 1048576, Overhead: 2097152, Total: 4511296, Capacity: 4500000, Free: -11296, Shortfall: 11296, LMHeadCopy: true},
	}
	ignore := cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".Buffers" }, cmp.Ignore())
	if diff := cmp.Diff(want, p.Devices, ignore); diff != "" {
		t.Errorf("devices (-want +got):\n%s", diff)
	}
	if p.Fits || p.AutoSplit || p.StepTokens != 64 {
		t.Errorf("fits %v auto %v step %d", p.Fits, p.AutoSplit, p.StepTokens)
	}
	names := func(bs []Buffer) (s []string) {
		for _, b := range bs {
			s = append(s, b.Name)
		}
		return s
	}
	if got := names(p.Devices[0].Buffers); fmt.Sprint(got) != "[token_ids hidden residual normed q k v attn_out scores gate up act]" {
		t.Errorf("dev0 buffers %v", got)
	}
	if got := names(p.Devices[1].Buffers); fmt.Sprint(got) != "[p2p_recv hidden residual normed q k v attn_out scores gate up act logits]" {
		t.Errorf("dev1 buffers %v", got)
	}
}

func TestSingleDeviceTiedHasNoCopy(t *testing.T) {
	m := FromConfig("small", small(), 2, true) // stored lm_head counts on disk only
	p, err := Compute(m, smallOpts(1<<30))
	if err != nil {
		t.Fatal(err)
	}
	d := p.Devices[0]
	// Weights 4×74048 + 128000 + 128 = 424320; KV 4×256×2×16×2×2×2 = 262144;
	// activations 917504 + token_ids 512 + logits 8000 = 926016.
	if d.Weights != 424320 || d.LMHeadCopy || d.KV != 262144 || d.Activations != 926016 {
		t.Errorf("weights %d copy %v kv %d act %d", d.Weights, d.LMHeadCopy, d.KV, d.Activations)
	}
	if !p.AutoSplit || fmt.Sprint(p.Split) != "[4]" || !p.Fits {
		t.Errorf("split %v auto %v fits %v", p.Split, p.AutoSplit, p.Fits)
	}
	if got := m.ResidentBytes(1); got != 424320 {
		t.Errorf("resident on one device %d", got)
	}
	if got := m.ResidentBytes(2); got != 424320+128000 {
		t.Errorf("resident on two devices %d", got)
	}
}

func TestUntiedLMHeadOnLast(t *testing.T) {
	c := small()
	c.TieWordEmbeddings = false
	m := FromConfig("untied", c, 2, false)
	o := smallOpts(1<<30, 1<<30)
	o.Split = []int{1, 3}
	p, err := Compute(m, o)
	if err != nil {
		t.Fatal(err)
	}
	// dev0: 74048 + 128000; dev1: 3×74048 + 128 + 128000 (its own lm_head, not a copy).
	if p.Devices[0].Weights != 202048 || p.Devices[1].Weights != 350272 || p.Devices[1].LMHeadCopy {
		t.Errorf("weights %d %d copy %v", p.Devices[0].Weights, p.Devices[1].Weights, p.Devices[1].LMHeadCopy)
	}
}

// Per layer a device adds 74048 weight bytes and 65536 KV bytes (256×2×16×2×2×2) =
// 139584. With no layers, dev0 would hold 128000 + 918016 + 3145728 = 4191744 and
// dev1 128 + 128000 + 958272 + 3145728 = 4232128, so
//
//	1+3: 4331328 | 4650880   max 4650880
//	2+2: 4470912 | 4511296   max 4511296
//	3+1: 4610496 | 4371712   max 4610496
func TestAutoSplit(t *testing.T) {
	m := FromConfig("small", small(), 2, false)
	for _, tc := range []struct {
		name      string
		caps      []int64
		split     string
		fits      bool
		shortfall []int64
	}{
		{"balanced fits", []int64{4_600_000, 4_600_000}, "[2 2]", true, []int64{0, 0}},
		{"nothing fits: most balanced, with shortfall", []int64{4_500_000, 4_500_000}, "[2 2]", false, []int64{0, 11296}},
		{"uneven devices: the only split that fits", []int64{4_700_000, 4_500_000}, "[3 1]", true, []int64{0, 0}},
		{"nothing fits anywhere", []int64{4_000_000, 4_000_000}, "[2 2]", false, []int64{470912, 511296}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Compute(m, smallOpts(tc.caps...))
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(p.Split) != tc.split || p.Fits != tc.fits || !p.AutoSplit {
				t.Errorf("split %v fits %v auto %v, want %s fits %v", p.Split, p.Fits, p.AutoSplit, tc.split, tc.fits)
			}
			for i, d := range p.Devices {
				if d.Shortfall != tc.shortfall[i] {
					t.Errorf("device %d shortfall %d, want %d", i, d.Shortfall, tc.shortfall[i])
				}
			}
		})
	}
}

// TestChunkChangesActivations: scores are B×heads×T×ctx with T the chunk, or ctx
// when unchunked.
func TestChunkChangesActivations(t *testing.T) {
	m := FromConfig("small", small(), 2, false)
	act := func(chunk int) (int64, Buffer) {
		o := smallOpts(1 << 30)
		o.Chunk = chunk
		p, err := Compute(m, o)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range p.Devices[0].Buffers {
			if b.Name == "scores" {
				return p.Devices[0].Activations, b
			}
		}
		t.Fatal("no scores buffer")
		return 0, Buffer{}
	}
	a64, s64 := act(64)
	a0, s0 := act(0)
	a1000, _ := act(1000) // a chunk longer than ctx is the whole context
	// Chunk 64: scores 2×4×64×256×4 = 524288. Unchunked: 2×4×256×256×4 = 2097152.
	if fmt.Sprint(s64.Dims) != "[2 4 64 256]" || s64.Bytes != 524288 {
		t.Errorf("chunk 64 scores %v %d", s64.Dims, s64.Bytes)
	}
	if fmt.Sprint(s0.Dims) != "[2 4 256 256]" || s0.Bytes != 2097152 {
		t.Errorf("unchunked scores %v %d", s0.Dims, s0.Bytes)
	}
	// Unchunked: every B×T×… buffer grows 4× (T 64 → 256) except logits (8000, fixed):
	// 926016 - 8000 = 918016 at T=64 → 3672064 at T=256, + 8000 = 3680064.
	if a64 != 926016 || a0 != 3680064 || a1000 != a0 {
		t.Errorf("activations chunk64 %d unchunked %d chunk1000 %d", a64, a0, a1000)
	}
}

func TestComputeRefuses(t *testing.T) {
	m := FromConfig("small", small(), 2, false)
	for _, tc := range []struct {
		name string
		edit func(*Options)
	}{
		{"split too short", func(o *Options) { o.Split = []int{1, 2} }},
		{"split parts", func(o *Options) { o.Split = []int{4} }},
		{"empty device", func(o *Options) { o.Split = []int{0, 4} }},
		{"no devices", func(o *Options) { o.Devices = nil }},
		{"more devices than layers", func(o *Options) { o.Devices = Devices(5, 1<<30) }},
		{"ctx", func(o *Options) { o.Ctx = 0 }},
		{"batch", func(o *Options) { o.Batch = 0 }},
		{"chunk", func(o *Options) { o.Chunk = -1 }},
		{"capacity", func(o *Options) { o.Devices[1].Capacity = 0 }},
	} {
		o := smallOpts(1<<30, 1<<30)
		tc.edit(&o)
		if _, err := Compute(m, o); !errors.Is(err, ErrInput) {
			t.Errorf("%s: got %v, want ErrInput", tc.name, err)
		}
	}
}

func TestWarnsBeyondMaxPosition(t *testing.T) {
	m := FromConfig("small", small(), 2, false)
	o := smallOpts(1 << 40)
	o.Ctx = 1024
	p, err := Compute(m, o)
	if err != nil || len(p.Warnings) != 1 {
		t.Errorf("warnings %v err %v", p.Warnings, err)
	}
}

func TestSplits(t *testing.T) {
	if got := fmt.Sprint(Splits(4, 2)); got != "[[1 3] [2 2] [3 1]]" {
		t.Errorf("got %s", got)
	}
	if got := len(Splits(40, 3)); got != 741 { // C(39, 2)
		t.Errorf("got %d", got)
	}
	if got := fmt.Sprint(Splits(3, 1)); got != "[[3]]" {
		t.Errorf("got %s", got)
	}
	if SplitString([]int{18, 18}) != "18+18" {
		t.Error("SplitString")
	}
}

// TestFromSnapshotMatchesConfig writes zero snapshots of the small model and checks
// that headers and Expected agree on every byte.
func TestFromSnapshotMatchesConfig(t *testing.T) {
	for _, store := range []bool{false, true} {
		dir := t.TempDir()
		if err := snapshot.WriteZero(dir, small(), safetensors.BF16, store); err != nil {
			t.Fatal(err)
		}
		s, err := snapshot.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		got, err := FromSnapshot(s)
		s.Close()
		if err != nil {
			t.Fatal(err)
		}
		want := FromConfig("small", small(), 2, store)
		got.Name, got.Source, want.Source = "small", "", ""
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("store=%v (-config +snapshot):\n%s", store, diff)
		}
	}
}

func TestFromSnapshotF32(t *testing.T) {
	dir := t.TempDir()
	if err := snapshot.WriteZero(dir, small(), safetensors.F32, false); err != nil {
		t.Fatal(err)
	}
	s, err := snapshot.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m, err := FromSnapshot(s)
	if err != nil {
		t.Fatal(err)
	}
	// f32 doubles every weight and the KV element: 4 layers × 256 × 2 × 16 × 2 × 4 bytes.
	if m.WeightDTypeBytes != 4 || m.DiskBytes != 2*424320 || m.KVPerRequest(256) != 4*256*2*16*2*4 {
		t.Errorf("dtype %d disk %d kv %d", m.WeightDTypeBytes, m.DiskBytes, m.KVPerRequest(256))
	}
}
