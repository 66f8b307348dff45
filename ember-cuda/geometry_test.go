package cuda

import "testing"

func TestBucket(t *testing.T) {
	for _, tc := range []struct{ kv, want int }{{1, 256}, {256, 256}, {257, 512}, {2048, 2048}, {2049, 4096}, {40960, 65536}} {
		if got := bucket(tc.kv); got != tc.want {
			t.Errorf("bucket(%d) = %d, want %d", tc.kv, got, tc.want)
		}
	}
}

// TestAttnSplits checks that the decode grid covers every key of the
// bucket (so a graph replays correctly for any length in it), gives every
// split at least minSplitKeys keys, and stays within the partials scratch.
func TestAttnSplits(t *testing.T) {
	for _, sms := range []int{1, 46, 80, 132} {
		for _, heads := range []int{4, 16, 32, 40} {
			for bkt := minBucket; bkt <= 1<<17; bkt <<= 1 {
				s, per := attnSplits(bkt, heads, sms)
				if s < 1 || s > maxSplits {
					t.Fatalf("attnSplits(%d, %d, %d) = %d splits", bkt, heads, sms, s)
				}
				if s*per < bkt {
					t.Errorf("attnSplits(%d, %d, %d): %d × %d keys miss part of the bucket", bkt, heads, sms, s, per)
				}
				if (s-1)*per >= bkt {
					t.Errorf("attnSplits(%d, %d, %d): split %d starts past the bucket", bkt, heads, sms, s-1)
				}
				if per < minSplitKeys {
					t.Errorf("attnSplits(%d, %d, %d): %d keys per split", bkt, heads, sms, per)
				}
			}
		}
	}
	// An RTX 3080 Ti (80 SMs), 32 heads, context 2048: 8 splits of 256 keys, 256 blocks.
	if s, per := attnSplits(2048, 32, 80); s != 8 || per != 256 {
		t.Errorf("attnSplits(2048, 32, 80) = %d, %d; want 8, 256", s, per)
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
