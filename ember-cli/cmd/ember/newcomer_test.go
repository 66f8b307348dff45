package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/ember-infer/ember/ember-core/cpu"
)

// TestREADMEFirstCommand runs the README's first command as written (from
// the repository root) and checks what it prints: the rest of the corpus's
// first line, then the corpus's next line, on stdout; the timing on stderr.
func TestREADMEFirstCommand(t *testing.T) {
	t.Chdir(filepath.Dir(filepath.Dir(filepath.Dir(tinyModel(t))))) // testdata/models/tiny-qwen3
	out, errs := mustEmber(t, "run", "-m", "testdata/models/tiny-qwen3", "-p", "Hello, my name is", "-n", "32", "--temp", "0", "--devices", "cpu:0,cpu:1", "--split", "3,3")
	const want = " Ember. I run Qwen3 models on one or two GPUs and measure where the time goes.\nThe quick brown fox jumps over the time goes.\nThe\n"
	if out != want {
		t.Errorf("stdout %q, want %q", out, want)
	}
	timing := regexp.MustCompile(`^\n\[prefill 5 tokens in [0-9.]+ ms \([0-9.]+ tok/s\); decode 31 tokens in [0-9.]+ ms \([0-9.]+ tok/s\)\]\n$`)
	if !timing.MatchString(errs) {
		t.Errorf("stderr %q", errs)
	}
	// The README's sample is what a terminal shows: this stdout, then stderr.
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, sample, _ := strings.Cut(string(readme), "and prints:\n\n```\n")
	sample, _, _ = strings.Cut(sample, "```")
	if rest, ok := strings.CutPrefix(sample, want); !ok || !timing.MatchString(rest) {
		t.Errorf("README's sample output %q is not stdout %q then the timing line", sample, want)
	}
}

// TestHelpDefaultsOnce: no flag of any verb shows two defaults, and
// defaults taken from generation_config say so.
func TestHelpDefaultsOnce(t *testing.T) {
	isolate(t)
	var help func(path []string)
	help = func(path []string) {
		out, _ := mustEmber(t, append(path, "--help")...)
		for _, line := range strings.Split(out, "\n") {
			if strings.Count(line, "(default") > 1 || strings.Contains(line, "the default)") && strings.Contains(line, "(default:") {
				t.Errorf("ember %s --help: %q", strings.Join(path, " "), line)
			}
			// --threads 0 is all cores in every verb, never "(default: 0)".
			if strings.HasPrefix(strings.TrimSpace(line), "--threads ") && !strings.HasSuffix(line, "(default: all cores)") {
				t.Errorf("ember %s --help: %q", strings.Join(path, " "), line)
			}
		}
	}
	for _, c := range commands() {
		help([]string{c.Name})
		for _, cmd := range append([]*cli.Command{c}, c.Subcommands...) {
			for _, f := range cmd.Flags {
				if f.(cli.DocGenerationFlag).GetUsage() == "" {
					t.Errorf("ember %s: --%s has no usage text", cmd.FullName(), f.Names()[0])
				}
			}
		}
		for _, sub := range c.Subcommands {
			help([]string{c.Name, sub.Name})
		}
	}
	out, _ := mustEmber(t, "run", "--help")
	for _, want := range []string{
		"nucleus sampling mass; 1 = off (default: generation_config, else off)",
		"CPU threads per device (default: all cores)\n",
		"--chunk-len value, --chunk value",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("run --help lacks %q", want)
		}
	}
	if out, _ := mustEmber(t, "synth", "--help"); !strings.Contains(out, "real layer shapes) (default: the preset's)\n") {
		t.Errorf("synth --help: --layers does not say its default is the preset's:\n%s", out)
	}
}

func TestUnknownAppFlag(t *testing.T) {
	_, errs, code := ember(t, "--foo")
	if code == 0 || errs != "ember: flag provided but not defined: -foo (see ember --help)\n" {
		t.Errorf("ember --foo: exit %d, %q", code, errs)
	}
}

