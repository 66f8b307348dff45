package sweep

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ember-infer/ember/ember-core/rows"
	report "github.com/ember-infer/ember/ember-report"
)

// fakeProfile stands in for `ember profile`: it fails with out of memory for
// chunks above fitChunk, with an unavailable runtime for the first
// unavailable tries, and otherwise writes a prefill and a decode row.
type fakeProfile struct {
	fitChunk    int
	unavailable int
	noSamples   bool
	calls       []string
}

func arg(args []string, name string) string {
	i := slices.Index(args, name)
	if i < 0 || i+1 >= len(args) {
		return ""
	}
	return args[i+1]
}

func (f *fakeProfile) run(_ context.Context, args []string, log io.Writer) (int, error) {
	chunk, _ := strconv.Atoi(arg(args, "--chunk-len"))
	f.calls = append(f.calls, fmt.Sprintf("p%s c%d", arg(args, "--prompt-len"), chunk))
	if f.unavailable > 0 {
		f.unavailable--
		fmt.Fprintln(log, "ember: runtime unavailable")
		return ExitUnavailable, nil
	}
	if chunk > f.fitChunk {
		fmt.Fprintf(log, "ember: out of memory on cpu:0 at chunk %d\n", chunk)
		return ExitOOM, nil
	}
	pl, _ := strconv.Atoi(arg(args, "--prompt-len"))
	ds, _ := strconv.Atoi(arg(args, "--decode-steps"))
	cfg := rows.Config{Mode: rows.ModeNoOverlap, GPUs: "0", Split: "6", PromptLen: pl, DecodeSteps: ds, ChunkLen: chunk}
	pre, dec := cfg, cfg
	pre.Phase, dec.Phase = rows.PhasePrefill, rows.PhaseDecodePerToken
	rs := []rows.StageRow{{Config: pre, WallMS: 10}, {Config: dec, WallMS: 1}}
	if err := rows.WriteStageFile(arg(args, "--csv"), rs); err != nil {
		return 1, nil
	}
	if f.noSamples {
		return 1, nil // like a profile whose samples file met a full disk
	}
	ss := []rows.SampleRow{{StageRow: rs[0], Iter: 0}, {StageRow: rs[1], Iter: 0}}
	if err := rows.WriteSampleFile(arg(args, "--samples-csv"), ss); err != nil {
		return 1, nil
	}
	return 0, nil
}

func matrix() []Run {
	return []Run{
		{ID: "p16", PromptLen: 16, DecodeSteps: 4, ChunkLen: 512},
		{ID: "p32", PromptLen: 32, DecodeSteps: 4, ChunkLen: 512},
	}
}

func TestOOMRetryHalvesChunk(t *testing.T) {
	dir := t.TempDir()
	f := &fakeProfile{fitChunk: 128}
	var progress strings.Builder
	outs, err := Execute(context.Background(), Options{OutDir: dir, RetryOOM: true, MinChunk: 64, Run: f.run, Progress: &progress}, matrix()[:1])
	if err != nil {
		t.Fatal(err)
	}
	// 512 → OOM, 256 → OOM, 128 fits.
	if want := []string{"p16 c512", "p16 c256", "p16 c128"}; !slices.Equal(f.calls, want) {
		t.Errorf("tries %v, want %v", f.calls, want)
	}
	if outs[0].Failure != nil || outs[0].Chunk != 128 || len(outs[0].Rows) != 2 || outs[0].Rows[0].ChunkLen != 128 {
		t.Errorf("outcome %+v", outs[0])
	}
	for try := 1; try <= 3; try++ {
		b, err := os.ReadFile(filepath.Join(dir, "logs", fmt.Sprintf("p16.try%d.log", try)))
		if err != nil {
			t.Fatal(err)
		}
		if try < 3 && !strings.Contains(string(b), "retrying with chunk") {
			t.Errorf("try %d log does not record the retry:\n%s", try, b)
		}
	}
	if !strings.Contains(progress.String(), "out of memory at chunk 512; retrying with chunk 256") {
		t.Errorf("progress:\n%s", progress.String())
	}
}

