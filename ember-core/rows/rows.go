// Package rows holds the measurement rows that the profiler writes and the
// reports read: one stage row per phase of a run (the raw stage CSV of
// docs/design.md) and one sample row per timed iteration, with their CSV writer
// and a validating reader whose errors name file, line and column.
package rows

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/ember-infer/ember/ember-core/atomicfile"
)

// Phase values of a stage row.
const (
	// PhasePrefill is the row of the whole prompt's prefill.
	PhasePrefill = "prefill"
	// PhaseDecodePerToken is the row of one decode step, averaged over the steps.
	PhaseDecodePerToken = "decode_per_token"
)

// Mode values the profiler writes, as upstream's ember_stage_breakdown spells
// them. Reports key their summaries on split × mode, so runs that differ only
// in overlap differ in mode too.
const (
	// ModeNoOverlap is one device, or two whose prefill does not overlap.
	ModeNoOverlap = "no_overlap"
	// ModeOverlap is two devices whose chunked prefill overlaps device 0's
	// next chunk with device 1's current one.
	ModeOverlap = "overlap"
)

// Mode is the mode column of a run on devices devices: ModeOverlap only with
// two or more devices and overlap asked for, as upstream writes it.
func Mode(devices int, overlap bool) string {
	if devices >= 2 && overlap {
		return ModeOverlap
	}
	return ModeNoOverlap
}

// GPUsCell is the gpus column: the device ids joined by "+" ("0+1"), without
// a backend prefix ("cpu:0,cpu:1" → "0+1").
func GPUsCell(ids []string) string {
	out := make([]string, len(ids))
	for i, id := range ids {
		if _, after, ok := strings.Cut(id, ":"); ok {
			id = after
		}
		out[i] = strings.TrimSpace(id)
	}
	return strings.Join(out, "+")
}

// SplitCell is the split column: layers per device joined by "+" ("18+18"),
// or the layer total alone on one device ("36"), as upstream writes it.
func SplitCell(split []int) string {
	parts := make([]string, len(split))
	for i, n := range split {
		parts[i] = strconv.Itoa(n)
	}
	return strings.Join(parts, "+")
}

// Stages holds the time of each profiled stage in milliseconds. With several
// devices each stage is summed over them, so with overlap the sum can exceed
// the wall time.
type Stages struct {
	EmbeddingMS float64
	RMSNormMS   float64
	AttentionMS float64
	FFNMS       float64
	P2PMS       float64
	MemcpyH2DMS float64
	MemcpyD2HMS float64
	SamplingMS  float64
	LMHeadMS    float64
}

// Compute is embedding + rmsnorm + attention + ffn + lm_head.
func (s Stages) Compute() float64 {
	return s.EmbeddingMS + s.RMSNormMS + s.AttentionMS + s.FFNMS + s.LMHeadMS
}

// Transfer is p2p + memcpy_h2d + memcpy_d2h.
func (s Stages) Transfer() float64 {
	return s.P2PMS + s.MemcpyH2DMS + s.MemcpyD2HMS
}

// Sum is the total of all nine stages (compute + transfer + sampling).
func (s Stages) Sum() float64 {
	return s.Compute() + s.Transfer() + s.SamplingMS
}

// StageNames lists the stages in CSV order, without the _ms suffix.
var StageNames = []string{"embedding", "rmsnorm", "attention", "ffn", "p2p", "memcpy_h2d", "memcpy_d2h", "sampling", "lm_head"}

// Values returns the stage times in the order of StageNames.
func (s Stages) Values() []float64 {
	return []float64{s.EmbeddingMS, s.RMSNormMS, s.AttentionMS, s.FFNMS, s.P2PMS, s.MemcpyH2DMS, s.MemcpyD2HMS, s.SamplingMS, s.LMHeadMS}
}

// stagePtrs returns pointers to the fields in the order of StageNames.
func (s *Stages) stagePtrs() []*float64 {
	return []*float64{&s.EmbeddingMS, &s.RMSNormMS, &s.AttentionMS, &s.FFNMS, &s.P2PMS, &s.MemcpyH2DMS, &s.MemcpyD2HMS, &s.SamplingMS, &s.LMHeadMS}
}

