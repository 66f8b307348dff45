package gpucheck

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/ember-infer/ember/ember-core/config"
	"github.com/ember-infer/ember/ember-core/cpu"
	"github.com/ember-infer/ember/ember-core/device"
	"github.com/ember-infer/ember/ember-core/memplan"
	"github.com/ember-infer/ember/ember-core/qwen3"
	"github.com/ember-infer/ember/ember-core/sampling"
	"github.com/ember-infer/ember/ember-core/snapshot"
	"github.com/ember-infer/ember/ember-core/synth"
	cuda "github.com/ember-infer/ember/ember-cuda"
)

// The checks and figures of batched decode (issue 16): a batched session on
// the GPU against single CPU sessions, and the two speed ratios of the
// issue — decode throughput at B = 8 over B = 1, and a prefill with a cached
// prefix over the same prefill uncached.

const (
	batchSeqs = 4 // sequences of the model check
	batchTopK = 8 // top-k of its steps that end on the device
)

// batchRef is one CPU session's greedy run: the logits that chose each token.
type batchRef struct {
	tokens []int32
	logits [][]float32
}

// checkBatchModel decodes batchSeqs prompts of different lengths as one
// batched session on the GPU, and each alone on the CPU backend: the same
// greedy tokens (the near-tie rule of the other model checks), and logits
// within LogitsTolerance. Even steps bring the logits back; odd steps end
// on the device (TopK and LogSumExp) and bring back the top-k and the
// normalizer, each compared with the CPU's logits. Both kinds of step are
// captured into graphs and replayed.
//
// On the emulator (emulated) the decode matmuls take the GEMV path without
// tuning: the tuner times every weight of every batch-size bucket on up to
// 32 copies, minutes of interpretation, and the op checks already cover its
// choice per bucket ("MatMul auto batch").
func checkBatchModel(rep *report, ordinal int, seed uint64, tmp string, ms modelShapes, emulated bool) {
	name := fmt.Sprintf("synthetic head_dim 128, batched decode of %d sequences", batchSeqs)
	dir := filepath.Join(tmp, "batch")
	if err := synth.Write(dir, ms.hd128(), synth.Options{Seed: seed}); err != nil {
		rep.fail(name, err)
		return
	}
	snap, err := snapshot.Open(dir)
	if err != nil {
		rep.fail(name, err)
		return
	}
	defer snap.Close()
	cfg := snap.Config
	r := rand.New(rand.NewPCG(seed, 0xba7c))
	prompts := make([][]int32, batchSeqs)
	for i := range prompts {
		prompts[i] = make([]int32, ms.prompt+[batchSeqs]int{0, -5, 3, -9}[i])
		for j := range prompts[i] {
			prompts[i][j] = r.Int32N(int32(cfg.VocabSize))
		}
	}
	ctx := ms.prompt + 3 + ms.steps + 1
	refs := make([]batchRef, batchSeqs)
	for i, p := range prompts {
		if refs[i], err = batchCPURun(cfg, snap, p, ctx, ms); err != nil {
			rep.fail(name+" on the CPU", err)
			return
		}
	}
	devs, err := openBatch(ordinal, emulated)
	if err != nil {
		rep.fail(name, err)
		return
	}
	g := devs[0]
	defer g.Close()
	m, err := qwen3.Load(cfg, qwen3.SetSource{Set: snap.Tensors}, []device.Device{g}, []int{cfg.NumHiddenLayers})
	if err != nil {
		rep.fail(name, err)
		return
	}
	defer m.Close()
	s, err := m.NewSession(qwen3.SessionOptions{Ctx: ctx, Chunk: ms.chunk, KVDType: device.BF16, Batch: batchSeqs})
	if err != nil {
		rep.fail(name, err)
		return
	}
	defer s.Close()
	if !s.CanTopKOnDevice() {
		rep.check(false, "%s: the CUDA device offers no LogSumExp", name)
		return
	}
	next := make([]int32, batchSeqs)
	maxRef := make([]float64, batchSeqs) // the largest |logit| of each CPU run's first step
	cmp := batchCompare{refs: refs, maxRef: maxRef, live: make([]bool, batchSeqs)}
	for i, p := range prompts {
		if err := s.Select(i); err != nil {
			rep.fail(name, err)
			return
		}
		if _, err := s.Prefill(p); err != nil {
			rep.fail(name, err)
			return
		}
		for _, v := range refs[i].logits[0] {
			maxRef[i] = max(maxRef[i], math.Abs(float64(v)))
		}
		cmp.live[i] = true
		next[i] = int32(argmax(s.Logits()))
		cmp.logits(i, 0, s.Logits())
		cmp.token(i, 0, next[i])
	}
	seqs := []int{0, 1, 2, 3}
	for step := 1; step < ms.steps; step++ {
		topK := 0
		if step%2 == 1 {
			topK = batchTopK
		}
		if _, err := s.DecodeBatch(seqs, next, topK); err != nil {
			rep.fail(fmt.Sprintf("%s: step %d", name, step), err)
			return
		}
		vocab := cfg.VocabSize
		for i := range seqs {
			if topK == 0 {
				row := s.BatchLogits()[i*vocab : (i+1)*vocab]
				next[i] = int32(argmax(row))
				cmp.logits(i, step, row)
			} else {
				vals, idx, lse := s.BatchTop()
				next[i] = idx[i*topK]
				cmp.top(i, step, vals[i*topK:(i+1)*topK], idx[i*topK:(i+1)*topK], lse[i])
			}
			cmp.token(i, step, next[i])
		}
	}
	rep.check(cmp.worst <= LogitsTolerance && cmp.bad == "", "%s: logits, top-%d and log-sum-exp vs CPU: max |Δ| %.2f%% of max |logit| over %d rows (tolerance %.2f%%)%s",
		name, batchTopK, 100*cmp.worst, cmp.rows, 100*LogitsTolerance, cmp.bad)
	rep.check(cmp.diverged == "", "%s: %d greedy steps × %d sequences identical to %d CPU sessions%s%s",
		name, ms.steps, batchSeqs, batchSeqs, cmp.ties, cmp.diverged)
	plain, captured, replays, failures := g.GraphStats()
	rep.check(replays > 0 && failures == 0, "%s: batched steps replayed from graphs: %d plain steps, %d captured, %d replays, %d failed captures",
		name, plain, captured, replays, failures)
}

