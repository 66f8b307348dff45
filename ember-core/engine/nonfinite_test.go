package engine

import (
	"encoding/binary"
	"errors"
	"math"
	"testing"

	"github.com/ember-infer/ember/ember-core/sampling"
)

func TestCheckLogits(t *testing.T) {
	nan, inf := float32(math.NaN()), float32(math.Inf(-1))
	if err := CheckLogits(3, []float32{1, 2, 3}); err != nil {
		t.Errorf("finite row: %v", err)
	}
	err := CheckLogits(3, []float32{1, inf, nan})
	var nf *NonFiniteError
	if !errors.As(err, &nf) || !errors.Is(err, ErrNonFinite) || nf.Step != 3 || nf.Index != 1 {
		t.Fatalf("row with -Inf at 1: %v", err)
	}
	if got := err.Error(); got[:28] != "decode step 3: logit 1 is -I" {
		t.Errorf("message %q", got)
	}
	if err := checkDeviceID(2, -1, 10); !errors.Is(err, ErrNonFinite) {
		t.Errorf("id -1: %v", err)
	}
	if err := checkDeviceID(2, 9, 10); err != nil {
		t.Errorf("id 9 of 10: %v", err)
	}
}

// FuzzSamplingNonFinite: CheckLogits refuses exactly the rows holding a NaN
// or an infinity, and on every row it lets through the argmax and a
// temperature draw are ids inside the row.
func FuzzSamplingNonFinite(f *testing.F) {
	row := func(vs ...float32) []byte {
		b := make([]byte, 4*len(vs))
		for i, v := range vs {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
		}
		return b
	}
	f.Add(row(1, 2, 3), uint64(1))
	f.Add(row(float32(math.NaN()), 2), uint64(2))
	f.Add(row(float32(math.Inf(1)), float32(math.Inf(1))), uint64(3))
	f.Add(row(-math.MaxFloat32, math.MaxFloat32), uint64(4))
	f.Fuzz(func(t *testing.T, b []byte, seed uint64) {
		n := len(b) / 4
		if n == 0 {
			return
		}
		logits := make([]float32, n)
		bad := false
		for i := range logits {
			logits[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
			bad = bad || math.IsNaN(float64(logits[i])) || math.IsInf(float64(logits[i]), 0)
		}
		err := CheckLogits(1, logits)
		if (err != nil) != bad {
			t.Fatalf("CheckLogits(%v) = %v", logits, err)
		}
		if bad {
			return
		}
		if id := sampling.Argmax(logits); id < 0 || int(id) >= n {
			t.Fatalf("argmax %d of %d finite logits", id, n)
		}
		smp, err := sampling.New(sampling.Params{Temperature: 0.8, TopP: 1, Seed: seed}, n)
		if err != nil {
			t.Fatal(err)
		}
		if id := smp.Sample(logits, nil); id < 0 || int(id) >= n {
			t.Fatalf("sampled %d of %d finite logits", id, n)
		}
	})
}
