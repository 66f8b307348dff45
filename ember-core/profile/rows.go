package profile

import (
	"strconv"
	"strings"
	"time"

	"github.com/ember-infer/ember/ember-core/device"
	"github.com/ember-infer/ember/ember-core/rows"
)

// Mode names the way a run used its devices, as the report rows key it.
func Mode(devices int, overlap bool) string {
	switch {
	case devices == 1:
		return rows.ModeSingle
	case overlap:
		return rows.ModePipelineOverlap
	default:
		return rows.ModePipeline
	}
}

// SplitString renders layers per device as the rows write them ("18,18").
func SplitString(split []int) string {
	parts := make([]string, len(split))
	for i, n := range split {
		parts[i] = strconv.Itoa(n)
	}
	return strings.Join(parts, ",")
}

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
// and one sample row per iteration and phase. base carries everything but the phase.
func Rows(base rows.Config, r Result) (stage []rows.StageRow, samples []rows.SampleRow) {
	for _, ph := range []struct {
		name string
		ms   []Measurement
	}{{rows.PhasePrefill, r.Prefill}, {rows.PhaseDecodePerToken, r.DecodePerToken}} {
		cfg := base
		cfg.Phase = ph.name
		stage = append(stage, Row(cfg, Mean(ph.ms)))
		for i, m := range ph.ms {
			samples = append(samples, rows.SampleRow{StageRow: Row(cfg, m), Iter: i})
		}
	}
	return stage, samples
}