// batchCPURun prefills p on a CPU session of its own and decodes greedily,
// keeping the logits of each step.
func batchCPURun(cfg *config.Config, snap *snapshot.Snapshot, p []int32, ctx int, ms modelShapes) (batchRef, error) {
	var ref batchRef
	m, err := qwen3.Load(cfg, qwen3.SetSource{Set: snap.Tensors}, []device.Device{cpu.New(cpu.Options{})}, []int{cfg.NumHiddenLayers})
	if err != nil {
		return ref, err
	}
	defer m.Close()
	s, err := m.NewSession(qwen3.SessionOptions{Ctx: ctx, Chunk: ms.chunk, KVDType: device.BF16})
	if err != nil {
		return ref, err
	}
	defer s.Close()
	if _, err := s.Prefill(p); err != nil {
		return ref, err
	}
	for step := range ms.steps {
		l := slices.Clone(s.Logits())
		ref.logits = append(ref.logits, l)
		ref.tokens = append(ref.tokens, int32(argmax(l)))
		if step+1 < ms.steps {
			if _, err := s.Decode(ref.tokens[step]); err != nil {
				return ref, err
			}
		}
	}
	return ref, nil
}

// batchCompare follows each sequence until its tokens leave the CPU's.
type batchCompare struct {
	refs     []batchRef
	maxRef   []float64
	live     []bool // still on the CPU's tokens
	worst    float64
	rows     int
	bad      string // the first non-finite or misplaced value
	ties     string // accepted near ties
	diverged string // the first divergence that is not one
}

func (c *batchCompare) note(i, step int, d float64) {
	d /= c.maxRef[i]
	if math.IsNaN(d) && c.bad == "" {
		c.bad = fmt.Sprintf("; sequence %d step %d: NaN", i, step)
	}
	c.worst = max(c.worst, d)
}

// logits compares a whole row.
func (c *batchCompare) logits(i, step int, row []float32) {
	if !c.live[i] {
		return
	}
	c.rows++
	for j, w := range c.refs[i].logits[step] {
		c.note(i, step, math.Abs(float64(row[j])-float64(w)))
	}
}

// top compares a step that ended on the device: each top-k value with the
// CPU's logit of the same token, the ids in the CPU's order of those
// logits (where they are more than a tolerance apart), and the
// normalizer with the CPU's log Σ exp.
func (c *batchCompare) top(i, step int, vals []float32, idx []int32, lse float32) {
	if !c.live[i] {
		return
	}
	c.rows++
	ref := c.refs[i].logits[step]
	tol := LogitsTolerance * c.maxRef[i]
	for j, id := range idx {
		if id < 0 || int(id) >= len(ref) {
			if c.bad == "" {
				c.bad = fmt.Sprintf("; sequence %d step %d: top-k id %d outside the vocabulary", i, step, id)
			}
			return
		}
		c.note(i, step, math.Abs(float64(vals[j])-float64(ref[id])))
		if j > 0 && float64(ref[idx[j-1]]) < float64(ref[id])-2*tol && c.bad == "" {
			c.bad = fmt.Sprintf("; sequence %d step %d: top-k ids %d, %d out of the CPU's order", i, step, idx[j-1], id)
		}
	}
	c.note(i, step, math.Abs(float64(lse)-sampling.LogSumExp(ref)))
}

