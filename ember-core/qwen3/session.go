package qwen3

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ember-infer/ember/ember-core/device"
)

// ErrContextFull is wrapped when a prefill or decode would pass the session's context limit.
var ErrContextFull = errors.New("context limit reached")

// SessionOptions configures a Session.
type SessionOptions struct {
	// Ctx is the most positions (prompt + generated) the session holds; the KV
	// caches are sized for it. 0 means min(4096, max_position_embeddings).
	Ctx int
	// Chunk is the prefill chunk in tokens; 0 runs the whole prompt in one pass
	// (workspaces are then sized for Ctx rows).
	Chunk int
	// Overlap lets the devices work on different chunks at once: device 0 runs
	// chunk i+1 while device 1 runs chunk i. It needs Chunk > 0 and two devices
	// to matter.
	Overlap bool
	// KVDType is the KV cache element type (F32, F16 or BF16).
	KVDType device.DType
	// AllLogits keeps the logits of every prompt position (for `ember check`),
	// not just the last one.
	AllLogits bool
	// Hidden lists hidden states to hand to OnHidden, numbered as Hugging Face's
	// output_hidden_states: 0 is the embedding output, i the output of layer i-1,
	// and num_hidden_layers the final-normed output.
	Hidden []int
	// OnHidden receives rows start..start+n-1 of hidden state index (n × hidden
	// values). It is called from the device's goroutine, in chunk order per index.
	// Batched decode steps (DecodeBatch) do not report hidden states.
	OnHidden func(index, start, n int, h []float32)
	// Batch is how many sequences the session holds (0 means 1), each with its
	// own KV caches and position: the candidates of a rollout. Prefill, Decode
	// and the rest run on the selected sequence (Select); DecodeBatch steps
	// several sequences at once.
	Batch int
}

// Stats is what one Prefill or Decode call measured.
type Stats struct {
	Wall   time.Duration
	Stages device.Timings // summed over devices; with overlap this can exceed Wall
	Tokens int
	Chunks int
}

// Session holds a conversation's KV caches and position on a Model.
type Session struct {
	m      *Model
	opt    SessionOptions
	rows   int // workspace rows: the largest chunk
	stages []*stageState
	pos    int // the selected sequence's position
	owned  []device.Tensor

	cur    int   // the selected sequence
	seqPos []int // every sequence's position; seqPos[cur] is stale, pos is current
	batch  batchState

	greedy    int32 // DecodeGreedy's or DecodeSample's token
	sampling  DeviceSampling
	logits    []float32 // last position's logits, host
	allLogits []float32 // [positions of the last Prefill, vocab] when AllLogits

	// A decode step reuses these rather than allocating its arguments.
	one     [1]int32
	oneSpan [1]span
	job     job
}

// layerCache is one layer's K and V cache of one sequence. On a batched
// decode step the stand-in for a layer has no k, v of its own: rows[i] is
// the cache of the sequence that row i of the step belongs to.
type layerCache struct {
	k, v device.Tensor
	rows []*layerCache
}

// stageState is one device's part of a session: its layers' caches and its
// workspace (two slots of the residual stream so that, with overlap, the
// previous device can hand over chunk i+1 while this one works on chunk i).
type stageState struct {
	dev device.Device
	// dev's optional sampling ops, nil where it has none (asserted once: see
	// fusedOps)
	sampler device.TokenSampler
	lse     device.LogSumExper
	layers  []int            // model layer indices on this device
	caches  []layerCache     // the selected sequence's: seqs[cur]
	seqs    [][]layerCache   // per sequence, per layer
	slot    [2]device.Tensor // x: [rows, hidden] residual stream
	h       device.Tensor    // [rows, hidden]
	q       device.Tensor    // [rows, heads*hd]
	k, v    device.Tensor    // [rows, kv*hd]
	attn    device.Tensor    // [rows, heads*hd]
	gate    device.Tensor    // [rows, inter]
	up      device.Tensor    // [rows, inter]
	pos     device.Tensor    // I32 [rows]
	ids     device.Tensor    // I32 [rows], first device only
	logits  device.Tensor    // F32 [1 or rows, vocab], last device only
	argmax  device.Tensor    // I32 [1], last device only
	posBuf  []int32
	idsBuf  []int32
	host    []float32 // download scratch for hidden states

	// views[slot] are the workspace views for the last chunk size run in that
	// slot, and one those of a decode step (one row, slot 0), made once so
	// that decode steps allocate nothing even between prefills. argmaxHost is
	// the host side of argmax, boxed once.
	views      [2]*rows
	one        *rows
	argmaxBuf  []int32
	argmaxHost any

	// Top-k candidates for DecodeSample, last device only, made on first use.
	candVals, candIdx device.Tensor
	candK             int

	// A batched decode step's per-layer stand-ins (layerCache.rows), and on
	// the last device its top-k values, indices and log-sum-exp per row
	// ([Batch, topK], [Batch]), made on first use.
	batchKV               []layerCache
	topVals, topIdx, topZ device.Tensor
	topK                  int
}

