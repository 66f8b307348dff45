package sweep

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	report "github.com/ember-infer/ember/ember-report"
)

// TestReuseNeedsSameIdentity: a finished run is reused only when everything
// that changes its numbers is the same: the flags every run shares (iters,
// KV dtype, backend...) and the fingerprints (model, binary). Each change
// re-runs it and says what changed.
func TestReuseNeedsSameIdentity(t *testing.T) {
	dir := t.TempDir()
	base := []string{"--model", "m", "--devices", "cpu:0", "--backend", "cpu", "--iters", "6", "--warmup", "1", "--kv-dtype", "bf16"}
	ident := Identity{{"model-fingerprint", "aaaa"}, {"ember", "1111"}}
	opts := func(f *fakeProfile, base []string, ident Identity, progress *strings.Builder) Options {
		return Options{OutDir: dir, Base: base, Identity: ident, SkipExisting: true, Run: f.run, Progress: progress}
	}
	first := &fakeProfile{fitChunk: 512}
	if _, err := Execute(context.Background(), opts(first, base, ident, &strings.Builder{}), matrix()[:1]); err != nil {
		t.Fatal(err)
	}
	with := func(flag, value string) []string {
		b := slices.Clone(base)
		b[slices.Index(b, flag)+1] = value
		return b
	}
	for _, tc := range []struct {
		name   string
		base   []string
		ident  Identity
		reused bool
		why    string
	}{
		{"same", base, ident, true, ""},
		{"iters", with("--iters", "3"), ident, false, `it was measured with iters "6", this run has "3"`},
		{"kv dtype", with("--kv-dtype", "f32"), ident, false, `it was measured with kv-dtype "bf16", this run has "f32"`},
		{"backend", with("--backend", "auto"), ident, false, `backend "cpu", this run has "auto"`},
		{"threads", append(slices.Clone(base), "--threads", "2"), ident, false, `it was measured without threads, this run has threads "2"`},
		{"model", base, Identity{{"model-fingerprint", "bbbb"}, {"ember", "1111"}}, false, `model-fingerprint "aaaa", this run has "bbbb"`},
		{"binary", base, Identity{{"model-fingerprint", "aaaa"}, {"ember", "2222"}}, false, `ember "1111", this run has "2222"`},
	} {
		f := &fakeProfile{fitChunk: 512}
		var progress strings.Builder
		outs, err := Execute(context.Background(), opts(f, tc.base, tc.ident, &progress), matrix()[:1])
		if err != nil {
			t.Fatal(err)
		}
		if outs[0].Reused != tc.reused || (len(f.calls) == 0) != tc.reused {
			t.Errorf("%s: reused %v after %d calls, want %v:\n%s", tc.name, outs[0].Reused, len(f.calls), tc.reused, progress.String())
		}
		if tc.why != "" && !strings.Contains(progress.String(), tc.why) {
			t.Errorf("%s: progress does not say %q:\n%s", tc.name, tc.why, progress.String())
		}
		// Put the first sweep's run back for the next case.
		if _, err := Execute(context.Background(), opts(first, base, ident, &strings.Builder{}), matrix()[:1]); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRunWithoutSamplesIsNotFinished: a run whose CSV was written but whose
// samples file was not (a full disk) is a failure, and the next sweep runs
// it again instead of reusing half of it.
func TestRunWithoutSamplesIsNotFinished(t *testing.T) {
	dir := t.TempDir()
	broken := &fakeProfile{fitChunk: 512, noSamples: true}
	outs, err := Execute(context.Background(), Options{OutDir: dir, ContinueOnError: true, Run: broken.run}, matrix()[:1])
	if err != nil {
		t.Fatal(err)
	}
	if outs[0].Failure == nil {
		t.Fatalf("a run without its samples file counted as finished: %+v", outs[0])
	}
	if _, err := os.Stat(RunCSV(dir, "p16")); err != nil {
		t.Fatalf("the fixture should leave the CSV behind: %v", err)
	}
	if _, err := os.Stat(MarkerPath(dir, "p16")); err == nil {
		t.Fatal("a failed run has a completion marker")
	}
	again := &fakeProfile{fitChunk: 512}
	var progress strings.Builder
	outs, err = Execute(context.Background(), Options{OutDir: dir, SkipExisting: true, Run: again.run, Progress: &progress}, matrix()[:1])
	if err != nil {
		t.Fatal(err)
	}
	if outs[0].Reused || len(again.calls) != 1 || len(outs[0].Samples) != 2 {
		t.Errorf("reused %v, %d calls, %d samples; want a fresh run with its 2 samples", outs[0].Reused, len(again.calls), len(outs[0].Samples))
	}
	if !strings.Contains(progress.String(), "it has no completion marker") {
		t.Errorf("progress does not say why:\n%s", progress.String())
	}
}

// TestSamplesMissingAfterSuccess: a child that exits 0 but leaves no samples
// file is a failure with the reason, not a finished run.
func TestSamplesMissingAfterSuccess(t *testing.T) {
	dir := t.TempDir()
	f := &fakeProfile{fitChunk: 512}
	run := func(ctx context.Context, args []string, log io.Writer) (int, error) {
		code, err := f.run(ctx, args, log)
		os.Remove(arg(args, "--samples-csv"))
		return code, err
	}
	outs, err := Execute(context.Background(), Options{OutDir: dir, ContinueOnError: true, Run: run}, matrix()[:1])
	if err != nil {
		t.Fatal(err)
	}
	if outs[0].Failure == nil || outs[0].Failure.ErrorHint != report.HintRuntimeError || !strings.Contains(outs[0].Reason, "samples") {
		t.Errorf("outcome %+v reason %q, want a runtime_error naming the samples file", outs[0].Failure, outs[0].Reason)
	}
}

// TestMarkerOnFullDisk: when the completion marker cannot be written
// (ENOSPC) the sweep stops with that error, leaves no marker, and the next
// sweep runs the run again.
func TestMarkerOnFullDisk(t *testing.T) {
	dir := t.TempDir()
	f := &fakeProfile{fitChunk: 512}
	full := func(string, []byte) error { return &os.PathError{Op: "write", Path: "marker", Err: syscall.ENOSPC} }
	_, err := Execute(context.Background(), Options{OutDir: dir, Run: f.run, WriteFile: full, ContinueOnError: true}, matrix()[:1])
	if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "completion marker could not be written") {
		t.Fatalf("err %v, want the marker's ENOSPC", err)
	}
	again := &fakeProfile{fitChunk: 512}
	outs, err := Execute(context.Background(), Options{OutDir: dir, SkipExisting: true, Run: again.run}, matrix()[:1])
	if err != nil || outs[0].Reused || len(again.calls) != 1 {
		t.Errorf("after a lost marker: err %v, reused %v, %d calls; want a fresh run", err, outs[0].Reused, len(again.calls))
	}
}

// TestFolderLock: a second lock on a held folder fails naming the holder;
// once released the folder can be locked again.
func TestFolderLock(t *testing.T) {
	dir := t.TempDir()
	l, err := Lock(dir, "pid 1 on box, started 10:00: ember milestone split")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Lock(dir, "the second")
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "pid 1 on box, started 10:00: ember milestone split") {
		t.Fatalf("second lock: %v, want ErrLocked naming the holder", err)
	}
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	l2, err := Lock(dir, "the second")
	if err != nil {
		t.Fatalf("after unlock: %v", err)
	}
	l2.Unlock()
}

