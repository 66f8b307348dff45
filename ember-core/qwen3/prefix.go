package qwen3

import (
	"container/list"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/ember-infer/ember/ember-core/device"
)

// PrefixCache keeps the KV of prompt prefixes so that prompts sharing a
// prefix compute it once. It is block-granular: entry i of a chain holds the
// K and V rows of positions [i·Block, (i+1)·Block) of every layer, on the
// layer's device, keyed by its parent entry and its Block token ids, so a
// lookup matches whole blocks of an exact token prefix. Blocks are immutable
// once stored; a session that reuses them copies them into its own
// contiguous cache (see docs/architecture.md, "Prefix KV cache"). When a
// device's share passes its byte budget the least recently used block
// without children is evicted.
type PrefixCache struct {
	m      *Model
	block  int
	dt     device.DType
	budget []int64 // per device, 0: unbounded
	used   []int64
	byKey  map[string]*prefixEntry
	lru    *list.List // front: most recently used
	nextID uint64
	stats  PrefixCacheStats
}

// PrefixCacheOptions configures a PrefixCache.
type PrefixCacheOptions struct {
	// Block is the tokens per block (0: 64).
	Block int
	// KVDType must be the KV dtype of the sessions that use the cache.
	KVDType device.DType
	// Budget is the bytes the cache may hold on each device, one value for
	// all or one per device; 0 (or nil) leaves a device unbounded.
	Budget []int64
}

// PrefixCacheStats counts what a cache did.
type PrefixCacheStats struct {
	Lookups, HitTokens, StoredBlocks, Evicted int
}

type prefixEntry struct {
	id       uint64
	key      string
	parent   *prefixEntry
	children int
	kv       [][]layerCache // per device, per layer on it: [Block, kvDim]
	bytes    []int64        // per device
	elem     *list.Element
}

// DefaultPrefixBlock is the block size of a PrefixCache made with Block 0.
const DefaultPrefixBlock = 64

// NewPrefixCache makes an empty prefix cache for m's sessions.
func (m *Model) NewPrefixCache(opt PrefixCacheOptions) (*PrefixCache, error) {
	if opt.Block < 0 {
		return nil, fmt.Errorf("prefix cache block of %d tokens is negative", opt.Block)
	}
	if opt.Block == 0 {
		opt.Block = DefaultPrefixBlock
	}
	n := len(m.Devices)
	budget := make([]int64, n)
	switch len(opt.Budget) {
	case 0:
	case 1:
		for i := range budget {
			budget[i] = opt.Budget[0]
		}
	case n:
		copy(budget, opt.Budget)
	default:
		return nil, fmt.Errorf("prefix cache budget has %d values for %d devices; give one, or one per device", len(opt.Budget), n)
	}
	for i, b := range budget {
		if b < 0 {
			return nil, fmt.Errorf("prefix cache budget %d for %s is negative", b, m.Devices[i].Name())
		}
	}
	return &PrefixCache{m: m, block: opt.Block, dt: opt.KVDType, budget: budget, used: make([]int64, n),
		byKey: map[string]*prefixEntry{}, lru: list.New()}, nil
}

// Block is the cache's block size in tokens.
func (c *PrefixCache) Block() int { return c.block }

// Used returns the bytes the cache holds on each device.
func (c *PrefixCache) Used() []int64 { return append([]int64(nil), c.used...) }

// Stats returns what the cache has done so far.
func (c *PrefixCache) Stats() PrefixCacheStats { return c.stats }

// BlockBytes returns what one block takes on each device: its layers × K and
// V × Block rows × kvDim × the KV dtype's size.
func (c *PrefixCache) BlockBytes() []int64 {
	out := make([]int64, len(c.m.Devices))
	kv := int64(c.m.Config.KVDim())
	for i, n := range c.m.Split {
		out[i] = int64(n) * 2 * int64(c.block) * kv * int64(c.dt.Size())
	}
	return out
}

