//go:build !amd64 || purego

package bench

// Without the amd64 assembly the probes run their Go loops; cpu.SIMD() is
// false, so these are never called.

func fmaLoop(n int) { panic("bench: assembly probes are not built") }

func fmaLoop512(n int) { panic("bench: assembly probes are not built") }

func readSum(p *byte, n int) uint64 { panic("bench: assembly probes are not built") }
