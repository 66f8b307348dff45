package sampling

// Argmax returns the index of the largest element of x, the first one when
// several are equal. NaN never wins; -Inf can (the first element of an all -Inf
// vector). It returns -1 when x is empty or every element is NaN.
func Argmax(x []float32) int32 {
	best := -1
	var bv float32
	for i, v := range x {
		if v != v { // NaN
			continue
		}
		if best < 0 || v > bv {
			best, bv = i, v
		}
	}
	return int32(best)
}

// TopK returns the indices of the k largest elements of x in descending order of
// value, equal values in ascending order of index. NaN ranks below every number,
// -Inf included. k is clamped to [0, len(x)]. The result reuses idx's backing
// array when its capacity is at least k, so a caller that keeps passing the
// previous result back allocates only once.
func TopK(x []float32, k int, idx []int32) []int32 {
	return selectTop(x, nil, k, idx)
}

// ranksAbove reports whether element i of x ranks strictly above element j:
// larger value first, NaN last, lower index on ties.
func ranksAbove(x []float32, i, j int32) bool {
	a, b := x[i], x[j]
	an, bn := a != a, b != b
	if an != bn {
		return bn
	}
	if !an && a != b {
		return a > b
	}
	return i < j
}

// selectTop is TopK over the candidate indices cand, or over every index of x
// when cand is nil. It keeps the k best seen so far in a heap whose root is the
// worst of them, so each further element costs one comparison unless it beats
// the root; then it heap-sorts the survivors best first.
func selectTop(x []float32, cand []int32, k int, out []int32) []int32 {
	n := len(x)
	if cand != nil {
		n = len(cand)
	}
	k = max(0, min(k, n))
	if cap(out) < k {
		out = make([]int32, k)
	}
	h := out[:k]
	if k == 0 {
		return h
	}
	at := func(i int) int32 {
		if cand != nil {
			return cand[i]
		}
		return int32(i)
	}
	for i := range k {
		h[i] = at(i)
	}
	heapify(x, h)
	if cand != nil {
		for _, c := range cand[k:] {
			if ranksAbove(x, c, h[0]) {
				h[0] = c
				siftDown(x, h, 0)
			}
		}
	} else {
		for i := k; i < n; i++ {
			if ranksAbove(x, int32(i), h[0]) {
				h[0] = int32(i)
				siftDown(x, h, 0)
			}
		}
	}
	popAll(x, h)
	return h
}

// sortDesc sorts the indices h best first (the order of TopK) in place.
func sortDesc(x []float32, h []int32) {
	heapify(x, h)
	popAll(x, h)
}

func heapify(x []float32, h []int32) {
	for i := len(h)/2 - 1; i >= 0; i-- {
		siftDown(x, h, i)
	}
}

// popAll moves the worst of the heap h to its end until the heap is empty,
// which leaves h sorted best first.
func popAll(x []float32, h []int32) {
	for end := len(h) - 1; end > 0; end-- {
		h[0], h[end] = h[end], h[0]
		siftDown(x, h[:end], 0)
	}
}

// siftDown restores the heap property (every parent ranks at or below its
// children) for the subtree rooted at i.
func siftDown(x []float32, h []int32, i int) {
	n := len(h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		w := l
		if r := l + 1; r < n && ranksAbove(x, h[l], h[r]) {
			w = r
		}
		if !ranksAbove(x, h[i], h[w]) {
			return
		}
		h[i], h[w] = h[w], h[i]
		i = w
	}
}
