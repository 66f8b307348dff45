package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
)

// LlamaResult is one llama-bench run (`llama-bench -p P -n N -o json`) reduced
// to what the comparison needs: its prompt-only entry (n_prompt > 0, n_gen = 0)
// and its gen-only entry (n_prompt = 0, n_gen > 0). A run that failed has
// Failed set and nothing else but Label.
type LlamaResult struct {
	Label        string  // set by the caller: "single-device", "dual-device", …
	PromptTokens int     // n_prompt of the prompt-only entry
	GenTokens    int     // n_gen of the gen-only entry
	PromptAvgNs  float64 // avg_ns of the prompt-only entry: the whole prompt
	PromptAvgTs  float64 // avg_ts of the prompt-only entry: prompt tokens / s
	GenAvgNs     float64 // avg_ns of the gen-only entry: all GenTokens tokens
	GenAvgTs     float64 // avg_ts of the gen-only entry: generated tokens / s
	Model        string  // model_type
	Backends     string  // backends
	GPUInfo      string  // gpu_info
	SplitMode    string  // split_mode
	TensorSplit  string  // tensor_split
	Failed       string  // non-empty: why the run gave no result
}

// llamaEntry is the part of one llama-bench JSON entry that Ember reads.
type llamaEntry struct {
	NPrompt     *int     `json:"n_prompt"`
	NGen        *int     `json:"n_gen"`
	NDepth      int      `json:"n_depth"`
	AvgNs       *float64 `json:"avg_ns"`
	AvgTs       *float64 `json:"avg_ts"`
	ModelType   string   `json:"model_type"`
	Backends    string   `json:"backends"`
	GPUInfo     string   `json:"gpu_info"`
	SplitMode   string   `json:"split_mode"`
	TensorSplit string   `json:"tensor_split"`
}

// ErrLlamaBench is wrapped by every error of ParseLlamaBench.
var ErrLlamaBench = errors.New("llama-bench output")

// ParseLlamaBench reads llama-bench's `-o json` output: a JSON array of test
// entries. Anything printed before the array (a stray log line) is skipped.
// It takes the first prompt-only entry and the first gen-only entry at depth 0;
// a missing one, a missing field or output that is not JSON is an error
// wrapping ErrLlamaBench.
func ParseLlamaBench(data []byte) (LlamaResult, error) {
	start := bytes.IndexByte(data, '[')
	if start < 0 {
		return LlamaResult{}, fmt.Errorf("%w: no JSON array in %d bytes", ErrLlamaBench, len(data))
	}
	var entries []llamaEntry
	if err := json.Unmarshal(bytes.TrimSpace(data[start:]), &entries); err != nil {
		return LlamaResult{}, fmt.Errorf("%w: %v", ErrLlamaBench, err)
	}
	var res LlamaResult
	var havePrompt, haveGen bool
	for i, e := range entries {
		if e.NPrompt == nil || e.NGen == nil || e.AvgNs == nil || e.AvgTs == nil {
			return LlamaResult{}, fmt.Errorf("%w: entry %d lacks n_prompt, n_gen, avg_ns or avg_ts", ErrLlamaBench, i)
		}
		if e.NDepth != 0 {
			continue
		}
		switch {
		case *e.NPrompt > 0 && *e.NGen == 0 && !havePrompt:
			havePrompt = true
			res.PromptTokens, res.PromptAvgNs, res.PromptAvgTs = *e.NPrompt, *e.AvgNs, *e.AvgTs
		case *e.NPrompt == 0 && *e.NGen > 0 && !haveGen:
			haveGen = true
			res.GenTokens, res.GenAvgNs, res.GenAvgTs = *e.NGen, *e.AvgNs, *e.AvgTs
		default:
			continue
		}
		res.Model, res.Backends, res.GPUInfo, res.SplitMode, res.TensorSplit = e.ModelType, e.Backends, e.GPUInfo, e.SplitMode, e.TensorSplit
	}
	switch {
	case !havePrompt:
		return LlamaResult{}, fmt.Errorf("%w: no prompt-only entry (n_prompt > 0, n_gen = 0)", ErrLlamaBench)
	case !haveGen:
		return LlamaResult{}, fmt.Errorf("%w: no gen-only entry (n_prompt = 0, n_gen > 0)", ErrLlamaBench)
	}
	return res, nil
}

// PrefillMS is the prompt's time in ms: avg_ns / 1e6, at 3 decimals.
func (l LlamaResult) PrefillMS() float64 { return round(l.PromptAvgNs/1e6, 3) }

// DecodePerTokenMS is one generated token's time: avg_ns / 1e6 / n_gen, at 3 decimals.
func (l LlamaResult) DecodePerTokenMS() float64 {
	return round(div(l.GenAvgNs/1e6, float64(l.GenTokens)), 3)
}

// RolloutTotalMS is PrefillMS + DecodePerTokenMS × n_gen, as for Ember's rows.
func (l LlamaResult) RolloutTotalMS() float64 {
	return round(l.PrefillMS()+l.DecodePerTokenMS()*float64(l.GenTokens), 3)
}