// token checks a greedy token against the CPU's; a near tie (the CPU's
// runner-up, within NearTieFraction of the largest logit) ends that
// sequence's comparison, anything else fails it.
func (c *batchCompare) token(i, step int, got int32) {
	if !c.live[i] {
		return
	}
	want := c.refs[i].tokens[step]
	if got == want {
		return
	}
	c.live[i] = false
	m, second := margin(c.refs[i].logits[step])
	bound := float32(c.maxRef[i] * NearTieFraction)
	if int32(second) == got && m < bound {
		c.ties += fmt.Sprintf("; sequence %d step %d: a near tie (CPU %d, CUDA its runner-up %d, margin %.4g < %.4g), not compared further", i, step, want, got, m, bound)
		return
	}
	if c.diverged == "" {
		c.diverged = fmt.Sprintf("; sequence %d differs at step %d: %d vs the CPU's %d (top-2 margin %.4g, a near tie only below %.4g)", i, step, got, want, m, bound)
	}
}

// openBatch opens the GPU; on the emulator with the decode matmuls on the
// GEMV path, untuned (EMBER_DECODE_GEMM=gemv while it opens, unless the
// variable is set already).
func openBatch(ordinal int, emulated bool) ([]*cuda.Device, error) {
	if emulated && os.Getenv("EMBER_DECODE_GEMM") == "" {
		os.Setenv("EMBER_DECODE_GEMM", "gemv")
		defer os.Unsetenv("EMBER_DECODE_GEMM")
	}
	return cuda.Open([]int{ordinal}, nil)
}

// figureShapes are the sizes of the batched-decode and prefix-cache figures.
type figureShapes struct {
	cfg          func() *config.Config
	name         string
	decodePrompt int // tokens before the decode steps
	decodeSteps  int // timed steps at each batch size
	prompt       int // the prefix-cache prompt, and its cached prefix
	prefix       int
	block, chunk int
	reps         int
}

// figureModel is the emulator's figures' model: smallHeadDim128 with 2
// layers and a vocabulary of 1024 (its weights are generated, so it needs no
// tokenizer).
func figureModel() *config.Config {
	c := smallHeadDim128()
	c.NumHiddenLayers, c.VocabSize = 2, 1024
	return c
}

func qwen3_4B() *config.Config {
	p, _ := memplan.LookupPreset(benchModel)
	c := p.Config
	return &c
}

var (
	fullFigures = figureShapes{cfg: qwen3_4B, name: benchModel + " shapes", decodePrompt: 512, decodeSteps: 32,
		prompt: 2048, prefix: 1024, block: 64, chunk: benchChunk, reps: 3}
	emulatorFigures = figureShapes{cfg: figureModel, name: "a 2-layer head_dim-128 model", decodePrompt: 8,
		decodeSteps: 1, prompt: 32, prefix: 16, block: 16, chunk: 16, reps: 1}
)

// figureBatch is the larger batch of the throughput ratio.
const figureBatch = 8

// batchFigures measures, on weights generated on the device, decode
// throughput of figureBatch sequences in one batched step over one
// sequence's (both ending in top-k and log-sum-exp on the device, as the
// rollout's sampled steps do), and a prefill with its first half from the
// prefix cache over the same prefill uncached. On the emulator the shapes
// are reduced and the numbers are the emulator's, not a GPU's.
func batchFigures(rep *report, ordinal int, fs figureShapes, emulator bool) {
	note := ""
	if emulator {
		note = " (emulator: not a speed figure)"
	}
	cfg := fs.cfg()
	devs, err := openBatch(ordinal, emulator)
	if err != nil {
		rep.fail("batched figures", err)
		return
	}
	d := devs[0]
	defer d.Close()
	m, err := qwen3.Load(cfg, newShapeSource(cfg), []device.Device{genDevice{d}}, []int{cfg.NumHiddenLayers})
	if err != nil {
		rep.fail("batched figures: loading weights", err)
		return
	}
	defer m.Close()
	rep.info("model: %s, bf16 weights generated on the device, bf16 KV cache", fs.name)
	r := rand.New(rand.NewPCG(11, 11))
	prompt := make([]int32, max(fs.prompt, fs.decodePrompt))
	for i := range prompt {
		prompt[i] = r.Int32N(int32(cfg.VocabSize))
	}
	if t1, t8, err := batchThroughput(m, fs, prompt[:fs.decodePrompt]); err != nil {
		rep.fail("batched figures: decode", err)
	} else {
		rep.info("batched decode: %.1f tok/s at B=1, %.1f tok/s at B=%d: B=%d / B=1 = %.2f×%s", t1, t8, figureBatch, figureBatch, t8/t1, note)
	}
	if full, cached, err := prefixRatio(m, fs, prompt[:fs.prompt]); err != nil {
		rep.fail("batched figures: prefix cache", err)
	} else {
		rep.info("prefix cache: prefill of %d tokens %.1f ms uncached, %.1f ms with a cached %d-token prefix: cached / uncached = %.2f×%s",
			fs.prompt, ms(full), ms(cached), fs.prefix, cached.Seconds()/full.Seconds(), note)
	}
}

