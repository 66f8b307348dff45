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
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ember-infer/ember/ember-core/atomicfile"
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
// log, and returns the exit status (0 on success). A child killed by a signal
// comes back as a *KilledError; ctx's end kills the child and everything it
// started.
type Runner func(ctx context.Context, args []string, log io.Writer) (int, error)

// KilledError is a child that a signal ended (the kernel's OOM killer, a
// crash, someone's kill), which an exit status cannot say.
type KilledError struct{ Signal syscall.Signal }

func (e *KilledError) Error() string {
	return fmt.Sprintf("killed by signal %d (%v)", int(e.Signal), e.Signal)
}

// ReturnCode is the shell's spelling of a signal death: 128 + the signal.
func (e *KilledError) ReturnCode() int { return 128 + int(e.Signal) }

// StopGrace is how long a child has to exit after SIGTERM before SIGKILL.
var StopGrace = 5 * time.Second

// ExecRunner runs the given executable as a child process in its own process
// group. When ctx ends the whole group gets SIGTERM, then SIGKILL after
// StopGrace; on Linux the kernel kills the child if the sweep itself dies.
func ExecRunner(exe string) Runner {
	return func(ctx context.Context, args []string, log io.Writer) (int, error) {
		if err := ctx.Err(); err != nil {
			return -1, err
		}
		runtime.LockOSThread() // Pdeathsig fires when the starting thread ends
		defer runtime.UnlockOSThread()
		cmd := exec.Command(exe, append([]string{"profile"}, args...)...)
		cmd.Stdout, cmd.Stderr = log, log
		cmd.SysProcAttr = childAttr()
		cmd.WaitDelay = StopGrace
		if err := cmd.Start(); err != nil {
			return -1, err
		}
		pgid := cmd.Process.Pid
		done := make(chan struct{})
		stopped := make(chan struct{})
		go func() {
			defer close(stopped)
			select {
			case <-done:
				return
			case <-ctx.Done():
			}
			syscall.Kill(-pgid, syscall.SIGTERM)
			select {
			case <-done:
			case <-time.After(StopGrace):
				syscall.Kill(-pgid, syscall.SIGKILL)
			}
		}()
		err := cmd.Wait()
		close(done)
		<-stopped
		syscall.Kill(-pgid, syscall.SIGKILL) // anything the child left behind
		if ctx.Err() != nil {
			return -1, ctx.Err()
		}
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				return ee.ExitCode(), &KilledError{Signal: ws.Signal()}
			}
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
	// UpstreamFolder says OutDir was written by the upstream scripts, never
	// by an Ember sweep (it had no LockName before this sweep took it). Only
	// there may a run without a completion marker be reused: upstream writes
	// none, and its runs are taken when their rows match what this run asks
	// for. An Ember folder's unmarked runs are unfinished and run again.
	UpstreamFolder bool
	Progress       io.Writer // runs done / total, elapsed, ETA
	Run            Runner
	Now            func() time.Time
	// Identity is what every run of the sweep shares beyond its flags: the
	// model's fingerprint, the ember binary's. A run's full identity is this,
	// then FlagIdentity of its arguments.
	Identity Identity
	// WriteFile writes a completion marker; nil means atomicfile.WriteFile
	// (tests put a full disk here).
	WriteFile func(path string, data []byte) error
}

// Outcome is what became of one run.
type Outcome struct {
	Run     Run
	Rows    []rows.StageRow
	Samples []rows.SampleRow
	Failure *report.Failure
	Chunk   int    // the chunk that succeeded, or the last tried
	Reused  bool   // taken from an earlier sweep in the same folder
	Reason  string // why a failed run failed, in words
	// Backend is the backend the child said it ran on ("cpu", "cuda"): what
	// --backend auto resolved to. Empty when unknown (a run of the upstream
	// scripts, a marker from before Ember recorded it, a failed run).
	Backend string
}

// backendKey is the completion marker's entry for Outcome.Backend. It is not
// part of the run's identity: it is what the run found, not what it asked for.
const backendKey = "ran-on-backend"

// ReportedBackend is the backend a child `ember profile` said it ran on, in
// its "ember: profiling DIR on BACKEND ×N, …" line, or "" when log has none.
func ReportedBackend(log []byte) string {
	for _, line := range strings.Split(string(log), "\n") {
		if m := profilingLine.FindStringSubmatch(line); m != nil {
			return m[1]
		}
	}
	return ""
}

