// Package sweep runs a milestone's matrix of `ember profile` runs, each in its
// own process so that a crash or an out-of-memory in one never loses the
// others. A run's result is its raw-row CSV, written atomically by the child:
// a re-run of the same folder reuses every run whose CSV is there. Out of
// memory (exit status 3) is retried with the prefill chunk halved down to a
// minimum; an unavailable runtime (exit status 4) is retried a few times.
// Every try has its own log.
package sweep

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ember-infer/ember/ember-core/rows"
	report "github.com/ember-infer/ember/ember-report"
)

// Exit statuses of `ember profile` that the sweep acts on.
const (
	ExitOOM         = 3
	ExitUnavailable = 4
)

// Run is one cell of the matrix.
type Run struct {
	ID          string
	PromptLen   int
	DecodeSteps int
	ChunkLen    int
	Overlap     bool
	Split       []int // nil: the profile's default
	Sampling    bool
	// CSV is the run's raw-row file inside the sweep folder, and Log the name
	// of its try logs in logs/ with %d for the try (upstream's names:
	// "stage_raw_001.csv" and "run_001_try%d.log"). Empty: runs/<ID>.csv and
	// <ID>.try%d.log.
	CSV string
	Log string
	// Extra flags passed to this run's profile after its own (e.g. --pipeline).
	Extra []string
}

// Args are the profile flags that make this run (chunk given separately, as
// retries change it).
func (r Run) Args(chunk int) []string {
	a := []string{
		"--prompt-len", strconv.Itoa(r.PromptLen),
		"--decode-steps", strconv.Itoa(r.DecodeSteps),
		"--chunk-len", strconv.Itoa(chunk),
	}
	if r.Overlap {
		a = append(a, "--overlap")
	}
	if r.Sampling {
		a = append(a, "--decode-with-sampling")
	}
	if len(r.Split) > 0 {
		a = append(a, "--split", splitString(r.Split))
	}
	return append(a, r.Extra...)
}

// splitString is [18 18] → "18,18", as --split and the split column write it.
func splitString(split []int) string {
	parts := make([]string, len(split))
	for i, n := range split {
		parts[i] = strconv.Itoa(n)
	}
	return strings.Join(parts, ",")
}

// Runner starts one try: it runs `ember profile` with args, sends its output to
// log, and returns the exit status (0 on success).
type Runner func(ctx context.Context, args []string, log io.Writer) (int, error)

// ExecRunner runs the given executable as a child process.
func ExecRunner(exe string) Runner {
	return func(ctx context.Context, args []string, log io.Writer) (int, error) {
		cmd := exec.CommandContext(ctx, exe, append([]string{"profile"}, args...)...)
		cmd.Stdout, cmd.Stderr = log, log
		err := cmd.Run()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode(), nil
		}
		if err != nil {
			return -1, err
		}
		return 0, nil
	}
}

// Options configure Execute.
type Options struct {
	OutDir string
	// Base is passed to every run before its own flags: model, devices,
	// backend, device memory, iterations...
	Base             []string
	RetryOOM         bool
	MinChunk         int
	RetryUnavailable int           // an unavailable runtime is retried while the try number is at most this, as upstream
	UnavailableWait  time.Duration // pause before such a retry (upstream: 2s)
	ContinueOnError  bool
	SkipExisting     bool
	Progress         io.Writer // runs done / total, elapsed, ETA
	Run              Runner
	Now              func() time.Time
}

// Outcome is what became of one run.
type Outcome struct {
	Run     Run
	Rows    []rows.StageRow
	Samples []rows.SampleRow
	Failure *report.Failure
	Chunk   int  // the chunk that succeeded, or the last tried
	Reused  bool // taken from an earlier sweep in the same folder
}

// RunCSV is where a run's raw rows live inside the sweep folder by default.
func RunCSV(outDir, id string) string { return filepath.Join(outDir, "runs", id+".csv") }

func (r Run) csvPath(outDir string) string {
	if r.CSV != "" {
		return filepath.Join(outDir, r.CSV)
	}
	return RunCSV(outDir, r.ID)
}

func (r Run) logPath(outDir string, try int) string {
	if r.Log != "" {
		return filepath.Join(outDir, "logs", fmt.Sprintf(r.Log, try))
	}
	return filepath.Join(outDir, "logs", fmt.Sprintf("%s.try%d.log", r.ID, try))
}

