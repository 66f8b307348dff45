package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
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

// oneLine collapses whitespace so a reason fits one CSV cell and one table row.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// ParseLlamaBenchUpstream reads llama-bench's output as the split script
// does: the JSON array between the first "[" and the last "]" of stdout and
// stderr together; the last entry with n_prompt > 0 and n_gen = 0 is the
// prompt test, the last with n_prompt = 0 and n_gen > 0 the generation test.
// Errors read as the script's; logPath is named in them.
func ParseLlamaBenchUpstream(text, logPath string) (LlamaResult, error) {
	lb, rb := strings.Index(text, "["), strings.LastIndex(text, "]")
	if lb < 0 || rb < 0 || rb <= lb {
		return LlamaResult{}, fmt.Errorf("failed to locate JSON payload in llama-bench output")
	}
	var items []map[string]any
	if err := json.Unmarshal([]byte(text[lb:rb+1]), &items); err != nil {
		return LlamaResult{}, fmt.Errorf("unexpected llama-bench JSON: %v", err)
	}
	num := func(m map[string]any, k string) float64 {
		if v, ok := m[k].(float64); ok {
			return v
		}
		return 0
	}
	var pre, dec map[string]any
	for _, it := range items {
		np, ng := int(num(it, "n_prompt")), int(num(it, "n_gen"))
		if np > 0 && ng == 0 {
			pre = it
		}
		if np == 0 && ng > 0 {
			dec = it
		}
	}
	if pre == nil || dec == nil {
		return LlamaResult{}, fmt.Errorf("llama-bench output missing prompt/gen entries; see %s", logPath)
	}
	return LlamaResult{PromptTokens: int(num(pre, "n_prompt")), PromptAvgNs: num(pre, "avg_ns"), PromptAvgTs: num(pre, "avg_ts"),
		GenTokens: int(num(dec, "n_gen")), GenAvgNs: num(dec, "avg_ns"), GenAvgTs: num(dec, "avg_ts")}, nil
}
