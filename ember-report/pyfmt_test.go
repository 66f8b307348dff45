package report

import (
	"math"
	"strings"
	"testing"
)

// TestPyNumbers: cells read as Python's float() and int() read them, worked
// from the Python documentation: white space around is ignored, "_" is
// allowed only between two digits, a float past the range is inf, a sign
// may stand once before nan/inf, and what Python rejects takes the default.
func TestPyNumbers(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64 // NaN: want NaN
		ok   bool
	}{
		{" 2.5\n", 2.5, true},
		{"1_000", 1000, true},
		{"1_000.2_5", 1000.25, true},
		{"1__0", 0, false},
		{"_1", 0, false},
		{"1_", 0, false},
		{"1e400", math.Inf(1), true},
		{"-1e400", math.Inf(-1), true},
		{"-Infinity", math.Inf(-1), true},
		{"+nan", math.NaN(), true},
		{"+-inf", 0, false},
		{"0x10", 0, false},
		{"", 0, false},
		{"n/a", 0, false},
	} {
		got, ok := pyFloatOK(tc.in)
		same := got == tc.want || (math.IsNaN(tc.want) && math.IsNaN(got))
		if ok != tc.ok || (ok && !same) {
			t.Errorf("float(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
		if def := safeFloat(tc.in, -7); tc.ok != (def != -7) {
			t.Errorf("safe_float(%q, -7) = %v", tc.in, def)
		}
	}
	for _, tc := range []struct {
		in   string
		want int
		ok   bool
	}{
		{" 1_0 ", 10, true},
		{"+7", 7, true},
		{"-2_048", -2048, true},
		{"1__0", 0, false},
		{"+-1", 0, false},
		{"2048.0", 0, false},
		{"", 0, false},
	} {
		if got, ok := pyIntOK(tc.in); got != tc.want || ok != tc.ok {
			t.Errorf("int(%q) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
		}
		if got := pyInt(tc.in); got != tc.want {
			t.Errorf("safe_int(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

// TestPyCSVQuoting: Python's csv writer (QUOTE_MINIMAL) quotes a cell only for
// a comma, a quote or a line break; a leading space or a lone `\.` stays
// bare (encoding/csv quotes both). Worked by hand from csv.writer's rules.
func TestPyCSVQuoting(t *testing.T) {
	got := string(pyCSV([]string{"a", "b", "c"}, [][]string{{" x", `\.`, `say "hi", then`}, {"", "1\n2", "z"}}))
	want := "a,b,c\r\n x,\\.,\"say \"\"hi\"\", then\"\r\n,\"1\n2\",z\r\n"
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	tb := RecTable{Header: []string{"a", "b"}, Rows: []Rec{{"a": " x"}, {"b": "y"}}}
	if got, want := string(tb.CSV()), "a,b\r\n x,\r\n,y\r\n"; got != want {
		t.Errorf("RecTable: got %q, want %q", got, want)
	}
}

// TestGroupRecs: the scripts' grouping, worked by hand: groups in text order
// of their cells column by column ("1024" before "512", "" first), the later
// record of a phase replacing the earlier, a missing column grouping as "".
func TestGroupRecs(t *testing.T) {
	rs := []Rec{
		{"p": "512", "m": "b", "phase": "prefill", "v": "1"},
		{"p": "1024", "m": "b", "phase": "prefill", "v": "2"},
		{"p": "512", "m": "a", "phase": "prefill", "v": "3"},
		{"p": "512", "m": "b", "phase": "prefill", "v": "4"},
		{"m": "z", "phase": "decode", "v": "5"},
	}
	var got []string
	for _, g := range groupRecs(rs, []string{"p", "m"}, "phase") {
		var cells []string
		for _, ph := range []string{"prefill", "decode"} {
			if r, ok := g.by[ph]; ok {
				cells = append(cells, ph+"="+r["v"])
			}
		}
		got = append(got, g.key[0]+"/"+g.key[1]+":"+strings.Join(cells, ","))
	}
	want := []string{"/z:decode=5", "1024/b:prefill=2", "512/a:prefill=3", "512/b:prefill=4"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("groups %q, want %q", got, want)
	}
}
