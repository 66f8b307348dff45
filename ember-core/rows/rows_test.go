package rows

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func sampleStage() StageRow {
	return StageRow{
		Config: Config{Phase: PhasePrefill, Mode: ModeOverlap, GPUs: "0+1", Split: "18+18",
			PromptLen: 2048, DecodeSteps: 128, ChunkLen: 512, Overlap: true},
		WallMS: 812.5,
		Stages: Stages{EmbeddingMS: 0.25, RMSNormMS: 3, AttentionMS: 300.125, FFNMS: 400,
			P2PMS: 12.5, MemcpyH2DMS: 0.5, MemcpyD2HMS: 0.75, SamplingMS: 0, LMHeadMS: 20},
		ProfileTotalMS: 737.125,
	}
}

func TestWriteStageCSVExact(t *testing.T) {
	var b bytes.Buffer
	if err := WriteStageCSV(&b, []StageRow{sampleStage()}); err != nil {
		t.Fatal(err)
	}
	want := "phase,mode,gpus,split,prompt_len,decode_steps,chunk_len,overlap,decode_sampling,wall_ms,embedding_ms,rmsnorm_ms,attention_ms,ffn_ms,p2p_ms,memcpy_h2d_ms,memcpy_d2h_ms,sampling_ms,lm_head_ms,profile_total_ms\n" +
		"prefill,overlap,0+1,18+18,2048,128,512,1,0,812.500,0.250,3.000,300.125,400.000,12.500,0.500,0.750,0.000,20.000,737.125\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	st := sampleStage()
	dec := st
	dec.Phase = PhaseDecodePerToken
	dec.WallMS = 31.25
	p := filepath.Join(dir, "raw.csv")
	if err := WriteStageFile(p, []StageRow{st, dec}); err != nil {
		t.Fatal(err)
	}
	got, err := ReadStageFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, []StageRow{st, dec}) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, []StageRow{st, dec})
	}

	ss := []SampleRow{{StageRow: st, Iter: 0}, {StageRow: dec, Iter: 1}}
	sp := filepath.Join(dir, "samples.csv")
	if err := WriteSampleFile(sp, ss); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(sp)
	if !strings.HasPrefix(string(b), "phase,mode,gpus,split,prompt_len,decode_steps,chunk_len,overlap,decode_sampling,iter,wall_ms,") {
		t.Errorf("sample header: %q", strings.SplitN(string(b), "\n", 2)[0])
	}
	gs, err := ReadSampleFile(sp)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gs, ss) {
		t.Errorf("sample round trip:\n got %+v\nwant %+v", gs, ss)
	}
}

func TestStagesArithmetic(t *testing.T) {
	s := sampleStage().Stages
	// compute 0.25 + 3 + 300.125 + 400 + 20 = 723.375; transfer 12.5 + 0.5 + 0.75 = 13.75.
	if s.Compute() != 723.375 || s.Transfer() != 13.75 || s.Sum() != 737.125 {
		t.Errorf("compute %v transfer %v sum %v", s.Compute(), s.Transfer(), s.Sum())
	}
}

func TestFixed(t *testing.T) {
	for _, c := range []struct {
		v    float64
		d    int
		want string
	}{{1.0005, 3, "1.000"}, {-0.0004, 3, "0.000"}, {-1.5, 2, "-1.50"}, {2.25, 0, "2"}} {
		if got := Fixed(c.v, c.d); got != c.want {
			t.Errorf("Fixed(%v, %d) = %q, want %q", c.v, c.d, got, c.want)
		}
	}
}

const header = "phase,mode,gpus,split,prompt_len,decode_steps,chunk_len,overlap,decode_sampling,wall_ms,embedding_ms,rmsnorm_ms,attention_ms,ffn_ms,p2p_ms,memcpy_h2d_ms,memcpy_d2h_ms,sampling_ms,lm_head_ms,profile_total_ms\n"
const goodRow = "prefill,no_overlap,0,36,128,16,128,0,0,10,1,1,1,1,0,0,0,0,1,5\n"

