package report

import (
	"bufio"
	"bytes"
	"errors"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/ember-infer/ember/ember-core/inputfile"
)

// FolderMeta reads the model, backend and devices a sweep folder was measured
// with from the meta block heading its ember_stage12_report.md (or, for a
// stage 1 folder, ember_stage1_report.md), which Meta.Markdown wrote. A
// folder without one (the upstream scripts') gives a zero Meta and no error;
// "n/a" reads as unknown.
func FolderMeta(dir string) (Meta, error) {
	for _, name := range []string{EmberSplitMD, EmberStage1MD} {
		data, err := inputfile.Read(filepath.Join(dir, name), inputfile.TableCap)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return Meta{}, err
		}
		return parseMetaBlock(data), nil
	}
	return Meta{}, nil
}

// parseMetaBlock reads the "- model: …", "- backend: …" and "- devices: …"
// lines of the meta block heading a report markdown: the first of each, up
// to the block's "- command:" line or the first "## " section.
func parseMetaBlock(data []byte) Meta {
	var m Meta
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, len(data)+1)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "## ") || strings.HasPrefix(line, "- command:") {
			break
		}
		rest, ok := strings.CutPrefix(line, "- ")
		if !ok {
			continue
		}
		k, v, ok := strings.Cut(rest, ": ")
		if !ok || seen[k] {
			continue
		}
		seen[k] = true
		if v = strings.TrimSpace(v); v == NA {
			v = ""
		}
		switch k {
		case "model":
			m.Model = v
		case "backend":
			m.Backend = v
		case "devices":
			m.Devices = v
		}
	}
	return m
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// bothSides names what the baseline and the current folder were measured
// with: the value when they agree (or one side does not say), else
// "B (baseline) → C (current)".
func bothSides(base, cur string) string {
	switch {
	case base == "" || base == cur:
		return cur
	case cur == "":
		return base
	}
	return base + " (baseline) → " + cur + " (current)"
}