// RolloutTokS is n_gen × 1000 / RolloutTotalMS.
func (l LlamaResult) RolloutTokS() float64 {
	return round(div(float64(l.GenTokens)*1000, l.RolloutTotalMS()), 3)
}

// VsLlamaHeader is the header of stage12_vs_llama.csv.
var VsLlamaHeader = []string{"engine", "config", "prompt_len", "decode_steps", "prefill_ms", "prefill_tok_s",
	"decode_per_token_ms", "decode_tok_s", "rollout_total_ms_est", "rollout_tok_s_est", "ember_best_over_this", "status"}

// VsLlama returns stage12_vs_llama.csv: every row of Ember's split summary, the
// baseline's best row when base is not nil, then the llama-bench runs given.
// Ember's prefill_tok_s is prompt_len × 1000 / prefill_ms and decode_tok_s is
// 1000 / decode_per_token_ms; llama's are its own avg_ts. ember_best_over_this
// is the best Ember rollout tok/s over the row's. A failed llama run is a row
// whose status is "failed: <reason>" and whose numbers are n/a.
func VsLlama(summary []SummaryRow, base *SummaryRow, baseLabel string, single, dual *LlamaResult) Table {
	t := Table{Header: VsLlamaHeader}
	best, haveBest := Best(summary)
	over := func(tokS float64) string {
		if !haveBest {
			return NA
		}
		return FormatRatio(div(best.RolloutTokS, tokS))
	}
	emberRow := func(engine string, r SummaryRow) []string {
		return []string{engine, fmt.Sprintf("split=%s mode=%s", r.Split, r.Mode), itoa(r.PromptLen), itoa(r.DecodeSteps),
			FormatMS(r.PrefillWallMS), FormatTokS(div(float64(r.PromptLen)*1000, r.PrefillWallMS)),
			FormatMS(r.DecodePerTokenMS), FormatTokS(div(1000, r.DecodePerTokenMS)),
			FormatMS(r.RolloutTotalMS), FormatTokS(r.RolloutTokS), over(r.RolloutTokS), StatusOK}
	}
	for _, r := range summary {
		t.Rows = append(t.Rows, emberRow("ember", r))
	}
	if base != nil {
		t.Rows = append(t.Rows, emberRow("ember ("+baseLabel+")", *base))
	}
	for _, l := range []*LlamaResult{single, dual} {
		if l == nil {
			continue
		}
		if l.Failed != "" {
			t.Rows = append(t.Rows, []string{"llama.cpp", l.config(), NA, NA, NA, NA, NA, NA, NA, NA, NA, "failed: " + oneLine(l.Failed)})
			continue
		}
		t.Rows = append(t.Rows, []string{"llama.cpp", l.config(), itoa(l.PromptTokens), itoa(l.GenTokens),
			FormatMS(l.PrefillMS()), FormatTokS(l.PromptAvgTs), FormatMS(l.DecodePerTokenMS()), FormatTokS(l.GenAvgTs),
			FormatMS(l.RolloutTotalMS()), FormatTokS(l.RolloutTokS()), over(l.RolloutTokS()), StatusOK})
	}
	return t
}

// config describes the llama run for the config column.
func (l LlamaResult) config() string {
	parts := []string{l.Label}
	if l.SplitMode != "" {
		parts = append(parts, "split_mode="+l.SplitMode)
	}
	if l.TensorSplit != "" {
		parts = append(parts, "tensor_split="+l.TensorSplit)
	}
	return strings.TrimSpace(strings.Join(parts, " "))
}

// oneLine collapses whitespace so a reason fits one CSV cell and one table row.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// EmberOverLlama is the best Ember rollout tok/s over the llama run's, NaN
// when either is missing or the run failed.
func EmberOverLlama(summary []SummaryRow, l *LlamaResult) float64 {
	best, ok := Best(summary)
	if !ok || l == nil || l.Failed != "" {
		return math.NaN()
	}
	return round(div(best.RolloutTokS, l.RolloutTokS()), 4)
}

func vsLlamaMarkdown(m Meta, t Table, single, dual *LlamaResult) string {
	md := markdownDoc("Stage 1.2 vs llama.cpp", m)
	md.WriteString("\nllama.cpp numbers come from llama-bench's prompt-only (n_prompt > 0, n_gen = 0) and gen-only (n_prompt = 0, n_gen > 0) entries: prefill_ms = avg_ns / 1e6, decode_per_token_ms = avg_ns / 1e6 / n_gen; tok/s columns are llama-bench's avg_ts. Rollout is estimated as for Ember.\n\n")
	md.WriteString(t.Markdown())
	md.WriteString("\n")
	for _, l := range []*LlamaResult{single, dual} {
		if l == nil {
			continue
		}
		if l.Failed != "" {
			fmt.Fprintf(md, "- llama.cpp %s: failed: %s\n", l.Label, oneLine(l.Failed))
			continue
		}
		fmt.Fprintf(md, "- llama.cpp %s: %s, %s on %s\n", l.Label, l.Model, l.Backends, l.GPUInfo)
	}
	return md.String()
}
