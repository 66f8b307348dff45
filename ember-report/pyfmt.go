package report

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// The stage 1.3, 1.4 and 2.1 files follow what the upstream Python scripts
// and C++ benchmarks write; these helpers are their formats.

// DictRows is a CSV read as csv.DictReader reads it (ReadRecs): one record
// per row from header to cell, in file order.
type DictRows []Rec

// ReadDictCSV parses CSV text with a header line into DictRows with ReadRecs.
func ReadDictCSV(data []byte) (DictRows, error) {
	t, err := ReadRecs(bytes.NewReader(data), "csv")
	if err != nil {
		return nil, err
	}
	return DictRows(t.Rows), nil
}

// get is row.get(key, def).
func (r DictRows) get(i int, key, def string) string {
	if v, ok := r[i][key]; ok {
		return v
	}
	return def
}

// safeFloat is the scripts' safe_float(v, default): float(v) as pyFloat reads
// it, or def where Python's float() would raise.
func safeFloat(v string, def float64) float64 {
	if f, ok := pyFloatOK(v); ok {
		return f
	}
	return def
}

// pyCSV is csv.DictWriter's output for rows of cells in header order.
func pyCSV(header []string, rows [][]string) []byte {
	var b bytes.Buffer
	writePyCSVLine(&b, header)
	for _, r := range rows {
		writePyCSVLine(&b, r)
	}
	return b.Bytes()
}

// pyNonFinite is how Python formats NaN and the infinities ("nan", "inf",
// "-inf"), and false for a finite v.
func pyNonFinite(v float64) (string, bool) {
	switch {
	case math.IsNaN(v):
		return "nan", true
	case math.IsInf(v, 1):
		return "inf", true
	case math.IsInf(v, -1):
		return "-inf", true
	}
	return "", false
}

// pyRepr is Python's str(float): the shortest repr, with ".0" on integral
// values, in exponent form below 1e-4 and from 1e16.
func pyRepr(v float64) string {
	if s, ok := pyNonFinite(v); ok {
		return s
	}
	switch {
	case v == 0:
		if math.Signbit(v) {
			return "-0.0"
		}
		return "0.0"
	}
	a := math.Abs(v)
	if a < 1e-4 || a >= 1e16 {
		s := strconv.FormatFloat(v, 'e', -1, 64) // 1e-05, 1.5e+16
		mant, exp, _ := strings.Cut(s, "e")
		sign := exp[:1]
		digits := strings.TrimLeft(exp[1:], "0")
		if len(digits) < 2 {
			digits = fmt.Sprintf("%02s", digits)
		}
		return mant + "e" + sign + digits
	}
	s := strconv.FormatFloat(v, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}

// pyToday is date.today().isoformat().
func pyToday(t time.Time) string { return t.Format("2006-01-02") }
