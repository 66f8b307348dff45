package report

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Stage21Header is the CSV header of the multi-candidate rollout, as
// upstream's ember_multi_candidate_rollout prints it.
var Stage21Header = []string{"mode", "prompt_len", "gen_len", "num_candidates", "gpus", "split", "prefill_ms", "decode_ms", "total_ms",
	"total_gen_tokens", "gen_tok_s", "temperature", "top_p", "top_k"}

// Stage21Run is one multi-candidate rollout's measurement.
type Stage21Run struct {
	PromptLen, GenLen, NumCandidates int
	GPUs, Split                      string // "0+1", "9+27"
	PrefillMS, DecodeMS              float64
	TotalGenTokens                   int
	Temperature, TopP                float64
	TopK                             int
}

// Row is the run's CSV cells: floats with three decimals (C++'s fixed,
// setprecision(3) on the whole row), gen_tok_s = tokens × 1000 / total_ms.
func (r Stage21Run) Row() []string {
	total := r.PrefillMS + r.DecodeMS
	tokS := 0.0
	if total > 0 {
		tokS = float64(r.TotalGenTokens) * 1000 / total
	}
	return []string{"multi_candidate_rollout", itoa(r.PromptLen), itoa(r.GenLen), itoa(r.NumCandidates), r.GPUs, r.Split,
		pyFixed(r.PrefillMS, 3), pyFixed(r.DecodeMS, 3), pyFixed(total, 3), itoa(r.TotalGenTokens), pyFixed(tokS, 3),
		pyFixed(r.Temperature, 3), pyFixed(r.TopP, 3), itoa(r.TopK)}
}

// CSV is stage21_multi_candidate.csv: the header and the run's row, "\n" ends.
func (r Stage21Run) CSV() []byte {
	return []byte(strings.Join(Stage21Header, ",") + "\n" + strings.Join(r.Row(), ",") + "\n")
}

// Stage21Input is a finished multi-candidate run: its CSV row (as written)
// and its candidates file's lines.
type Stage21Input struct {
	ModelDir   string
	Header     []string
	Row        []string
	Candidates []byte // stage21_candidates.jsonl
	Now        time.Time
}

type candidateStats struct {
	ID         json.Number `json:"candidate_id"`
	SumLogprob *float64    `json:"sum_logprob"`
	AvgLogprob *float64    `json:"avg_logprob"`
}

// Stage21 returns upstream's stage21_summary.md and stage21_p1_input.md.
func Stage21(in Stage21Input) ([]File, error) {
	get := func(key string) string {
		for i, h := range in.Header {
			if h == key && i < len(in.Row) {
				return in.Row[i]
			}
		}
		return ""
	}
	var cands []candidateStats
	for n, line := range strings.Split(string(in.Candidates), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		dec := json.NewDecoder(strings.NewReader(line))
		dec.UseNumber()
		var c candidateStats
		if err := dec.Decode(&c); err != nil {
			return nil, fmt.Errorf("stage21_candidates.jsonl line %d: %v", n+1, err)
		}
		cands = append(cands, c)
	}
	or := func(p *float64, def float64) float64 {
		if p == nil {
			return def
		}
		return *p
	}
	var md strings.Builder
	fmt.Fprintf(&md, "# Stage 2.1 Multi-Candidate Rollout\n\n- Model: `%s`\n- Generated at: `%s`\n\n| metric | value |\n| --- | --- |\n", in.ModelDir, pyNow(in.Now))
	for _, k := range []string{"prompt_len", "gen_len", "num_candidates", "gpus", "split", "prefill_ms", "decode_ms", "total_ms",
		"total_gen_tokens", "gen_tok_s", "temperature", "top_p", "top_k"} {
		fmt.Fprintf(&md, "| %s | `%s` |\n", k, get(k))
	}
	var meanAvg float64
	if len(cands) > 0 {
		var sum float64
		best := 0
		for i, c := range cands {
			sum += or(c.AvgLogprob, 0)
			if or(c.SumLogprob, -1e9) > or(cands[best].SumLogprob, -1e9) {
				best = i
			}
		}
		meanAvg = sum / float64(len(cands))
		id := string(cands[best].ID)
		if id == "" {
			id = "None"
		}
		fmt.Fprintf(&md, "\n## Candidate Stats\n- mean(avg_logprob): `%s`\n- best candidate id: `%s`\n- best sum_logprob: `%s`\n",
			pyFixed(meanAvg, 6), id, pyFixed(or(cands[best].SumLogprob, 0), 6))
	}
	var p1 strings.Builder
	fmt.Fprintf(&p1, "# P1/P4 Input — Multi-Candidate Rollout\n\n- Rollout throughput: `%s` tok/s (total_gen_tokens=%s, total_ms=%s).\n- Multi-candidate setting: num_candidates=`%s`, gen_len=`%s`.\n",
		get("gen_tok_s"), get("total_gen_tokens"), get("total_ms"), get("num_candidates"), get("gen_len"))
	if len(cands) > 0 {
		fmt.Fprintf(&p1, "- Mean per-candidate avg_logprob: `%s`.\n", pyFixed(meanAvg, 6))
	}
	return []File{{"stage21_summary.md", []byte(md.String())}, {"stage21_p1_input.md", []byte(p1.String())}}, nil
}
