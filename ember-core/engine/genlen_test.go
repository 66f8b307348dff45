package engine

import (
	"math"
	"testing"
)

func TestGenerationBound(t *testing.T) {
	for _, tc := range []struct{ maxNew, room, want int }{
		{16, 100, 16},
		{math.MaxInt, 62, 63}, // run -n 9223372036854775807 --ctx 64, 2-token prompt
		{99999999999, 0, 1},   // the context is full after the prompt: one token from its logits
		{0, 10, 0},
		{-5, 10, 0},
		{5, -3, 0},
	} {
		if got := generationBound(tc.maxNew, tc.room); got != tc.want {
			t.Errorf("generationBound(%d, %d) = %d, want %d", tc.maxNew, tc.room, got, tc.want)
		}
	}
}

// FuzzGenerationBound: never negative, never above what was asked, never
// above the context's room plus one.
func FuzzGenerationBound(f *testing.F) {
	f.Add(16, 100)
	f.Add(math.MaxInt, 62)
	f.Add(math.MinInt, math.MaxInt)
	f.Fuzz(func(t *testing.T, maxNew, room int) {
		got := generationBound(maxNew, room)
		if got < 0 || got > max(maxNew, 0) || (room < math.MaxInt && got > max(room+1, 0)) {
			t.Fatalf("generationBound(%d, %d) = %d", maxNew, room, got)
		}
	})
}
