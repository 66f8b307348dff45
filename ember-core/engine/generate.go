package engine

import (
	"time"

	"github.com/ember-infer/ember/ember-core/device"
	"github.com/ember-infer/ember/ember-core/qwen3"
	"github.com/ember-infer/ember/ember-core/sampling"
)

// GenStats measures one Generate call: prefill and decode apart, as the reports want.
type GenStats struct {
	Prefill   qwen3.Stats
	Decode    qwen3.Stats // summed over decode steps
	Steps     int         // decode steps run
	Generated []int32
	StopEOS   bool // generation ended on an end-of-sequence token
	StopCtx   bool // generation ended at the session's context limit
}

// Generate prefills prompt on s, then samples up to maxNew tokens, calling
// onToken with each (return false to stop). History for the penalties is the
// prompt plus everything generated. Greedy sampling with no penalties uses the
// device's argmax so only a token id crosses back per step; anything else
// downloads the logits and samples on the host, timed as the sampling stage.
func (e *Engine) Generate(s *qwen3.Session, smp *sampling.Sampler, prompt []int32, maxNew int, onToken func(id int32) bool) (GenStats, error) {
	var st GenStats
	var err error
	if st.Prefill, err = s.Prefill(prompt); err != nil {
		return st, err
	}
	history := append(make([]int32, 0, len(prompt)+generationBound(maxNew, s.Ctx()-s.Pos())), prompt...)
	p := smp.Params()
	onDevice := p.Temperature == 0 && plainGreedy(p)
	// A device that samples (device.TokenSampler) draws from the top-k itself,
	// so only the id comes back; penalties and n-gram bans need the history
	// on the host, and without top-k the whole vocabulary would need sorting.
	sampleOnDevice := p.Temperature > 0 && plainGreedy(p) && p.TopK > 0 && p.TopK <= maxDeviceTopK && s.CanSampleOnDevice()
	if err := CheckLogits(0, s.Logits()); err != nil {
		return st, e.Explain(err)
	}
	vocab := e.Snapshot.Config.VocabSize
	next := sampleHost(smp, s.Logits(), history, &st.Prefill)
	for i := 0; i < maxNew; i++ {
		history = append(history, next)
		st.Generated = append(st.Generated, next)
		if e.IsEOS(next) {
			st.StopEOS = true
			return st, nil
		}
		if onToken != nil && !onToken(next) {
			return st, nil
		}
		if i == maxNew-1 {
			break
		}
		if s.Pos() >= s.Ctx() {
			st.StopCtx = true
			break
		}
		var ds qwen3.Stats
		switch {
		case onDevice:
			if next, ds, err = s.DecodeGreedy(next); err == nil {
				err = checkDeviceID(i+1, next, vocab)
			}
		case sampleOnDevice:
			next, ds, err = s.DecodeSample(next, qwen3.DeviceSampling{
				TopK: p.TopK, Temp: p.Temperature, TopP: p.TopP, MinP: p.MinP, U: smp.Uniform(),
			})
			if err == nil {
				err = checkDeviceID(i+1, next, vocab)
			}
		default:
			if ds, err = s.Decode(next); err == nil {
				if err = CheckLogits(i+1, s.Logits()); err == nil {
					next = sampleHost(smp, s.Logits(), history, &ds)
				}
			}
		}
		if err != nil {
			return st, e.Explain(err)
		}
		addStats(&st.Decode, ds)
		st.Steps++
	}
	return st, nil
}

// maxDeviceTopK bounds the candidates a device sorts for its own draw.
const maxDeviceTopK = 1024

// plainGreedy is true when decoding needs no history: no penalties, no bans.
func plainGreedy(p sampling.Params) bool {
	return (p.RepetitionPenalty == 0 || p.RepetitionPenalty == 1) &&
		p.PresencePenalty == 0 && p.FrequencyPenalty == 0 && p.NoRepeatNgram == 0
}

func sampleHost(smp *sampling.Sampler, logits []float32, history []int32, st *qwen3.Stats) int32 {
	t0 := time.Now()
	id := smp.Sample(logits, history)
	d := time.Since(t0)
	st.Stages[device.StageSampling] += d
	st.Wall += d
	return id
}

func addStats(dst *qwen3.Stats, s qwen3.Stats) {
	dst.Wall += s.Wall
	dst.Stages.Add(s.Stages)
	dst.Tokens += s.Tokens
	dst.Chunks += s.Chunks
}