// batchThroughput returns decode tok/s of one sequence and of figureBatch
// sequences, each timed over fs.decodeSteps replayed steps from the same
// positions.
func batchThroughput(m *qwen3.Model, fs figureShapes, prompt []int32) (one, batch float64, err error) {
	const warmup = 3 // plain, captured, replayed
	s, err := m.NewSession(qwen3.SessionOptions{Ctx: len(prompt) + warmup + fs.decodeSteps + 1, Chunk: fs.chunk,
		KVDType: device.BF16, Batch: figureBatch})
	if err != nil {
		return 0, 0, err
	}
	defer s.Close()
	if _, err := s.Prefill(prompt); err != nil {
		return 0, 0, err
	}
	all := make([]int, figureBatch)
	for i := range all {
		all[i] = i
		if _, err := s.CopyPrefix(i, 0, len(prompt)); err != nil {
			return 0, 0, err
		}
	}
	toks := make([]int32, figureBatch)
	rate := func(seqs []int) (float64, error) {
		var wall time.Duration
		for i := range warmup + fs.decodeSteps {
			st, err := s.DecodeBatch(seqs, toks[:len(seqs)], batchTopK)
			if err != nil {
				return 0, err
			}
			if i >= warmup {
				wall += st.Wall
			}
		}
		for _, q := range seqs {
			if err := firstErr(s.Select(q), s.Rewind(len(prompt))); err != nil {
				return 0, err
			}
		}
		return float64(len(seqs)*fs.decodeSteps) / wall.Seconds(), nil
	}
	if one, err = rate(all[:1]); err != nil {
		return 0, 0, err
	}
	batch, err = rate(all)
	return one, batch, err
}

// prefixRatio returns the median times of an uncached prefill of prompt and
// of one whose first fs.prefix tokens come from a prefix cache holding
// exactly that prefix, interleaved.
func prefixRatio(m *qwen3.Model, fs figureShapes, prompt []int32) (full, cached time.Duration, err error) {
	s, err := m.NewSession(qwen3.SessionOptions{Ctx: len(prompt), Chunk: fs.chunk, KVDType: device.BF16})
	if err != nil {
		return 0, 0, err
	}
	defer s.Close()
	probe, err := m.NewPrefixCache(qwen3.PrefixCacheOptions{Block: fs.block, KVDType: device.BF16})
	if err != nil {
		return 0, 0, err
	}
	budget := int64(fs.prefix/fs.block) * probe.BlockBytes()[0]
	probe.Close()
	pc, err := m.NewPrefixCache(qwen3.PrefixCacheOptions{Block: fs.block, KVDType: device.BF16, Budget: []int64{budget}})
	if err != nil {
		return 0, 0, err
	}
	defer pc.Close()
	if _, _, err := s.PrefillCached(pc, prompt); err != nil { // fills the cache with the prefix (and warms up)
		return 0, 0, err
	}
	var fulls, hits []time.Duration
	for range fs.reps {
		s.Reset()
		st, err := s.Prefill(prompt)
		if err != nil {
			return 0, 0, err
		}
		fulls = append(fulls, st.Wall)
		st, hit, err := s.PrefillCached(pc, prompt)
		if err != nil {
			return 0, 0, err
		}
		if hit != fs.prefix {
			return 0, 0, fmt.Errorf("%d tokens came from the prefix cache, want %d", hit, fs.prefix)
		}
		hits = append(hits, st.Wall)
	}
	return medianDur(fulls), medianDur(hits), nil
}

func medianDur(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}
