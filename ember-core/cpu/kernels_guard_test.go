//go:build linux && amd64 && !purego

package cpu

import (
	"syscall"
	"testing"
	"unsafe"
)

// guarded returns a page of memory with an inaccessible page on each side, as
// float32 and uint16 views: rows placed flush against either end make any
// read outside them fault, as it could at the end of a weight file's mmap.
func guarded(t *testing.T) (f []float32, h []uint16) {
	t.Helper()
	ps := syscall.Getpagesize()
	mem, err := syscall.Mmap(-1, 0, 3*ps, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Skipf("mmap: %v", err)
	}
	t.Cleanup(func() { syscall.Munmap(mem) })
	if err := syscall.Mprotect(mem[:ps], syscall.PROT_NONE); err != nil {
		t.Skipf("mprotect: %v", err)
	}
	if err := syscall.Mprotect(mem[2*ps:], syscall.PROT_NONE); err != nil {
		t.Skipf("mprotect: %v", err)
	}
	p := unsafe.Pointer(&mem[ps])
	return unsafe.Slice((*float32)(p), ps/4), unsafe.Slice((*uint16)(p), ps/2)
}

// TestKernelsStayInBounds runs every kernel on rows that end exactly where the
// mapped memory ends, and start exactly where it starts, for every tail length.
func TestKernelsStayInBounds(t *testing.T) {
	forAsmKernels(t, func(t *testing.T) {
		f, h := guarded(t)
		r := newRand(24)
		copy(f, randVals(r, len(f), 1))
		for i := range h {
			h[i] &= 0x3fff // finite values whatever the bits were
		}
		x := randVals(r, 64, 1)
		for k := 1; k <= 40; k++ {
			for _, rows := range []int{1, 4, 5} {
				out := make([]float32, rows)
				n := rows * k
				// Flush with the end, then with the start.
				for _, lo := range []int{len(f) - n, 0} {
					dotRowsF32(out, x[:k], f[lo:lo+n], k)
					wsumRowsF32(out[:1], f[lo:lo+rows], f[lo:lo+n], 1) // ctx=rows over stride 1
				}
				for _, lo := range []int{len(h) - n, 0} {
					for _, bf := range []bool{true, false} {
						dotRows16(out, x[:k], h[lo:lo+n], k, bf)
						wsumRows16(out[:1], x[:rows], h[lo:lo+n], k, bf)
					}
				}
				if rows == 4 {
					a := f[len(f)-4*k:]
					b := f[:3*k]
					c := make([]float32, 4*3)
					gemmF32(c, 3, a, k, 4, b, 3, k)
					gemmF32(c, 4, b[:k], k, 1, a, 4, k)
				}
			}
		}
	})
}
