package profile

import (
	"time"

	"github.com/ember-infer/ember/ember-core/device"
	"github.com/ember-infer/ember/ember-core/rows"
)

func msOf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// StagesOf converts device timings to the rows' milliseconds.
func StagesOf(t device.Timings) rows.Stages {
	return rows.Stages{
		EmbeddingMS: msOf(t[device.StageEmbedding]),
		RMSNormMS:   msOf(t[device.StageRMSNorm]),
		AttentionMS: msOf(t[device.StageAttention]),
		FFNMS:       msOf(t[device.StageFFN]),
		P2PMS:       msOf(t[device.StageP2P]),
		MemcpyH2DMS: msOf(t[device.StageMemcpyH2D]),
		MemcpyD2HMS: msOf(t[device.StageMemcpyD2H]),
		SamplingMS:  msOf(t[device.StageSampling]),
		LMHeadMS:    msOf(t[device.StageLMHead]),
	}
}

// Row makes the stage row of one measurement under cfg (whose Phase is set by the caller).
func Row(cfg rows.Config, m Measurement) rows.StageRow {
	st := StagesOf(m.Stages)
	return rows.StageRow{Config: cfg, WallMS: msOf(m.Wall), Stages: st, ProfileTotalMS: st.Sum()}
}

// Rows turns a result into the raw CSV's two rows (the means over iterations)
// and one sample row per iteration and phase. base carries everything but the
// phase. A result without decode iterations (--decode-steps 0) has no
// decode_per_token row, as ember_stage_breakdown writes none.
func Rows(base rows.Config, r Result) (stage []rows.StageRow, samples []rows.SampleRow) {
	for _, ph := range []struct {
		name string
		ms   []Measurement
	}{{rows.PhasePrefill, r.Prefill}, {rows.PhaseDecodePerToken, r.DecodePerToken}} {
		if len(ph.ms) == 0 && ph.name == rows.PhaseDecodePerToken {
			continue
		}
		cfg := base
		cfg.Phase = ph.name
		stage = append(stage, Row(cfg, Mean(ph.ms)))
		for i, m := range ph.ms {
			samples = append(samples, rows.SampleRow{StageRow: Row(cfg, m), Iter: i})
		}
	}
	return stage, samples
}
