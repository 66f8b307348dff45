package memplan

import (
	"math"
	"math/big"
	"testing"
)

func TestMulChecked(t *testing.T) {
	for _, tc := range []struct {
		f    []int64
		want int64
		ok   bool
	}{
		{[]int64{28, 4096, 8, 128, 2, 2, 1}, 28 * 4096 * 8 * 128 * 2 * 2, true},
		{[]int64{1 << 62, 2}, 0, false}, // --batch 2^62 wrapped to KV 0 B
		{[]int64{math.MaxInt64, 1}, math.MaxInt64, true},
		{[]int64{1 << 32, 1 << 31}, 0, false},
		{[]int64{-1, 5}, 0, false},
		{[]int64{0, math.MaxInt64, math.MaxInt64}, 0, true},
	} {
		got, ok := mulChecked(tc.f...)
		if got != tc.want || ok != tc.ok {
			t.Errorf("mulChecked(%v) = %d, %v; want %d, %v", tc.f, got, ok, tc.want, tc.ok)
		}
	}
}

// FuzzMulChecked: mulChecked agrees with exact big-integer arithmetic.
func FuzzMulChecked(f *testing.F) {
	f.Add(int64(28), int64(4096), int64(1<<62))
	f.Add(int64(-3), int64(0), int64(7))
	f.Fuzz(func(t *testing.T, a, b, c int64) {
		got, ok := mulChecked(a, b, c)
		if a < 0 || b < 0 || c < 0 {
			if ok {
				t.Fatalf("mulChecked(%d, %d, %d) accepted a negative factor", a, b, c)
			}
			return
		}
		exact := new(big.Int).Mul(big.NewInt(a), big.NewInt(b))
		exact.Mul(exact, big.NewInt(c))
		if fits := exact.IsInt64(); fits != ok || (ok && exact.Int64() != got) {
			t.Fatalf("mulChecked(%d, %d, %d) = %d, %v; exact %s", a, b, c, got, ok, exact)
		}
	})
}
