package qwen3

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ember-infer/ember/ember-core/config"
	"github.com/ember-infer/ember/ember-core/cpu"
	"github.com/ember-infer/ember/ember-core/device"
	"github.com/ember-infer/ember/ember-core/safetensors"
	"github.com/ember-infer/ember/ember-core/synth"
)

// testModel is a synthetic snapshot written once per test binary.
type testModel struct {
	cfg *config.Config
	set *safetensors.Set
	ref *refModel
}

var (
	modelsOnce sync.Map // name → *testModel
)

// head128 is a small config with Qwen3's real head_dim of 128, where the
// attention width (heads × head_dim = 512) differs from hidden (256), untied.
func head128() *config.Config {
	c := synth.Tiny()
	c.HiddenSize = 256
	c.IntermediateSize = 512
	c.NumHiddenLayers = 3
	c.NumAttentionHeads = 4
	c.NumKeyValueHeads = 2
	c.HeadDim = 128
	c.VocabSize = 600
	c.TieWordEmbeddings = false
	return c
}

func load(t *testing.T, name string) *testModel {
	t.Helper()
	if m, ok := modelsOnce.Load(name); ok {
		return m.(*testModel)
	}
	var c *config.Config
	switch name {
	case "tiny":
		c = synth.Tiny()
	case "head128":
		c = head128()
	default:
		t.Fatalf("unknown test model %q", name)
	}
	dir := filepath.Join(t.TempDir(), name)
	if err := synth.Write(dir, c, synth.Options{Seed: 7, DType: safetensors.BF16}); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	set, err := safetensors.OpenSnapshot(dir)
	if err != nil {
		t.Fatal(err)
	}
	// The snapshot outlives this test: it is shared by the whole test binary.
	m := &testModel{cfg: cfg, set: set, ref: newRef(t, cfg, set)}
	actual, _ := modelsOnce.LoadOrStore(name, m)
	return actual.(*testModel)
}

func devices(n int, budget int64) []device.Device {
	ds := cpu.NewDevices(n, budget, 2)
	out := make([]device.Device, n)
	for i, d := range ds {
		out[i] = d
	}
	return out
}

