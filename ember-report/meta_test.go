package report

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// metaFolder copies the baseline fixture's summary into a new folder beside
// an ember_stage12_report.md headed by m (none when m is zero).
func metaFolder(t *testing.T, m Meta) string {
	t.Helper()
	dir := t.TempDir()
	data, err := os.ReadFile(fixture("baseline/" + SplitSummaryCSV))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, SplitSummaryCSV), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if len(m.Command) > 0 {
		md := markdownDoc("Stage 1.2 split profile: Ember's additions", m).String() + "\n## Transfers\n\n- model: not-this-one\n"
		if err := os.WriteFile(filepath.Join(dir, EmberSplitMD), []byte(md), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestDeltaHeaderNamesTheFolders(t *testing.T) {
	qwen := Meta{Model: "Qwen/Qwen3-4B", Backend: "cuda", Devices: "0,1", Command: []string{"ember"}}
	cpu := Meta{Model: "Qwen/Qwen3-4B", Backend: "cpu", Devices: "0,1", Command: []string{"ember"}}
	cases := []struct {
		name      string
		base, cur Meta
		want      []string
	}{
		{"same", qwen, qwen, []string{"- model: Qwen/Qwen3-4B\n", "- backend: cuda\n", "- devices: 0,1\n"}},
		{"backend differs", qwen, cpu, []string{"- model: Qwen/Qwen3-4B\n", "- backend: cuda (baseline) → cpu (current)\n", "- devices: 0,1\n"}},
		{"baseline from upstream", Meta{}, cpu, []string{"- model: Qwen/Qwen3-4B\n", "- backend: cpu\n", "- devices: 0,1\n"}},
		{"neither says", Meta{}, Meta{}, []string{"- model: n/a\n", "- backend: n/a\n", "- devices: n/a\n"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			base, err := LoadReference(metaFolder(t, tc.base), "old")
			if err != nil {
				t.Fatal(err)
			}
			cur, err := LoadReference(metaFolder(t, tc.cur), "current")
			if err != nil {
				t.Fatal(err)
			}
			if base.Warning != "" || cur.Warning != "" {
				t.Fatalf("warnings %q, %q", base.Warning, cur.Warning)
			}
			md := Compare(base, cur).Markdown(Meta{})
			head, _, _ := strings.Cut(md, "\nPercent deltas")
			for _, w := range tc.want {
				if !strings.Contains(head, w) {
					t.Errorf("header lacks %q:\n%s", w, head)
				}
			}
		})
	}
}

// A sweep's own delta section is headed by the sweep's meta and says what
// the baseline was measured with when that differs.
func TestSweepDeltaNamesTheBaseline(t *testing.T) {
	base, err := LoadReference(metaFolder(t, Meta{Model: "Qwen/Qwen3-4B", Backend: "cuda", Devices: "0,1", Command: []string{"ember"}}), "old")
	if err != nil {
		t.Fatal(err)
	}
	md := Compare(base, Reference{Label: "current", Summary: base.Summary}).Markdown(testMeta)
	for _, w := range append(metaLines[:3:3], "- baseline measured with: model Qwen/Qwen3-4B, backend cuda, devices 0,1\n") {
		if !strings.Contains(md, w) {
			t.Errorf("markdown lacks %q:\n%s", w, md)
		}
	}
}

func TestParseMetaBlock(t *testing.T) {
	m := parseMetaBlock([]byte("# T\n\n- model: M\n- backend: n/a\n- devices: cpu:0,cpu:1\n- time: x\n\n## S\n- backend: late\n"))
	if m.Model != "M" || m.Backend != "" || m.Devices != "cpu:0,cpu:1" {
		t.Errorf("got %+v", m)
	}
}

// FuzzParseMetaBlock: any markdown parses without a panic, and a meta block
// Meta.Markdown wrote reads back as the model, backend and devices written
// (single-line values that are not "n/a").
func FuzzParseMetaBlock(f *testing.F) {
	f.Add("Qwen/Qwen3-4B", "cuda", "0,1", "")
	f.Add("", "cpu", "cpu:0,cpu:1", "# T\n\n- model: x\n## S\n")
	f.Add("m: with colon", "n/a", "0", "- backend: \n- devices:")
	f.Fuzz(func(t *testing.T, model, backend, devices, extra string) {
		parseMetaBlock([]byte(extra))
		for _, v := range []string{model, backend, devices} {
			if strings.ContainsAny(v, "\r\n") || v != strings.TrimSpace(v) || v == NA {
				return
			}
		}
		md := markdownDoc("T", Meta{Model: model, Backend: backend, Devices: devices}).String() + extra
		got := parseMetaBlock([]byte(md))
		if got.Model != model || got.Backend != backend || got.Devices != devices {
			t.Errorf("wrote %q %q %q, read %+v from:\n%s", model, backend, devices, got, md)
		}
	})
}