func TestOOMGivesUpAtMinChunk(t *testing.T) {
	dir := t.TempDir()
	f := &fakeProfile{fitChunk: 0}
	outs, err := Execute(context.Background(), Options{OutDir: dir, RetryOOM: true, MinChunk: 128, ContinueOnError: true, Run: f.run}, matrix())
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range outs {
		fl := o.Failure
		if fl == nil || fl.ErrorHint != report.HintOOM || fl.ChunkLen != 128 || fl.ReturnCode != ExitOOM {
			t.Fatalf("outcome %+v failure %+v, want oom at chunk 128", o, fl)
		}
		if !strings.HasSuffix(fl.LogPath, o.Run.ID+".try3.log") {
			t.Errorf("failure log %s, want the third try's", fl.LogPath)
		}
	}
	// Without --retry-oom the first OOM is final, and --stop-on-error stops the sweep.
	f = &fakeProfile{fitChunk: 0}
	outs, err = Execute(context.Background(), Options{OutDir: t.TempDir(), Run: f.run}, matrix())
	if err == nil || len(outs) != 1 || len(f.calls) != 1 {
		t.Errorf("stop on error: %d outcomes, %d calls, err %v", len(outs), len(f.calls), err)
	}
}

func TestUnavailableRetried(t *testing.T) {
	f := &fakeProfile{fitChunk: 512, unavailable: 2}
	outs, err := Execute(context.Background(), Options{OutDir: t.TempDir(), RetryUnavailable: 2, Run: f.run}, matrix()[:1])
	if err != nil || outs[0].Failure != nil || len(f.calls) != 3 {
		t.Fatalf("err %v, outcome %+v, calls %v", err, outs[0], f.calls)
	}
	f = &fakeProfile{fitChunk: 512, unavailable: 5}
	outs, _ = Execute(context.Background(), Options{OutDir: t.TempDir(), RetryUnavailable: 1, ContinueOnError: true, Run: f.run}, matrix()[:1])
	if outs[0].Failure == nil || outs[0].Failure.ErrorHint != report.HintRuntimeUnavailable {
		t.Errorf("outcome %+v, want runtime_unavailable", outs[0])
	}
}

// TestResume: a sweep interrupted after its first run, re-run in the same
// folder, reuses that run and ends with the same rows as an uninterrupted sweep.
func TestResume(t *testing.T) {
	full := &fakeProfile{fitChunk: 512}
	want, err := Execute(context.Background(), Options{OutDir: t.TempDir(), Run: full.run}, matrix())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	first := &fakeProfile{fitChunk: 512}
	ctx, cancel := context.WithCancel(context.Background())
	interrupted := func(c context.Context, args []string, log io.Writer) (int, error) {
		if len(first.calls) == 1 {
			cancel()
			return -1, c.Err() // killed
		}
		return first.run(c, args, log)
	}
	if _, err := Execute(ctx, Options{OutDir: dir, Run: interrupted}, matrix()); err == nil {
		t.Fatal("the interrupted sweep reported no error")
	}
	again := &fakeProfile{fitChunk: 512}
	var progress strings.Builder
	got, err := Execute(context.Background(), Options{OutDir: dir, SkipExisting: true, Run: again.run, Progress: &progress, Now: func() time.Time { return time.Unix(0, 0) }}, matrix())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(again.calls, []string{"p32 c512"}) {
		t.Errorf("re-run made calls %v, want only the unfinished p32", again.calls)
	}
	if !got[0].Reused || got[1].Reused || !strings.Contains(progress.String(), "reusing finished run p16") {
		t.Errorf("reuse flags %v %v, progress:\n%s", got[0].Reused, got[1].Reused, progress.String())
	}
	wr, _, _ := Collect(want)
	gr, _, _ := Collect(got)
	if !slices.Equal(wr, gr) {
		t.Errorf("resumed rows %v, uninterrupted %v", gr, wr)
	}
	if !strings.Contains(progress.String(), "[2/2] p32 ok") {
		t.Errorf("progress lacks the count:\n%s", progress.String())
	}
}

