package report

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// The stage 1.3, 1.4 and 2.1 files follow what the upstream Python scripts
// and C++ benchmarks write; these helpers are their formats.

// DictRows is a CSV read as csv.DictReader reads it: one map per row from
// header to cell, in file order.
type DictRows []map[string]string

// ReadDictCSV parses CSV text with a header line into DictRows. Short rows
// leave their missing keys out (DictReader's restval is None; every lookup
// here defaults them).
func ReadDictCSV(data []byte) (DictRows, error) {
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1
	recs, err := r.ReadAll()
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, nil
	}
	head := recs[0]
	var out DictRows
	for _, rec := range recs[1:] {
		if len(rec) == 1 && rec[0] == "" {
			continue
		}
		m := make(map[string]string, len(head))
		for i, h := range head {
			if i < len(rec) {
				m[h] = rec[i]
			}
		}
		out = append(out, m)
	}
	return out, nil
}

// get is row.get(key, def).
func (r DictRows) get(i int, key, def string) string {
	if v, ok := r[i][key]; ok {
		return v
	}
	return def
}

// safeFloat is the scripts' safe_float: float(v), or def when it does not parse.
func safeFloat(v string, def float64) float64 {
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil {
		return def
	}
	return f
}

// pyIntOK is int(v) for the cells the scripts compare as integers; ok is false
// where Python's int() would raise.
func pyIntOK(v string) (int, bool) {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	return n, err == nil
}

// pyCSV is csv.DictWriter's output: minimal quoting and "\r\n" line ends.
func pyCSV(header []string, rows [][]string) []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.UseCRLF = true
	w.Write(header)
	w.WriteAll(rows) // writing to a bytes.Buffer cannot fail
	return b.Bytes()
}

// pyRepr is Python's str(float): the shortest repr, with ".0" on integral
// values, in exponent form below 1e-4 and from 1e16.
func pyRepr(v float64) string {
	switch {
	case math.IsNaN(v):
		return "nan"
	case math.IsInf(v, 1):
		return "inf"
	case math.IsInf(v, -1):
		return "-inf"
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
