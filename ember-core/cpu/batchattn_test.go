package cpu

import (
	"math"
	"strings"
	"testing"

	"github.com/ember-infer/ember/ember-core/device"
)

// TestBatchAttention: three rows, each a query at its own position over its
// own BF16 caches, get exactly the bits of Attention on that row alone; a
// batch whose out differs from q in shape, and one whose row reaches past
// its cache, are refused with a sentence naming the row.
func TestBatchAttention(t *testing.T) {
	const heads, kvHeads, hd, ctx = 4, 2, 16, 12
	d := New(Options{Threads: 2})
	r := newRand(7)
	starts := []int{0, 5, 11}
	B, qd := len(starts), heads*hd
	qv := randVals(r, B*qd, 1)
	q := upload(t, d, device.F32, qv, B, qd)
	pos := uploadI32(t, d, []int32{0, 5, 11}, B)
	var kc, vc []device.Tensor
	for range B {
		kc = append(kc, upload(t, d, device.BF16, randVals(r, ctx*kvHeads*hd, 1), ctx, kvHeads*hd))
		vc = append(vc, upload(t, d, device.BF16, randVals(r, ctx*kvHeads*hd, 1), ctx, kvHeads*hd))
	}
	out := mustAlloc(t, d, device.F32, B, qd)
	if err := d.BatchAttention(out, q, pos, kc, vc, starts, heads, kvHeads, hd); err != nil {
		t.Fatal(err)
	}
	got := make([]float32, B*qd)
	if err := d.Download(got, out); err != nil {
		t.Fatal(err)
	}
	for i, st := range starts {
		qi := upload(t, d, device.F32, qv[i*qd:(i+1)*qd], 1, qd)
		oi := mustAlloc(t, d, device.F32, 1, qd)
		if err := d.Attention(oi, qi, kc[i], vc[i], st, heads, kvHeads, hd); err != nil {
			t.Fatal(err)
		}
		want := make([]float32, qd)
		if err := d.Download(want, oi); err != nil {
			t.Fatal(err)
		}
		for j := range want {
			if math.Float32bits(got[i*qd+j]) != math.Float32bits(want[j]) {
				t.Fatalf("row %d value %d: %g batched, %g alone", i, j, got[i*qd+j], want[j])
			}
		}
	}

	narrow := mustAlloc(t, d, device.F32, B, qd-1)
	err := d.BatchAttention(narrow, q, pos, kc, vc, starts, heads, kvHeads, hd)
	if err == nil || !strings.Contains(err.Error(), "they must be the same shape") {
		t.Errorf("out narrower than q: %v", err)
	}
	err = d.BatchAttention(out, q, pos, kc, vc, []int{0, 5, 12}, heads, kvHeads, hd)
	if err == nil || !strings.Contains(err.Error(), "BatchAttention") || !strings.Contains(err.Error(), "row 2: ") {
		t.Errorf("row 2 at position 12 of a 12-row cache: %v", err)
	}
	err = d.BatchAttention(out, q, pos, kc[:2], vc, starts, heads, kvHeads, hd)
	if err == nil || !strings.Contains(err.Error(), "2 K caches") {
		t.Errorf("two K caches for three rows: %v", err)
	}
}