// Execute runs every run in order and returns their outcomes. It stops early
// (with an error) on the first failure unless ContinueOnError.
func Execute(ctx context.Context, o Options, runs []Run) ([]Outcome, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.MinChunk < 1 {
		o.MinChunk = 1
	}
	for _, d := range []string{"logs"} { // runs/ is made when a run writes there
		if err := os.MkdirAll(filepath.Join(o.OutDir, d), 0o755); err != nil {
			return nil, err
		}
	}
	start := o.Now()
	var out []Outcome
	for i, r := range runs {
		oc, err := execOne(ctx, o, r)
		if err != nil {
			return out, err
		}
		out = append(out, oc)
		elapsed := o.Now().Sub(start)
		eta := time.Duration(0)
		if i+1 < len(runs) {
			eta = elapsed / time.Duration(i+1) * time.Duration(len(runs)-i-1)
		}
		status := "ok"
		switch {
		case oc.Reused:
			status = "reused"
		case oc.Failure != nil:
			status = "failed: " + oc.Failure.ErrorHint
		}
		fmt.Fprintf(o.Progress, "[%d/%d] %s %s (elapsed %s, ETA %s)\n", i+1, len(runs), r.ID, status,
			elapsed.Round(time.Second), eta.Round(time.Second))
		if oc.Failure != nil && !o.ContinueOnError {
			return out, fmt.Errorf("run %s failed (%s, exit status %d); see %s", r.ID, oc.Failure.ErrorHint, oc.Failure.ReturnCode, oc.Failure.LogPath)
		}
	}
	return out, nil
}

func execOne(ctx context.Context, o Options, r Run) (Outcome, error) {
	csvPath := r.csvPath(o.OutDir)
	if err := os.MkdirAll(filepath.Dir(csvPath), 0o755); err != nil {
		return Outcome{}, err
	}
	if o.SkipExisting {
		if rs, err := rows.ReadStageFile(csvPath); err == nil {
			if why := r.mismatch(rs, o.MinChunk); why != "" {
				fmt.Fprintf(o.Progress, "not reusing run %s (%s): %s\n", r.ID, csvPath, why)
			} else {
				samples, _ := rows.ReadSampleFile(rows.SamplesPath(csvPath))
				fmt.Fprintf(o.Progress, "reusing finished run %s (%s)\n", r.ID, csvPath)
				return Outcome{Run: r, Rows: rs, Samples: samples, Chunk: chunkOf(rs, r.ChunkLen), Reused: true}, nil
			}
		}
	}
	chunk := r.ChunkLen
	// As upstream: a run that ever ran out of memory fails as oom at the
	// smallest chunk that did; else one that was ever unavailable as such.
	sawOOM, sawUnavailable, minOOM := false, false, 0
	final := func(code int, hint, logPath string) Outcome {
		switch {
		case sawOOM:
			return failed(r, minOOM, code, report.HintOOM, logPath)
		case sawUnavailable:
			return failed(r, chunk, code, report.HintRuntimeUnavailable, logPath)
		}
		return failed(r, chunk, code, hint, logPath)
	}
	for try := 1; ; try++ {
		logPath := r.logPath(o.OutDir, try)
		var log bytes.Buffer
		args := append(append(append([]string{}, o.Base...), r.Args(chunk)...), "--csv", csvPath, "--samples-csv", rows.SamplesPath(csvPath))
		fmt.Fprintf(&log, "$ ember profile %s\n", report.ShellQuote(args))
		code, err := o.Run(ctx, args, &log)
		fmt.Fprintf(&log, "exit status %d\n", code)
		if werr := os.WriteFile(logPath, log.Bytes(), 0o644); werr != nil {
			return Outcome{}, werr
		}
		if err != nil {
			return Outcome{}, fmt.Errorf("run %s: %w", r.ID, err)
		}
		if code == 0 {
			rs, err := rows.ReadStageFile(csvPath)
			if err != nil {
				return final(code, report.HintRuntimeError, logPath), nil
			}
			samples, _ := rows.ReadSampleFile(rows.SamplesPath(csvPath))
			return Outcome{Run: r, Rows: rs, Samples: samples, Chunk: chunk}, nil
		}
		switch code {
		case ExitOOM:
			if !sawOOM || chunk < minOOM {
				minOOM = chunk
			}
			sawOOM = true
			// Upstream's ladder: halve, but not below the minimum.
			if next := max(o.MinChunk, chunk/2); o.RetryOOM && chunk > o.MinChunk && next != chunk {
				fmt.Fprintf(o.Progress, "run %s: out of memory at chunk %d; retrying with chunk %d\n", r.ID, chunk, next)
				appendLog(logPath, fmt.Sprintf("out of memory at chunk %d; retrying with chunk %d\n", chunk, next))
				chunk = next
				continue
			}
			return final(code, report.HintOOM, logPath), nil
		case ExitUnavailable:
			sawUnavailable = true
			if try <= o.RetryUnavailable {
				fmt.Fprintf(o.Progress, "run %s: runtime unavailable; retrying in %s (try %d)\n", r.ID, o.UnavailableWait, try)
				select {
				case <-time.After(o.UnavailableWait):
				case <-ctx.Done():
					return Outcome{}, ctx.Err()
				}
				continue
			}
			return final(code, report.HintRuntimeUnavailable, logPath), nil
		default:
			return final(code, report.HintRuntimeError, logPath), nil
		}
	}
}

