package rows

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/ember-infer/ember/ember-core/inputfile"
)

// CSVError is malformed CSV input, located by file, line and column. Its
// message is one sentence, e.g.
//
//	run.csv: line 3, column 10 "wall_ms": "abc" is not a number
type CSVError struct {
	File   string // the name the reader was given
	Line   int    // 1-based; the header is line 1
	Column int    // 1-based field index; 0 when no single field is at fault
	Name   string // the column's header name, when known
	Msg    string // what is wrong
	Err    error  // the underlying error, if any
}

// Error implements error.
func (e *CSVError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: line %d", e.File, e.Line)
	switch {
	case e.Column > 0 && e.Name != "":
		fmt.Fprintf(&b, ", column %d %q", e.Column, e.Name)
	case e.Column > 0:
		fmt.Fprintf(&b, ", column %d", e.Column)
	case e.Name != "":
		fmt.Fprintf(&b, ", column %q", e.Name)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns the underlying error.
func (e *CSVError) Unwrap() error { return e.Err }

// CSVReader reads a CSV file with a header row, cell by cell and by column
// name. The first problem met (a missing column, a cell that does not parse, a
// row with the wrong number of fields) becomes its sticky error, a *CSVError;
// the accessors return zero values after that.
//
//	cr, err := rows.NewCSVReader(f, path, []string{"split", "wall_ms"})
//	for cr.Next() {
//		split, wall := cr.String("split"), cr.Float("wall_ms")
//		...
//	}
//	if err := cr.Err(); err != nil { ... }
type CSVReader struct {
	file   string
	r      *csv.Reader
	header []string
	idx    map[string]int
	rec    []string
	line   int
	err    error
}

// NewCSVReader reads the header from r and checks that every required column
// is present; file names the input in errors. Columns may come in any order and
// extra columns are allowed.
func NewCSVReader(r io.Reader, file string, required []string) (*CSVReader, error) {
	cr := &CSVReader{file: file, r: csv.NewReader(r), idx: map[string]int{}}
	cr.r.FieldsPerRecord = -1
	header, err := cr.r.Read()
	if err == io.EOF {
		return nil, &CSVError{File: file, Line: 1, Msg: "the file is empty, want a header row"}
	}
	if err != nil {
		return nil, cr.parseError(err)
	}
	if len(header) > 0 {
		header[0] = strings.TrimPrefix(header[0], "\ufeff")
	}
	line, _ := cr.r.FieldPos(0)
	for i, h := range header {
		h = strings.TrimSpace(h)
		if _, dup := cr.idx[h]; dup {
			return nil, &CSVError{File: file, Line: line, Column: i + 1, Name: h, Msg: "appears twice in the header"}
		}
		cr.idx[h] = i
	}
	for _, want := range required {
		if _, ok := cr.idx[want]; !ok {
			return nil, &CSVError{File: file, Line: line, Name: want, Msg: "missing from the header"}
		}
	}
	cr.header = header
	return cr, nil
}

// parseError turns an encoding/csv error into a *CSVError.
func (c *CSVReader) parseError(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return &CSVError{File: c.file, Line: pe.Line, Msg: fmt.Sprintf("character %d: %v", pe.Column, pe.Err), Err: err}
	}
	return fmt.Errorf("%s: %w", c.file, err)
}

// Next advances to the next data row, reporting false at the end of input or
// after an error.
func (c *CSVReader) Next() bool {
	if c.err != nil {
		return false
	}
	rec, err := c.r.Read()
	if err == io.EOF {
		return false
	}
	if err != nil {
		c.err = c.parseError(err)
		return false
	}
	c.rec = rec
	c.line, _ = c.r.FieldPos(0)
	if len(rec) < len(c.header) {
		c.err = &CSVError{File: c.file, Line: c.line, Column: len(rec) + 1, Name: c.header[len(rec)],
			Msg: fmt.Sprintf("missing: the row has %d fields, the header %d", len(rec), len(c.header))}
		return false
	}
	if len(rec) > len(c.header) {
		c.err = &CSVError{File: c.file, Line: c.line, Column: len(c.header) + 1,
			Msg: fmt.Sprintf("unexpected field: the row has %d fields, the header %d", len(rec), len(c.header))}
		return false
	}
	return true
}

// Line is the line number of the current row.
func (c *CSVReader) Line() int { return c.line }

// Has reports whether the header has column col.
func (c *CSVReader) Has(col string) bool {
	_, ok := c.idx[col]
	return ok
}

// Err returns the first error met, or nil.
func (c *CSVReader) Err() error { return c.err }

// Fail records msg as the error of column col in the current row, unless an
// error is already recorded.
func (c *CSVReader) Fail(col, msg string) {
	if c.err != nil {
		return
	}
	e := &CSVError{File: c.file, Line: c.line, Name: col, Msg: msg}
	if i, ok := c.idx[col]; ok {
		e.Column = i + 1
	}
	c.err = e
}

func (c *CSVReader) cell(col string) (string, bool) {
	if c.err != nil {
		return "", false
	}
	i, ok := c.idx[col]
	if !ok {
		c.Fail(col, "missing from the header")
		return "", false
	}
	return strings.TrimSpace(c.rec[i]), true
}

// String returns the current row's cell in column col.
func (c *CSVReader) String(col string) string {
	s, _ := c.cell(col)
	return s
}

// Float returns the cell in column col as a finite number.
func (c *CSVReader) Float(col string) float64 {
	s, ok := c.cell(col)
	if !ok {
		return 0
	}
	v, err := strconv.ParseFloat(s, 64)
	switch {
	case s == "":
		c.Fail(col, "is empty, want a number")
	case err != nil:
		c.Fail(col, fmt.Sprintf("%q is not a number", s))
	case math.IsNaN(v) || math.IsInf(v, 0):
		c.Fail(col, fmt.Sprintf("%q is not a finite number", s))
	default:
		return v
	}
	return 0
}

// Int returns the cell in column col as an integer.
func (c *CSVReader) Int(col string) int {
	s, ok := c.cell(col)
	if !ok {
		return 0
	}
	v, err := strconv.Atoi(s)
	switch {
	case s == "":
		c.Fail(col, "is empty, want an integer")
	case err != nil:
		c.Fail(col, fmt.Sprintf("%q is not an integer", s))
	default:
		return v
	}
	return 0
}

// Bool returns the cell in column col, which must be 0, 1, false or true.
func (c *CSVReader) Bool(col string) bool {
	s, ok := c.cell(col)
	if !ok {
		return false
	}
	switch strings.ToLower(s) {
	case "1", "true":
		return true
	case "0", "false":
		return false
	}
	c.Fail(col, fmt.Sprintf("%q is not 0 or 1", s))
	return false
}

// writeAll writes records as CSV with "\n" line ends.
func writeAll(w io.Writer, recs [][]string) error {
	cw := csv.NewWriter(w)
	if err := cw.WriteAll(recs); err != nil {
		return err
	}
	return cw.Error()
}

// readFile opens path and hands it to read, naming the file by path.
func readFile[T any](path string, read func(io.Reader, string) ([]T, error)) ([]T, error) {
	data, err := inputfile.Read(path, inputfile.TableCap)
	if err != nil {
		return nil, err
	}
	return read(bytes.NewReader(data), path)
}