func entryKey(parent *prefixEntry, ids []int32) string {
	b := make([]byte, 8+4*len(ids))
	if parent != nil {
		binary.LittleEndian.PutUint64(b, parent.id)
	}
	for i, id := range ids {
		binary.LittleEndian.PutUint32(b[8+4*i:], uint32(id))
	}
	return string(b)
}

// Close frees every block.
func (c *PrefixCache) Close() {
	for e := c.lru.Front(); e != nil; e = e.Next() {
		c.free(e.Value.(*prefixEntry))
	}
	c.lru.Init()
	clear(c.byKey)
}

func (c *PrefixCache) free(e *prefixEntry) {
	for k := range e.bytes {
		c.used[k] -= e.bytes[k]
	}
	c.discard(e)
}

// discard frees the block tensors e holds, without the accounting.
func (c *PrefixCache) discard(e *prefixEntry) {
	for k, layers := range e.kv {
		for _, l := range layers {
			c.m.Devices[k].Free(l.k)
			c.m.Devices[k].Free(l.v)
		}
	}
	e.kv = nil
}

// evictFor makes room for bytes more on every device within its budget,
// evicting least recently used leaves other than keep; it reports whether
// they fit.
func (c *PrefixCache) evictFor(bytes []int64, keep *prefixEntry) bool {
	over := func() bool {
		for k, b := range c.budget {
			if b > 0 && c.used[k]+bytes[k] > b {
				return true
			}
		}
		return false
	}
	for over() {
		var victim *list.Element
		for e := c.lru.Back(); e != nil; e = e.Prev() {
			if v := e.Value.(*prefixEntry); v.children == 0 && v != keep {
				victim = e
				break
			}
		}
		if victim == nil {
			return false
		}
		v := victim.Value.(*prefixEntry)
		c.lru.Remove(victim)
		delete(c.byKey, v.key)
		if v.parent != nil {
			v.parent.children--
		}
		c.free(v)
		c.stats.Evicted++
	}
	return true
}

// store makes a block entry under parent for ids from the session's current
// caches, rows [start, start+Block). It returns nil, nil when the budget (or
// a device's memory) cannot hold it: a cache that is full is not an error.
func (c *PrefixCache) store(s *Session, parent *prefixEntry, ids []int32, start int) (*prefixEntry, error) {
	key := entryKey(parent, ids)
	if e := c.byKey[key]; e != nil {
		c.lru.MoveToFront(e.elem)
		return e, nil
	}
	bytes := c.BlockBytes()
	if !c.evictFor(bytes, parent) {
		return nil, nil
	}
	kvDim := c.m.Config.KVDim()
	e := &prefixEntry{parent: parent, bytes: bytes, kv: make([][]layerCache, len(s.stages))}
	for k, st := range s.stages {
		for li := range st.layers {
			kt, err := st.dev.Alloc(c.dt, c.block, kvDim)
			var vt device.Tensor
			if err == nil {
				if vt, err = st.dev.Alloc(c.dt, c.block, kvDim); err != nil {
					st.dev.Free(kt)
				}
			}
			if err != nil {
				c.discard(e)
				if errors.Is(err, device.ErrOutOfMemory) {
					return nil, nil // the device is full: the block goes uncached
				}
				return nil, err
			}
			e.kv[k] = append(e.kv[k], layerCache{k: kt, v: vt})
			src := st.caches[li]
			if err := firstErr(copyBlock(st.dev, kt, src.k, start, c.block, false), copyBlock(st.dev, vt, src.v, start, c.block, false)); err != nil {
				c.discard(e)
				return nil, err
			}
		}
	}
	for k := range e.bytes {
		c.used[k] += e.bytes[k]
	}
	c.nextID++
	e.id = c.nextID
	e.key = key
	c.byKey[e.key] = e
	e.elem = c.lru.PushFront(e)
	if parent != nil {
		parent.children++
	}
	c.stats.StoredBlocks++
	return e, nil
}