// mismatch says why rows, found in the folder under r's ID, are not a
// measurement of r (an earlier sweep with other flags), or "" when they are.
// Their chunk may be one of r's out-of-memory retries: halved, not below minChunk.
func (r Run) mismatch(rs []rows.StageRow, minChunk int) string {
	if len(rs) == 0 {
		return "it holds no rows"
	}
	split := strings.ReplaceAll(splitString(r.Split), ",", "+") // the split column's A+B
	for _, row := range rs {
		c := row.Config
		// The ladder: chunk, max(minChunk, chunk/2), … down to minChunk.
		chunkOK := c.ChunkLen == r.ChunkLen
		for ch := r.ChunkLen; !chunkOK && ch > minChunk; {
			ch = max(minChunk, ch/2)
			chunkOK = c.ChunkLen == ch
		}
		switch {
		case c.PromptLen != r.PromptLen || c.DecodeSteps != r.DecodeSteps:
			return fmt.Sprintf("it measured prompt %d and %d decode steps, this run wants %d and %d", c.PromptLen, c.DecodeSteps, r.PromptLen, r.DecodeSteps)
		case c.Overlap != r.Overlap:
			return fmt.Sprintf("it measured overlap %v, this run wants %v", c.Overlap, r.Overlap)
		case c.DecodeSampling != r.Sampling:
			return fmt.Sprintf("it measured decode sampling %v, this run wants %v", c.DecodeSampling, r.Sampling)
		case split != "" && strings.ReplaceAll(c.Split, ",", "+") != split:
			return fmt.Sprintf("it measured split %s, this run wants %s", c.Split, split)
		case !chunkOK:
			return fmt.Sprintf("it measured chunk %d, this run wants %d (or half of it after out-of-memory retries)", c.ChunkLen, r.ChunkLen)
		}
	}
	return ""
}

func failed(r Run, chunk, code int, hint, log string) Outcome {
	return Outcome{Run: r, Chunk: chunk, Failure: &report.Failure{
		RunID: r.ID, Split: strings.ReplaceAll(splitString(r.Split), ",", "+"), PromptLen: r.PromptLen, DecodeSteps: r.DecodeSteps, Overlap: r.Overlap,
		ChunkLen: chunk, ReturnCode: code, ErrorHint: hint, LogPath: log,
	}}
}

func appendLog(path, s string) {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	f.WriteString(s)
}

func chunkOf(rs []rows.StageRow, fallback int) int {
	if len(rs) > 0 {
		return rs[0].ChunkLen
	}
	return fallback
}

// Collect gathers the rows, samples and failures of outcomes for a report.
func Collect(outs []Outcome) (rs []rows.StageRow, samples []rows.SampleRow, fails []report.Failure) {
	for _, o := range outs {
		rs = append(rs, o.Rows...)
		samples = append(samples, o.Samples...)
		if o.Failure != nil {
			fails = append(fails, *o.Failure)
		}
	}
	return rs, samples, fails
}