func TestVersion(t *testing.T) {
	t.Setenv("EMBER_LIBCUDA", filepath.Join(t.TempDir(), "libcuda.so.1"))
	out, _ := mustEmber(t, "--version")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 4 || lines[0] != "ember "+version ||
		lines[1] != "go       "+runtime.Version()+" "+runtime.GOOS+"/"+runtime.GOARCH ||
		lines[2] != "cpu      "+cpu.Kernels()+" kernels, "+itoa(runtime.NumCPU())+" cores" ||
		!strings.HasPrefix(lines[3], "cuda     unavailable: no CUDA driver: ") {
		t.Errorf("ember --version printed\n%s", out)
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// TestQuietAndOnce: the backend fallback note is printed once per command,
// and not at all under -q.
func TestQuietAndOnce(t *testing.T) {
	model := tinyModel(t)
	isolate(t)
	t.Setenv("EMBER_LIBCUDA", filepath.Join(t.TempDir(), "libcuda.so.1"))
	_, errs := mustEmber(t, "run", "-m", model, "-p", "Hi", "-n", "2", "-q")
	if errs != "" {
		t.Errorf("run -q printed %q on stderr", errs)
	}
	_, errs = mustEmber(t, "run", "-m", model, "-p", "Hi", "-n", "2")
	if strings.Count(errs, "backend auto: CUDA is unavailable") != 1 {
		t.Errorf("run without -q: %q", errs)
	}
}

func TestDevicesJSONWithoutNVML(t *testing.T) {
	t.Setenv("EMBER_LIBNVML", filepath.Join(t.TempDir(), "libnvidia-ml.so.1"))
	out, _ := mustEmber(t, "devices", "--json")
	var v struct {
		GPUs        []any  `json:"gpus"`
		P2P         []any  `json:"p2p"`
		Unavailable string `json:"unavailable"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil || v.GPUs == nil || len(v.GPUs) != 0 || !strings.HasPrefix(v.Unavailable, "NVML is unavailable: ") {
		t.Errorf("devices --json printed %q (%v)", out, err)
	}
	if _, errs, code := ember(t, "devices"); code != exitUnavailable || !strings.Contains(errs, "NVML is unavailable") {
		t.Errorf("devices: exit %d %q", code, errs)
	}
}

// TestFlagSpellings: --gpus is a device list in plan as in profile and
// milestone; the old spellings (--gpus N as a count, --chunk) give the same
// plan as the new ones.
func TestFlagSpellings(t *testing.T) {
	isolate(t)
	base := []string{"plan", "--model", "Qwen3-8B", "--gpu-mem", "12GiB", "--json", "--ctx", "2048"}
	want, _ := mustEmber(t, append(base, "--num-gpus", "2", "--chunk-len", "256")...)
	for _, flags := range [][]string{
		{"--gpus", "0,1", "--chunk-len", "256"},
		{"--devices", "0,1", "--chunk", "256"},
		{"--gpus", "2", "--chunk", "256"},
	} {
		got, errs := mustEmber(t, append(base, flags...)...)
		if got != want {
			t.Errorf("%v planned\n%s\nwant\n%s", flags, got, want)
		}
		if old := flags[1] == "2"; old != strings.Contains(errs, "--gpus 2 reads as --num-gpus 2 (its old spelling)") {
			t.Errorf("%v: stderr %q", flags, errs)
		}
	}
	// --gpus 1,0 names the GPUs: pipeline order 1 then 0.
	out, _ := mustEmber(t, append(base, "--gpus", "1,0")...)
	if !strings.Contains(out, `"id": 1`) && !strings.Contains(out, `"id":1`) {
		t.Errorf("--gpus 1,0 did not plan GPU 1: %s", out)
	}
	// run and bench take --chunk-len, and --chunk still.
	model := tinyModel(t)
	a, _ := mustEmber(t, "run", "-m", model, "-p", "Hello, my name is", "-n", "4", "--temp", "0", "-q", "--backend", "cpu", "--chunk-len", "2")
	b, _ := mustEmber(t, "run", "-m", model, "-p", "Hello, my name is", "-n", "4", "--temp", "0", "-q", "--backend", "cpu", "--chunk", "2")
	if a != b || a != " Ember. I\n" { // " Emb", "er", ".", " I"
		t.Errorf("--chunk-len 2 gave %q, --chunk 2 gave %q", a, b)
	}
	// --gpus is the device list of run (and bench, check) as of plan, profile
	// and milestone: the README's first command with --gpus prints the same.
	c, _ := mustEmber(t, "run", "-m", model, "-p", "Hello, my name is", "-n", "4", "--temp", "0", "-q", "--backend", "cpu", "--gpus", "cpu:0,cpu:1", "--split", "3,3")
	if c != a {
		t.Errorf("run --gpus cpu:0,cpu:1 gave %q, want %q", c, a)
	}
	// profile and the milestones take --chunk for --chunk-len too: profile's
	// CSV says the chunk it was given.
	csvOut, _ := mustEmber(t, "profile", "-m", model, "--backend", "cpu", "--gpus", "0,1", "--split", "3,3", "--prompt-len", "16", "--decode-steps", "0", "--chunk", "8", "--pipeline", "--iters", "1", "--warmup", "0")
	recs, err := csv.NewReader(strings.NewReader(csvOut)).ReadAll()
	if err != nil || len(recs) != 2 || recs[0][6] != "chunk_len" || recs[1][6] != "8" {
		t.Errorf("profile --chunk 8 wrote %q (%v)", csvOut, err)
	}
	for _, path := range [][]string{{"profile"}, {"milestone", "stage1"}, {"milestone", "split"}, {"milestone", "prefix-cache"}, {"milestone", "multi-candidate"},
		{"prefix-cache-benchmark"}, {"multi-candidate-rollout"}} {
		out, _ := mustEmber(t, append(path, "--help")...)
		if !strings.Contains(out, "--chunk-len value, --chunk value") {
			t.Errorf("ember %s --help: no --chunk alias of --chunk-len", strings.Join(path, " "))
		}
		if !strings.Contains(out, "--gpus value, --devices value") && !strings.Contains(out, "--devices value, --gpus value") {
			t.Errorf("ember %s --help: --gpus and --devices are not one flag", strings.Join(path, " "))
		}
	}
}

// TestProgressOnTerminal: with stderr a terminal, synth draws a progress
// line in place and clears it before its closing "done" line; on a pipe (every
// other test) nothing of it appears.
func TestProgressOnTerminal(t *testing.T) {
	base := isolate(t)
	dir := filepath.Join(base, "m")
	_, errs := mustEmber(t, "synth", "--preset", "tiny", "--layers", "1", "--out", dir)
	if strings.Contains(errs, "\r") || !regexp.MustCompile(`\nember: done: [0-9.]+ [KM]iB of weights in [0-9.]+s\n$`).MatchString(errs) {
		t.Errorf("synth on a pipe: %q", errs)
	}
	old := isTerminal
	isTerminal = func(io.Writer) bool { return true }
	defer func() { isTerminal = old }()
	_, errs = mustEmber(t, "synth", "--preset", "tiny", "--layers", "1", "--out", dir, "--force")
	i := strings.Index(errs, "\r\033[Kember: ")
	j := strings.LastIndex(errs, "\r\033[Kember: done: ")
	if i < 0 || !strings.Contains(errs, " synth: training the tokenizer, laying out the next-token table (") || !strings.Contains(errs, "\r\033[K\nember: done: ") && j < 0 {
		t.Errorf("synth on a terminal: %q", errs)
	}
	if !strings.Contains(errs, "synth: writing model.safetensors, 0% of 640.88 KiB (") {
		t.Errorf("synth on a terminal drew no progress: %q", errs)
	}
}

// TestProfileSummary: after the CSV, stderr sums it up with the CSV's own
// numbers.
func TestProfileSummary(t *testing.T) {
	model := tinyModel(t)
	isolate(t)
	out, errs := mustEmber(t, "profile", "-m", model, "--backend", "cpu", "--prompt-len", "16", "--decode-steps", "4", "--chunk-len", "8", "--iters", "2", "--warmup", "0")
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(recs) != 3 {
		t.Fatalf("profile CSV %q (%v)", out, err)
	}
	wall := func(rec []string) float64 {
		v, _ := strconv.ParseFloat(rec[slices.Index(recs[0], "wall_ms")], 64)
		return v
	}
	pre, dec := wall(recs[1]), wall(recs[2])
	want := []string{
		fmt.Sprintf("ember: prefill 16 tokens: %.2f ms (%.1f tok/s); top stages ", pre, 16*1000/pre),
		fmt.Sprintf("ember: decode: %.3f ms/token (%.1f tok/s); top stages ", dec, 1000/dec),
	}
	for _, w := range want {
		if !strings.Contains(errs, w) {
			t.Errorf("stderr %q lacks %q", errs, w)
		}
	}
}

// TestIDWithNoToken: an id the tokenizer has no token for renders as
// <|id:N|> in detokenize, as ember run prints it; a negative id is refused.
func TestIDWithNoToken(t *testing.T) {
	model := tinyModel(t)
	var stdout, stderr strings.Builder
	if code := runIO([]string{"ember", "detokenize", "-m", model}, strings.NewReader("[1004, 5000, 44]"), &stdout, &stderr); code != 0 || stdout.String() != "Hello<|id:5000|>," {
		t.Errorf("detokenize: exit %d, %q %q", code, stdout.String(), stderr.String())
	}
	stdout.Reset()
	stderr.Reset()
	if code := runIO([]string{"ember", "detokenize", "-m", model}, strings.NewReader("[-3]"), &stdout, &stderr); code == 0 || !strings.Contains(stderr.String(), "token id -3 is negative") {
		t.Errorf("detokenize of -3: exit %d, %q", code, stderr.String())
	}
}

// TestIDWithNoTokenInRun: a tokenizer without " is" (id 288, the fourth
// token the bundled model continues "Hello" with) makes run, run -N and
// run -N --jsonl print <|id:288|> where it stood, as detokenize does.
func TestIDWithNoTokenInRun(t *testing.T) {
	src := tinyModel(t)
	dir := t.TempDir()
	for _, f := range []string{"config.json", "generation_config.json", "model.safetensors"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(filepath.Join(src, "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	var tok map[string]any
	if err := json.Unmarshal(b, &tok); err != nil {
		t.Fatal(err)
	}
	model := tok["model"].(map[string]any)
	vocab := model["vocab"].(map[string]any)
	if vocab["Ġis"] != 288.0 {
		t.Fatalf("bundled tokenizer: \u0120is is %v, want 288", vocab["Ġis"])
	}
	delete(vocab, "Ġis")
	var merges []any
	for _, m := range model["merges"].([]any) {
		if l, r, _ := strings.Cut(m.(string), " "); l != "Ġis" && r != "Ġis" && l+r != "Ġis" {
			merges = append(merges, m)
		}
	}
	model["merges"] = merges
	if b, err = json.Marshal(tok); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tokenizer.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	base := []string{"run", "-m", dir, "-p", "Hello", "-n", "4", "--temp", "0", "-q", "--backend", "cpu"}
	if out, _ := mustEmber(t, base...); out != ", my name<|id:288|>\n" {
		t.Errorf("run printed %q", out)
	}
	if out, _ := mustEmber(t, append(base, "-N", "1")...); out != "--- candidate 0 (4 tokens, length, sum logprob -0.0011)\n, my name<|id:288|>\n" {
		t.Errorf("run -N 1 printed %q", out)
	}
	out, _ := mustEmber(t, append(base, "-N", "1", "--jsonl")...)
	var line struct {
		Tokens []int32 `json:"tokens"`
		Text   string  `json:"text"`
	}
	if err := json.Unmarshal([]byte(out), &line); err != nil || !slices.Equal(line.Tokens, []int32{44, 830, 845, 288}) || line.Text != ", my name<|id:288|>" {
		t.Errorf("run -N 1 --jsonl printed %q (%v)", out, err)
	}
}
