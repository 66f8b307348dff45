package tokenizer

import (
	"bytes"
	"container/heap"
	"fmt"
	"sort"

	"golang.org/x/text/unicode/norm"
)

// Build trains a byte-level BPE tokenizer with the Qwen2 layout: NFC, the
// Qwen2 Split regex, ByteLevel, BPE. Ids 0–255 are the 256 byte tokens (id b
// stands for byte b); merges learned from corpus (most frequent pair first,
// the smaller pair of ids on ties, as HF's BpeTrainer) add tokens until the
// vocabulary has vocabSize entries or no pair is left; specials follow as
// special added tokens, so VocabSize() is usually vocabSize+len(specials).
// Specials are cut out of the corpus before training. The result is the
// same as Parse of its MarshalJSON.
func Build(corpus []string, vocabSize int, specials []string) (*Tokenizer, error) {
	return build(corpus, vocabSize, specials, 0)
}

// BuildCovering is Build for a model whose vocabulary has total ids: when
// the corpus runs out of merges before vocabSize, the vocabulary is filled
// with "<|unused_N|>" tokens (which no text encodes to) so that, with the
// specials after them, every id in [0, total) has a token. total must be at
// least vocabSize+len(specials).
func BuildCovering(corpus []string, vocabSize int, specials []string, total int) (*Tokenizer, error) {
	if total < vocabSize+len(specials) || total > 1<<22 {
		return nil, fmt.Errorf("tokenizer build: %d ids cannot hold %d tokens and %d specials", total, vocabSize, len(specials))
	}
	return build(corpus, vocabSize, specials, total)
}

func build(corpus []string, vocabSize int, specials []string, total int) (*Tokenizer, error) {
	if vocabSize < 256 {
		return nil, fmt.Errorf("tokenizer build: vocabulary size %d is below the 256 byte tokens", vocabSize)
	}
	if vocabSize > maxTokenID-len(specials) {
		return nil, fmt.Errorf("tokenizer build: vocabulary size %d is too large", vocabSize)
	}
	cut := make([]*AddedToken, 0, len(specials))
	for _, s := range specials {
		cut = append(cut, &AddedToken{Content: s})
	}
	cutter := newAddedMatcher(cut, func(a *AddedToken) string { return a.Content })

	// Count pre-tokenized words (raw bytes).
	counts := map[string]int64{}
	var spans [][2]int
	for _, doc := range corpus {
		cutter.split(lossyString(doc), func(piece string, tok *AddedToken) {
			if tok != nil {
				return
			}
			piece = normalizeAsHF(norm.NFC, piece)
			spans = qwen2Matcher{}.find(piece, spans[:0])
			for _, sp := range spans {
				counts[piece[sp[0]:sp[1]]]++
			}
		})
	}
	words := make([]string, 0, len(counts))
	for w := range counts {
		words = append(words, w)
	}
	sort.Strings(words)

	tr := newTrainer(words, counts)
	tr.train(vocabSize)
	tokens := tr.tokens
	for n := 0; len(tokens) < total-len(specials); n++ {
		tokens = append(tokens, fmt.Sprintf("<|unused_%d|>", n))
	}

	doc, err := builtJSON(tokens, tr.merges, specials)
	if err != nil {
		return nil, err
	}
	return Parse(doc, "built")
}

// trainer holds the state of BPE training over counted words.
type trainer struct {
	syms   [][]int32 // each word as token ids
	freq   []int64
	tokens []string         // byte-level spelling by id
	ids    map[string]int32 // spelling -> id
	merges [][2]int32

	count map[uint64]int64
	where map[uint64][]int32 // words that may contain the pair
	seen  []int              // dedupe stamp per word
	stamp int
	q     pairQueue
}

func newTrainer(words []string, counts map[string]int64) *trainer {
	tr := &trainer{
		syms:  make([][]int32, len(words)),
		freq:  make([]int64, len(words)),
		ids:   map[string]int32{},
		count: map[uint64]int64{},
		where: map[uint64][]int32{},
		seen:  make([]int, len(words)),
	}
	for b := 0; b < 256; b++ {
		tr.tokens = append(tr.tokens, byteToStr[b])
		tr.ids[byteToStr[b]] = int32(b)
	}
	for w, word := range words {
		s := make([]int32, len(word))
		for i := 0; i < len(word); i++ {
			s[i] = int32(word[i])
		}
		tr.syms[w] = s
		tr.freq[w] = counts[word]
		for i := 0; i+1 < len(s); i++ {
			k := pairKey(s[i], s[i+1])
			tr.count[k] += tr.freq[w]
			if l := tr.where[k]; len(l) == 0 || l[len(l)-1] != int32(w) {
				tr.where[k] = append(l, int32(w))
			}
		}
	}
	for k, c := range tr.count {
		tr.q = append(tr.q, pairCount{k, c})
	}
	heap.Init(&tr.q)
	return tr
}