// profilingLine is the line of `ember profile` that names its backend; the
// greedy model folder takes any " on " it holds.
var profilingLine = regexp.MustCompile(`^ember: profiling .* on (\S+) ×\d+, split `)

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

// MarkerPath is a run's completion marker: written, atomically, only after the
// run's CSV and samples file are both complete and read back; it holds the
// run's identity. A run without one is not finished, whatever else is there.
func MarkerPath(outDir, id string) string { return filepath.Join(outDir, "runs", id+".done") }

// UpstreamMarkerPath marks a run the upstream scripts measured that a sweep
// took over (its rows matched): it is reused while its rows still match,
// though it has no completion marker.
func UpstreamMarkerPath(outDir, id string) string {
	return filepath.Join(outDir, "runs", id+".upstream")
}

// identity is run r's full identity under o.
func (o Options) identity(r Run) Identity {
	id := append(Identity{}, o.Identity...)
	id = append(id, FlagIdentity(o.Base)...)
	return append(id, FlagIdentity(r.Args(r.ChunkLen))...)
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
	if o.WriteFile == nil {
		o.WriteFile = atomicfile.WriteFile
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
			if oc.Reason != "" {
				status += " (" + oc.Reason + ")"
			}
		}
		fmt.Fprintf(o.Progress, "[%d/%d] %s %s (elapsed %s, ETA %s)\n", i+1, len(runs), r.ID, status,
			elapsed.Round(time.Second), eta.Round(time.Second))
		if oc.Failure != nil && !o.ContinueOnError {
			return out, fmt.Errorf("run %s failed (%s, exit status %d); see %s", r.ID, oc.Failure.ErrorHint, oc.Failure.ReturnCode, oc.Failure.LogPath)
		}
	}
	return out, nil
}

// reuse returns the finished run r left in the folder by an earlier sweep, or
// says (on progress) why there is none to reuse.
func reuse(o Options, r Run) (Outcome, bool) {
	csvPath := r.csvPath(o.OutDir)
	not := func(why string) (Outcome, bool) {
		fmt.Fprintf(o.Progress, "not reusing run %s (%s): %s; running it again\n", r.ID, csvPath, why)
		return Outcome{}, false
	}
	marker, err := os.ReadFile(MarkerPath(o.OutDir, r.ID))
	if err != nil {
		if _, serr := os.Stat(csvPath); serr != nil {
			return Outcome{}, false
		}
		_, adopted := os.Stat(UpstreamMarkerPath(o.OutDir, r.ID))
		if !o.UpstreamFolder && adopted != nil {
			return not("it has no completion marker (the run was interrupted, or not all of its files were written)")
		}
		// An upstream run: its rows are all there is to go by.
		rs, err := rows.ReadStageFile(csvPath)
		if err != nil {
			return not(err.Error())
		}
		if why := r.mismatch(rs, o.MinChunk); why != "" {
			return not(why)
		}
		if adopted != nil {
			// Remember it: later sweeps of this (now Ember's) folder reuse it too.
			mp := UpstreamMarkerPath(o.OutDir, r.ID)
			if err := os.MkdirAll(filepath.Dir(mp), 0o755); err != nil {
				return not(err.Error())
			}
			if err := o.WriteFile(mp, []byte("measured by the upstream scripts; reused because its rows match\n")); err != nil {
				return not(err.Error())
			}
		}
		fmt.Fprintf(o.Progress, "reusing finished run %s from the upstream scripts' folder (%s)\n", r.ID, csvPath)
		return Outcome{Run: r, Rows: rs, Chunk: chunkOf(rs, r.ChunkLen), Reused: true}, true
	}
	was, err := parseIdentity(marker)
	if err != nil {
		return not(fmt.Sprintf("its completion marker %s is unreadable: %v", MarkerPath(o.OutDir, r.ID), err))
	}
	backend, _ := was.Get(backendKey)
	was = slices.DeleteFunc(was, func(f Field) bool { return f.Key == backendKey })
	if why := o.identity(r).Diff(was); why != "" {
		return not(why)
	}
	rs, err := rows.ReadStageFile(csvPath)
	if err != nil {
		return not(err.Error())
	}
	if why := r.mismatch(rs, o.MinChunk); why != "" {
		return not(why)
	}
	samples, err := rows.ReadSampleFile(rows.SamplesPath(csvPath))
	if err != nil {
		return not(err.Error())
	}
	fmt.Fprintf(o.Progress, "reusing finished run %s (%s)\n", r.ID, csvPath)
	return Outcome{Run: r, Rows: rs, Samples: samples, Chunk: chunkOf(rs, r.ChunkLen), Reused: true, Backend: backend}, true
}

