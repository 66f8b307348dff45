//go:build amd64 && !purego

package bench

// fmaLoop runs n iterations of 12 independent 8-lane f32 FMAs (192 flops each).
//
//go:noescape
func fmaLoop(n int)

// fmaLoop512 runs n iterations of 16 independent 16-lane f32 FMAs (512 flops
// each); AVX-512F only.
//
//go:noescape
func fmaLoop512(n int)

// readSum returns the sum of n bytes at p (n a multiple of 256) as uint64 lanes.
//
//go:noescape
func readSum(p *byte, n int) uint64