// rows are views of a stage's workspace for one chunk of n rows, and the
// host-side arguments of its uploads, boxed once.
type rows struct {
	n                                  int
	x, h, q, k, v, attn, gate, up, pos device.Tensor
	ids                                device.Tensor // first device only
	posHost, idsHost                   any           // posBuf[:n], idsBuf[:n]
	// head's views: the last row of x and of h, h's first row, one row of logits.
	xLast, hLast, hFirst, logits1 device.Tensor
	// On a batched decode step, each row's position (what posHost holds) and
	// one-row views of q, k, v and attn (made on first use), for the
	// per-sequence append and attention.
	rowPos                    []int
	qRow, kRow, vRow, attnRow []device.Tensor
	kcRow, vcRow              []device.Tensor // BatchAttention's caches, one per row
	// batchHead's views (made on first use): the logits' n rows, and those
	// of the top-k buffers, remade when the buffers are (topOf is the
	// topVals they were made of).
	logitsN, topVals, topIdx, topZ, topOf device.Tensor
}

// NewSession allocates KV caches and workspaces on every device of m. When a
// budget cannot hold them it fails with that device's *device.OutOfMemoryError
// and frees what it had allocated.
func (m *Model) NewSession(opt SessionOptions) (*Session, error) {
	c := m.Config
	if opt.Ctx == 0 {
		opt.Ctx = min(4096, c.MaxPositionEmbeddings)
	}
	if opt.Ctx < 1 || opt.Ctx > c.MaxPositionEmbeddings {
		return nil, fmt.Errorf("context %d is outside 1..%d (max_position_embeddings)", opt.Ctx, c.MaxPositionEmbeddings)
	}
	if opt.Chunk < 0 {
		return nil, fmt.Errorf("prefill chunk %d is negative", opt.Chunk)
	}
	switch opt.KVDType {
	case device.F32, device.F16, device.BF16:
	default:
		return nil, fmt.Errorf("KV cache dtype %s is not F32, F16 or BF16", opt.KVDType)
	}
	for _, h := range opt.Hidden {
		if h < 0 || h > c.NumHiddenLayers {
			return nil, fmt.Errorf("hidden state %d is outside 0..%d", h, c.NumHiddenLayers)
		}
	}
	s := &Session{m: m, opt: opt, rows: opt.Chunk}
	if s.rows == 0 || s.rows > opt.Ctx {
		s.rows = opt.Ctx
	}
	if opt.Batch < 0 {
		return nil, fmt.Errorf("batch of %d sequences is negative", opt.Batch)
	}
	s.opt.Batch = max(1, opt.Batch)
	s.seqPos = make([]int, s.opt.Batch)
	// A batched decode step runs one row per sequence through the workspace.
	s.rows = max(s.rows, s.opt.Batch)
	if err := s.alloc(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Session) alloc() error {
	m, c := s.m, s.m.Config
	var err error
	get := func(d device.Device, dt device.DType, shape ...int) device.Tensor {
		if err != nil {
			return nil
		}
		var t device.Tensor
		t, err = d.Alloc(dt, shape...)
		if err == nil {
			s.owned = append(s.owned, t)
		}
		return t
	}
	R := s.rows
	layer := 0
	for k, d := range m.Devices {
		st := &stageState{dev: d, posBuf: make([]int32, R), idsBuf: make([]int32, R), argmaxBuf: make([]int32, 1)}
		st.argmaxHost = st.argmaxBuf
		st.sampler, _ = d.(device.TokenSampler)
		st.lse, _ = d.(device.LogSumExper)
		for range m.Split[k] {
			st.layers = append(st.layers, layer)
			layer++
		}
		st.seqs = make([][]layerCache, s.opt.Batch)
		for b := range st.seqs {
			for range st.layers {
				st.seqs[b] = append(st.seqs[b], layerCache{
					k: get(d, s.opt.KVDType, s.opt.Ctx, c.KVDim()),
					v: get(d, s.opt.KVDType, s.opt.Ctx, c.KVDim()),
				})
			}
		}
		st.caches = st.seqs[0]
		st.slot[0] = get(d, device.F32, R, c.HiddenSize)
		st.slot[1] = get(d, device.F32, R, c.HiddenSize)
		st.h = get(d, device.F32, R, c.HiddenSize)
		st.q = get(d, device.F32, R, c.QDim())
		st.k = get(d, device.F32, R, c.KVDim())
		st.v = get(d, device.F32, R, c.KVDim())
		st.attn = get(d, device.F32, R, c.QDim())
		st.gate = get(d, device.F32, R, c.IntermediateSize)
		st.up = get(d, device.F32, R, c.IntermediateSize)
		st.pos = get(d, device.I32, R)
		if k == 0 {
			st.ids = get(d, device.I32, R)
		}
		if k == len(m.Devices)-1 {
			n := s.opt.Batch // a batched step's logits: one row per sequence
			if s.opt.AllLogits {
				n = R
			}
			st.logits = get(d, device.F32, n, c.VocabSize)
			st.argmax = get(d, device.I32, 1)
		}
		if err != nil {
			return err
		}
		// A decode step's views, made now so that the first step allocates
		// nothing either (ember bench counts allocations from it).
		if st.one, err = st.rowsOf(1, 0); err != nil {
			return err
		}
		if k == len(m.Devices)-1 {
			if err := st.lastRows(st.one); err != nil {
				return err
			}
		}
		s.stages = append(s.stages, st)
	}
	s.logits = make([]float32, c.VocabSize)
	return nil
}

// Close frees the session's caches and workspaces. It is safe to call twice.
func (s *Session) Close() {
	for _, st := range s.stages {
		st.freeCandidates()
		st.freeBatchTop()
	}
	for _, t := range s.owned {
		t.Device().Free(t)
	}
	s.owned = nil
	s.stages = nil
}

// Pos is the number of positions already in the KV cache.
func (s *Session) Pos() int { return s.pos }

// Ctx is the session's context limit.
func (s *Session) Ctx() int { return s.opt.Ctx }

// Reset empties the selected sequence; its caches are overwritten from position 0.
func (s *Session) Reset() { s.pos = 0 }

// Rewind moves the session back to pos (≤ Pos()), keeping the cache before it:
// a chat that re-renders its prompt prefills only what differs.
func (s *Session) Rewind(pos int) error {
	if pos < 0 || pos > s.pos {
		return fmt.Errorf("rewind to position %d: the session holds positions 0..%d", pos, s.pos)
	}
	s.pos = pos
	return nil
}

// Logits returns the logits at the last position processed (valid until the
// next call).
func (s *Session) Logits() []float32 { return s.logits }

// AllLogits returns [n × vocab] logits for every position of the last Prefill
// when the session was opened with AllLogits.
func (s *Session) AllLogits() []float32 { return s.allLogits }

// span is a chunk of positions.
type span struct{ start, n int }

// Prefill runs ids through the model at positions Pos().. and leaves the last
// position's logits in Logits().
func (s *Session) Prefill(ids []int32) (Stats, error) {
	if len(ids) == 0 {
		return Stats{}, errors.New("prefill of an empty prompt")
	}
	if err := s.fits(len(ids)); err != nil {
		return Stats{}, err
	}
	chunk := s.rows
	var chunks []span
	for i := 0; i < len(ids); i += chunk {
		chunks = append(chunks, span{s.pos + i, min(chunk, len(ids)-i)})
	}
	if s.opt.AllLogits {
		s.allLogits = make([]float32, len(ids)*s.m.Config.VocabSize)
	}
	return s.runWith(ids, chunks, true, pickLogits)
}

// Decode runs one token at position Pos() and leaves its logits in Logits().
func (s *Session) Decode(id int32) (Stats, error) {
	s.one[0], s.oneSpan[0] = id, span{s.pos, 1}
	return s.runWith(s.one[:], s.oneSpan[:], false, pickLogits)
}

// DeviceSampling are the parameters of a token drawn on the device
// (device.TokenSampler): the TopK best logits, divided by Temp, cut by TopP
// and MinP, drawn with U, a uniform number in [0, 1) from the host's seeded
// generator.
type DeviceSampling struct {
	TopK             int
	Temp, TopP, MinP float32
	U                float64
}

// CanSampleOnDevice reports whether the last device draws tokens itself
// (DecodeSample); otherwise sampling needs the logits on the host.
func (s *Session) CanSampleOnDevice() bool {
	if len(s.stages) == 0 {
		return false
	}
	ok := s.stages[len(s.stages)-1].sampler != nil
	return ok
}

// DecodeSample runs one token and draws the next on the last device: top-k
// there, then device.TokenSampler, so only the token id crosses back to the
// host. Logits() is not updated.
func (s *Session) DecodeSample(id int32, p DeviceSampling) (int32, Stats, error) {
	if s.stages == nil {
		return 0, Stats{}, errClosed
	}
	if !s.CanSampleOnDevice() {
		return 0, Stats{}, fmt.Errorf("%s cannot sample on the device", s.stages[len(s.stages)-1].dev.Name())
	}
	if p.TopK < 1 || p.TopK > s.m.Config.VocabSize || !(p.Temp > 0) || !(p.U >= 0 && p.U < 1) {
		return 0, Stats{}, fmt.Errorf("device sampling needs top-k in 1..%d, a positive temperature and u in [0, 1) (got %d, %g, %g)", s.m.Config.VocabSize, p.TopK, p.Temp, p.U)
	}
	s.sampling = p
	s.one[0], s.oneSpan[0] = id, span{s.pos, 1}
	st, err := s.runWith(s.one[:], s.oneSpan[:], false, pickSample)
	return s.greedy, st, err
}

// DecodeGreedy runs one token and returns the argmax of its logits, computed on
// the last device so only the token id crosses back to the host. Logits() is
// not updated.
func (s *Session) DecodeGreedy(id int32) (int32, Stats, error) {
	s.one[0], s.oneSpan[0] = id, span{s.pos, 1}
	st, err := s.runWith(s.one[:], s.oneSpan[:], false, pickArgmax)
	return s.greedy, st, err
}

// pick is how a call ends on the last device.
type pick uint8

const (
	pickLogits pick = iota // download the logits
	pickArgmax             // argmax on the device, download the id
	pickSample             // top-k and a draw on the device, download the id
)

func (s *Session) runWith(ids []int32, chunks []span, prefill bool, how pick) (Stats, error) {
	end := chunks[len(chunks)-1].start + chunks[len(chunks)-1].n
	if err := s.fits(end - s.pos); err != nil {
		return Stats{}, err
	}
	for _, id := range ids {
		if id < 0 || int(id) >= s.m.Config.VocabSize {
			return Stats{}, fmt.Errorf("token id %d is outside the vocabulary of %d", id, s.m.Config.VocabSize)
		}
	}
	for _, st := range s.stages {
		st.dev.ResetTimings()
	}
	s.job = job{s: s, ids: ids, chunks: chunks, base: s.pos, prefill: prefill, pick: how}
	j := &s.job
	t0 := time.Now()
	var err error
	if prefill && s.opt.Overlap && len(s.stages) > 1 && len(chunks) > 1 {
		err = j.pipelined()
	} else {
		err = j.sequential()
	}
	if err == nil {
		for _, st := range s.stages {
			err = firstErr(err, st.dev.Sync())
		}
	}
	stats := Stats{Wall: time.Since(t0), Tokens: len(ids), Chunks: len(chunks)}
	for _, st := range s.stages {
		stats.Stages.Add(st.dev.Timings())
	}
	if err != nil {
		return stats, err
	}
	s.pos = end
	return stats, nil
}

var errClosed = errors.New("session is closed")

// fits checks that the session is open and that n more positions fit its
// context, before anything is allocated or run for them.
func (s *Session) fits(n int) error {
	if s.stages == nil {
		return errClosed
	}
	if s.pos+n > s.opt.Ctx {
		return fmt.Errorf("%d positions would pass the context limit of %d (at position %d): %w", n, s.opt.Ctx, s.pos, ErrContextFull)
	}
	return nil
}

// job is one Prefill or Decode call moving through the stages.
type job struct {
	s       *Session
	ids     []int32
	chunks  []span
	base    int   // position of ids[0]
	prefill bool  // a Prefill call (all logits may be kept), not a decode step
	pick    pick  // how the last device finishes: logits, argmax or a draw
	rowPos  []int // a batched decode step's position per row (DecodeBatch), or nil
}

// sequential runs each chunk through every device in turn: no overlap.
func (j *job) sequential() error {
	for ci := range j.chunks {
		for k := range j.s.stages {
			if err := j.stage(k, ci); err != nil {
				return err
			}
		}
	}
	return nil
}

// pipelined runs one goroutine per device. A device takes chunk i from the
// previous one as soon as it is handed over, so device 0 computes chunk i+1
// while device 1 computes chunk i. Each device has two residual slots: a chunk
// may be handed into the slot that is not being computed on.
func (j *job) pipelined() error {
	n := len(j.s.stages)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make([]chan int, n) // ready[k]: chunk indices whose input sits in device k's slot
	free := make([]chan struct{}, n)
	for k := range n {
		ready[k] = make(chan int, 2)
		free[k] = make(chan struct{}, 2)
		free[k] <- struct{}{}
		free[k] <- struct{}{}
	}
	errs := make(chan error, n)
	for k := range n {
		go func() {
			errs <- j.stageLoop(ctx, k, ready, free)
		}()
	}
	var first error
	for range n {
		if err := <-errs; err != nil && first == nil {
			first = err
			cancel()
		}
	}
	return first
}

func (j *job) stageLoop(ctx context.Context, k int, ready []chan int, free []chan struct{}) error {
	last := len(j.s.stages) - 1
	for i := range j.chunks {
		ci := i
		if k == 0 {
			select {
			case <-free[0]:
			case <-ctx.Done():
				return nil
			}
		} else {
			select {
			case ci = <-ready[k]:
			case <-ctx.Done():
				return nil
			}
		}
		if err := j.compute(k, ci); err != nil {
			return err
		}
		if k < last {
			select {
			case <-free[k+1]:
			case <-ctx.Done():
				return nil
			}
			if err := j.handOver(k, ci); err != nil {
				return err
			}
			ready[k+1] <- ci
		}
		free[k] <- struct{}{}
	}
	return nil
}

// stage runs chunk ci on device k and hands it to device k+1.
func (j *job) stage(k, ci int) error {
	if err := j.compute(k, ci); err != nil {
		return err
	}
	if k < len(j.s.stages)-1 {
		return j.handOver(k, ci)
	}
	return nil
}

func (j *job) views(k, ci int) (*rows, error) {
	st := j.s.stages[k]
	n := j.chunks[ci].n
	cache := &st.views[ci%2]
	if n == 1 && ci%2 == 0 {
		cache = &st.one
	}
	if w := *cache; w != nil && w.n == n {
		return w, nil
	}
	w, err := st.rowsOf(n, ci%2)
	if err != nil {
		return nil, err
	}
	*cache = w
	return w, nil
}

// rowsOf makes the views of n rows of the stage's workspace, the residual
// stream in the given slot.
func (st *stageState) rowsOf(n, slot int) (*rows, error) {
	w := rows{n: n, posHost: st.posBuf[:n], idsHost: st.idsBuf[:n]}
	var err error
	view := func(t device.Tensor) device.Tensor {
		if err != nil {
			return nil
		}
		var v device.Tensor
		v, err = st.dev.View(t, 0, n)
		return v
	}
	w.x = view(st.slot[slot])
	w.h, w.q, w.k, w.v = view(st.h), view(st.q), view(st.k), view(st.v)
	w.attn, w.gate, w.up, w.pos = view(st.attn), view(st.gate), view(st.up), view(st.pos)
	if st.ids != nil {
		w.ids = view(st.ids)
	}
	if err != nil {
		return nil, err
	}
	return &w, nil
}

// lastRows returns head's one-row views of w, made on first use.
func (st *stageState) lastRows(w *rows) error {
	if w.logits1 != nil {
		return nil
	}
	var err error
	view := func(t device.Tensor, row int) device.Tensor {
		if err != nil {
			return nil
		}
		var v device.Tensor
		v, err = st.dev.View(t, row, 1)
		return v
	}
	w.xLast, w.hLast, w.hFirst, w.logits1 = view(w.x, w.n-1), view(w.h, w.n-1), view(w.h, 0), view(st.logits, 0)
	if err != nil {
		w.logits1 = nil
	}
	return err
}

// compute runs chunk ci through device k's layers; on device 0 it first embeds
// the tokens, on the last device it finishes with the final norm and lm_head.
func (j *job) compute(k, ci int) error {
	s, st := j.s, j.s.stages[k]
	d := st.dev
	sp := j.chunks[ci]
	w, err := j.views(k, ci)
	if err != nil {
		return err
	}
	w.rowPos = j.rowPos
	for i := range sp.n {
		if j.rowPos != nil {
			st.posBuf[i] = int32(j.rowPos[i])
		} else {
			st.posBuf[i] = int32(sp.start + i)
		}
	}
	if err := d.Upload(w.pos, w.posHost); err != nil {
		return err
	}
	if k == 0 {
		off := sp.start - j.base
		copy(st.idsBuf[:sp.n], j.ids[off:off+sp.n])
		if err := firstErr(
			d.Upload(w.ids, w.idsHost),
			stage(d, device.StageEmbedding),
			d.Embedding(w.x, s.m.Embed, w.ids),
		); err != nil {
			return err
		}
		if err := j.observe(st, 0, sp, w.x); err != nil {
			return err
		}
	}
	for li, layer := range st.layers {
		kv := &st.caches[li]
		if j.rowPos != nil {
			kv = &st.batchKV[li]
		}
		if err := s.m.forwardLayer(s.m.Layers[layer], w, kv, sp.start); err != nil {
			return fmt.Errorf("layer %d on %s: %w", layer, d.Name(), err)
		}
		if layer+1 < s.m.Config.NumHiddenLayers { // index L is the final-normed state, observed in head
			if err := j.observe(st, layer+1, sp, w.x); err != nil {
				return err
			}
		}
	}
	if k == len(s.stages)-1 {
		return j.head(st, ci, w)
	}
	return nil
}

// head applies the final norm and lm_head on the last device: to every row when
// all logits are wanted, else only to the last row of the last chunk.
func (j *job) head(st *stageState, ci int, w *rows) error {
	s, d := j.s, st.dev
	m := s.m
	sp := j.chunks[ci]
	if j.rowPos != nil {
		return j.batchHead(st, w)
	}
	L := m.Config.NumHiddenLayers
	last := ci == len(j.chunks)-1
	all := s.opt.AllLogits && j.prefill
	wantHidden := contains(s.opt.Hidden, L)
	if !all && !wantHidden && !last {
		return nil
	}
	if err := st.lastRows(w); err != nil {
		return err
	}
	x, h := w.x, w.h
	if !all && !wantHidden {
		x, h = w.xLast, w.hFirst
	}
	if err := firstErr(stage(d, device.StageRMSNorm), d.RMSNorm(h, x, m.Norm, m.eps)); err != nil {
		return err
	}
	if wantHidden {
		if err := j.observe(st, L, sp, h); err != nil {
			return err
		}
	}
	if !all && !last {
		return nil
	}
	if !all && wantHidden {
		h = w.hLast
	}
	logits := w.logits1
	if all {
		var err error
		if logits, err = d.View(st.logits, 0, sp.n); err != nil {
			return err
		}
	}
	if err := firstErr(stage(d, device.StageLMHead), d.MatMul(logits, h, m.LMHead)); err != nil {
		return err
	}
	vocab := m.Config.VocabSize
	switch j.pick {
	case pickArgmax, pickSample:
		d.SetStage(device.StageSampling)
		var err error
		if j.pick == pickArgmax {
			err = d.ArgMax(st.argmax, logits)
		} else {
			err = st.sample(logits, s.sampling)
		}
		if err != nil {
			return err
		}
		if err := d.Download(st.argmaxHost, st.argmax); err != nil {
			return err
		}
		s.greedy = st.argmaxBuf[0]
		return nil
	}
	if all {
		off := (sp.start - j.base) * vocab
		dst := s.allLogits[off : off+sp.n*vocab]
		if err := d.Download(dst, logits); err != nil {
			return err
		}
		if last {
			copy(s.logits, dst[(sp.n-1)*vocab:])
		}
		return nil
	}
	return d.Download(s.logits, logits)
}

// sample draws a token from logits ([1, vocab]) into st.argmax on the device:
// TopK into candidate buffers (made on first use, remade when k changes),
// then the device's own draw.
func (st *stageState) sample(logits device.Tensor, p DeviceSampling) error {
	d := st.dev
	if st.candK != p.TopK {
		st.freeCandidates()
		vals, err := d.Alloc(device.F32, 1, p.TopK)
		if err != nil {
			return err
		}
		idx, err := d.Alloc(device.I32, 1, p.TopK)
		if err != nil {
			d.Free(vals)
			return err
		}
		st.candVals, st.candIdx, st.candK = vals, idx, p.TopK
	}
	return firstErr(
		d.TopK(st.candVals, st.candIdx, logits, p.TopK),
		st.sampler.SampleSorted(st.argmax, st.candVals, st.candIdx, p.Temp, p.TopP, p.MinP, p.U),
	)
}

func (st *stageState) freeCandidates() {
	if st.candVals != nil {
		st.dev.Free(st.candVals)
		st.dev.Free(st.candIdx)
	}
	st.candVals, st.candIdx, st.candK = nil, nil, 0
}

// handOver copies chunk ci's residual stream from device k to device k+1 (p2p).
func (j *job) handOver(k, ci int) error {
	src, dst := j.s.stages[k], j.s.stages[k+1]
	n := j.chunks[ci].n
	from, err := src.dev.View(src.slot[ci%2], 0, n)
	if err != nil {
		return err
	}
	to, err := dst.dev.View(dst.slot[ci%2], 0, n)
	if err != nil {
		return err
	}
	return dst.dev.CopyFrom(to, from)
}

func (j *job) observe(st *stageState, index int, sp span, h device.Tensor) error {
	s := j.s
	if s.opt.OnHidden == nil || !contains(s.opt.Hidden, index) || j.rowPos != nil {
		return nil
	}
	n := sp.n * s.m.Config.HiddenSize
	if r, _ := device.Rows(h); r != sp.n {
		return fmt.Errorf("hidden state %d: %d rows, want %d", index, r, sp.n)
	}
	if cap(st.host) < n {
		st.host = make([]float32, n)
	}
	buf := st.host[:n]
	if err := st.dev.Download(buf, h); err != nil {
		return err
	}
	s.opt.OnHidden(index, sp.start, sp.n, buf)
	return nil
}

func contains(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}
