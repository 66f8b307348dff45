package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestPresetsTableAndJSON(t *testing.T) {
	isolate(t)
	out, _ := mustEmber(t, "presets")
	for _, want := range []string{
		// name, layers … as in docs/design.md's table.
		"Qwen3-0.6B", "yes (lm_head also stored)", "27.51", "262144", "640 MiB",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	out, _ = mustEmber(t, "presets", "--json")
	var rows []map[string]any
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatal(err)
	}
	byName := map[string]map[string]any{}
	for _, r := range rows {
		byName[r["name"].(string)] = r
	}
	if r := byName["Qwen3-14B"]; r == nil || r["kv_mib_4096"] != 640.0 || r["layers"] != 40.0 || r["tied"] != false {
		t.Errorf("14B row %v", r)
	}
	if r := byName["Qwen3-4B-Instruct-2507"]; r == nil || r["stores_lm_head"] != false || r["tied"] != true || r["max_position_embeddings"] != 262144.0 {
		t.Errorf("4B row %v", r)
	}
	if !strings.Contains(out, `"weights_disk_gib": 1.40`) {
		t.Errorf("weights_disk_gib not printed with 2 decimals:\n%s", out)
	}
}
