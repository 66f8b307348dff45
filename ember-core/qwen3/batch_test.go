package qwen3

import (
	"fmt"
	"math"
	"testing"

	"github.com/ember-infer/ember/ember-core/cpu"
	"github.com/ember-infer/ember/ember-core/device"
	"github.com/ember-infer/ember/ember-core/sampling"
)

// logSoftmax64 is the float64 log-softmax of one row of logits, written from
// the definition: x_j − log Σ exp(x_i).
func logSoftmax64(x []float32) []float64 {
	m := math.Inf(-1)
	for _, v := range x {
		m = math.Max(m, float64(v))
	}
	var z float64
	for _, v := range x {
		z += math.Exp(float64(v) - m)
	}
	out := make([]float64, len(x))
	for j, v := range x {
		out[j] = float64(v) - m - math.Log(z)
	}
	return out
}

func within(t *testing.T, what string, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range want {
		if d := math.Abs(float64(got[i] - want[i])); !(d <= tol) {
			t.Fatalf("%s: value %d is %g, want %g (|Δ| %g > %g)", what, i, got[i], want[i], d, tol)
		}
	}
}

// singleRun is the reference for one sequence: its own one-sequence session,
// prefill, then greedy decode for steps tokens, keeping each step's logits.
func singleRun(t *testing.T, tm *testModel, devs []device.Device, split []int, opt SessionOptions, ids []int32, steps int) (tokens []int32, logits [][]float32) {
	t.Helper()
	opt.Batch = 1
	_, s := openSession(t, tm, devs, split, opt)
	if _, err := s.Prefill(ids); err != nil {
		t.Fatal(err)
	}
	logits = append(logits, append([]float32(nil), s.Logits()...))
	tok := argmax(s.Logits())
	tokens = append(tokens, tok)
	for range steps {
		if _, err := s.Decode(tok); err != nil {
			t.Fatal(err)
		}
		logits = append(logits, append([]float32(nil), s.Logits()...))
		tok = argmax(s.Logits())
		tokens = append(tokens, tok)
	}
	return tokens, logits
}

// TestBatchEqualsSingle: three sequences with prompts of different lengths in
// one session, decoded greedily in batched steps, give the logits of three
// one-sequence sessions (≤ 1e-5) and the same tokens; sequence 1 finishes
// early (its length) and the others go on without it. It holds on one device
// and across a two-device split, with chunked and overlapped prefill, and the
// device-side top-1 picks the same tokens as the logits' argmax.
func TestBatchEqualsSingle(t *testing.T) {
	tm := load(t, "head128")
	V, L := tm.cfg.VocabSize, tm.cfg.NumHiddenLayers
	prompts := [][]int32{prompt(5, V), prompt(9, V)[2:], prompt(2, V)}
	steps := []int{6, 2, 6}
	for _, tc := range []struct {
		devs  int
		split []int
		chunk int
		ovl   bool
	}{{1, []int{L}, 0, false}, {2, []int{1, L - 1}, 3, false}, {2, []int{2, L - 2}, 2, true}} {
		for _, topK := range []int{0, 1} {
			t.Run(fmt.Sprintf("split%v/chunk%d/overlap%v/topk%d", tc.split, tc.chunk, tc.ovl, topK), func(t *testing.T) {
				devs := devices(tc.devs, 0)
				opt := SessionOptions{Ctx: 24, Chunk: tc.chunk, Overlap: tc.ovl, KVDType: device.F32}
				var wantTok [][]int32
				var wantLog [][][]float32
				for b, p := range prompts {
					tok, lg := singleRun(t, tm, devs, tc.split, opt, p, steps[b])
					wantTok, wantLog = append(wantTok, tok), append(wantLog, lg)
				}
				opt.Batch = len(prompts)
				_, s := openSession(t, tm, devs, tc.split, opt)
				next := make([]int32, len(prompts))
				for b, p := range prompts {
					if err := s.Select(b); err != nil {
						t.Fatal(err)
					}
					if _, err := s.Prefill(p); err != nil {
						t.Fatal(err)
					}
					within(t, fmt.Sprintf("sequence %d prefill", b), s.Logits(), wantLog[b][0], 1e-5)
					next[b] = argmax(s.Logits())
				}
				got := make([][]int32, len(prompts))
				for b := range prompts {
					got[b] = append(got[b], next[b])
				}
				for step := 1; ; step++ {
					var live []int
					var ids []int32
					for b := range prompts {
						if step <= steps[b] {
							live, ids = append(live, b), append(ids, next[b])
						}
					}
					if len(live) == 0 {
						break
					}
					if _, err := s.DecodeBatch(live, ids, topK); err != nil {
						t.Fatal(err)
					}
					for i, b := range live {
						if topK == 0 {
							row := s.BatchLogits()[i*V : (i+1)*V]
							within(t, fmt.Sprintf("sequence %d step %d", b, step), row, wantLog[b][step], 1e-5)
							next[b] = argmax(row)
						} else {
							_, idx, _ := s.BatchTop()
							next[b] = idx[i]
						}
						got[b] = append(got[b], next[b])
					}
				}
				for b := range prompts {
					if fmt.Sprint(got[b]) != fmt.Sprint(wantTok[b]) {
						t.Errorf("sequence %d: batched tokens %v, one-sequence session %v", b, got[b], wantTok[b])
					}
					if want := len(prompts[b]) + steps[b]; s.SeqPos(b) != want {
						t.Errorf("sequence %d holds %d positions, want %d", b, s.SeqPos(b), want)
					}
				}
			})
		}
	}
}

