package report

import (
	"math"
	"testing"
)

func TestFormatDelta(t *testing.T) {
	for _, c := range []struct {
		old, new float64
		want     string
	}{
		{100, 112.34, "+12.34%"}, // 12.34 / 100
		{100, 95, "-5.00%"},      // −5 / 100
		{0, 5, "n/a"},            // old is 0
		{0, 0, "n/a"},            // still no base to divide by
		{40, 40, "+0.00%"},       // no change
		{3, 2, "-33.33%"},        // −1/3 = −33.333…
		{2, 3, "+50.00%"},        // 1/2
		{8, 7.9999999, "+0.00%"}, // −1.25e-6 % rounds to zero, printed as no change
		{math.NaN(), 1, "n/a"},   // a missing side
		{1, math.NaN(), "n/a"},   //
		{24.922, 25.6, "+2.72%"}, // 0.678 / 24.922 = 2.7205
		{520, 500, "-3.85%"},     // −20 / 520 = −3.846
		{-10, -5, "-50.00%"},     // (−5 − −10) / −10
		{1e-9, 1, "+99999999900.00%"},
	} {
		if got := FormatDelta(c.old, c.new); got != c.want {
			t.Errorf("FormatDelta(%v, %v) = %q, want %q", c.old, c.new, got, c.want)
		}
	}
}

func TestNumberFormats(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{FormatMS(812.5), "812.500"},
		{FormatMS(0.0004), "0.000"},
		{FormatMS(-0.0004), "0.000"},
		{FormatMS(1.0005), "1.000"}, // 1.0005 is stored just below, so it rounds down
		{FormatTokS(64000.0 / 2370), "27.004"},
		{FormatPct(100.0 / 3), "33.33"},
		{FormatRatio(2.0 / 3), "0.6667"},
		{FormatRatio(math.NaN()), "n/a"},
		{FormatMS(math.Inf(1)), "n/a"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

func TestShellQuote(t *testing.T) {
	got := ShellQuote([]string{"ember", "milestone", "split", "--splits", "12,24;18,18", "--p2-note", "it's fine", "", "--out-dir=reports/x"})
	want := `ember milestone split --splits '12,24;18,18' --p2-note 'it'\''s fine' '' --out-dir=reports/x`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestMetaMarkdownEmpty(t *testing.T) {
	want := "- model: n/a\n- backend: n/a\n- devices: n/a\n- time: n/a\n- command: n/a\n"
	if got := (Meta{}).Markdown(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestTableMarkdown(t *testing.T) {
	tb := Table{Header: []string{"a", "b"}, Rows: [][]string{{"1", "x|y"}}}
	want := "| a | b |\n|---|---|\n| 1 | x\\|y |\n"
	if got := tb.Markdown(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if got := string(tb.CSV()); got != "a,b\n1,x|y\n" {
		t.Errorf("csv %q", got)
	}
	if got := (Table{Header: []string{"a"}}).Markdown(); got != "| a |\n|---|\n\n(no rows)\n" {
		t.Errorf("empty table %q", got)
	}
}
