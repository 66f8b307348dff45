package tokenizer

import (
	"container/heap"
	"fmt"
	"sync"
	"unicode/utf8"
)

// bpe is the BPE model of a tokenizer.json: a vocabulary, ranked merges and
// the options HF's models::bpe::BPE honours at encode time.
type bpe struct {
	vocab  map[string]int32
	tokens idTable // id -> token string

	merges    map[uint64]merge // (left id, right id) -> rank and result
	mergeList [][2]string      // as given, for MarshalJSON
	pairs     bool             // merges were written as ["a","b"] pairs

	unk          int32 // -1 when there is no unk token
	unkToken     *string
	fuseUnk      bool
	byteFallback bool
	ignoreMerges bool
	prefix       *string // continuing_subword_prefix
	suffix       *string // end_of_word_suffix

	cacheMu sync.RWMutex
	cache   map[string][]int32
}

type merge struct {
	rank  int32
	newID int32
}

// bpeCacheMax bounds the per-word cache; it is dropped whole when full.
const bpeCacheMax = 1 << 16

func pairKey(a, b int32) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

// newBPE builds the merge table. Every merge must name two vocabulary tokens
// whose concatenation is also in the vocabulary, as HF requires.
func newBPE(vocab map[string]int32, merges [][2]string, prefix *string) (*bpe, error) {
	m := &bpe{
		vocab:     vocab,
		merges:    make(map[uint64]merge, len(merges)),
		mergeList: merges,
		unk:       -1,
		cache:     map[string][]int32{},
		prefix:    prefix,
	}
	maxID := int32(-1)
	for _, id := range vocab {
		maxID = max(maxID, id)
	}
	m.tokens = newIDTable(maxID, len(vocab))
	for tok, id := range vocab {
		m.tokens.set(id, tok)
	}
	pl := 0
	if prefix != nil {
		pl = len(*prefix)
	}
	for i, mg := range merges {
		a, ok := vocab[mg[0]]
		if !ok {
			return nil, fmt.Errorf("merge %d: token %q is not in the vocabulary", i, mg[0])
		}
		b, ok := vocab[mg[1]]
		if !ok {
			return nil, fmt.Errorf("merge %d: token %q is not in the vocabulary", i, mg[1])
		}
		right := mg[1]
		if pl > 0 && len(right) >= pl && right[:pl] == *prefix {
			right = right[pl:]
		}
		n, ok := vocab[mg[0]+right]
		if !ok {
			return nil, fmt.Errorf("merge %d: merged token %q is not in the vocabulary", i, mg[0]+right)
		}
		// A repeated pair keeps its last rank, as HF's HashMap collect does.
		m.merges[pairKey(a, b)] = merge{rank: int32(i), newID: n}
	}
	return m, nil
}

// tokenize appends the ids of one pre-tokenized word.
func (m *bpe) tokenize(dst []int32, w string) []int32 {
	if w == "" {
		return dst
	}
	if m.ignoreMerges {
		if id, ok := m.vocab[w]; ok {
			return append(dst, id)
		}
	}
	m.cacheMu.RLock()
	ids, ok := m.cache[w]
	m.cacheMu.RUnlock()
	if ok {
		return append(dst, ids...)
	}
	ids = m.mergeWord(w)
	m.cacheMu.Lock()
	if len(m.cache) >= bpeCacheMax {
		m.cache = make(map[string][]int32)
	}
	m.cache[w] = ids
	m.cacheMu.Unlock()
	return append(dst, ids...)
}

// symbol is one node of the doubly linked list a word is merged in.
type symbol struct {
	id         int32
	prev, next int32
	gone       bool
}