// TestBatchLogprobs: the device's top-k per row, less its log-sum-exp, are the
// log-softmax of the row's logits computed in float64 from the downloaded
// logits (≤ 1e-5), and the ids are sampling.TopK of those logits.
func TestBatchLogprobs(t *testing.T) {
	tm := load(t, "tiny")
	V := tm.cfg.VocabSize
	const k = 7
	_, s := openSession(t, tm, devices(2, 0), []int{3, 3}, SessionOptions{Ctx: 16, KVDType: device.F32, Batch: 2})
	for b := range 2 {
		if err := s.Select(b); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Prefill(prompt(3+2*b, V)); err != nil {
			t.Fatal(err)
		}
	}
	seqs, ids := []int{1, 0}, []int32{5, 11}
	// The same step twice from the same positions: once for the logits, once
	// for the device's reduction.
	if _, err := s.DecodeBatch(seqs, ids, 0); err != nil {
		t.Fatal(err)
	}
	logits := append([]float32(nil), s.BatchLogits()...)
	for _, b := range seqs {
		if err := s.Select(b); err != nil {
			t.Fatal(err)
		}
		if err := s.Rewind(s.Pos() - 1); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.DecodeBatch(seqs, ids, k); err != nil {
		t.Fatal(err)
	}
	vals, idx, lse := s.BatchTop()
	for i := range seqs {
		row := logits[i*V : (i+1)*V]
		want := logSoftmax64(row)
		wantIdx := sampling.TopK(row, k, nil)
		for j := range k {
			if idx[i*k+j] != wantIdx[j] {
				t.Fatalf("row %d: top-%d ids %v, want %v", i, k, idx[i*k:(i+1)*k], wantIdx)
			}
			got := float64(vals[i*k+j] - lse[i])
			if d := math.Abs(got - want[wantIdx[j]]); d > 1e-5 {
				t.Errorf("row %d token %d: logprob %g, log_softmax gives %g", i, wantIdx[j], got, want[wantIdx[j]])
			}
		}
	}
}

// TestCopyPrefix: a sequence given another's prompt KV (CopyPrefix) decodes
// as if it had prefilled the prompt itself; a copied partial prefix followed
// by a prefill of the rest equals the whole prefill (≤ 1e-5).
func TestCopyPrefix(t *testing.T) {
	tm := load(t, "head128")
	V := tm.cfg.VocabSize
	ids := prompt(13, V)
	devs := devices(2, 0)
	split := []int{1, 2}
	opt := SessionOptions{Ctx: 20, KVDType: device.BF16}
	_, ref := openSession(t, tm, devs, split, opt)
	if _, err := ref.Prefill(ids); err != nil {
		t.Fatal(err)
	}
	wantPrefill := append([]float32(nil), ref.Logits()...)
	if _, err := ref.Decode(42); err != nil {
		t.Fatal(err)
	}
	wantNext := append([]float32(nil), ref.Logits()...)

	opt.Batch = 3
	_, s := openSession(t, tm, devs, split, opt)
	if _, err := s.Prefill(ids); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CopyPrefix(1, 0, len(ids)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CopyPrefix(2, 0, 8); err != nil {
		t.Fatal(err)
	}
	if err := s.Select(2); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Prefill(ids[8:]); err != nil {
		t.Fatal(err)
	}
	within(t, "copied 8 positions + prefill of 5", s.Logits(), wantPrefill, 1e-5)
	if _, err := s.DecodeBatch([]int{0, 1, 2}, []int32{42, 42, 42}, 0); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		within(t, fmt.Sprintf("sequence %d decode", i), s.BatchLogits()[i*V:(i+1)*V], wantNext, 1e-5)
	}
	if _, err := s.CopyPrefix(1, 0, 15); err == nil {
		t.Error("copying 15 positions from a sequence of 14 was accepted")
	}
}

// TestDecodeBatchRefuses: bad batched steps are refused before anything runs.
func TestDecodeBatchRefuses(t *testing.T) {
	tm := load(t, "tiny")
	_, s := openSession(t, tm, devices(1, 0), []int{6}, SessionOptions{Ctx: 4, KVDType: device.F32, Batch: 2})
	for _, tc := range []struct {
		seqs []int
		ids  []int32
		k    int
	}{
		{nil, nil, 0},
		{[]int{0, 0}, []int32{1, 1}, 0},
		{[]int{2}, []int32{1}, 0},
		{[]int{0}, []int32{-1}, 0},
		{[]int{0}, []int32{1, 2}, 0},
		{[]int{0}, []int32{1}, tm.cfg.VocabSize + 1},
	} {
		if _, err := s.DecodeBatch(tc.seqs, tc.ids, tc.k); err == nil {
			t.Errorf("DecodeBatch(%v, %v, %d) was accepted", tc.seqs, tc.ids, tc.k)
		}
	}
	if s.SeqPos(0) != 0 || s.SeqPos(1) != 0 {
		t.Errorf("refused steps moved the sequences to %d, %d", s.SeqPos(0), s.SeqPos(1))
	}
	if _, err := s.Prefill([]int32{1, 2, 3, 4}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DecodeBatch([]int{1, 0}, []int32{1, 1}, 0); err == nil {
		t.Error("a step past sequence 0's context limit was accepted")
	}
}

// perRowAttention is a CPU device without device.BatchAttender: the embedded
// hideBatchAttention's field and *cpu.Device's method of the same name are at
// one depth, so neither is promoted and the model takes its per-row loop.
type perRowAttention struct {
	*cpu.Device
	hideBatchAttention
}

type hideBatchAttention struct{ BatchAttention struct{} }

// TestBatchAttentionSameBits: batched decode steps give the same logits, bit
// for bit, whether the device runs all rows' attention in one BatchAttention
// or the model runs one Attention per row, on one device and across a split.
func TestBatchAttentionSameBits(t *testing.T) {
	tm := load(t, "head128")
	V, L := tm.cfg.VocabSize, tm.cfg.NumHiddenLayers
	if _, ok := devices(1, 0)[0].(device.BatchAttender); !ok {
		t.Fatal("the CPU device does not offer BatchAttention")
	}
	if _, ok := any(perRowAttention{}).(device.BatchAttender); ok {
		t.Fatal("perRowAttention still offers BatchAttention")
	}
	prompts := [][]int32{prompt(5, V), prompt(9, V)[2:], prompt(1, V)}
	for _, split := range [][]int{{L}, {1, L - 1}} {
		run := func(wrap bool) [][]float32 {
			devs := devices(len(split), 0)
			if wrap {
				for i, d := range devs {
					devs[i] = perRowAttention{Device: d.(*cpu.Device)}
				}
			}
			_, s := openSession(t, tm, devs, split, SessionOptions{Ctx: 24, KVDType: device.BF16, Batch: len(prompts)})
			ids := make([]int32, len(prompts))
			seqs := make([]int, len(prompts))
			for b, p := range prompts {
				if err := s.Select(b); err != nil {
					t.Fatal(err)
				}
				if _, err := s.Prefill(p); err != nil {
					t.Fatal(err)
				}
				ids[b], seqs[b] = argmax(s.Logits()), b
			}
			var out [][]float32
			for range 4 {
				if _, err := s.DecodeBatch(seqs, ids, 0); err != nil {
					t.Fatal(err)
				}
				lg := append([]float32(nil), s.BatchLogits()...)
				out = append(out, lg)
				for i := range seqs {
					ids[i] = argmax(lg[i*V : (i+1)*V])
				}
			}
			return out
		}
		batched, perRow := run(false), run(true)
		for step := range batched {
			for i := range batched[step] {
				if math.Float32bits(batched[step][i]) != math.Float32bits(perRow[step][i]) {
					t.Fatalf("split %v step %d: logit %d is %g with BatchAttention, %g row by row", split, step, i, batched[step][i], perRow[step][i])
				}
			}
		}
	}
}