// copyBlock copies between a block tensor (all its rows) and rows [start,
// start+n) of a session cache: into the cache when toCache, else out of it.
func copyBlock(d device.Device, block, cache device.Tensor, start, n int, toCache bool) error {
	rows, err := d.View(cache, start, n)
	if err != nil {
		return err
	}
	if toCache {
		return d.CopyFrom(rows, block)
	}
	return d.CopyFrom(block, rows)
}

// PrefillCached prefills ids into the selected sequence from position 0
// (what was there is dropped), taking the KV of the longest prefix of whole
// blocks the cache holds (at most len(ids)-1 tokens, so that the last
// position is computed and its logits are in Logits()), then prefilling the
// rest, and storing the prompt's new whole blocks in the cache. It returns
// the stats of the whole call (copies counted as p2p) and how many tokens
// came from the cache. c must belong to the session's model and KV dtype.
func (s *Session) PrefillCached(c *PrefixCache, ids []int32) (Stats, int, error) {
	if s.stages == nil {
		return Stats{}, 0, errClosed
	}
	if c.m != s.m || c.dt != s.opt.KVDType {
		return Stats{}, 0, fmt.Errorf("prefix cache is for another model or KV dtype (%s; the session's is %s)", c.dt, s.opt.KVDType)
	}
	if len(ids) == 0 {
		return Stats{}, 0, errors.New("prefill of an empty prompt")
	}
	if len(ids) > s.opt.Ctx {
		return Stats{}, 0, fmt.Errorf("%d positions would pass the context limit of %d (at position 0): %w", len(ids), s.opt.Ctx, ErrContextFull)
	}
	for _, id := range ids {
		if id < 0 || int(id) >= s.m.Config.VocabSize {
			return Stats{}, 0, fmt.Errorf("token id %d is outside the vocabulary of %d", id, s.m.Config.VocabSize)
		}
	}
	t0 := time.Now()
	var stages device.Timings
	for _, st := range s.stages {
		st.dev.ResetTimings()
	}
	B := c.block
	c.stats.Lookups++
	var chain []*prefixEntry
	var parent *prefixEntry
	for (len(chain)+1)*B <= len(ids)-1 {
		i := len(chain)
		e := c.byKey[entryKey(parent, ids[i*B:(i+1)*B])]
		if e == nil {
			break
		}
		chain = append(chain, e)
		parent = e
	}
	// Touch leaf first so that parents end up more recent than their children.
	for i := len(chain) - 1; i >= 0; i-- {
		c.lru.MoveToFront(chain[i].elem)
	}
	for i, e := range chain {
		for k, st := range s.stages {
			for li := range st.layers {
				dst := st.caches[li]
				if err := firstErr(copyBlock(st.dev, e.kv[k][li].k, dst.k, i*B, B, true), copyBlock(st.dev, e.kv[k][li].v, dst.v, i*B, B, true)); err != nil {
					return Stats{}, 0, err
				}
			}
		}
	}
	for _, st := range s.stages {
		if err := st.dev.Sync(); err != nil {
			return Stats{}, 0, err
		}
		stages.Add(st.dev.Timings())
	}
	hit := len(chain) * B
	c.stats.HitTokens += hit
	s.pos = hit
	ps, err := s.Prefill(ids[hit:])
	stats := Stats{Tokens: len(ids), Chunks: ps.Chunks}
	stages.Add(ps.Stages)
	if err != nil {
		stats.Wall, stats.Stages = time.Since(t0), stages
		return stats, hit, err
	}
	// Store the prompt's whole blocks past the hit, in order, while they fit.
	for _, st := range s.stages {
		st.dev.ResetTimings()
	}
	for i := len(chain); (i+1)*B <= len(ids); i++ {
		e, err := c.store(s, parent, ids[i*B:(i+1)*B], i*B)
		if err != nil {
			return stats, hit, err
		}
		if e == nil {
			break
		}
		parent = e
	}
	for _, st := range s.stages {
		if err := st.dev.Sync(); err != nil {
			return stats, hit, err
		}
		stages.Add(st.dev.Timings())
	}
	stats.Wall, stats.Stages = time.Since(t0), stages
	return stats, hit, nil
}