// mergeWord splits w into characters and applies merges lowest rank first
// (leftmost on ties), exactly as HF's Word::merge_all.
func (m *bpe) mergeWord(w string) []int32 {
	syms := make([]symbol, 0, len(w))
	add := func(id int32) {
		syms = append(syms, symbol{id: id, prev: int32(len(syms)) - 1, next: int32(len(syms)) + 1})
	}
	unkPending := false
	flushUnk := func() {
		if unkPending {
			add(m.unk)
			unkPending = false
		}
	}
	for i := 0; i < len(w); {
		_, n := utf8.DecodeRuneInString(w[i:])
		s := w[i : i+n]
		if i > 0 && m.prefix != nil && *m.prefix != "" {
			s = *m.prefix + s
		}
		if i+n == len(w) && m.suffix != nil && *m.suffix != "" {
			s += *m.suffix
		}
		i += n
		if id, ok := m.vocab[s]; ok {
			flushUnk()
			add(id)
			continue
		}
		if m.byteFallback {
			ids := make([]int32, 0, len(s))
			for j := 0; j < len(s); j++ {
				id, ok := m.vocab[fmt.Sprintf("<0x%02X>", s[j])]
				if !ok {
					ids = nil
					break
				}
				ids = append(ids, id)
			}
			if ids != nil {
				for _, id := range ids {
					add(id)
				}
				continue
			}
		}
		if m.unk >= 0 {
			if unkPending && !m.fuseUnk {
				add(m.unk)
			}
			unkPending = true
		}
	}
	flushUnk()
	if len(syms) == 0 {
		return nil
	}
	syms[len(syms)-1].next = -1

	q := mergeQueue{}
	for i := 0; i+1 < len(syms); i++ {
		if mg, ok := m.merges[pairKey(syms[i].id, syms[i+1].id)]; ok {
			q = append(q, queued{rank: mg.rank, pos: int32(i), newID: mg.newID})
		}
	}
	heap.Init(&q)
	for q.Len() > 0 {
		top := heap.Pop(&q).(queued)
		cur := &syms[top.pos]
		if cur.gone || cur.next < 0 {
			continue
		}
		right := syms[cur.next]
		if mg, ok := m.merges[pairKey(cur.id, right.id)]; !ok || mg.newID != top.newID {
			continue // stale entry
		}
		cur.id = top.newID
		syms[cur.next].gone = true
		cur.next = right.next
		if right.next >= 0 {
			syms[right.next].prev = top.pos
		}
		if cur.prev >= 0 {
			if mg, ok := m.merges[pairKey(syms[cur.prev].id, cur.id)]; ok {
				heap.Push(&q, queued{rank: mg.rank, pos: cur.prev, newID: mg.newID})
			}
		}
		if cur.next >= 0 {
			if mg, ok := m.merges[pairKey(cur.id, syms[cur.next].id)]; ok {
				heap.Push(&q, queued{rank: mg.rank, pos: top.pos, newID: mg.newID})
			}
		}
	}
	out := make([]int32, 0, len(syms))
	for i := range syms {
		if !syms[i].gone {
			out = append(out, syms[i].id)
		}
	}
	return out
}

type queued struct {
	rank, pos, newID int32
}

// mergeQueue is a min-heap on (rank, pos).
type mergeQueue []queued

func (q mergeQueue) Len() int { return len(q) }
func (q mergeQueue) Less(i, j int) bool {
	if q[i].rank != q[j].rank {
		return q[i].rank < q[j].rank
	}
	return q[i].pos < q[j].pos
}
func (q mergeQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *mergeQueue) Push(x any)   { *q = append(*q, x.(queued)) }
func (q *mergeQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

// idTable maps ids to strings: a slice while ids are dense, a map when a
// file names a few huge ids (so a hostile file cannot make us allocate 2^31
// slots).
type idTable struct {
	dense  []string
	has    []bool
	sparse map[int32]string
}

// newIDTable sizes the table for ids up to maxID, count of them in all.
func newIDTable(maxID int32, count int) idTable {
	if maxID < 0 {
		return idTable{}
	}
	if int(maxID) < 4*count+1<<16 {
		return idTable{dense: make([]string, int(maxID)+1), has: make([]bool, int(maxID)+1)}
	}
	return idTable{sparse: make(map[int32]string, count)}
}

// set records s for id; when a file gives one id twice the smallest string
// wins, so the choice does not depend on map order.
func (t *idTable) set(id int32, s string) {
	if t.sparse != nil {
		if old, ok := t.sparse[id]; !ok || s < old {
			t.sparse[id] = s
		}
		return
	}
	if id < 0 || int(id) >= len(t.dense) {
		return
	}
	if !t.has[id] || s < t.dense[id] {
		t.dense[id] = s
		t.has[id] = true
	}
}

func (t *idTable) get(id int32) (string, bool) {
	if t.sparse != nil {
		s, ok := t.sparse[id]
		return s, ok
	}
	if id < 0 || int(id) >= len(t.dense) || !t.has[id] {
		return "", false
	}
	return t.dense[id], true
}
