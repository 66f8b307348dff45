package cpu

import (
	"math"
	"testing"

	"github.com/ember-infer/ember/ember-core/device"
)

// TestLogSumExp checks each row's log Σ exp against a float64 sum written from
// the definition (relative 1e-6), with 1 and 4 threads giving the same bits,
// and the rows of special values: NaN weighs nothing, -Inf rows give -Inf,
// +Inf gives +Inf, and a row far below its maximum loses nothing visible.
func TestLogSumExp(t *testing.T) {
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	const cols = 1001
	r := newRand(3)
	vals := randVals(r, 5*cols, 20)
	special := [][]float32{
		{nan, 1, 2, nan},
		{float32(math.Inf(-1)), float32(math.Inf(-1)), nan, float32(math.Inf(-1))},
		{1, inf, 3, 4},
		{0, -200, -1e30, 0},
		{3, float32(math.Inf(-1)), 1, nan, 2, float32(math.Inf(-1))},
	}
	want := func(row []float32) float64 {
		m := math.Inf(-1)
		for _, v := range row {
			if v == v {
				m = math.Max(m, float64(v))
			}
		}
		if math.IsInf(m, 0) {
			return m
		}
		var z float64
		for _, v := range row {
			if v == v {
				z += math.Exp(float64(v) - m)
			}
		}
		return m + math.Log(z)
	}
	var bits []float32
	for _, threads := range []int{1, 4} {
		d := New(Options{Name: "cpu:0", Threads: threads})
		x := upload(t, d, device.F32, vals, 5, cols)
		out := mustAlloc(t, d, device.F32, 5)
		if err := d.LogSumExp(out, x); err != nil {
			t.Fatal(err)
		}
		got := download(t, d, out)
		for i := range 5 {
			w := want(vals[i*cols : (i+1)*cols])
			if math.Abs(float64(got[i])-w) > 1e-6*math.Abs(w) {
				t.Errorf("threads %d row %d: %g, want %g", threads, i, got[i], w)
			}
		}
		if bits != nil {
			for i := range got {
				if math.Float32bits(got[i]) != math.Float32bits(bits[i]) {
					t.Errorf("row %d: %g with 4 threads, %g with 1", i, got[i], bits[i])
				}
			}
		}
		bits = got

		for i, row := range special {
			x := upload(t, d, device.F32, row, 1, len(row))
			out := mustAlloc(t, d, device.F32, 1)
			if err := d.LogSumExp(out, x); err != nil {
				t.Fatal(err)
			}
			got, w := float64(download(t, d, out)[0]), want(row)
			if got != w && !(math.Abs(got-w) <= 1e-6*math.Abs(w)) {
				t.Errorf("special row %d %v: %g, want %g", i, row, got, w)
			}
		}
		if err := d.LogSumExp(mustAlloc(t, d, device.F32, 4), x); err == nil {
			t.Error("an out of 4 values for 5 rows was accepted")
		}
	}
}
