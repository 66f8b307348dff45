package qwen3

import (
	"fmt"
	"time"

	"github.com/ember-infer/ember/ember-core/device"
)

// A session opened with SessionOptions.Batch = B holds B sequences, each with
// its own KV caches and position. Prefill and Decode act on the selected
// sequence; CopyPrefix gives a sequence another's first positions (the
// candidates of one prompt share its prefill); DecodeBatch runs one token of
// each of several sequences as one chunk of rows, so every weight matrix is
// read once per step for all of them: x [B, hidden] · Wᵀ. Only attention, which
// reads each sequence's own cache, runs row by row.

// batchState is the host side of the last DecodeBatch.
type batchState struct {
	pos    []int     // position of each row, before the step
	topK   int       // 0: the logits came back; else top-k and log-sum-exp
	logits []float32 // [rows, vocab] when topK == 0
	vals   []float32 // [rows, topK], best first
	idx    []int32   // [rows, topK]
	lse    []float32 // [rows]: log Σ exp of each row's logits
	n      int       // rows of the last step
	// vals[:n·topK], idx[:n·topK] and lse[:n] as the values Download
	// takes, boxed once per (n, topK) so that a step allocates nothing.
	dlVals, dlIdx, dlLse any
	dlN, dlK             int
}

// Sequences is how many sequences the session holds.
func (s *Session) Sequences() int { return s.opt.Batch }

// Selected is the sequence Prefill, Decode, Pos, Rewind and Reset act on.
func (s *Session) Selected() int { return s.cur }

// Select makes sequence b the one Prefill, Decode, Pos, Rewind and Reset act on.
func (s *Session) Select(b int) error {
	if s.stages == nil {
		return errClosed
	}
	if b < 0 || b >= s.opt.Batch {
		return fmt.Errorf("sequence %d is outside 0..%d", b, s.opt.Batch-1)
	}
	s.seqPos[s.cur] = s.pos
	s.cur, s.pos = b, s.seqPos[b]
	for _, st := range s.stages {
		st.caches = st.seqs[b]
	}
	return nil
}

// SeqPos is the number of positions sequence b holds.
func (s *Session) SeqPos(b int) int {
	if b == s.cur {
		return s.pos
	}
	return s.seqPos[b]
}

func (s *Session) setSeqPos(b, p int) {
	if b == s.cur {
		s.pos = p
	} else {
		s.seqPos[b] = p
	}
}

// CopyPrefix makes sequence dst hold the first n positions of sequence src
// (n ≤ SeqPos(src)): on every device the K and V rows 0..n-1 of each layer are
// copied (a device-local copy, counted as p2p), and dst's position becomes n.
// The candidates of one prompt are prefilled once and copied this way.
func (s *Session) CopyPrefix(dst, src, n int) (Stats, error) {
	if s.stages == nil {
		return Stats{}, errClosed
	}
	B := s.opt.Batch
	if dst < 0 || dst >= B || src < 0 || src >= B {
		return Stats{}, fmt.Errorf("copy from sequence %d to %d: sequences are 0..%d", src, dst, B-1)
	}
	if n < 0 || n > s.SeqPos(src) {
		return Stats{}, fmt.Errorf("copy of %d positions: sequence %d holds %d", n, src, s.SeqPos(src))
	}
	var stats Stats
	t0 := time.Now()
	for _, st := range s.stages {
		st.dev.ResetTimings()
	}
	if dst != src && n > 0 {
		for _, st := range s.stages {
			for li := range st.layers {
				from, to := &st.seqs[src][li], &st.seqs[dst][li]
				if err := copyRows(st.dev, to.k, from.k, 0, n); err != nil {
					return stats, err
				}
				if err := copyRows(st.dev, to.v, from.v, 0, n); err != nil {
					return stats, err
				}
			}
		}
		for _, st := range s.stages {
			if err := st.dev.Sync(); err != nil {
				return stats, err
			}
		}
	}
	stats.Wall = time.Since(t0)
	for _, st := range s.stages {
		stats.Stages.Add(st.dev.Timings())
	}
	stats.Tokens = n
	s.setSeqPos(dst, n)
	return stats, nil
}

// copyRows copies rows [row, row+n) of src into the same rows of dst, both on d.
func copyRows(d device.Device, dst, src device.Tensor, row, n int) error {
	from, err := d.View(src, row, n)
	if err != nil {
		return err
	}
	to, err := d.View(dst, row, n)
	if err != nil {
		return err
	}
	return d.CopyFrom(to, from)
}

