package report

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ember-infer/ember/ember-core/atomicfile"
	"github.com/ember-infer/ember/ember-core/rows"
)

// NA is the cell printed for a value that does not exist (a percent delta
// whose old value is 0, a ratio over 0, a side missing from a comparison).
const NA = "n/a"

// FormatMS formats milliseconds with 3 decimals; NaN prints as NA.
func FormatMS(v float64) string { return fixed(v, 3) }

// FormatTokS formats tokens per second with 3 decimals; NaN prints as NA.
func FormatTokS(v float64) string { return fixed(v, 3) }

// FormatPct formats a percentage with 2 decimals and no sign or % suffix; NaN
// prints as NA.
func FormatPct(v float64) string { return fixed(v, 2) }

// FormatRatio formats a ratio with 4 decimals; NaN prints as NA.
func FormatRatio(v float64) string { return fixed(v, 4) }

// FormatDelta formats the change from old to new as a signed percentage with
// 2 decimals ("+12.34%", "-5.00%", "+0.00%"), or NA when old is 0 or either
// value is NaN.
func FormatDelta(old, new float64) string {
	if old == 0 || math.IsNaN(old) || math.IsNaN(new) {
		return NA
	}
	pct := (new - old) / old * 100
	s := rows.Fixed(pct, 2)
	if !strings.HasPrefix(s, "-") {
		s = "+" + s
	}
	return s + "%"
}

func fixed(v float64, decimals int) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return NA
	}
	return rows.Fixed(v, decimals)
}

// round returns v rounded to the given number of decimals, as fixed prints it.
func round(v float64, decimals int) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return v
	}
	p := math.Pow10(decimals)
	return math.Round(v*p) / p
}

// div returns a/b, or NaN when b is 0.
func div(a, b float64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return a / b
}

// Table is a header and rows of formatted cells, written as CSV or markdown.
type Table struct {
	Header []string
	Rows   [][]string
}

// CSV returns t as CSV text with "\n" line ends.
func (t Table) CSV() []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write(t.Header)
	w.WriteAll(t.Rows) // writing to a bytes.Buffer cannot fail
	return b.Bytes()
}

// Markdown returns t as a GitHub-flavoured pipe table. An empty table prints
// the header and a line saying there are no rows.
func (t Table) Markdown() string {
	var b strings.Builder
	line := func(cells []string) {
		b.WriteString("|")
		for _, c := range cells {
			b.WriteString(" " + strings.ReplaceAll(c, "|", `\|`) + " |")
		}
		b.WriteString("\n")
	}
	line(t.Header)
	b.WriteString("|")
	for range t.Header {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, r := range t.Rows {
		line(r)
	}
	if len(t.Rows) == 0 {
		b.WriteString("\n(no rows)\n")
	}
	return b.String()
}

// Meta says what produced a report; every markdown file starts with it.
type Meta struct {
	Model   string    // model argument or snapshot, e.g. "Qwen/Qwen3-4B-Instruct-2507"
	Backend string    // "cuda" or "cpu"
	Devices string    // e.g. "0,1"
	Time    time.Time // when the sweep ran
	Command []string  // the command line, os.Args style
}

// Markdown returns the block of m that heads every report markdown.
func (m Meta) Markdown() string {
	orNA := func(s string) string {
		if s == "" {
			return NA
		}
		return s
	}
	tm := NA
	if !m.Time.IsZero() {
		tm = m.Time.Format(time.RFC3339)
	}
	cmd := NA
	if len(m.Command) > 0 {
		cmd = "`" + ShellQuote(m.Command) + "`"
	}
	return fmt.Sprintf("- model: %s\n- backend: %s\n- devices: %s\n- time: %s\n- command: %s\n",
		orNA(m.Model), orNA(m.Backend), orNA(m.Devices), tm, cmd)
}

// ShellQuote joins args into one line a POSIX shell would split back into
// args: arguments with anything but safe characters are single-quoted.
func ShellQuote(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		safe := a != ""
		for _, r := range a {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:,+@%", r)) {
				safe = false
				break
			}
		}
		if safe {
			out[i] = a
		} else {
			out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(out, " ")
}

// File is one output file of a report, named relative to the report folder.
type File struct {
	Name string
	Data []byte
}

// WriteFiles creates dir if needed and writes each file into it atomically
// (temp file and rename), so a reader never sees a torn report file.
func WriteFiles(dir string, files []File) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, f := range files {
		if err := atomicfile.WriteFile(filepath.Join(dir, f.Name), f.Data); err != nil {
			return err
		}
	}
	return nil
}

// markdownDoc starts a markdown file: a title and the meta block.
func markdownDoc(title string, m Meta) *strings.Builder {
	b := &strings.Builder{}
	fmt.Fprintf(b, "# %s\n\n%s", title, m.Markdown())
	return b
}
