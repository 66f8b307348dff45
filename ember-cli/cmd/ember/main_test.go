package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// isolate points every Hugging Face cache variable and HOME at empty temporary
// directories, clears MODEL_PATH and moves into an empty directory, so that no test
// sees the machine's real cache.
func isolate(t *testing.T) string {
	t.Helper()
	base := t.TempDir()
	for _, v := range []string{"HOME", "HF_HOME", "HUGGINGFACE_HUB_CACHE", "HF_HUB_CACHE"} {
		dir := filepath.Join(base, strings.ToLower(v))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		t.Setenv(v, dir)
	}
	t.Setenv("MODEL_PATH", "")
	os.Unsetenv("MODEL_PATH")
	work := filepath.Join(base, "work")
	if err := os.MkdirAll(work, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(work)
	return base
}

// ember runs the app in-process and returns stdout, stderr and the exit status.
func ember(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(append([]string{"ember"}, args...), &out, &errb)
	return out.String(), errb.String(), code
}

// mustEmber runs ember and fails the test unless it exits 0.
func mustEmber(t *testing.T, args ...string) (string, string) {
	t.Helper()
	out, errs, code := ember(t, args...)
	if code != 0 {
		t.Fatalf("ember %s: exit %d\nstderr: %s", strings.Join(args, " "), code, errs)
	}
	return out, errs
}

func TestHelpHasExamples(t *testing.T) {
	isolate(t)
	for _, cmd := range []string{"plan", "inspect", "presets"} {
		out, _ := mustEmber(t, cmd, "--help")
		if !strings.Contains(out, "Examples:") || !strings.Contains(out, "ember "+cmd+" ") {
			t.Errorf("%s --help lacks examples:\n%s", cmd, out)
		}
	}
}

// TestErrorsAreOneSentence: every failure exits 1 with one line on stderr, nothing on
// stdout, and names what is wrong.
func TestErrorsAreOneSentence(t *testing.T) {
	isolate(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"plan"}, "pass --model"},
		{[]string{"plan", "--model", "Nope/Nothing"}, "no built-in preset"},
		{[]string{"plan", "--model", "Qwen/../etc"}, `".." is not allowed`},
		{[]string{"plan", "--model", "Qwen/Qwen3 8B"}, `character ' ' is not allowed`},
		{[]string{"plan", "--model", "Qwen3-8B", "--gpu-mem", "12G"}, "ambiguous"},
		{[]string{"plan", "--model", "Qwen3-8B", "--gpus", "2", "--split", "10,10"}, "adds up to 20 layers but Qwen3-8B has 36"},
		{[]string{"plan", "--model", "Qwen3-8B", "--num-gpus", "2", "--gpu-mem", "12GiB,10GiB,8GiB"}, "3 sizes for 2 GPUs"},
		{[]string{"plan", "--model", "Qwen3-8B", "--num-gpus", "3", "--devices", "0,1"}, "disagrees"},
		{[]string{"plan", "--model", "Qwen3-8B", "--devices", "0,0"}, "twice"},
		{[]string{"plan", "--model", "Qwen3-8B", "--ctx", "0"}, "--ctx 0"}, {[]string{"plan", "--all-presets", "--chunk", "-1"}, "--chunk-len -1"},
		{[]string{"plan", "--model", "Qwen3-8B", "--split", "a,b"}, "--split"},
		{[]string{"plan", "--model", "Qwen3-8B", "--all-presets"}, "exclude each other"},
		{[]string{"plan", "--bogus"}, "flag provided but not defined"},
		{[]string{"plan", "Qwen3-8B"}, "plan takes no arguments"},
		{[]string{"inspect"}, "one MODEL argument"},
		{[]string{"inspect", "Qwen3-8B", "--gpus", "2"}, "put flags before MODEL"},
		{[]string{"presets", "x"}, "no arguments"},
		{[]string{"bogus"}, `unknown command "bogus"`},
		{[]string{"plan", "--all-presets", "--gpu-mem", "0"}, "positive size"},
	} {
		out, errs, code := ember(t, tc.args...)
		// A preset fallback is noted on its own line before the error.
		if i := strings.Index(errs, "; using the built-in preset Qwen3-8B\n"); i >= 0 {
			errs = errs[i+len("; using the built-in preset Qwen3-8B\n"):]
		}
		if code != 1 || out != "" || !strings.Contains(errs, tc.want) ||
			strings.Count(strings.TrimSpace(errs), "\n") != 0 || !strings.HasPrefix(errs, "ember") {
			t.Errorf("ember %s: exit %d, stdout %q, stderr %q; want exit 1 and one line containing %q",
				strings.Join(tc.args, " "), code, out, errs, tc.want)
		}
	}
}

// TestBadKernelsEnv: a mistyped EMBER_KERNELS stops every command with one
// sentence instead of silently running the default kernels.
func TestBadKernelsEnv(t *testing.T) {
	isolate(t)
	t.Setenv("EMBER_KERNELS", "avx-512")
	out, errs, code := ember(t, "presets")
	if code != 1 || out != "" || !strings.Contains(errs, `EMBER_KERNELS="avx-512"`) || strings.Count(errs, "\n") != 1 {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errs)
	}
	t.Setenv("EMBER_KERNELS", "avx2")
	mustEmber(t, "presets")
}