func openSession(t *testing.T, tm *testModel, devs []device.Device, split []int, opt SessionOptions) (*Model, *Session) {
	t.Helper()
	m, err := Load(tm.cfg, SetSource{tm.set}, devs, split)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	s, err := m.NewSession(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return m, s
}

// prompt returns n deterministic token ids spread over the vocabulary.
func prompt(n, vocab int) []int32 {
	ids := make([]int32, n)
	for i := range ids {
		ids[i] = int32((i*7919 + 13) % vocab)
	}
	return ids
}

func maxAbs(xs []float64) float64 {
	m := 0.0
	for _, v := range xs {
		m = math.Max(m, math.Abs(v))
	}
	return m
}

// TestMatchesReference checks the engine's logits at every prompt position, and
// chosen hidden states, against the float64 reference forward pass. The engine
// computes in float32 from the same bf16 weights with an F32 KV cache, so the
// only differences are float32 rounding: we allow 1e-4 of the largest logit.
func TestMatchesReference(t *testing.T) {
	for _, name := range []string{"tiny", "head128"} {
		t.Run(name, func(t *testing.T) {
			tm := load(t, name)
			L := tm.cfg.NumHiddenLayers
			ids := prompt(23, tm.cfg.VocabSize)
			wantLogits, wantHidden := tm.ref.forward(ids)
			got := map[int][]float32{}
			_, s := openSession(t, tm, devices(2, 0), EvenSplit(L, 2), SessionOptions{
				Ctx: 64, Chunk: 5, KVDType: device.F32, AllLogits: true,
				Hidden: []int{0, 1, L},
				OnHidden: func(index, start, n int, h []float32) {
					got[index] = append(got[index], h...)
				},
			})
			if _, err := s.Prefill(ids); err != nil {
				t.Fatal(err)
			}
			V := tm.cfg.VocabSize
			all := s.AllLogits()
			for i := range ids {
				tol := 1e-4 * maxAbs(wantLogits[i])
				for v := range V {
					if d := math.Abs(float64(all[i*V+v]) - wantLogits[i][v]); d > tol {
						t.Fatalf("position %d token %d: logit %g, reference %g (diff %g > %g)", i, v, all[i*V+v], wantLogits[i][v], d, tol)
					}
				}
			}
			last := s.Logits()
			for v := range V {
				if last[v] != all[(len(ids)-1)*V+v] {
					t.Fatalf("Logits()[%d] = %g differs from AllLogits' last row %g", v, last[v], all[(len(ids)-1)*V+v])
				}
			}
			H := tm.cfg.HiddenSize
			for _, index := range []int{0, 1, L} {
				h := got[index]
				if len(h) != len(ids)*H {
					t.Fatalf("hidden state %d: %d values, want %d", index, len(h), len(ids)*H)
				}
				for i := range ids {
					tol := 1e-4 * maxAbs(wantHidden[index][i])
					for d := range H {
						if diff := math.Abs(float64(h[i*H+d]) - wantHidden[index][i][d]); diff > tol {
							t.Fatalf("hidden %d position %d dim %d: %g, reference %g", index, i, d, h[i*H+d], wantHidden[index][i][d])
						}
					}
				}
			}
		})
	}
}

// TestKVCache checks that prefill(p) then decode(t1..tn) gives, at every step,
// the logits prefill(p+t1..tn) gives at that position (max abs diff ≤ 1e-4).
// With the CPU's opt-in VDPBF16PS decode kernel (EMBER_KERNELS=avx512bf16)
// decode's projections differ from prefill's in the last bits, and a bf16 KV
// cache can round a K or V element the other way (one bf16 step, 2⁻⁸
// relative): there the bound is 1e-3 (measured under emulation: 2.3e-4).
func TestKVCache(t *testing.T) {
	for _, name := range []string{"tiny", "head128"} {
		for _, kv := range []device.DType{device.F32, device.BF16} {
			tolerance := 1e-4
			if kv == device.BF16 && strings.HasSuffix(cpu.Kernels(), "+bf16") {
				tolerance = 1e-3
			}
			t.Run(fmt.Sprintf("%s/%s", name, kv), func(t *testing.T) {
				tm := load(t, name)
				V := tm.cfg.VocabSize
				ids := prompt(17, V)
				p := 9
				devs := devices(2, 0)
				split := EvenSplit(tm.cfg.NumHiddenLayers, 2)
				_, whole := openSession(t, tm, devs, split, SessionOptions{Ctx: 32, KVDType: kv, AllLogits: true})
				if _, err := whole.Prefill(ids); err != nil {
					t.Fatal(err)
				}
				want := whole.AllLogits()
				_, s := openSession(t, tm, devs, split, SessionOptions{Ctx: 32, KVDType: kv})
				if _, err := s.Prefill(ids[:p]); err != nil {
					t.Fatal(err)
				}
				compare := func(pos int, got []float32) {
					t.Helper()
					for v := range V {
						if d := math.Abs(float64(got[v] - want[pos*V+v])); d > tolerance {
							t.Fatalf("position %d token %d: %g after decode, %g after whole prefill", pos, v, got[v], want[pos*V+v])
						}
					}
				}
				compare(p-1, s.Logits())
				for i := p; i < len(ids); i++ {
					if _, err := s.Decode(ids[i]); err != nil {
						t.Fatal(err)
					}
					compare(i, s.Logits())
				}
				if s.Pos() != len(ids) {
					t.Errorf("Pos() = %d, want %d", s.Pos(), len(ids))
				}
			})
		}
	}
}

// TestSplitInvariance: one device and every split of two devices give the same
// logits (≤ 1e-5).
func TestSplitInvariance(t *testing.T) {
	for _, name := range []string{"tiny", "head128"} {
		t.Run(name, func(t *testing.T) {
			tm := load(t, name)
			L := tm.cfg.NumHiddenLayers
			ids := prompt(11, tm.cfg.VocabSize)
			run := func(devs []device.Device, split []int) []float32 {
				_, s := openSession(t, tm, devs, split, SessionOptions{Ctx: 16, KVDType: device.F32, AllLogits: true})
				if _, err := s.Prefill(ids); err != nil {
					t.Fatal(err)
				}
				return s.AllLogits()
			}
			want := run(devices(1, 0), []int{L})
			for a := 1; a < L; a++ {
				got := run(devices(2, 0), []int{a, L - a})
				for i := range want {
					if d := math.Abs(float64(got[i] - want[i])); d > 1e-5 {
						t.Fatalf("split %d+%d: logit %d is %g, one device gives %g", a, L-a, i, got[i], want[i])
					}
				}
			}
		})
	}
}

// TestChunking: chunks of 1, 3, 7 and the whole prompt, with and without
// overlap, give the same logits (≤ 1e-5) and the same KV cache afterwards (a
// decode step after each agrees).
func TestChunking(t *testing.T) {
	for _, name := range []string{"tiny", "head128"} {
		t.Run(name, func(t *testing.T) {
			tm := load(t, name)
			V := tm.cfg.VocabSize
			ids := prompt(19, V)
			split := EvenSplit(tm.cfg.NumHiddenLayers, 2)
			var want, wantNext []float32
			for _, chunk := range []int{0, 1, 3, 7} {
				for _, overlap := range []bool{false, true} {
					_, s := openSession(t, tm, devices(2, 0), split, SessionOptions{Ctx: 32, Chunk: chunk, Overlap: overlap, KVDType: device.F32, AllLogits: true})
					st, err := s.Prefill(ids)
					if err != nil {
						t.Fatal(err)
					}
					wantChunks := 1
					if chunk > 0 {
						wantChunks = (len(ids) + chunk - 1) / chunk
					}
					if st.Chunks != wantChunks {
						t.Errorf("chunk %d: %d chunks, want %d", chunk, st.Chunks, wantChunks)
					}
					got := append([]float32(nil), s.AllLogits()...)
					if _, err := s.Decode(3); err != nil {
						t.Fatal(err)
					}
					next := append([]float32(nil), s.Logits()...)
					if want == nil {
						want, wantNext = got, next
						continue
					}
					for i := range want {
						if d := math.Abs(float64(got[i] - want[i])); d > 1e-5 {
							t.Fatalf("chunk %d overlap %v: logit %d (position %d) is %g, whole prefill gives %g", chunk, overlap, i, i/V, got[i], want[i])
						}
					}
					for i := range wantNext {
						if d := math.Abs(float64(next[i] - wantNext[i])); d > 1e-5 {
							t.Fatalf("chunk %d overlap %v: decode after prefill differs at %d: %g vs %g", chunk, overlap, i, next[i], wantNext[i])
						}
					}
				}
			}
		})
	}
}

// TestStagesCounted: a two-device prefill attributes time to every compute
// stage and to p2p; decode with DecodeGreedy returns the argmax of Decode.
func TestStagesCounted(t *testing.T) {
	tm := load(t, "tiny")
	_, s := openSession(t, tm, devices(2, 0), []int{3, 3}, SessionOptions{Ctx: 64, Chunk: 8, Overlap: true, KVDType: device.BF16})
	st, err := s.Prefill(prompt(40, tm.cfg.VocabSize))
	if err != nil {
		t.Fatal(err)
	}
	for _, stage := range []device.Stage{device.StageEmbedding, device.StageRMSNorm, device.StageAttention, device.StageFFN, device.StageP2P, device.StageMemcpyH2D, device.StageMemcpyD2H, device.StageLMHead} {
		if st.Stages[stage] <= 0 {
			t.Errorf("prefill: stage %s has no time", stage)
		}
	}
	if st.Wall <= 0 || st.Tokens != 40 || st.Chunks != 5 {
		t.Errorf("prefill stats %+v", st)
	}
	pos := s.Pos()
	if _, err := s.Decode(5); err != nil {
		t.Fatal(err)
	}
	want := argmax(s.Logits())
	// Rewind one position and decode the same token greedily.
	s.pos = pos
	got, gst, err := s.DecodeGreedy(5)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("DecodeGreedy = %d, argmax of Decode's logits = %d", got, want)
	}
	if gst.Stages[device.StageSampling] <= 0 {
		t.Errorf("DecodeGreedy: no sampling time")
	}
}

