package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// stage1Args is a two-run stage 1 sweep of the tiny model on one CPU device.
func stage1Args(model, out string, extra ...string) []string {
	return append([]string{"milestone", "stage1", "-m", model, "--gpus", "cpu:0", "--backend", "cpu",
		"--prompt-lens", "16,32", "--decode-steps", "2", "--chunk-len", "8", "--iters", "1", "--warmup", "0", "--out-dir", out}, extra...)
}

// TestSweepReusesOnlySameMeasurement: re-running a folder with other
// iterations, another KV dtype or a changed model re-measures every run and
// says why; the same command reuses them.
func TestSweepReusesOnlySameMeasurement(t *testing.T) {
	base := isolate(t)
	beEmber(t)
	model := filepath.Join(base, "model")
	os.MkdirAll(model, 0o755)
	for _, f := range []string{"config.json", "generation_config.json", "model.safetensors", "tokenizer.json"} {
		b, err := os.ReadFile(filepath.Join(tinyModel(t), f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(model, f), b, 0o644)
	}
	out := filepath.Join(base, "sweep")
	mustEmber(t, stage1Args(model, out)...)
	_, errs := mustEmber(t, stage1Args(model, out)...)
	if n := strings.Count(errs, "reusing finished run"); n != 2 {
		t.Errorf("the same sweep again reused %d runs, want 2:\n%s", n, errs)
	}
	for _, tc := range []struct {
		name  string
		extra []string
		edit  func()
		why   string
	}{
		{"iters", []string{"--iters", "2"}, nil, `it was measured with iters "1", this run has "2"`},
		{"kv dtype", []string{"--kv-dtype", "f32"}, nil, `it was measured with kv-dtype "bf16", this run has "f32"`},
		{"threads", []string{"--threads", "1"}, nil, `it was measured without threads, this run has threads "1"`},
		{"model", nil, func() {
			b, _ := os.ReadFile(filepath.Join(model, "generation_config.json"))
			os.WriteFile(filepath.Join(model, "generation_config.json"), append(b, '\n'), 0o644)
		}, "it was measured with model-fingerprint"},
	} {
		if tc.edit != nil {
			tc.edit()
		}
		_, errs := mustEmber(t, stage1Args(model, out, tc.extra...)...)
		if strings.Contains(errs, "reusing finished run") || strings.Count(errs, tc.why) != 2 {
			t.Errorf("%s: want both runs measured again, saying %q:\n%s", tc.name, tc.why, errs)
		}
		mustEmber(t, stage1Args(model, out)...) // back to the first measurement
	}
}

// TestSweepFlagsCheckedFirst: flags that would fail every run are refused
// before the first one, in one sentence naming the flag; no folder is made.
func TestSweepFlagsCheckedFirst(t *testing.T) {
	model := tinyModel(t)
	base := isolate(t)
	beEmber(t)
	badSummary := filepath.Join(base, "bad_summary.csv")
	os.WriteFile(badSummary, []byte("split,mode\n1,2,3\n"), 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--iters", "0"}, "--iters 0: want at least 1"},
		{[]string{"--chunk-len", "-5"}, "--chunk-len -5: want more than 0"},
		{[]string{"--warmup", "-1"}, "--warmup -1: want 0 or more"},
		{[]string{"--min-chunk-len", "0"}, "--min-chunk-len 0: want more than 0"},
		{[]string{"--kv-dtype", "f8"}, `--kv-dtype "f8"`},
		{[]string{"--prompt-lens", "2047"}, "prompt 2047 + 2 decode steps exceed the model's context of 2048 positions"},
		{[]string{"--decode-steps", "0"}, `--decode-steps "0": 0 decode steps, want at least 1`},
		{[]string{"--baseline-summary", filepath.Join(base, "nowhere.csv")}, "--baseline-summary: csv not found: " + filepath.Join(base, "nowhere.csv")},
		{[]string{"--anchor-summary", badSummary}, "--anchor-summary " + badSummary},
	} {
		out := filepath.Join(base, "sweep")
		args := append([]string{"milestone", "split", "-m", model, "--gpus", "cpu:0,cpu:1", "--backend", "cpu", "--splits", "3,3",
			"--prompt-lens", "16", "--decode-steps", "2", "--iters", "1", "--warmup", "0", "--out-dir", out}, tc.args...)
		_, errs, code := ember(t, args...)
		if code == 0 || !strings.Contains(errs, tc.want) || strings.Count(strings.TrimSpace(errs), "\n") > 0 {
			t.Errorf("%v: exit %d, stderr %q; want one line containing %q", tc.args, code, errs, tc.want)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("%v: the sweep started (%s exists)", tc.args, out)
			os.RemoveAll(out)
		}
	}
}

// holdingProfile writes a stand-in for `ember profile` that runs this test
// binary as ember, except that the prompt-32 run, while the hold file
// exists, records its pid and sleeps (a run in progress).
func holdingProfile(t *testing.T, dir string) (exe, hold, pidFile string) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	hold, pidFile = filepath.Join(dir, "hold"), filepath.Join(dir, "child.pid")
	exe = filepath.Join(dir, "ember-profile")
	body := fmt.Sprintf(`#!/bin/sh
case " $* " in *" --prompt-len 32 "*)
	if [ -e %[1]q ]; then echo $$ > %[2]q.tmp; mv %[2]q.tmp %[2]q; exec sleep 300; fi;;
esac
exec %[3]q "$@"
`, hold, pidFile, self)
	if err := os.WriteFile(exe, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(hold, nil, 0o644)
	return exe, hold, pidFile
}

func waitFile(t *testing.T, path string) string {
	t.Helper()
	for range 3000 {
		if b, err := os.ReadFile(path); err == nil {
			return string(b)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s never appeared", path)
	return ""
}

// TestSweepKillAndResume: a second sweep into a folder in use is refused,
// naming the first; SIGINT on the first kills its running child, keeps the
// finished run, prints how to resume; the resumed sweep reuses the finished
// run, measures the rest and writes the whole report.
func TestSweepKillAndResume(t *testing.T) {
	model := tinyModel(t)
	base := isolate(t)
	beEmber(t)
	exe, hold, pidFile := holdingProfile(t, base)
	t.Setenv("EMBER_PROFILE_EXE", exe)
	out := filepath.Join(base, "sweep")
	self, _ := os.Executable()
	var stderr strings.Builder
	first := exec.Command(self, stage1Args(model, out)...)
	first.Stderr = &stderr
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	defer first.Process.Kill()
	child, _ := strconv.Atoi(strings.TrimSpace(waitFile(t, pidFile)))

	// Two sweeps, one folder: the second names the first and exits.
	_, errs, code := ember(t, stage1Args(model, out)...)
	if code == 0 || !strings.Contains(errs, fmt.Sprintf("in use by another sweep (pid %d on", first.Process.Pid)) {
		t.Errorf("second sweep into a busy folder: exit %d, stderr %q", code, errs)
	}

	first.Process.Signal(os.Interrupt)
	err := first.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() == 0 {
		t.Errorf("interrupted sweep: %v, want a failure status", err)
	}
	if processAlive(child) {
		syscall.Kill(child, syscall.SIGKILL)
		t.Errorf("the running child %d outlived the interrupted sweep", child)
	}
	if !strings.Contains(stderr.String(), "interrupted after 1 of 2 runs") || !strings.Contains(stderr.String(), "Resume with:") {
		t.Errorf("no resume hint:\n%s", stderr.String())
	}
	if _, err := os.Stat(filepath.Join(out, "runs", "1.done")); err != nil {
		t.Errorf("the finished run lost its marker: %v", err)
	}

	os.Remove(hold)
	_, errs = mustEmber(t, stage1Args(model, out)...)
	if !strings.Contains(errs, "reusing finished run 1 (") || strings.Contains(errs, "reusing finished run 2 (") {
		t.Errorf("resume:\n%s", errs)
	}
	if raw := readCSV(t, filepath.Join(out, "stage1_raw_rows.csv")); len(raw) != 4 {
		t.Errorf("%d raw rows after resume, want 2 runs × 2 phases", len(raw))
	}
	if s := readCSV(t, filepath.Join(out, "stage1_raw_samples.csv")); len(s) != 4 {
		t.Errorf("%d samples after resume, want 2 runs × 2 phases × 1 iteration", len(s))
	}
}

func processAlive(pid int) bool {
	for range 100 {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return false
		}
		if f := strings.Fields(string(b)); len(f) > 2 && f[2] == "Z" {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// TestSweepFullDisk: on a full disk (runs/, where completion markers go, on
// a tmpfs with no page free) a run whose files were written but whose marker
// could not be is not finished: the sweep stops saying so, and once there is
// room the next sweep measures the run again instead of reusing it. Needs
// root to mount the tmpfs.
func TestSweepFullDisk(t *testing.T) {
	model := tinyModel(t)
	base := isolate(t)
	beEmber(t)
	out := filepath.Join(base, "sweep")
	runs := filepath.Join(out, "runs")
	os.MkdirAll(runs, 0o755)
	if err := syscall.Mount("tmpfs", runs, "tmpfs", 0, "size=256k"); err != nil {
		t.Skipf("cannot mount a tmpfs (%v); TestMarkerOnFullDisk and TestRunWithoutSamplesIsNotFinished in internal/sweep cover the logic", err)
	}
	t.Cleanup(func() { syscall.Unmount(runs, syscall.MNT_DETACH) })
	page := make([]byte, 4096)
	var fillers []string
	for i := 0; ; i++ {
		p := filepath.Join(runs, fmt.Sprintf("filler%03d", i))
		if err := os.WriteFile(p, page, 0o644); err != nil {
			os.Remove(p)
			break
		}
		fillers = append(fillers, p)
	}
	args := append(stage1Args(model, out), "--prompt-lens", "16")
	_, errs, code := ember(t, args...)
	if code == 0 || !strings.Contains(errs, "completion marker could not be written") {
		t.Fatalf("a sweep whose marker could not be written: exit %d\n%s", code, errs)
	}
	if _, err := os.Stat(filepath.Join(runs, "1.done")); err == nil {
		t.Fatal("a run on a full disk was marked finished")
	}
	for _, p := range fillers {
		os.Remove(p)
	}
	_, errs = mustEmber(t, args...)
	if strings.Contains(errs, "reusing finished run") || !strings.Contains(errs, "not reusing run 1") || !strings.Contains(errs, "[1/1] 1 ok") {
		t.Errorf("after the disk had room again:\n%s", errs)
	}
	if s := readCSV(t, filepath.Join(out, "stage1_raw_samples.csv")); len(s) != 2 {
		t.Errorf("%d samples, want 2 phases × 1 iteration", len(s))
	}
}

// TestSweepAutoBackendRecorded: a --backend auto sweep on GPU ids whose runs
// fell back to the CPU (no CUDA here) names the backend its runs used in its
// report, never auto; `report delta` of two such folders names it too.
func TestSweepAutoBackendRecorded(t *testing.T) {
	base := isolate(t)
	beEmber(t)
	model := tinyModel(t)
	var outs []string
	for _, name := range []string{"a", "b"} {
		out := filepath.Join(base, name)
		outs = append(outs, out)
		mustEmber(t, "milestone", "split", "-m", model, "--gpus", "0,1", "--backend", "auto", "--splits", "3,3",
			"--prompt-len", "8", "--decode-steps", "1", "--iters", "1", "--warmup", "0", "--out-dir", out)
	}
	logs, _ := filepath.Glob(filepath.Join(outs[0], "logs", "*.log"))
	logs = slices.DeleteFunc(logs, func(p string) bool { return strings.HasSuffix(p, "sweep.log") })
	if len(logs) == 0 {
		t.Fatal("no run logs")
	}
	b, _ := os.ReadFile(logs[0])
	used := "cpu"
	if strings.Contains(string(b), " on cuda ×") {
		used = "cuda" // a machine with a GPU
	}
	md, err := os.ReadFile(filepath.Join(outs[0], "ember_stage12_report.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "\n- backend: "+used+"\n") || strings.Contains(string(md), "- backend: auto") {
		t.Errorf("report of a sweep that ran on %s:\n%s", used, md)
	}
	stdout, _ := mustEmber(t, "report", "delta", "--baseline", outs[0], "--current", outs[1])
	for _, want := range []string{"\n- model: " + model + "\n", "\n- backend: " + used + "\n", "\n- devices: 0,1\n"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("report delta lacks %q:\n%s", want, stdout)
		}
	}
}
