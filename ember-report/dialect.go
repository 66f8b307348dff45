package report

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// The upstream dialect. Files that the upstream stage-1 scripts
// (scripts/report/run_stage1_split_profile.py and run_stage1_milestone.py of
// dongchany/ember) write are built here the way those scripts build them: from
// the text of CSV cells, read back as numbers where the scripts call
// safe_float, formatted as Python's f"{v:.3f}" and written as csv.DictWriter
// writes (minimal quoting, "\r\n" line ends). Ember's own additions live in
// files of their own (ember_*), never as columns of these.

// Rec is one CSV row by column name, as csv.DictReader gives it.
type Rec map[string]string

// RecTable is a header and rows of cells by column name; a row lacking a
// column writes an empty cell, as csv.DictWriter's restval.
type RecTable struct {
	Header []string
	Rows   []Rec
}

// CSV returns t as csv.DictWriter writes it: the header, then each row, every
// line ended by "\r\n", a cell quoted only when it holds a comma, a quote or a
// line break.
func (t RecTable) CSV() []byte {
	rows := make([][]string, len(t.Rows))
	for j, r := range t.Rows {
		rows[j] = make([]string, len(t.Header))
		for i, h := range t.Header {
			rows[j][i] = r[h]
		}
	}
	return pyCSV(t.Header, rows)
}

// writePyCSVLine writes one line as Python's csv module does by default
// (QUOTE_MINIMAL): a cell is quoted only when it holds a comma, a quote or a
// line break (unlike encoding/csv, not for a leading space), and the line
// ends "\r\n".
func writePyCSVLine(b *bytes.Buffer, cells []string) {
	for i, c := range cells {
		if i > 0 {
			b.WriteByte(',')
		}
		if strings.ContainsAny(c, ",\"\r\n") {
			c = `"` + strings.ReplaceAll(c, `"`, `""`) + `"`
		}
		b.WriteString(c)
	}
	b.WriteString("\r\n")
}

// ReadRecs reads a CSV with a header row into records, as csv.DictReader
// does: blank lines are skipped, a short row lacks the missing columns, the
// cells of a long row beyond the header are dropped. name names the input in
// errors.
func ReadRecs(r io.Reader, name string) (RecTable, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.LazyQuotes = true
	header, err := cr.Read()
	if err == io.EOF {
		return RecTable{}, nil
	}
	if err != nil {
		return RecTable{}, fmt.Errorf("%s: %v", name, err)
	}
	if len(header) > 0 {
		header[0] = strings.TrimPrefix(header[0], "\ufeff")
	}
	t := RecTable{Header: header}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return RecTable{}, fmt.Errorf("%s: %v", name, err)
		}
		row := Rec{}
		for i, h := range header {
			if i < len(rec) {
				row[h] = rec[i]
			}
		}
		t.Rows = append(t.Rows, row)
	}
	return t, nil
}

// ReadRecsFile reads the CSV at path with ReadRecs.
func ReadRecsFile(path string) (RecTable, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return RecTable{}, err
	}
	return ReadRecs(bytes.NewReader(data), path)
}

// pyFloat is the scripts' safe_float with its default: the cell as Python's
// float() reads it, or 0 when float() would raise.
func pyFloat(s string) float64 {
	v, _ := pyFloatOK(s)
	return v
}

// pyFloatOK is Python's float(s): surrounding white space ignored, "nan",
// "inf" and "infinity" in any case with a sign, "_" only between digits, no
// hex; a value past the float range is ±inf. ok is false where float()
// raises.
func pyFloatOK(s string) (float64, bool) {
	s = strings.TrimSpace(s)
	body := strings.TrimLeft(s, "+-")
	if word := strings.ToLower(body); word == "nan" || word == "inf" || word == "infinity" {
		switch sign := s[:len(s)-len(body)]; {
		case len(sign) > 1:
			return 0, false
		case word == "nan":
			return math.NaN(), true
		case sign == "-":
			return math.Inf(-1), true
		default:
			return math.Inf(1), true
		}
	}
	if strings.ContainsAny(s, "xXpP") { // hex floats are not Python float() text
		return 0, false
	}
	digits, ok := pyUnderscores(s)
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseFloat(digits, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, false
	}
	return v, true
}