// TestReuseOnlyMatchingRuns: a finished run is reused only when its rows
// measured what the run asks for; a chunk halved by out-of-memory retries
// still counts, other decode steps or a larger chunk do not.
func TestReuseOnlyMatchingRuns(t *testing.T) {
	dir := t.TempDir()
	first := &fakeProfile{fitChunk: 128}
	if _, err := Execute(context.Background(), Options{OutDir: dir, RetryOOM: true, Run: first.run}, matrix()[:1]); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		change func(*Run)
		reused bool
		why    string
	}{
		{"same", func(*Run) {}, true, ""},
		{"decode steps", func(r *Run) { r.DecodeSteps = 8 }, false, `it was measured with decode-steps "4", this run has "8"`},
		{"sampling", func(r *Run) { r.Sampling = true }, false, "it was measured without decode-with-sampling"},
		{"chunk", func(r *Run) { r.ChunkLen = 64 }, false, `it was measured with chunk-len "512", this run has "64"`},
	} {
		r := matrix()[0]
		tc.change(&r)
		f := &fakeProfile{fitChunk: 512}
		var progress strings.Builder
		outs, err := Execute(context.Background(), Options{OutDir: dir, SkipExisting: true, Run: f.run, Progress: &progress}, []Run{r})
		if err != nil {
			t.Fatal(err)
		}
		if outs[0].Reused != tc.reused || (len(f.calls) == 0) != tc.reused {
			t.Errorf("%s: reused %v after %d calls, want reused %v:\n%s", tc.name, outs[0].Reused, len(f.calls), tc.reused, progress.String())
		}
		if tc.why != "" && !strings.Contains(progress.String(), tc.why) {
			t.Errorf("%s: progress does not say %q:\n%s", tc.name, tc.why, progress.String())
		}
		// Put the first sweep's run back for the next case.
		if _, err := Execute(context.Background(), Options{OutDir: dir, RetryOOM: true, Run: first.run}, matrix()[:1]); err != nil {
			t.Fatal(err)
		}
	}
}

// TestUpstreamLadderAndNames: upstream's OOM ladder halves down to the
// minimum, not past it (100 → 64 with minimum 64), the failure records oom at
// the smallest chunk that ran out of memory, and a run with CSV and Log names
// writes upstream's file names.
func TestUpstreamLadderAndNames(t *testing.T) {
	dir := t.TempDir()
	f := &fakeProfile{fitChunk: 0}
	r := Run{ID: "1", PromptLen: 16, DecodeSteps: 4, ChunkLen: 100, CSV: "stage_raw_001.csv", Log: "run_001_try%d.log"}
	outs, err := Execute(context.Background(), Options{OutDir: dir, RetryOOM: true, MinChunk: 64, ContinueOnError: true, Run: f.run}, []Run{r})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"p16 c100", "p16 c64"}; !slices.Equal(f.calls, want) {
		t.Errorf("tries %v, want %v", f.calls, want)
	}
	fl := outs[0].Failure
	if fl == nil || fl.ChunkLen != 64 || fl.ErrorHint != report.HintOOM || fl.LogPath != filepath.Join(dir, "logs", "run_001_try2.log") {
		t.Fatalf("failure %+v", fl)
	}
	f = &fakeProfile{fitChunk: 512}
	if _, err := Execute(context.Background(), Options{OutDir: dir, Run: f.run}, []Run{r}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "stage_raw_001.csv")); err != nil {
		t.Error(err)
	}
	// A run that finished at the clamped chunk 64 (100 → 64) is reused.
	dir = t.TempDir()
	f = &fakeProfile{fitChunk: 64}
	if _, err := Execute(context.Background(), Options{OutDir: dir, RetryOOM: true, MinChunk: 64, Run: f.run}, []Run{r}); err != nil {
		t.Fatal(err)
	}
	outs, err = Execute(context.Background(), Options{OutDir: dir, RetryOOM: true, MinChunk: 64, SkipExisting: true, Run: f.run}, []Run{r})
	if err != nil || !outs[0].Reused || outs[0].Chunk != 64 {
		t.Errorf("clamped run not reused: %v %+v", err, outs[0])
	}
}
