package rows

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// FuzzReadStageCSV checks that the reader never panics, that every failure is
// a *CSVError or an I/O error naming the file, and that whatever it accepts
// survives a write and a second read unchanged (at the written precision).
func FuzzReadStageCSV(f *testing.F) {
	f.Add([]byte(header + goodRow))
	f.Add([]byte(header + goodRow + "decode_per_token,no_overlap,0,36,128,16,128,0,1,2.5,0,0.5,0.5,1,0,0,0.25,0.1,0.2,2.55\n"))
	f.Add([]byte(header))
	f.Add([]byte(""))
	f.Add([]byte("phase\nprefill\n"))
	f.Add([]byte(header + "prefill,\"a\"\"b\",1,\"18,18\",1,1,1,1,1,1e3,0,0,0,0,0,0,0,0,0,0\n"))
	f.Add([]byte(header + goodRow[:20] + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, err := ReadStageCSV(bytes.NewReader(data), "fuzz.csv")
		if err != nil {
			var ce *CSVError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v is not a *CSVError", err)
			}
			if ce.File != "fuzz.csv" || ce.Line < 1 {
				t.Fatalf("error %+v lacks file or line", ce)
			}
			return
		}
		for i := range rs {
			rs[i] = rounded(rs[i])
		}
		var b bytes.Buffer
		if err := WriteStageCSV(&b, rs); err != nil {
			t.Fatal(err)
		}
		again, err := ReadStageCSV(&b, "again.csv")
		if err != nil {
			t.Fatalf("re-reading written rows: %v", err)
		}
		if len(rs) == 0 && len(again) == 0 {
			return
		}
		if !reflect.DeepEqual(again, rs) {
			t.Fatalf("rewrite changed rows:\n%+v\n%+v", rs, again)
		}
	})
}

// rounded returns r with every time rounded as the writer prints it, so that a
// second read can be compared exactly.
func rounded(r StageRow) StageRow {
	var b bytes.Buffer
	WriteStageCSV(&b, []StageRow{r})
	got, err := ReadStageCSV(&b, "round.csv")
	if err != nil || len(got) != 1 {
		panic(err)
	}
	return got[0]
}
