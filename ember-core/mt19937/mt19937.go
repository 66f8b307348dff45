// Package mt19937 is the 32-bit Mersenne Twister of C++'s std::mt19937 and
// libstdc++'s std::uniform_int_distribution<int> over it, so that a Go program
// draws the same integers from the same seed as a C++ one built with GCC 11 or
// later: upstream's benchmarks make their random prompts this way.
package mt19937

// The generator's parameters (C++ [rand.predef]: mersenne_twister_engine<
// uint_fast32_t, 32, 624, 397, 31, 0x9908b0df, 11, 0xffffffff, 7, 0x9d2c5680,
// 15, 0xefc60000, 18, 1812433253>).
const (
	n         = 624
	m         = 397
	matrixA   = 0x9908b0df
	upperMask = 0x80000000
	lowerMask = 0x7fffffff
	initMul   = 1812433253
)

// Rand is a std::mt19937.
type Rand struct {
	mt  [n]uint32
	idx int
}

// New returns the generator std::mt19937 rng(seed) makes; the seed is taken
// modulo 2³² as the C++ constructor takes it (an int −1 is 0xffffffff).
func New(seed int64) *Rand {
	r := &Rand{idx: n}
	r.mt[0] = uint32(seed)
	for i := 1; i < n; i++ {
		p := r.mt[i-1]
		r.mt[i] = initMul*(p^(p>>30)) + uint32(i)
	}
	return r
}

// twist regenerates the state's 624 words.
func (r *Rand) twist() {
	for i := range n {
		y := r.mt[i]&upperMask | r.mt[(i+1)%n]&lowerMask
		v := r.mt[(i+m)%n] ^ y>>1
		if y&1 != 0 {
			v ^= matrixA
		}
		r.mt[i] = v
	}
	r.idx = 0
}

// Uint32 is the next output, rng().
func (r *Rand) Uint32() uint32 {
	if r.idx >= n {
		r.twist()
	}
	y := r.mt[r.idx]
	r.idx++
	y ^= y >> 11
	y ^= y << 7 & 0x9d2c5680
	y ^= y << 15 & 0xefc60000
	y ^= y >> 18
	return y
}

// IntRange is std::uniform_int_distribution<int>(a, b)(rng) as libstdc++ (GCC
// 11 and later) computes it: the range's size s = b−a+1 is multiplied by one
// output into 64 bits, and the product's low half below (2³² − s) mod s is
// rejected (Lemire's method); the high half is the draw. a ≤ b, both within
// int32 as C++'s int.
func (r *Rand) IntRange(a, b int32) int32 {
	span := uint64(int64(b) - int64(a)) // the distribution's urange
	if span == 1<<32-1 {
		return a + int32(r.Uint32())
	}
	s := uint32(span + 1)
	prod := uint64(r.Uint32()) * uint64(s)
	if low := uint32(prod); low < s {
		threshold := -s % s
		for low < threshold {
			prod = uint64(r.Uint32()) * uint64(s)
			low = uint32(prod)
		}
	}
	return a + int32(prod>>32)
}
