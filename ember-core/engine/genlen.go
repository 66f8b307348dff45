package engine

// generationBound is the most tokens Generate can produce for maxNew asked
// and room positions left in the session's context after the prompt: one
// from the prompt's logits, then one per decode step until the context is
// full. A maxNew far past the context (run -n 9223372036854775807) sizes
// nothing by itself.
func generationBound(maxNew, room int) int {
	if room < maxNew {
		maxNew = room + 1 // cannot overflow: room < maxNew ≤ MaxInt
	}
	return max(0, maxNew)
}