func (tr *trainer) train(vocabSize int) {
	for len(tr.tokens) < vocabSize && tr.q.Len() > 0 {
		top := heap.Pop(&tr.q).(pairCount)
		cur := tr.count[top.pair]
		if cur != top.count {
			if cur > 0 {
				heap.Push(&tr.q, pairCount{top.pair, cur})
			}
			continue
		}
		if cur <= 0 {
			continue
		}
		a, b := int32(top.pair>>32), int32(uint32(top.pair))
		spelling := tr.tokens[a] + tr.tokens[b]
		id, ok := tr.ids[spelling]
		if !ok {
			id = int32(len(tr.tokens))
			tr.tokens = append(tr.tokens, spelling)
			tr.ids[spelling] = id
		}
		tr.merges = append(tr.merges, [2]int32{a, b})
		tr.apply(top.pair, a, b, id)
	}
}

// apply merges (a, b) into id in every word that has it and updates the
// pair counts by the word frequencies.
func (tr *trainer) apply(pair uint64, a, b, id int32) {
	tr.stamp++
	grown := map[uint64]bool{}
	add := func(k uint64, w int32, d int64) {
		tr.count[k] += d
		if d > 0 {
			grown[k] = true
			if l := tr.where[k]; len(l) == 0 || l[len(l)-1] != w {
				tr.where[k] = append(l, w)
			}
		}
	}
	for _, w := range tr.where[pair] {
		if tr.seen[w] == tr.stamp {
			continue
		}
		tr.seen[w] = tr.stamp
		s, f := tr.syms[w], tr.freq[w]
		out := s[:0]
		for i := 0; i < len(s); i++ {
			if i+1 < len(s) && s[i] == a && s[i+1] == b {
				if len(out) > 0 {
					prev := out[len(out)-1]
					add(pairKey(prev, a), w, -f)
					add(pairKey(prev, id), w, f)
				}
				if i+2 < len(s) {
					add(pairKey(b, s[i+2]), w, -f)
					add(pairKey(id, s[i+2]), w, f)
				}
				tr.count[pair] -= f
				out = append(out, id)
				i++
				continue
			}
			out = append(out, s[i])
		}
		tr.syms[w] = out
	}
	delete(tr.where, pair)
	keys := make([]uint64, 0, len(grown))
	for k := range grown {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	for _, k := range keys {
		if c := tr.count[k]; c > 0 {
			heap.Push(&tr.q, pairCount{k, c})
		}
	}
}

type pairCount struct {
	pair  uint64
	count int64
}

// pairQueue is a max-heap on count; ties go to the smaller pair of ids.
type pairQueue []pairCount

func (q pairQueue) Len() int { return len(q) }
func (q pairQueue) Less(i, j int) bool {
	if q[i].count != q[j].count {
		return q[i].count > q[j].count
	}
	return q[i].pair < q[j].pair
}
func (q pairQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *pairQueue) Push(x any)   { *q = append(*q, x.(pairCount)) }
func (q *pairQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

// builtJSON writes the tokenizer.json of a trained model, in the layout of
// the Qwen2 files.
func builtJSON(tokens []string, merges [][2]int32, specials []string) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(`{"version":"1.0","truncation":null,"padding":null,"added_tokens":[`)
	n := 0
	for i, s := range specials {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":%d,"content":`, len(tokens)+n)
		n++
		if err := writeJSON(&b, s); err != nil {
			return nil, err
		}
		b.WriteString(`,"single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":true}`)
	}
	b.WriteString(`],"normalizer":{"type":"NFC"},"pre_tokenizer":{"type":"Sequence","pretokenizers":[{"type":"Split","pattern":{"Regex":`)
	if err := writeJSON(&b, Qwen2Pattern); err != nil {
		return nil, err
	}
	const byteLevel = `{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":false,"use_regex":false}`
	b.WriteString(`},"behavior":"Isolated","invert":false},` + byteLevel + `]},"post_processor":` + byteLevel +
		`,"decoder":` + byteLevel + `,"model":{"type":"BPE","dropout":null,"unk_token":null,"continuing_subword_prefix":"","end_of_word_suffix":"","fuse_unk":false,"byte_fallback":false,"ignore_merges":false,"vocab":{`)
	for id, tok := range tokens {
		if id > 0 {
			b.WriteByte(',')
		}
		if err := writeJSON(&b, tok); err != nil {
			return nil, err
		}
		fmt.Fprintf(&b, ":%d", id)
	}
	b.WriteString(`},"merges":[`)
	for i, m := range merges {
		if i > 0 {
			b.WriteByte(',')
		}
		if err := writeJSON(&b, tokens[m[0]]+" "+tokens[m[1]]); err != nil {
			return nil, err
		}
	}
	b.WriteString("]}}\n")
	return b.Bytes(), nil
}