func argmax(x []float32) int32 {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return int32(best)
}

// TestContextLimit: passing the context limit is a typed error and leaves the
// session where it was.
func TestContextLimit(t *testing.T) {
	tm := load(t, "tiny")
	_, s := openSession(t, tm, devices(1, 0), []int{6}, SessionOptions{Ctx: 8, KVDType: device.F32})
	if _, err := s.Prefill(prompt(6, tm.cfg.VocabSize)); err != nil {
		t.Fatal(err)
	}
	_, err := s.Prefill(prompt(3, tm.cfg.VocabSize))
	if !errors.Is(err, ErrContextFull) {
		t.Fatalf("error %v, want ErrContextFull", err)
	}
	if s.Pos() != 6 {
		t.Errorf("Pos() = %d after a refused prefill, want 6", s.Pos())
	}
	s.Reset()
	if _, err := s.Prefill(prompt(8, tm.cfg.VocabSize)); err != nil {
		t.Errorf("after Reset: %v", err)
	}
	if _, err := s.Decode(int32(tm.cfg.VocabSize)); err == nil {
		t.Errorf("decoding an id outside the vocabulary succeeded")
	}
}

// TestOutOfMemory: a device budget too small for its layers fails at load with
// the typed error naming device, requested and free bytes, and nothing stays
// allocated on any device.
func TestOutOfMemory(t *testing.T) {
	tm := load(t, "tiny")
	c := tm.cfg
	// Device 1 holds layers 3..5, the final norm and (tied, embedding elsewhere)
	// its own lm_head copy: give it room for the lm_head alone.
	lmHead := int64(c.VocabSize * c.HiddenSize * 2)
	devs := []device.Device{cpu.New(cpu.Options{Name: "cpu:0"}), cpu.New(cpu.Options{Name: "cpu:1", Budget: lmHead})}
	_, err := Load(c, SetSource{tm.set}, devs, []int{3, 3})
	var oom *device.OutOfMemoryError
	if !errors.As(err, &oom) {
		t.Fatalf("Load error %v, want *device.OutOfMemoryError", err)
	}
	if oom.Device != "cpu:1" || oom.Requested <= 0 || oom.Free > oom.Requested || oom.Total != lmHead {
		t.Errorf("OOM error %+v", oom)
	}
	for _, d := range devs {
		if total, free := d.MemInfo(); total > 0 && free != total {
			t.Errorf("%s: %d of %d bytes still allocated after a failed load", d.Name(), total-free, total)
		}
	}

	// Session workspaces obey the budget too: a chunk of 64 does not fit where 8 does.
	tight := devices(1, weightBytes(c)+sessionBytes(c, 64, 8)+1024)
	m2, err := Load(c, SetSource{tm.set}, tight, []int{6})
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	if _, err := m2.NewSession(SessionOptions{Ctx: 64, Chunk: 64, KVDType: device.BF16}); !errors.Is(err, device.ErrOutOfMemory) {
		t.Errorf("session with chunk 64 on a tight budget: error %v, want out of memory", err)
	}
	_, free := tight[0].MemInfo()
	if free != sessionBytes(c, 64, 8)+1024 {
		t.Errorf("after a failed session %d bytes are free, want %d", free, sessionBytes(c, 64, 8)+1024)
	}
	s, err := m2.NewSession(SessionOptions{Ctx: 64, Chunk: 8, KVDType: device.BF16})
	if err != nil {
		t.Fatalf("session with chunk 8: %v", err)
	}
	s.Close()
}