// CanTopKOnDevice reports whether DecodeBatch can finish with topK > 0: the
// last device reduces rows to their log-sum-exp (device.LogSumExper).
func (s *Session) CanTopKOnDevice() bool {
	if len(s.stages) == 0 {
		return false
	}
	ok := s.stages[len(s.stages)-1].lse != nil
	return ok
}

// DecodeBatch runs one decode step of each sequence seqs[i] (distinct) with
// input token ids[i] at that sequence's position, all rows at once. With topK
// == 0 the logits come back (BatchLogits); with topK > 0 only each row's topK
// best logits, their ids and the row's log-sum-exp do (BatchTop), which needs
// CanTopKOnDevice. Sequences not listed are left as they are. The selected
// sequence stays selected.
func (s *Session) DecodeBatch(seqs []int, ids []int32, topK int) (Stats, error) {
	if s.stages == nil {
		return Stats{}, errClosed
	}
	c := s.m.Config
	n := len(seqs)
	if n == 0 || n != len(ids) || n > s.opt.Batch {
		return Stats{}, fmt.Errorf("batched decode of %d sequences with %d tokens; the session holds %d", n, len(ids), s.opt.Batch)
	}
	if topK < 0 || topK > c.VocabSize {
		return Stats{}, fmt.Errorf("batched decode top-k %d is outside 0..%d", topK, c.VocabSize)
	}
	if topK > 0 && !s.CanTopKOnDevice() {
		return Stats{}, fmt.Errorf("%s cannot reduce logits on the device (no LogSumExp); use top-k 0", s.stages[len(s.stages)-1].dev.Name())
	}
	b := &s.batch
	b.pos = b.pos[:0]
	for i, seq := range seqs {
		if seq < 0 || seq >= s.opt.Batch {
			return Stats{}, fmt.Errorf("sequence %d is outside 0..%d", seq, s.opt.Batch-1)
		}
		for _, other := range seqs[:i] {
			if other == seq {
				return Stats{}, fmt.Errorf("sequence %d is listed twice in one batched step", seq)
			}
		}
		p := s.SeqPos(seq)
		if p+1 > s.opt.Ctx {
			return Stats{}, fmt.Errorf("sequence %d: 1 position would pass the context limit of %d (at position %d): %w", seq, s.opt.Ctx, p, ErrContextFull)
		}
		if ids[i] < 0 || int(ids[i]) >= c.VocabSize {
			return Stats{}, fmt.Errorf("token id %d is outside the vocabulary of %d", ids[i], c.VocabSize)
		}
		b.pos = append(b.pos, p)
	}
	for _, st := range s.stages {
		if st.batchKV == nil {
			st.batchKV = make([]layerCache, len(st.layers))
		}
		for li := range st.layers {
			rows := st.batchKV[li].rows[:0]
			for _, seq := range seqs {
				rows = append(rows, &st.seqs[seq][li])
			}
			st.batchKV[li].rows = rows
		}
		st.dev.ResetTimings()
	}
	b.topK, b.n = topK, n
	s.oneSpan[0] = span{0, n}
	s.job = job{s: s, ids: ids, chunks: s.oneSpan[:], pick: pickLogits, rowPos: b.pos}
	t0 := time.Now()
	err := s.job.sequential()
	if err == nil {
		for _, st := range s.stages {
			err = firstErr(err, st.dev.Sync())
		}
	}
	stats := Stats{Wall: time.Since(t0), Tokens: n, Chunks: 1}
	for _, st := range s.stages {
		stats.Stages.Add(st.dev.Timings())
	}
	if err != nil {
		return stats, err
	}
	for i, seq := range seqs {
		s.setSeqPos(seq, b.pos[i]+1)
	}
	return stats, nil
}

// BatchLogits returns the last DecodeBatch's logits, [rows × vocab] in the
// order of its seqs, when it ran with topK 0 (valid until the next call).
func (s *Session) BatchLogits() []float32 {
	if s.batch.topK != 0 {
		return nil
	}
	return s.batch.logits[:s.batch.n*s.m.Config.VocabSize]
}

// BatchTop returns the last DecodeBatch's top-k per row when it ran with
// topK > 0: vals and idx [rows × topK], best first (ties by lower id), and
// each row's log Σ exp of its logits, so that vals[i*topK+j] − lse[i] is the
// log-probability of token idx[i*topK+j] (valid until the next call).
func (s *Session) BatchTop() (vals []float32, idx []int32, lse []float32) {
	b := &s.batch
	if b.topK == 0 {
		return nil, nil, nil
	}
	return b.vals[:b.n*b.topK], b.idx[:b.n*b.topK], b.lse[:b.n]
}