func execOne(ctx context.Context, o Options, r Run) (Outcome, error) {
	csvPath := r.csvPath(o.OutDir)
	if err := os.MkdirAll(filepath.Dir(csvPath), 0o755); err != nil {
		return Outcome{}, err
	}
	if o.SkipExisting {
		if oc, ok := reuse(o, r); ok {
			return oc, nil
		}
	}
	// Whatever the folder held for this run is stale from here on: the
	// marker goes first, so an interruption leaves nothing that looks done.
	for _, markerPath := range []string{MarkerPath(o.OutDir, r.ID), UpstreamMarkerPath(o.OutDir, r.ID)} {
		if err := os.Remove(markerPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return Outcome{}, fmt.Errorf("run %s: %w", r.ID, err)
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
		var killed *KilledError
		if errors.As(err, &killed) && ctx.Err() == nil {
			fmt.Fprintf(&log, "%v\n", killed)
			if werr := os.WriteFile(logPath, log.Bytes(), 0o644); werr != nil {
				return Outcome{}, fmt.Errorf("run %s: writing its log: %w", r.ID, werr)
			}
			oc := failed(r, chunk, killed.ReturnCode(), report.HintRuntimeError, logPath)
			oc.Reason = killed.Error()
			return oc, nil
		}
		if ctx.Err() != nil {
			fmt.Fprintf(&log, "interrupted: %v\n", ctx.Err())
		} else {
			fmt.Fprintf(&log, "exit status %d\n", code)
		}
		if werr := os.WriteFile(logPath, log.Bytes(), 0o644); werr != nil {
			return Outcome{}, fmt.Errorf("run %s: writing its log: %w", r.ID, werr)
		}
		if err != nil {
			return Outcome{}, fmt.Errorf("run %s: %w", r.ID, err)
		}
		if code == 0 {
			return complete(o, r, chunk, logPath, ReportedBackend(log.Bytes()))
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

// complete reads back a successful run's CSV and samples file and, when both
// are whole, writes its completion marker. A file that is missing or does not
// parse (a full disk, a killed writer) makes the run a failure, never a
// finished run with a hole in it. A marker that cannot be written stops the
// sweep: every later run would lose its marker the same way.
func complete(o Options, r Run, chunk int, logPath, backend string) (Outcome, error) {
	csvPath := r.csvPath(o.OutDir)
	bad := func(err error) (Outcome, error) {
		appendLog(logPath, fmt.Sprintf("exit status 0 but the run's files are not whole: %v\n", err))
		oc := failed(r, chunk, 0, report.HintRuntimeError, logPath)
		oc.Reason = err.Error()
		return oc, nil
	}
	rs, err := rows.ReadStageFile(csvPath)
	if err != nil {
		return bad(err)
	}
	samples, err := rows.ReadSampleFile(rows.SamplesPath(csvPath))
	if err != nil {
		return bad(err)
	}
	if err := os.MkdirAll(filepath.Dir(MarkerPath(o.OutDir, r.ID)), 0o755); err != nil {
		return Outcome{}, fmt.Errorf("run %s finished but its completion marker's folder could not be made: %w", r.ID, err)
	}
	marker := o.identity(r)
	if backend != "" {
		marker = append(marker, Field{Key: backendKey, Value: backend})
	}
	if err := o.WriteFile(MarkerPath(o.OutDir, r.ID), marker.encode()); err != nil {
		return Outcome{}, fmt.Errorf("run %s finished but its completion marker could not be written (it will run again next time): %w", r.ID, err)
	}
	return Outcome{Run: r, Rows: rs, Samples: samples, Chunk: chunk, Backend: backend}, nil
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
