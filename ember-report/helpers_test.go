package report

import (
	"bytes"
	"encoding/csv"
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ember-infer/ember/ember-core/rows"
)

// fixture is a path under the repository's testdata/report.
func fixture(name string) string { return filepath.Join("..", "testdata", "report", name) }

var testMeta = Meta{
	Model:   "Qwen/Qwen3-4B-Instruct-2507",
	Backend: "cuda",
	Devices: "0,1",
	Time:    time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC),
	Command: []string{"ember", "milestone", "split", "--model", "Qwen/Qwen3-4B-Instruct-2507", "--p2-note", "overlap the copy"},
}

// metaLines are the lines every markdown must hold for testMeta.
var metaLines = []string{
	"- model: Qwen/Qwen3-4B-Instruct-2507",
	"- backend: cuda",
	"- devices: 0,1",
	"- time: 2026-11-20T10:00:00Z",
	"- command: `ember milestone split --model Qwen/Qwen3-4B-Instruct-2507 --p2-note 'overlap the copy'`",
}

func readStageFixture(t *testing.T, name string) []rows.StageRow {
	t.Helper()
	rs, err := rows.ReadStageFile(fixture(name))
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func readSampleFixture(t *testing.T, name string) []rows.SampleRow {
	t.Helper()
	ss, err := rows.ReadSampleFile(fixture(name))
	if err != nil {
		t.Fatal(err)
	}
	return ss
}

// byName indexes files and fails on a duplicate name.
func byName(t *testing.T, files []File) map[string][]byte {
	t.Helper()
	m := map[string][]byte{}
	for _, f := range files {
		if _, dup := m[f.Name]; dup {
			t.Fatalf("file %s produced twice", f.Name)
		}
		m[f.Name] = f.Data
	}
	return m
}

func checkFileSet(t *testing.T, files map[string][]byte, want []string) {
	t.Helper()
	var got []string
	for n := range files {
		got = append(got, n)
	}
	slices.Sort(got)
	want = slices.Sorted(slices.Values(want))
	if !slices.Equal(got, want) {
		t.Errorf("files\n got %q\nwant %q", got, want)
	}
}

// checkCSV parses data and compares it cell by cell with want (header first).
func checkCSV(t *testing.T, name string, data []byte, want [][]string) {
	t.Helper()
	got, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if len(got) != len(want) {
		t.Errorf("%s: %d lines, want %d\n%s", name, len(got), len(want), data)
	}
	for i := range min(len(got), len(want)) {
		if len(got[i]) != len(want[i]) {
			t.Errorf("%s line %d: %d cells, want %d\n got %q\nwant %q", name, i+1, len(got[i]), len(want[i]), got[i], want[i])
			continue
		}
		for j := range got[i] {
			if got[i][j] != want[i][j] {
				col := j
				t.Errorf("%s line %d column %d (%s): got %q, want %q", name, i+1, col+1, want[0][col], got[i][j], want[i][j])
			}
		}
	}
}

// checkMarkdown checks that md starts with its title and the meta block and
// holds every line of want.
func checkMarkdown(t *testing.T, name string, md []byte, title string, want ...string) {
	t.Helper()
	s := string(md)
	if !strings.HasPrefix(s, "# "+title+"\n") {
		t.Errorf("%s: does not start with the title %q:\n%s", name, title, s)
	}
	lines := strings.Split(s, "\n")
	for _, w := range append(slices.Clone(metaLines), want...) {
		if !slices.Contains(lines, w) {
			t.Errorf("%s: no line %q in\n%s", name, w, s)
		}
	}
}

// svgTexts parses an SVG document and returns its <title> and the text of its
// <text> elements.
func svgTexts(t *testing.T, name string, data []byte) (title string, texts []string) {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(data))
	var stack []string
	sawSVG := false
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: not well-formed XML: %v", name, err)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			if e.Name.Local == "svg" {
				sawSVG = true
			}
			stack = append(stack, e.Name.Local)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) == 0 {
				continue
			}
			switch stack[len(stack)-1] {
			case "title":
				title += string(e)
			case "text":
				texts = append(texts, strings.TrimSpace(string(e)))
			}
		}
	}
	if !sawSVG {
		t.Fatalf("%s: no <svg> element", name)
	}
	return title, texts
}

func checkSVG(t *testing.T, name string, data []byte, title string, labels ...string) {
	t.Helper()
	got, texts := svgTexts(t, name, data)
	if got != title {
		t.Errorf("%s: <title> %q, want %q", name, got, title)
	}
	for _, w := range append([]string{title}, labels...) {
		if !slices.Contains(texts, w) {
			t.Errorf("%s: no text %q among %q", name, w, texts)
		}
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type rowsStage = rows.StageRow

var rowsReadStageFile = rows.ReadStageFile
