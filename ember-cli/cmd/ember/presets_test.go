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
		// name, layers … as in DESIGN.md's table.
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
	if len(rows) < 5 || rows[4]["name"] != "Qwen3-14B" || rows[4]["kv_mib_4096"] != 640.0 || rows[2]["stores_lm_head"] != false {
		t.Errorf("rows %v", rows)
	}
	if !strings.Contains(out, `"weights_disk_gib": 1.40`) {
		t.Errorf("weights_disk_gib not printed with 2 decimals:\n%s", out)
	}
}
