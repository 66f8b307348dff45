package gpucheck

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/ember-infer/ember/ember-core/config"
	"github.com/ember-infer/ember/ember-core/cpu"
	"github.com/ember-infer/ember/ember-core/device"
	"github.com/ember-infer/ember/ember-core/qwen3"
	"github.com/ember-infer/ember/ember-core/snapshot"
	"github.com/ember-infer/ember/ember-core/synth"
	cuda "github.com/ember-infer/ember/ember-cuda"
)

// Model checks: whole synthetic models on the CUDA backend against the CPU
// backend — prompt logits within LogitsTolerance, then the same greedy tokens.
const (
	promptLen   = 40
	greedySteps = 32
	chunk       = 16
)

// headDim128 is a small synthetic model with Qwen3's real head_dim of 128
// (the bundled tiny model has 32), so the kernels' production variant runs.
func headDim128() *config.Config {
	c := *synth.Tiny()
	c.HiddenSize, c.IntermediateSize = 512, 1024
	c.NumAttentionHeads, c.NumKeyValueHeads, c.HeadDim = 8, 4, 128
	c.NumHiddenLayers = 4
	return &c
}

// smallHeadDim128 is headDim128 narrowed for the emulator: head_dim stays
// 128, the layers are half as wide.
func smallHeadDim128() *config.Config {
	c := headDim128()
	c.HiddenSize, c.IntermediateSize = 256, 512
	c.NumAttentionHeads, c.NumKeyValueHeads = 4, 2
	return c
}

// modelShapes are the model checks' sizes: prompt tokens, greedy steps,
// prefill chunk, and the head_dim-128 model.
type modelShapes struct {
	prompt, steps, chunk int
	hd128                func() *config.Config
}

var (
	fullModels = modelShapes{prompt: promptLen, steps: greedySteps, chunk: chunk, hd128: headDim128}
	// emulatorModels still prefills in several chunks (16 queries on the
	// tensor-core kernel where the model's head_dim allows, then 8 on the
	// CUDA-core one) and decodes long enough for a step to run plain, be
	// captured, and be replayed.
	emulatorModels = modelShapes{prompt: 24, steps: 8, chunk: 16, hd128: smallHeadDim128}
)

type layout struct {
	name     string
	ordinals []int
	overlap  bool
}

// checkModels runs the models on one GPU, as a split over the same GPU
// twice, and as a split over the GPU and each partner GPU (peer copies or
// staged ones, as the pair allows), each split with and without overlap.
func checkModels(rep *report, ordinal int, seed uint64, tmp string, ms modelShapes, partners []int) {
	models := []struct {
		name string
		cfg  *config.Config
	}{{"tiny (head_dim 32)", synth.Tiny()}, {"synthetic head_dim 128", ms.hd128()}}
	layouts := []layout{
		{"1 GPU", []int{ordinal}, false},
		{fmt.Sprintf("split %d,%d", ordinal, ordinal), []int{ordinal, ordinal}, false},
		{fmt.Sprintf("split %d,%d overlap", ordinal, ordinal), []int{ordinal, ordinal}, true},
	}
	for _, p := range partners {
		layouts = append(layouts,
			layout{fmt.Sprintf("split %d,%d", ordinal, p), []int{ordinal, p}, false},
			layout{fmt.Sprintf("split %d,%d overlap", ordinal, p), []int{ordinal, p}, true})
	}
	for i, m := range models {
		dir := filepath.Join(tmp, fmt.Sprintf("model%d", i))
		if err := synth.Write(dir, m.cfg, synth.Options{Seed: seed}); err != nil {
			rep.fail(m.name, err)
			continue
		}
		snap, err := snapshot.Open(dir)
		if err != nil {
			rep.fail(m.name, err)
			continue
		}
		cfg := snap.Config
		r := rand.New(rand.NewPCG(seed, uint64(i)))
		prompt := make([]int32, ms.prompt)
		for j := range prompt {
			prompt[j] = r.Int32N(int32(cfg.VocabSize))
		}
		ref, err := runModel(cfg, snap, []device.Device{cpu.New(cpu.Options{})}, []int{cfg.NumHiddenLayers}, false, prompt, ms)
		if err != nil {
			rep.fail(m.name+" on the CPU", err)
			snap.Close()
			continue
		}
		for _, l := range layouts {
			name := fmt.Sprintf("%s, %s", m.name, l.name)
			devs, err := cuda.Open(l.ordinals, nil)
			if err != nil {
				rep.fail(name, err)
				continue
			}
			dd := make([]device.Device, len(devs))
			for j, d := range devs {
				dd[j] = d
			}
			if a, b := l.ordinals[0], l.ordinals[len(l.ordinals)-1]; a != b {
				if cuda.PeerAccess(a, b) {
					name += " (peer copies)"
				} else {
					name += " (copies staged through host memory)"
				}
			}
			got, err := runModel(cfg, snap, dd, qwen3.EvenSplit(cfg.NumHiddenLayers, len(dd)), l.overlap, prompt, ms)
			if err != nil {
				rep.fail(name, err)
			} else {
				compareRuns(rep, name, got, ref, cfg.VocabSize)
				plain, captured, replays, failures := devs[len(devs)-1].GraphStats()
				rep.info("decode graphs on %s: %d plain steps, %d captured, %d replays, %d failed captures", devs[len(devs)-1].Name(), plain, captured, replays, failures)
			}
			leaked := false
			for _, d := range devs {
				total, free := d.MemInfo()
				if total-free > baselineUse {
					leaked = true
					rep.info("%s still holds %d bytes after unloading", d.Name(), total-free)
				}
				d.Close()
			}
			rep.check(!leaked, "%s: everything freed on unload", name)
		}
		snap.Close()
	}
}