func TestReadErrors(t *testing.T) {
	for _, c := range []struct {
		name, in string
		line     int
		column   int
		col      string
		msg      string
	}{
		{"missing column", strings.Replace(header, ",wall_ms", "", 1) + strings.Replace(goodRow, ",10,", ",", 1),
			1, 0, "wall_ms", `run.csv: line 1, column "wall_ms": missing from the header`},
		{"non-numeric", header + goodRow + strings.Replace(goodRow, ",10,", ",abc,", 1),
			3, 10, "wall_ms", `run.csv: line 3, column 10 "wall_ms": "abc" is not a number`},
		{"empty cell", header + strings.Replace(goodRow, ",5\n", ",\n", 1),
			2, 20, "profile_total_ms", `run.csv: line 2, column 20 "profile_total_ms": is empty, want a number`},
		{"short row", header + goodRow + "prefill,no_overlap,0,36,128,16,128,0,0,10,1,1,1,1,0,0,0,0\n",
			3, 19, "lm_head_ms", `run.csv: line 3, column 19 "lm_head_ms": missing: the row has 18 fields, the header 20`},
		{"long row", header + strings.Replace(goodRow, "\n", ",7\n", 1),
			2, 21, "", `run.csv: line 2, column 21: unexpected field: the row has 21 fields, the header 20`},
		{"bad phase", header + strings.Replace(goodRow, "prefill", "decode", 1),
			2, 1, "phase", `run.csv: line 2, column 1 "phase": is "decode", want "prefill" or "decode_per_token"`},
		{"bad int", header + strings.Replace(goodRow, ",128,16,", ",12.5,16,", 1),
			2, 5, "prompt_len", `run.csv: line 2, column 5 "prompt_len": "12.5" is not an integer`},
		{"bad bool", header + strings.Replace(goodRow, ",0,0,10,", ",yes,0,10,", 1),
			2, 8, "overlap", `run.csv: line 2, column 8 "overlap": "yes" is not 0 or 1`},
		{"negative", header + strings.Replace(goodRow, ",10,", ",-1,", 1),
			2, 10, "wall_ms", `run.csv: line 2, column 10 "wall_ms": -1 is negative`},
		{"nan", header + strings.Replace(goodRow, ",10,", ",NaN,", 1),
			2, 10, "wall_ms", `run.csv: line 2, column 10 "wall_ms": "NaN" is not a finite number`},
		{"empty file", "", 1, 0, "", `run.csv: line 1: the file is empty, want a header row`},
		{"bare quote", header + "pre\"fill" + goodRow[7:], 2, 0, "", `run.csv: line 2: character 4: bare " in non-quoted-field`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ReadStageCSV(strings.NewReader(c.in), "run.csv")
			var ce *CSVError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v, want a *CSVError", err)
			}
			if ce.Line != c.line || ce.Column != c.column || ce.Name != c.col {
				t.Errorf("at line %d column %d %q, want line %d column %d %q", ce.Line, ce.Column, ce.Name, c.line, c.column, c.col)
			}
			if err.Error() != c.msg {
				t.Errorf("message\n got %s\nwant %s", err, c.msg)
			}
		})
	}
}

func TestReadTolerates(t *testing.T) {
	// Columns in another order, an extra column, a BOM and CRLF line ends all read.
	in := "\ufeffextra," + strings.TrimSuffix(header, "\n") + "\r\nx," + strings.TrimSuffix(goodRow, "\n") + "\r\n"
	got, err := ReadStageCSV(strings.NewReader(in), "x.csv")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Split != "36" || got[0].WallMS != 10 || got[0].ProfileTotalMS != 5 {
		t.Errorf("got %+v", got)
	}
}

func TestDialectCells(t *testing.T) {
	// ember_stage_breakdown: mode "overlap" only with two GPUs and --overlap;
	// gpus the ids joined by "+"; split "A+B", or the layer total on one GPU.
	for _, c := range []struct {
		n    int
		ov   bool
		want string
	}{{1, false, "no_overlap"}, {1, true, "no_overlap"}, {2, false, "no_overlap"}, {2, true, "overlap"}} {
		if got := Mode(c.n, c.ov); got != c.want {
			t.Errorf("Mode(%d, %v) = %q, want %q", c.n, c.ov, got, c.want)
		}
	}
	if g := GPUsCell([]string{"cpu:0", "cpu:1"}); g != "0+1" {
		t.Errorf("GPUsCell(cpu:0,cpu:1) = %q, want 0+1", g)
	}
	if g := GPUsCell([]string{"3"}); g != "3" {
		t.Errorf("GPUsCell(3) = %q", g)
	}
	if s := SplitCell([]int{12, 24}); s != "12+24" {
		t.Errorf("SplitCell = %q, want 12+24", s)
	}
	if s := SplitCell([]int{36}); s != "36" {
		t.Errorf("SplitCell = %q, want 36", s)
	}
}