// script writes an executable shell script standing in for ember; its first
// argument is "profile", as ExecRunner passes.
func script(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "fake-ember")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestKilledBySignalRecorded: a child that dies of SIGKILL is a failure with
// return code 137 and says so, not "exit status -1".
func TestKilledBySignalRecorded(t *testing.T) {
	dir := t.TempDir()
	exe := script(t, "kill -9 $$")
	var progress strings.Builder
	outs, err := Execute(context.Background(), Options{OutDir: dir, ContinueOnError: true, Run: ExecRunner(exe), Progress: &progress}, matrix()[:1])
	if err != nil {
		t.Fatal(err)
	}
	fl := outs[0].Failure
	if fl == nil || fl.ReturnCode != 137 || outs[0].Reason != "killed by signal 9 (killed)" {
		t.Fatalf("failure %+v reason %q, want return code 137, killed by signal 9", fl, outs[0].Reason)
	}
	log, _ := os.ReadFile(fl.LogPath)
	if !strings.Contains(string(log), "killed by signal 9") || strings.Contains(string(log), "exit status -1") {
		t.Errorf("log:\n%s", log)
	}
	if !strings.Contains(progress.String(), "failed: runtime_error (killed by signal 9 (killed))") {
		t.Errorf("progress:\n%s", progress.String())
	}
}