// rowViews makes w's one-row views of q, k, v and attn on first use.
func (w *rows) rowViews(d device.Device) error {
	if len(w.qRow) == w.n {
		return nil
	}
	q, k, v, a := make([]device.Tensor, w.n), make([]device.Tensor, w.n), make([]device.Tensor, w.n), make([]device.Tensor, w.n)
	for i := range w.n {
		var err error
		if q[i], err = d.View(w.q, i, 1); err != nil {
			return err
		}
		if k[i], err = d.View(w.k, i, 1); err != nil {
			return err
		}
		if v[i], err = d.View(w.v, i, 1); err != nil {
			return err
		}
		if a[i], err = d.View(w.attn, i, 1); err != nil {
			return err
		}
	}
	w.qRow, w.kRow, w.vRow, w.attnRow = q, k, v, a
	return nil
}

// batchHead finishes a batched step on the last device: the final norm and
// lm_head over every row, then either the logits come back, or each row's
// top-k and log-sum-exp are computed there and only those come back.
func (j *job) batchHead(st *stageState, w *rows) error {
	s, d := j.s, st.dev
	m := s.m
	b := &s.batch
	n, vocab := w.n, m.Config.VocabSize
	if w.logitsN == nil {
		v, err := d.View(st.logits, 0, n)
		if err != nil {
			return err
		}
		w.logitsN = v
	}
	logits := w.logitsN
	if err := firstErr(
		stage(d, device.StageRMSNorm),
		d.RMSNorm(w.h, w.x, m.Norm, m.eps),
		stage(d, device.StageLMHead),
		d.MatMul(logits, w.h, m.LMHead),
	); err != nil {
		return err
	}
	if b.topK == 0 {
		if cap(b.logits) < n*vocab {
			b.logits = make([]float32, s.opt.Batch*vocab)
		}
		return d.Download(b.logits[:n*vocab], logits)
	}
	k := b.topK
	if err := st.batchTop(s.opt.Batch, k); err != nil {
		return err
	}
	if cap(b.vals) < s.opt.Batch*k {
		b.vals, b.idx = make([]float32, s.opt.Batch*k), make([]int32, s.opt.Batch*k)
		b.dlN = 0
	}
	if cap(b.lse) < s.opt.Batch {
		b.lse = make([]float32, s.opt.Batch)
		b.dlN = 0
	}
	if b.dlN != n || b.dlK != k {
		b.dlVals, b.dlIdx, b.dlLse = b.vals[:n*k], b.idx[:n*k], b.lse[:n]
		b.dlN, b.dlK = n, k
	}
	if w.topOf != st.topVals {
		var err error
		view := func(t device.Tensor) device.Tensor {
			if err != nil {
				return nil
			}
			var v device.Tensor
			v, err = d.View(t, 0, n)
			return v
		}
		w.topVals, w.topIdx, w.topZ = view(st.topVals), view(st.topIdx), view(st.topZ)
		if err != nil {
			w.topOf = nil
			return err
		}
		w.topOf = st.topVals
	}
	vals, idx, lse := w.topVals, w.topIdx, w.topZ
	return firstErr(
		stage(d, device.StageSampling),
		d.TopK(vals, idx, logits, k),
		st.lse.LogSumExp(lse, logits),
		d.Download(b.dlVals, vals),
		d.Download(b.dlIdx, idx),
		d.Download(b.dlLse, lse),
	)
}

// batchTop makes the last device's top-k buffers for rows × k, remaking them
// when k changes.
func (st *stageState) batchTop(rows, k int) error {
	if st.topK == k {
		return nil
	}
	st.freeBatchTop()
	d := st.dev
	var err error
	alloc := func(dt device.DType, shape ...int) device.Tensor {
		if err != nil {
			return nil
		}
		var t device.Tensor
		t, err = d.Alloc(dt, shape...)
		return t
	}
	st.topVals, st.topIdx, st.topZ = alloc(device.F32, rows, k), alloc(device.I32, rows, k), alloc(device.F32, rows, 1)
	if err != nil {
		st.freeBatchTop()
		return err
	}
	st.topK = k
	return nil
}

func (st *stageState) freeBatchTop() {
	for _, t := range []device.Tensor{st.topVals, st.topIdx, st.topZ} {
		if t != nil {
			st.dev.Free(t)
		}
	}
	st.topVals, st.topIdx, st.topZ, st.topK = nil, nil, nil, 0
}