// weightBytes is the bf16 weights of a one-device tiny model, worked out from
// the shapes: embedding (tied, so also the lm_head), final norm, and per layer
// two norms [H], q/o [Q×H], k/v [KV×H], q/k norms [hd], gate/up/down [I×H].
func weightBytes(c *config.Config) int64 {
	H, Q, KV, I, hd := c.HiddenSize, c.QDim(), c.KVDim(), c.IntermediateSize, c.HeadDim
	layer := 2*H + 2*Q*H + 2*KV*H + 2*hd + 3*I*H
	return int64(2 * (c.VocabSize*H + H + c.NumHiddenLayers*layer))
}

// sessionBytes is a one-device session's allocation: bf16 K and V caches for
// every layer, and f32 workspaces of `rows` rows (two residual slots, h, q, k,
// v, attn, gate, up), i32 positions and ids, one f32 logits row and an i32 argmax.
func sessionBytes(c *config.Config, ctx, rows int) int64 {
	H, Q, KV, I := c.HiddenSize, c.QDim(), c.KVDim(), c.IntermediateSize
	kv := c.NumHiddenLayers * 2 * ctx * KV * 2
	ws := 4 * rows * (3*H + 2*Q + 2*KV + 2*I)
	return int64(kv + ws + 4*rows*2 + 4*c.VocabSize + 4)
}