// TestInterruptKillsProcessGroup: cancelling the sweep (SIGINT in ember)
// ends the child and what the child started, leaves the run unfinished (no
// marker) and returns the cancellation.
func TestInterruptKillsProcessGroup(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "grandchild.pid")
	exe := script(t, "sleep 300 &\necho $! > "+pidFile+"\nwait")
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for {
			if b, err := os.ReadFile(pidFile); err == nil && strings.HasSuffix(string(b), "\n") {
				cancel()
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	_, err := Execute(ctx, Options{OutDir: dir, Run: ExecRunner(exe)}, matrix()[:1])
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want the cancellation", err)
	}
	b, _ := os.ReadFile(pidFile)
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if alive(pid) {
		syscall.Kill(pid, syscall.SIGKILL)
		t.Errorf("the child's child %d outlived the interrupted sweep", pid)
	}
	if _, err := os.Stat(MarkerPath(dir, "p16")); err == nil {
		t.Error("an interrupted run has a completion marker")
	}
}

// alive reports whether pid is a live process (a zombie is dead).
func alive(pid int) bool {
	for i := 0; i < 100; i++ {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return false
		}
		if f := strings.Fields(string(b)); len(f) > 2 && f[2] == "Z" {
			return false
		}
		time.Sleep(20 * time.Millisecond) // SIGKILL delivery is not instant
	}
	return true
}

// TestBackendRecorded: the backend a child said it ran on (what --backend
// auto resolved to) is in the outcome, in the completion marker, and in the
// outcome of the run reused from it, without making the marker's identity
// differ from the run's.
func TestBackendRecorded(t *testing.T) {
	dir := t.TempDir()
	f := &fakeProfile{fitChunk: 512}
	run := func(ctx context.Context, args []string, log io.Writer) (int, error) {
		fmt.Fprintln(log, "ember: warning: backend auto: CUDA is unavailable (no driver); using the CPU backend")
		fmt.Fprintln(log, "ember: profiling /models/on ×2 on cpu ×1, split 6, prompt 16, decode 4, prefill chunk 512, overlap false")
		return f.run(ctx, args, log)
	}
	o := Options{OutDir: dir, Base: []string{"--backend", "auto", "--devices", "0"}, Run: run, SkipExisting: true}
	outs, err := Execute(context.Background(), o, matrix()[:1])
	if err != nil {
		t.Fatal(err)
	}
	if outs[0].Backend != "cpu" {
		t.Fatalf("backend %q, want cpu", outs[0].Backend)
	}
	marker, _ := os.ReadFile(MarkerPath(dir, "p16"))
	if !strings.Contains(string(marker), "ran-on-backend\t\"cpu\"\n") {
		t.Errorf("marker:\n%s", marker)
	}
	var progress strings.Builder
	o.Progress = &progress
	outs, err = Execute(context.Background(), o, matrix()[:1])
	if err != nil {
		t.Fatal(err)
	}
	if !outs[0].Reused || outs[0].Backend != "cpu" || len(f.calls) != 1 {
		t.Errorf("second sweep: reused %v backend %q after %d runs:\n%s", outs[0].Reused, outs[0].Backend, len(f.calls), progress.String())
	}
}

func TestReportedBackend(t *testing.T) {
	for log, want := range map[string]string{
		"$ ember profile …\nember: profiling /m on cuda ×2, split 3+3, prompt 8\nexit status 0\n": "cuda",
		"ember: profiling /data/runs on disk ×3 on cpu ×1, split 6\n":                             "cpu",
		"ember: out of memory\n": "",
		"ember: profiling /m\n":  "",
	} {
		if got := ReportedBackend([]byte(log)); got != want {
			t.Errorf("%q: got %q, want %q", log, got, want)
		}
	}
}