// baselineUse is what an open device holds for itself (cuBLAS workspace,
// positions, flags, scratch) — an upper bound, for the leak check.
const baselineUse = 64 << 20

// run is one model run's results.
type run struct {
	logits []float32 // [promptLen × vocab]
	greedy []int32   // greedySteps tokens
	margin []float32 // CPU runs: top-1 minus top-2 logit where greedy[i] was chosen
	second []int32   // CPU runs: the runner-up token there
}

// runModel loads the model on devs, prefills prompt in chunks of ms.chunk
// keeping every position's logits, then decodes ms.steps tokens greedily;
// the model and session are freed before it returns.
func runModel(cfg *config.Config, snap *snapshot.Snapshot, devs []device.Device, split []int, overlap bool, prompt []int32, ms modelShapes) (*run, error) {
	m, err := qwen3.Load(cfg, qwen3.SetSource{Set: snap.Tensors}, devs, split)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	s, err := m.NewSession(qwen3.SessionOptions{Ctx: len(prompt) + ms.steps + 1, Chunk: ms.chunk, Overlap: overlap,
		KVDType: device.BF16, AllLogits: true})
	if err != nil {
		return nil, err
	}
	defer s.Close()
	if _, err := s.Prefill(prompt); err != nil {
		return nil, err
	}
	out := &run{logits: append([]float32(nil), s.AllLogits()...)}
	l := s.Logits()
	next := int32(argmax(l))
	_, isCPU := devs[0].(*cpu.Device)
	for range ms.steps {
		out.greedy = append(out.greedy, next)
		if isCPU { // full logits, for the margins
			m, second := margin(l)
			out.margin = append(out.margin, m)
			out.second = append(out.second, int32(second))
			if _, err := s.Decode(next); err != nil {
				return nil, err
			}
			l = s.Logits()
			next = int32(argmax(l))
			continue
		}
		if next, _, err = s.DecodeGreedy(next); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// margin is the top-1 minus the top-2 logit of l, and the top-2's index.
func margin(l []float32) (float32, int) {
	a, b, second := float32(-1e38), float32(-1e38), -1
	top := -1
	for i, v := range l {
		if v > a {
			a, b, second, top = v, a, top, i
		} else if v > b {
			b, second = v, i
		}
	}
	return a - b, second
}

// NearTieFraction bounds the greedy divergences gpu-check accepts: the CUDA
// backend may pick a different token only where it picks the CPU's
// runner-up and the CPU's top-2 margin there is below this fraction of the
// prompt logits' largest magnitude (1/256: an eighth of LogitsTolerance, the
// size of a couple of bf16 roundings of a logit). After an accepted
// divergence the two runs continue from different tokens and are not
// compared further.
const NearTieFraction = 1.0 / 256

func compareRuns(rep *report, name string, got, ref *run, vocab int) {
	d, err := CompareLogits(got.logits, ref.logits, vocab)
	if err != nil {
		rep.fail(name, err)
		return
	}
	rep.check(d.OK(LogitsTolerance), "%s: prompt logits vs CPU: %v (tolerance %.2f%%)", name, d, 100*LogitsTolerance)
	first := -1
	for i := range ref.greedy {
		if got.greedy[i] != ref.greedy[i] {
			first = i
			break
		}
	}
	if first < 0 {
		rep.check(true, "%s: %d greedy tokens identical to the CPU's", name, len(ref.greedy))
		return
	}
	if first >= len(ref.margin) || first >= len(ref.second) {
		rep.check(false, "%s: greedy tokens differ from step %d: %d vs %d", name, first, got.greedy[first], ref.greedy[first])
		return
	}
	bound := float32(d.MaxRef * NearTieFraction)
	m, runnerUp := ref.margin[first], got.greedy[first] == ref.second[first]
	if runnerUp && m < bound {
		rep.check(true, "%s: greedy tokens identical for %d steps, then a near tie: step %d takes the CPU's runner-up %d (CPU %d), top-2 margin %.4g < %.4g (max |logit| / %d); later steps not compared",
			name, first, first, got.greedy[first], ref.greedy[first], m, bound, int(1/NearTieFraction))
		return
	}
	why := "not the CPU's runner-up"
	if runnerUp {
		why = "the CPU's runner-up"
	}
	rep.check(false, "%s: greedy tokens differ from step %d: %d (%s) vs %d; the CPU's top-2 margin there was %.4g, a near tie only below %.4g (max |logit| / %d)",
		name, first, got.greedy[first], why, ref.greedy[first], m, bound, int(1/NearTieFraction))
}

// tempDir makes a directory for the synthetic models.
func tempDir() (string, func(), error) {
	dir, err := os.MkdirTemp("", "ember-gpu-check-")
	if err != nil {
		return "", nil, err
	}
	return dir, func() { os.RemoveAll(dir) }, nil
}
