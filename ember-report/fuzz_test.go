package report

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/ember-infer/ember/ember-core/rows"
)

// FuzzReadSplitSummary checks that the summary reader never panics and that
// every failure is a *rows.CSVError naming the file and a line.
func FuzzReadSplitSummary(f *testing.F) {
	h := strings.Join(SummaryHeader, ",") + "\n"
	f.Add(h + `"18,18",pipeline,512,64,450.000,30.000,2370.000,27.004,18.99,390.000,42.000,23.500,1.750` + "\n")
	f.Add(h + "36,single,1,1,0,0,0,n/a,n/a,0,0,0,0\n")
	f.Add(h)
	f.Add("split\n1\n")
	f.Add(h + "36,single,1\n")
	f.Fuzz(func(t *testing.T, in string) {
		_, err := ReadSplitSummary(strings.NewReader(in), "fuzz.csv")
		var ce *rows.CSVError
		if err != nil && (!errors.As(err, &ce) || ce.File != "fuzz.csv" || ce.Line < 1) {
			t.Fatalf("error %v is not a located *rows.CSVError", err)
		}
	})
}

// FuzzParseLlamaBench checks that llama-bench parsing never panics and fails
// only with ErrLlamaBench.
func FuzzParseLlamaBench(f *testing.F) {
	f.Add([]byte(`[{"n_prompt":512,"n_gen":0,"avg_ns":1,"avg_ts":1},{"n_prompt":0,"n_gen":64,"avg_ns":2,"avg_ts":2}]`))
	f.Add([]byte("[\n"))
	f.Add([]byte("log\n[]"))
	f.Fuzz(func(t *testing.T, in []byte) {
		if _, err := ParseLlamaBench(in); err != nil && !errors.Is(err, ErrLlamaBench) {
			t.Fatalf("error %v does not wrap ErrLlamaBench", err)
		}
	})
}

// FuzzReadRecs: the DictReader-style reader never panics, and what it reads
// writes back and reads again to the same records.
func FuzzReadRecs(f *testing.F) {
	f.Add([]byte("split,mode\r\n12+24,no_overlap\r\n"))
	f.Add([]byte("a,b\n1\n1,2,3\n\"x,y\",\"q\"\"\"\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		tb, err := ReadRecs(bytes.NewReader(data), "fuzz.csv")
		if err != nil {
			return
		}
		again, err := ReadRecs(bytes.NewReader(tb.CSV()), "again.csv")
		if err != nil {
			t.Fatalf("re-reading %q: %v", tb.CSV(), err)
		}
		if len(again.Rows) > len(tb.Rows) {
			t.Fatalf("%d rows became %d", len(tb.Rows), len(again.Rows))
		}
	})
}