// pyUnderscores drops the "_" of a number literal where Python allows one
// (a single "_" between two digits); false for any other "_".
func pyUnderscores(s string) (string, bool) {
	if !strings.Contains(s, "_") {
		return s, true
	}
	isDigit := func(i int) bool { return i >= 0 && i < len(s) && s[i] >= '0' && s[i] <= '9' }
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '_' {
			if !isDigit(i-1) || !isDigit(i+1) {
				return "", false
			}
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String(), true
}

// pyInt is the scripts' safe_int: the cell as Python's int() reads it, or 0.
func pyInt(s string) int {
	v, _ := pyIntOK(s)
	return v
}

// pyIntOK is Python's int(s) on a cell: surrounding white space ignored, an
// optional sign, decimal digits with "_" only between two of them; ok is
// false where int() raises.
func pyIntOK(s string) (int, bool) {
	s = strings.TrimSpace(s)
	body := strings.TrimPrefix(strings.TrimPrefix(s, "+"), "-")
	if body == "" || body[0] < '0' || body[0] > '9' {
		return 0, false
	}
	digits, ok := pyUnderscores(s)
	if !ok {
		return 0, false
	}
	v, err := strconv.Atoi(digits)
	return v, err == nil
}

// pyFixed is Python's f"{v:.{decimals}f}": "-0.000" stays, NaN is "nan".
func pyFixed(v float64, decimals int) string {
	if s, ok := pyNonFinite(v); ok {
		return s
	}
	return strconv.FormatFloat(v, 'f', decimals, 64)
}

// pctDelta is the scripts' pct_delta: (new − old) / old × 100, false when old is 0.
func pctDelta(old, new float64) (float64, bool) {
	if old == 0 {
		return 0, false
	}
	return (new - old) / old * 100, true
}

// fmtPct is the scripts' fmt_pct: f"{v:+.2f}%" ("-0.00%" included), "n/a"
// when there is no value.
func fmtPct(v float64, ok bool) string {
	if !ok {
		return NA
	}
	s := pyFixed(v, 2)
	if !strings.HasPrefix(s, "-") {
		s = "+" + s
	}
	return s + "%"
}

var (
	slugBad   = regexp.MustCompile(`[^a-z0-9_-]+`)
	slugUnder = regexp.MustCompile(`_+`)
)

// UpstreamSlug is the scripts' slugify_label: lower case, every run of
// characters other than a-z, 0-9, _ and - becomes one _, runs of _ collapse,
// _ is trimmed from both ends; "baseline" when nothing is left.
func UpstreamSlug(label string) string {
	raw := strings.ToLower(strings.TrimSpace(label))
	if raw == "" {
		return "baseline"
	}
	s := slugUnder.ReplaceAllString(slugBad.ReplaceAllString(raw, "_"), "_")
	s = strings.Trim(s, "_")
	if s == "" {
		return "baseline"
	}
	return s
}

// LabelOf is the scripts' infer_label_from_summary: the name of the folder
// holding the summary, else the file's stem, else "baseline".
func LabelOf(summaryPath string) string {
	abs, err := filepath.Abs(summaryPath)
	if err != nil {
		abs = summaryPath
	}
	if name := strings.TrimSpace(filepath.Base(filepath.Dir(abs))); name != "" && name != "/" && name != "." {
		return name
	}
	stem := strings.TrimSpace(strings.TrimSuffix(filepath.Base(abs), filepath.Ext(abs)))
	if stem != "" {
		return stem
	}
	return "baseline"
}

// PrettyModelName is the scripts' pretty_model_name: "Org/Name" for a
// snapshot inside a Hugging Face cache (…/models--Org--Name/snapshots/<rev>),
// else the folder's name.
func PrettyModelName(modelDir string) string {
	parent := filepath.Dir(modelDir)
	if filepath.Base(parent) == "snapshots" {
		cache := filepath.Base(filepath.Dir(parent))
		if name, ok := strings.CutPrefix(cache, "models--"); ok {
			return strings.ReplaceAll(name, "--", "/")
		}
		if cache != "" {
			return cache
		}
	}
	return filepath.Base(modelDir)
}

// pickBest is the scripts' pick_best_row: the row with the highest
// rollout_tok_s_est (the first of equals), false when there are none.
func pickBest(rs []Rec) (Rec, bool) {
	if len(rs) == 0 {
		return nil, false
	}
	best := rs[0]
	for _, r := range rs[1:] {
		if pyFloat(r["rollout_tok_s_est"]) > pyFloat(best["rollout_tok_s_est"]) {
			best = r
		}
	}
	return best, true
}

// Markdown returns t as a pipe table (for Ember's own markdown).
func (t RecTable) Markdown() string {
	tt := Table{Header: t.Header}
	for _, r := range t.Rows {
		cells := make([]string, len(t.Header))
		for i, h := range t.Header {
			cells[i] = r[h]
		}
		tt.Rows = append(tt.Rows, cells)
	}
	return tt.Markdown()
}