// Config identifies what a run measured: every column of a stage row that is
// not a measurement, phase included.
type Config struct {
	Phase          string // PhasePrefill or PhaseDecodePerToken
	Mode           string // ModeNoOverlap or ModeOverlap
	GPUs           string // device ids joined by "+", e.g. "0+1" (GPUsCell)
	Split          string // layers per device, e.g. "18+18"; one number on one device (SplitCell)
	PromptLen      int
	DecodeSteps    int
	ChunkLen       int
	Overlap        bool
	DecodeSampling bool
}

// Run returns c without its phase: the key that pairs a run's prefill row
// with its decode_per_token row.
func (c Config) Run() Config {
	c.Phase = ""
	return c
}

// String describes c for error messages.
func (c Config) String() string {
	var b strings.Builder
	if c.Phase != "" {
		fmt.Fprintf(&b, "%s ", c.Phase)
	}
	fmt.Fprintf(&b, "mode=%s gpus=%s split=%s prompt_len=%d decode_steps=%d chunk_len=%d overlap=%s decode_sampling=%s",
		c.Mode, c.GPUs, c.Split, c.PromptLen, c.DecodeSteps, c.ChunkLen, boolCell(c.Overlap), boolCell(c.DecodeSampling))
	return b.String()
}

// StageRow is one row of the raw stage CSV: a phase of one run, its wall time
// and its stage breakdown, all in milliseconds. A decode_per_token row holds
// per-token values.
type StageRow struct {
	Config
	WallMS float64
	Stages
	ProfileTotalMS float64
}

// SampleRow is one timed iteration of a run's phase: the same columns as a
// StageRow plus the iteration index, so that reports can compare medians of
// repeated iterations instead of single means.
type SampleRow struct {
	StageRow
	Iter int
}

// configColumns are the leading columns of both CSVs.
var configColumns = []string{"phase", "mode", "gpus", "split", "prompt_len", "decode_steps", "chunk_len", "overlap", "decode_sampling"}

// measureColumns are the trailing columns of both CSVs.
var measureColumns = func() []string {
	cols := []string{"wall_ms"}
	for _, s := range StageNames {
		cols = append(cols, s+"_ms")
	}
	return append(cols, "profile_total_ms")
}()

// StageHeader is the header of the raw stage CSV, in order.
var StageHeader = concat(configColumns, measureColumns)

// SampleHeader is the header of the per-iteration sample CSV: StageHeader with
// iter before wall_ms.
var SampleHeader = concat(configColumns, []string{"iter"}, measureColumns)

