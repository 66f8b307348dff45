package cuda

import (
	"fmt"
	"math"
	"testing"
)

func TestBucket(t *testing.T) {
	for _, tc := range []struct{ kv, want int }{{1, 256}, {256, 256}, {257, 512}, {2048, 2048}, {2049, 4096}, {40960, 65536}} {
		if got := bucket(tc.kv); got != tc.want {
			t.Errorf("bucket(%d) = %d, want %d", tc.kv, got, tc.want)
		}
	}
}

// TestAttnSplits checks that the decode grid stays within the partials
// scratch, gives a full bucket at least minSplitKeys keys per split, and that
// the keys per split the kernel derives from the real length cover every key
// with no split left empty, for every length of the bucket: just past a
// bucket boundary (2049 keys in bucket 4096) every split still works.
func TestAttnSplits(t *testing.T) {
	for _, sms := range []int{1, 46, 80, 132} {
		for _, heads := range []int{4, 16, 32, 40} {
			for bkt := minBucket; bkt <= 1<<17; bkt <<= 1 {
				s := attnSplits(bkt, heads, sms)
				if s < 1 || s > maxSplits {
					t.Fatalf("attnSplits(%d, %d, %d) = %d splits", bkt, heads, sms, s)
				}
				if bkt/s < minSplitKeys {
					t.Errorf("attnSplits(%d, %d, %d) = %d: %d keys per split of a full bucket", bkt, heads, sms, s, bkt/s)
				}
				for _, kv := range []int{bkt/2 + 1, bkt/2 + 7, bkt - 1, bkt} {
					next := 0
					for i := range s {
						t0, t1 := splitRange(kv, i, s)
						if t0 != next || t1 <= t0 || t1-t0 > (kv+s-1)/s {
							t.Fatalf("%d keys in %d splits: split %d covers [%d, %d) after %d", kv, s, i, t0, t1, next)
						}
						next = t1
					}
					if next != kv {
						t.Errorf("%d keys in %d splits: the splits end at %d", kv, s, next)
					}
				}
			}
		}
	}
	// An RTX 3080 Ti (80 SMs), 32 heads: 8 splits; at 2049 keys (bucket
	// 4096) each split takes 257 of them, where the bucket's 512 per split
	// left splits 5-7 empty.
	s := attnSplits(4096, 32, 80)
	if t0, t1 := splitRange(2049, 7, s); s != 8 || t0 != 1792 || t1 != 2049 {
		t.Errorf("attnSplits(4096, 32, 80) = %d; its last split at 2049 keys covers [%d, %d), want 8 and [1792, 2049)", s, t0, t1)
	}
	// Fewer keys than splits: one each, the rest empty (their partials weigh nothing).
	var sizes []int
	for i := range 8 {
		t0, t1 := splitRange(3, i, 8)
		sizes = append(sizes, t1-t0)
	}
	if fmt.Sprint(sizes) != "[0 0 1 0 0 1 0 1]" {
		t.Errorf("3 keys in 8 splits: %v keys per split", sizes)
	}
}

func TestGridFor(t *testing.T) {
	for _, tc := range []struct {
		n    int64
		want uint32
	}{{0, 1}, {1, 1}, {256, 1}, {257, 2}, {1 << 40, maxGrid}} {
		if g := gridFor(tc.n, 256); g != (dim3{tc.want, 1, 1}) {
			t.Errorf("gridFor(%d) = %v, want %d blocks", tc.n, g, tc.want)
		}
	}
}

func TestPrefillGrid(t *testing.T) {
	g, sh := prefillGrid(33, 32, 128)
	if g != (dim3{3, 32, 1}) {
		t.Errorf("prefillGrid(33 queries, 32 heads) = %v", g)
	}
	// Key and value tiles of f32 must fit the 48 KiB of static shared memory
	// every launch gets without opting in, up to head_dim 256.
	if _, sh256 := prefillGrid(1, 1, 256); sh256 > 48<<10 || sh != 2*prefillBK*128*4 {
		t.Errorf("prefill shared memory %d (hd 128), %d (hd 256)", sh, sh256)
	}
}

func TestGEMVChoice(t *testing.T) {
	for _, tc := range []struct {
		k    int
		w, x uint64
		b16  bool
		want bool
	}{
		{2560, 0x1000, 0x2000, true, true},
		{2560, 0x1000, 0x2000, false, false}, // f32 weights: the plain kernel
		{2561, 0x1000, 0x2000, true, false},  // rows not whole 16-byte chunks
		{2560, 0x1008, 0x2000, true, false},  // misaligned weight view
		{2560, 0x1000, 0x2004, true, false},  // misaligned input view
	} {
		if got := gemv16OK(tc.k, tc.w, tc.x, tc.b16); got != tc.want {
			t.Errorf("gemv16OK(%+v) = %v", tc, got)
		}
	}
	if g := gemvGrid(151936); g[0] != 151936/gemvWarps {
		t.Errorf("gemvGrid(151936) = %v", g)
	}
}

// The RoPE table holds each frequency in turns as two f32 parts whose sum is
// the f64 value to well under f32 precision (rope.cu's reduction needs it).
func TestRoPETurns(t *testing.T) {
	for _, theta := range []float64{1e4, 1e6} {
		tab := ropeTurns(128, theta)
		for j := range 64 {
			r := math.Pow(theta, -float64(2*j)/128) / (2 * math.Pi)
			hi, lo := tab[2*j], tab[2*j+1]
			if hi != float32(r) || math.Abs(float64(hi)+float64(lo)-r) > r*0x1p-46 {
				t.Fatalf("theta %g j %d: %v + %v for %v", theta, j, hi, lo, r)
			}
		}
	}
	if tab := ropeTurns(2, 1e6); tab[0] != float32(1/(2*math.Pi)) || tab[1] != float32(1/(2*math.Pi)-float64(float32(1/(2*math.Pi)))) {
		t.Errorf("j = 0: %v", tab)
	}
}

// The tuner's batch-size buckets and the rows a decode-shaped op may have.
func TestRowBuckets(t *testing.T) {
	for _, c := range []struct{ n, bucket int }{{1, 1}, {2, 2}, {3, 4}, {4, 4}, {5, 8}, {8, 8}, {9, 16}, {16, 16}} {
		if got := rowBucket(c.n); got != c.bucket {
			t.Errorf("rowBucket(%d) = %d, want %d", c.n, got, c.bucket)
		}
		if !stepRows(c.n) {
			t.Errorf("stepRows(%d) = false, want true", c.n)
		}
	}
	for _, n := range []int{0, 17, 512} {
		if stepRows(n) {
			t.Errorf("stepRows(%d) = true, want false", n)
		}
	}
	for _, c := range []struct {
		n    int
		want string
	}{{1, "gemv16"}, {4, "gemv16"}, {5, "gemv16w"}, {16, "gemv16w"}} {
		if got := gemvWide(famGEMV16, c.n).String(); got != c.want {
			t.Errorf("gemvWide(gemv16, %d) = %q, want %q", c.n, got, c.want)
		}
	}
	if a, b := gemvWide(famGEMV16x3, 5), gemvWide(famGEMV16GLU, 16); a.String() != "gemv16x3w" || b.String() != "gemv16_gluw" {
		t.Errorf("gemvWide(gemv16x3, 5) = %s, gemvWide(gemv16_glu, 16) = %s", a, b)
	}
	if f := gemvWide(famGEMV16GLU, 4); f != famGEMV16GLU {
		t.Errorf("gemvWide(gemv16_glu, 4) = %s", f)
	}
}
