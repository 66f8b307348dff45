package report

import (
	"errors"
	"strings"
	"testing"

	"github.com/ember-infer/ember/ember-core/rows"
)

// decodeSamples returns decode_per_token samples of 18+18 no_overlap, one per wall time.
func decodeSamples(walls ...float64) []rows.SampleRow {
	var out []rows.SampleRow
	for i, w := range walls {
		out = append(out, rows.SampleRow{Iter: i, StageRow: rows.StageRow{
			Config: rows.Config{Phase: rows.PhaseDecodePerToken, Mode: rows.ModeNoOverlap, GPUs: "0+1", Split: "18+18", PromptLen: 512, DecodeSteps: 64, ChunkLen: 512},
			WallMS: w,
		}})
	}
	return out
}

func compareDecode(base, cur []float64) (Change, bool) {
	key := Key{"18+18", rows.ModeNoOverlap, 512, 64}
	d := Compare(
		Reference{Label: "base", Summary: []SummaryRow{{Key: key}}, Samples: decodeSamples(base...)},
		Reference{Label: "cur", Summary: []SummaryRow{{Key: key}}, Samples: decodeSamples(cur...)})
	return d.Rows[0].change("decode_per_token_ms")
}

func TestNoiseMarking(t *testing.T) {
	for _, c := range []struct {
		name      string
		base, cur []float64
		want      string
		signif    bool
		medians   [2]float64
	}{
		// Every current sample above every baseline one: p = 2 / C(10,5) = 2/252 = 0.0079.
		// Medians 10.2 → 12.2: 2/10.2 = +19.6078%.
		{"differ", []float64{10, 10.1, 10.2, 10.3, 10.4}, []float64{12, 12.1, 12.2, 12.3, 12.4}, "+19.61% (p=0.008 n=5)", true, [2]float64{10.2, 12.2}},
		// Interleaved: U = 10, two-sided p = 2 × 87/252 = 0.690: noise.
		{"same", []float64{10, 10.2, 10.4, 10.6, 10.8}, []float64{10.1, 10.3, 10.5, 10.7, 10.9}, "~ (p=0.690 n=5)", false, [2]float64{10.4, 10.5}},
		// Six below five: p = 2 / C(11,5) = 2/462 = 0.0043. Medians (10.2+10.3)/2 = 10.25 → 9.2: −10.2439%.
		{"differ, unequal n", []float64{10, 10.1, 10.2, 10.3, 10.4, 10.5}, []float64{9, 9.1, 9.2, 9.3, 9.4}, "-10.24% (p=0.004 n=6+5)", true, [2]float64{10.25, 9.2}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ch, ok := compareDecode(c.base, c.cur)
			if !ok {
				t.Fatal("no statistical comparison")
			}
			if ch.String() != c.want || ch.Significant() != c.signif {
				t.Errorf("got %q (significant %v), want %q (%v)", ch, ch.Significant(), c.want, c.signif)
			}
			if ch.Base.Center != c.medians[0] || ch.Cur.Center != c.medians[1] {
				t.Errorf("medians %v → %v, want %v", ch.Base.Center, ch.Cur.Center, c.medians)
			}
		})
	}
}

func TestMedianInterval(t *testing.T) {
	// Six samples: the only order-statistic interval with ≥95% coverage is min..max
	// (1 − 2/2^6 = 96.9%): [9, 11] around the median 10, i.e. ±10%.
	ch, _ := compareDecode([]float64{9, 9.5, 10, 10, 10.5, 11}, []float64{9, 9.5, 10, 10, 10.5, 11})
	if got := ciCell(ch.Base); got != "±10%" || ch.Base.Lo != 9 || ch.Base.Hi != 11 {
		t.Errorf("interval %s [%v, %v], want ±10%% [9, 11]", got, ch.Base.Lo, ch.Base.Hi)
	}
	// Five samples cannot reach 95% (min..max covers 1 − 2/2^5 = 93.75%).
	ch, _ = compareDecode([]float64{1, 2, 3, 4, 5}, []float64{1, 2, 3, 4, 5})
	if got := ciCell(ch.Base); got != "±∞" {
		t.Errorf("interval of five samples %s, want ±∞", got)
	}
	// Identical samples: nothing to tell apart.
	if !strings.HasPrefix(ch.String(), "~ ") {
		t.Errorf("identical samples: %s", ch)
	}
}

func TestCompareWithoutSamples(t *testing.T) {
	key := Key{"18+18", rows.ModeNoOverlap, 512, 64}
	only := Reference{Label: "b", Summary: []SummaryRow{{Key: key, PrefillWallMS: 100}}, Samples: decodeSamples(1, 2, 3)}
	d := Compare(only, Reference{Label: "c", Summary: []SummaryRow{{Key: key, PrefillWallMS: 110}}})
	if len(d.Rows) != 1 || len(d.Rows[0].Changes) != 0 {
		t.Fatalf("rows %+v", d.Rows)
	}
	r := d.Table().Rows[0]
	if r[6] != "+10.00%" || r[16] != "n/a" || r[len(r)-1] != "n/a" {
		t.Errorf("row %q", r)
	}
}

func TestReadSplitSummaryErrors(t *testing.T) {
	for _, c := range []struct {
		file string
		line int
		col  int
		name string
		msg  string
	}{
		{"malformed/summary_missing_column.csv", 1, 0, "decode_per_token_ms",
			fixture("malformed/summary_missing_column.csv") + `: line 1, column "decode_per_token_ms": missing from the header`},
		{"malformed/summary_non_numeric.csv", 3, 6, "decode_per_token_ms",
			fixture("malformed/summary_non_numeric.csv") + `: line 3, column 6 "decode_per_token_ms": "fast" is not a number`},
	} {
		_, err := LoadReference(fixture(c.file), "")
		var ce *rows.CSVError
		if !errors.As(err, &ce) {
			t.Fatalf("%s: error %v, want a *rows.CSVError", c.file, err)
		}
		if ce.Line != c.line || ce.Column != c.col || ce.Name != c.name || err.Error() != c.msg {
			t.Errorf("%s:\n got %v (line %d column %d %q)\nwant %s", c.file, err, ce.Line, ce.Column, ce.Name, c.msg)
		}
	}
	// A short row and a bad sample file are located the same way.
	_, err := ReadSplitSummary(strings.NewReader(strings.Join(SummaryHeader, ",")+"\n18,pipeline,1\n"), "s.csv")
	if err == nil || err.Error() != `s.csv: line 2, column 4 "decode_steps": missing: the row has 3 fields, the header 13` {
		t.Errorf("short row: %v", err)
	}
	// n/a is allowed where a value can be undefined.
	rs, err := ReadSplitSummary(strings.NewReader(strings.Join(SummaryHeader, ",")+"\n36,single,1,1,0,0,0,n/a,n/a,0,0,0,0\n"), "s.csv")
	if err != nil || len(rs) != 1 || rs[0].RolloutTokS == rs[0].RolloutTokS {
		t.Errorf("n/a cells: %v %+v", err, rs)
	}
}