// TestRefusedPrefillKeepsAllLogits: a prefill past the context limit is
// refused before anything is allocated for it, so AllLogits still holds the
// previous prefill's logits (a huge prompt must not allocate positions × vocab
// floats only to be refused).
func TestRefusedPrefillKeepsAllLogits(t *testing.T) {
	tm := load(t, "tiny")
	_, s := openSession(t, tm, devices(1, 0), []int{6}, SessionOptions{Ctx: 8, KVDType: device.F32, AllLogits: true})
	if _, err := s.Prefill(prompt(4, tm.cfg.VocabSize)); err != nil {
		t.Fatal(err)
	}
	want := append([]float32(nil), s.AllLogits()...)
	if _, err := s.Prefill(prompt(100, tm.cfg.VocabSize)); !errors.Is(err, ErrContextFull) {
		t.Fatalf("error %v, want ErrContextFull", err)
	}
	got := s.AllLogits()
	if len(got) != len(want) || len(got) != 4*tm.cfg.VocabSize {
		t.Fatalf("AllLogits has %d values after a refused prefill, want the previous %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("AllLogits[%d] = %v after a refused prefill, was %v", i, got[i], want[i])
		}
	}
}

// TestClosedSession: every call on a closed session is an error, not a panic.
func TestClosedSession(t *testing.T) {
	tm := load(t, "tiny")
	m, err := Load(tm.cfg, SetSource{tm.set}, devices(1, 0), []int{6})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	s, err := m.NewSession(SessionOptions{Ctx: 8, KVDType: device.F32})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := s.Prefill(prompt(2, tm.cfg.VocabSize)); err == nil {
		t.Error("Prefill on a closed session succeeded")
	}
	if _, err := s.Decode(1); err == nil {
		t.Error("Decode on a closed session succeeded")
	}
	if _, _, err := s.DecodeGreedy(1); err == nil {
		t.Error("DecodeGreedy on a closed session succeeded")
	}
	if _, _, err := s.DecodeSample(1, DeviceSampling{TopK: 4, Temp: 1}); err == nil {
		t.Error("DecodeSample on a closed session succeeded")
	}
}

// failingDevice is a CPU device whose CopyFrom (the hand-over into it) fails
// once, at call failAt, counting from 1.
type failingDevice struct {
	*cpu.Device
	calls, failAt int
}

func (d *failingDevice) CopyFrom(dst, src device.Tensor) error {
	d.calls++
	if d.calls == d.failAt {
		return errors.New("injected copy failure")
	}
	return d.Device.CopyFrom(dst, src)
}

// TestPipelineStageFails: when a hand-over fails mid-way through an
// overlapped prefill, Prefill returns that error (no deadlock), the session
// stays at its position, and the same prefill then gives the logits of a
// session that never failed.
func TestPipelineStageFails(t *testing.T) {
	tm := load(t, "tiny")
	ids := prompt(19, tm.cfg.VocabSize)
	opt := SessionOptions{Ctx: 32, Chunk: 3, Overlap: true, KVDType: device.F32, AllLogits: true}
	_, good := openSession(t, tm, devices(2, 0), []int{3, 3}, opt)
	if _, err := good.Prefill(ids); err != nil {
		t.Fatal(err)
	}
	for _, failAt := range []int{1, 3, 7} {
		cds := cpu.NewDevices(2, 0, 2)
		bad := &failingDevice{Device: cds[1], failAt: failAt}
		_, s := openSession(t, tm, []device.Device{cds[0], bad}, []int{3, 3}, opt)
		if _, err := s.Prefill(ids); err == nil || !strings.Contains(err.Error(), "injected") {
			t.Fatalf("failAt %d: Prefill error %v, want the injected failure", failAt, err)
		}
		if s.Pos() != 0 {
			t.Fatalf("failAt %d: Pos() = %d after a failed prefill, want 0", failAt, s.Pos())
		}
		if _, err := s.Prefill(ids); err != nil {
			t.Fatalf("failAt %d: prefill after the failure: %v", failAt, err)
		}
		got, want := s.AllLogits(), good.AllLogits()
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("failAt %d: logit %d is %g after a failed prefill, %g without", failAt, i, got[i], want[i])
			}
		}
	}
}