func concat(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// SamplesPath is where the per-iteration samples of a raw stage CSV go by
// default: out.csv → out.samples.csv.
func SamplesPath(csvPath string) string {
	return strings.TrimSuffix(csvPath, ".csv") + ".samples.csv"
}

// Fixed formats v with the given number of decimals, printing a value that
// rounds to zero as zero rather than "-0.000".
func Fixed(v float64, decimals int) string {
	s := strconv.FormatFloat(v, 'f', decimals, 64)
	if strings.HasPrefix(s, "-") && strings.Trim(s, "-0.") == "" {
		return s[1:]
	}
	return s
}

func boolCell(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func (c Config) cells() []string {
	return []string{c.Phase, c.Mode, c.GPUs, c.Split, strconv.Itoa(c.PromptLen),
		strconv.Itoa(c.DecodeSteps), strconv.Itoa(c.ChunkLen), boolCell(c.Overlap), boolCell(c.DecodeSampling)}
}

func (r StageRow) measureCells() []string {
	cells := []string{Fixed(r.WallMS, 3)}
	for _, v := range r.Values() {
		cells = append(cells, Fixed(v, 3))
	}
	return append(cells, Fixed(r.ProfileTotalMS, 3))
}

// Cells returns r's cells in StageHeader order, as WriteStageCSV writes them.
func (r StageRow) Cells() []string { return concat(r.Config.cells(), r.measureCells()) }

// WriteStageCSV writes the header and rs as the raw stage CSV, ms with 3
// decimals, "\n" line ends: the file ember_stage_breakdown --csv writes.
func WriteStageCSV(w io.Writer, rs []StageRow) error {
	recs := [][]string{StageHeader}
	for _, r := range rs {
		recs = append(recs, concat(r.Config.cells(), r.measureCells()))
	}
	return writeAll(w, recs)
}

// WriteSampleCSV writes the header and ss as the per-iteration sample CSV.
func WriteSampleCSV(w io.Writer, ss []SampleRow) error {
	recs := [][]string{SampleHeader}
	for _, s := range ss {
		recs = append(recs, concat(s.Config.cells(), []string{strconv.Itoa(s.Iter)}, s.measureCells()))
	}
	return writeAll(w, recs)
}

// WriteStageFile atomically replaces path with the raw stage CSV of rs.
func WriteStageFile(path string, rs []StageRow) error {
	return atomicfile.WriteWith(path, func(w io.Writer) error { return WriteStageCSV(w, rs) })
}

// WriteSampleFile atomically replaces path with the sample CSV of ss.
func WriteSampleFile(path string, ss []SampleRow) error {
	return atomicfile.WriteWith(path, func(w io.Writer) error { return WriteSampleCSV(w, ss) })
}

// ReadStageCSV reads a raw stage CSV from r; name is the file name used in
// errors. Columns are found by header name (extra columns are ignored); every
// problem is a *CSVError.
func ReadStageCSV(r io.Reader, name string) ([]StageRow, error) {
	cr, err := NewCSVReader(r, name, StageHeader)
	if err != nil {
		return nil, err
	}
	var out []StageRow
	for cr.Next() {
		row := readStage(cr)
		if cr.Err() != nil {
			break
		}
		out = append(out, row)
	}
	if err := cr.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// ReadSampleCSV reads a per-iteration sample CSV from r, as ReadStageCSV does.
func ReadSampleCSV(r io.Reader, name string) ([]SampleRow, error) {
	cr, err := NewCSVReader(r, name, SampleHeader)
	if err != nil {
		return nil, err
	}
	var out []SampleRow
	for cr.Next() {
		s := SampleRow{StageRow: readStage(cr), Iter: nonNegativeInt(cr, "iter")}
		if cr.Err() != nil {
			break
		}
		out = append(out, s)
	}
	if err := cr.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// ReadStageFile reads the raw stage CSV at path.
func ReadStageFile(path string) ([]StageRow, error) {
	return readFile(path, ReadStageCSV)
}

// ReadSampleFile reads the sample CSV at path.
func ReadSampleFile(path string) ([]SampleRow, error) {
	return readFile(path, ReadSampleCSV)
}

func readStage(cr *CSVReader) StageRow {
	var r StageRow
	r.Phase = cr.String("phase")
	if r.Phase != PhasePrefill && r.Phase != PhaseDecodePerToken {
		cr.Fail("phase", fmt.Sprintf("is %q, want %q or %q", r.Phase, PhasePrefill, PhaseDecodePerToken))
	}
	r.Mode = cr.String("mode")
	if r.GPUs = cr.String("gpus"); r.GPUs == "" {
		cr.Fail("gpus", "is empty, want device ids such as 0 or 0+1")
	}
	r.Split = cr.String("split")
	r.PromptLen = nonNegativeInt(cr, "prompt_len")
	r.DecodeSteps = nonNegativeInt(cr, "decode_steps")
	r.ChunkLen = nonNegativeInt(cr, "chunk_len")
	r.Overlap = cr.Bool("overlap")
	r.DecodeSampling = cr.Bool("decode_sampling")
	r.WallMS = nonNegative(cr, "wall_ms")
	for i, p := range r.stagePtrs() {
		*p = nonNegative(cr, StageNames[i]+"_ms")
	}
	r.ProfileTotalMS = nonNegative(cr, "profile_total_ms")
	return r
}

// nonNegative reads a time, which cannot be negative.
func nonNegative(cr *CSVReader, col string) float64 {
	v := cr.Float(col)
	if v < 0 {
		cr.Fail(col, fmt.Sprintf("%s is negative", strconv.FormatFloat(v, 'g', -1, 64)))
	}
	return v
}

// nonNegativeInt reads a length or count, which cannot be negative.
func nonNegativeInt(cr *CSVReader, col string) int {
	v := cr.Int(col)
	if v < 0 {
		cr.Fail(col, fmt.Sprintf("%d is negative", v))
	}
	return v
}
