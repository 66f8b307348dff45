package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/ember-infer/ember/ember-core/npy"
	"github.com/ember-infer/ember/ember-core/tokenizer"
)

// TestMain lets the test binary stand in for the ember binary: the milestone
// sweeps start `ember profile` children through os.Executable, which in a test
// is this binary, so with EMBER_BE_EMBER=1 it runs ember's main instead.
func TestMain(m *testing.M) {
	if os.Getenv("EMBER_BE_EMBER") == "1" {
		os.Exit(run(append([]string{"ember"}, os.Args[1:]...), os.Stdout, os.Stderr))
	}
	var err error
	if repoRoot, err = filepath.Abs(filepath.Join("..", "..", "..")); err != nil {
		panic(err)
	}
	os.Exit(m.Run())
}

// repoRoot is the repository's absolute path, fixed before tests chdir away.
var repoRoot string

// tinyModel is the bundled tiny model's absolute path (tests chdir away).
func tinyModel(t *testing.T) string {
	t.Helper()
	p := filepath.Join(repoRoot, "testdata", "models", "tiny-qwen3")
	if _, err := os.Stat(filepath.Join(p, "config.json")); err != nil {
		t.Fatalf("bundled model missing: %v", err)
	}
	return p
}

// TestRunSplitInvariant: greedy generation gives the same text on one device
// and on every two-device split, and the README's command works as written.
func TestRunSplitInvariant(t *testing.T) {
	model := tinyModel(t)
	isolate(t)
	base := []string{"run", "-m", model, "-p", "Hello, my name is", "-n", "16", "--temp", "0", "-q", "--backend", "cpu"}
	want, _ := mustEmber(t, base...)
	if strings.TrimSpace(want) == "" {
		t.Fatal("run printed nothing")
	}
	for _, split := range []string{"1,5", "3,3", "5,1"} {
		got, _ := mustEmber(t, append(base, "--devices", "cpu:0,cpu:1", "--split", split, "--chunk", "2", "--overlap")...)
		if got != want {
			t.Errorf("split %s printed %q, one device %q", split, got, want)
		}
	}
	_, errs := mustEmber(t, "run", "-m", model, "-p", "Hello, my name is", "-n", "32", "--temp", "0", "--devices", "cpu:0,cpu:1", "--split", "3,3")
	if !strings.Contains(errs, "decode 31 tokens") && !strings.Contains(errs, "prefill") {
		t.Errorf("README command's stderr lacks the timing line: %q", errs)
	}
}

func TestRunErrors(t *testing.T) {
	model := tinyModel(t)
	isolate(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "-m", model}, "no prompt"},
		{[]string{"run", "-m", model, "-p", "x", "--split", "2,2", "--devices", "0,1", "--backend", "cpu"}, "split [2 2] covers 4 layers but the model has 6"},
		{[]string{"run", "-m", model, "-p", "x", "--kv-dtype", "i8"}, `--kv-dtype "i8"`},
		{[]string{"run", "-m", model, "-p", "x", "--top-p", "2"}, "TopP is 2"},
		{[]string{"run", "-m", model, "-p", "x", "--device-mem", "1MiB", "--backend", "cpu"}, "out of memory on cpu:0"},
		{[]string{"run", "-p", "x"}, "no model"},
		{[]string{"run", "-m", model, "-p", "-", "-i"}, "-p - and -i both read stdin"},
		{[]string{"run", "-m", model, "-p", "x", "--threads", "-3"}, "--threads -3"},
		{[]string{"check", "-m", model, "-p", "x", "--layers", "0,99"}, `--layers "0,99": hidden state 99 is outside 0..6`},
		{[]string{"profile", "-m", model, "--csv", "/nonexistent/dir/x.csv"}, "directory /nonexistent/dir does not exist"},
		{[]string{"run", "-m", model, "-p", "x", "--devices", "0,1", "--split", "3"}, "--split: split [3] has 1 parts but there are 2 devices"},
		{[]string{"run", "-m", model, "-p", "x", "-n", "-1"}, "-n -1"},
		{[]string{"check", "-m", model, "-p", "Hello, my name is", "--ctx", "2", "--backend", "cpu"}, "context limit of 2"},
	} {
		_, errs, code := ember(t, tc.args...)
		if code == 0 || !strings.Contains(errs, tc.want) || strings.Count(strings.TrimSpace(errs), "\n") > 1 {
			t.Errorf("ember %v: exit %d, stderr %q; want one line containing %q", tc.args, code, errs, tc.want)
		}
	}
	if _, _, code := ember(t, "run", "-m", model, "-p", "x", "--device-mem", "1MiB", "--backend", "cpu"); code != exitOOM {
		t.Errorf("out of memory exits %d, want %d", code, exitOOM)
	}
}

// TestChat: -i keeps the conversation; /reset and /exit work.
func TestChat(t *testing.T) {
	model := tinyModel(t)
	isolate(t)
	var out, errb strings.Builder
	in := strings.NewReader("What is two plus two?\nAnd three?\n/reset\nHi\n/exit\n")
	code := runIO([]string{"ember", "run", "-m", model, "-i", "-n", "4", "--temp", "0", "--backend", "cpu"}, in, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if n := strings.Count(errb.String(), "> "); n != 5 {
		t.Errorf("%d prompts shown, want 5 (three turns, /reset, /exit):\n%s", n, errb.String())
	}
	if strings.Count(errb.String(), "[prefill") != 3 {
		t.Errorf("want three timed turns:\n%s", errb.String())
	}
}

// TestChatContextFull: a turn that no longer fits --ctx is dropped with a
// note on stderr and the chat goes on: a shorter next turn reuses the cache
// the failed one left, and /reset starts over.
func TestChatContextFull(t *testing.T) {
	model := tinyModel(t)
	isolate(t)
	var out, errb strings.Builder
	long := strings.Repeat("word ", 40)
	in := strings.NewReader("Hi\n" + long + "\nOk\n/reset\nHi\n")
	code := runIO([]string{"ember", "run", "-m", model, "-i", "-n", "4", "--temp", "0", "--backend", "cpu", "--ctx", "80"}, in, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if n := strings.Count(errb.String(), "no longer fits the context of 80 tokens"); n != 1 {
		t.Errorf("%d context-full notes, want 1:\n%s", n, errb.String())
	}
	if n := strings.Count(errb.String(), "[prefill"); n != 3 {
		t.Errorf("%d timed turns, want 3 (Hi, Ok, Hi after /reset):\n%s", n, errb.String())
	}
}

// TestCheckDump: logits.npy holds [positions, vocab] logits whose last row is
// what check prints as the top token; hidden states and index.json are there;
// --greedy prints one JSON line; --tokens gives the same as the text's ids.
func TestCheckDump(t *testing.T) {
	model := tinyModel(t)
	base := isolate(t)
	dump := filepath.Join(base, "dump")
	out, _ := mustEmber(t, "check", "-m", model, "-p", "Hello, my name is", "--dump", dump, "--layers", "0,3,6", "--greedy", "5", "--devices", "cpu:0,cpu:1", "--backend", "cpu")
	var idx struct {
		Tokens       []int32           `json:"tokens"`
		NPositions   int               `json:"n_positions"`
		Vocab        int               `json:"vocab"`
		HiddenStates map[string]string `json:"hidden_states"`
	}
	b, err := os.ReadFile(filepath.Join(dump, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.Load(filepath.Join(model, "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	if ids := tok.Encode("Hello, my name is"); !reflect.DeepEqual(ids, idx.Tokens) || idx.NPositions != len(ids) || idx.Vocab != 1024 {
		t.Fatalf("index %+v, tokens of the prompt %v", idx, ids)
	}
	logits, shape, err := npy.ReadFloat32(filepath.Join(dump, "logits.npy"))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(shape, []int{idx.NPositions, 1024}) {
		t.Fatalf("logits shape %v", shape)
	}
	last := logits[(idx.NPositions-1)*1024:]
	best := 0
	for i, v := range last {
		if v > last[best] {
			best = i
		}
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if fields := strings.Fields(lines[1]); len(fields) < 2 || fields[0] != strconv.Itoa(best) {
		t.Errorf("top line %q, argmax of logits.npy's last row is %d", lines[1], best)
	}
	var greedy struct{ Greedy []int32 }
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &greedy); err != nil || len(greedy.Greedy) != 5 || greedy.Greedy[0] != int32(best) {
		t.Errorf("greedy line %q (%v), want 5 ids starting with %d", lines[len(lines)-1], err, best)
	}
	for _, l := range []string{"0", "3", "6"} {
		h, shape, err := npy.ReadFloat32(filepath.Join(dump, idx.HiddenStates[l]))
		if err != nil || !reflect.DeepEqual(shape, []int{idx.NPositions, 128}) || len(h) != idx.NPositions*128 {
			t.Errorf("hidden %s: shape %v, err %v", l, shape, err)
		}
	}
	ids := make([]string, len(idx.Tokens))
	for i, id := range idx.Tokens {
		ids[i] = strconv.Itoa(int(id))
	}
	out2, _ := mustEmber(t, "check", "-m", model, "--tokens", strings.Join(ids, ","), "--greedy", "5", "--backend", "cpu")
	if l2 := strings.Split(strings.TrimSpace(out2), "\n"); l2[len(l2)-1] != lines[len(lines)-1] {
		t.Errorf("--tokens greedy %q, -p greedy %q", l2[len(l2)-1], lines[len(lines)-1])
	}
	if _, errs, code := ember(t, "check", "-m", model, "--tokens", "1,99999"); code == 0 || !strings.Contains(errs, "id 99999 is outside the vocabulary of 1024") {
		t.Errorf("bad --tokens: exit %d, %q", code, errs)
	}
}

// TestTokenizeDetokenize: JSON in, JSON out, round trip through both verbs.
func TestTokenizeDetokenize(t *testing.T) {
	model := tinyModel(t)
	base := isolate(t)
	texts := []string{"Hello, world", "<|im_start|>user\nHi<|im_end|>", "café 你好 🙂", ""}
	in := filepath.Join(base, "in.json")
	b, _ := json.Marshal(texts)
	os.WriteFile(in, b, 0o644)
	out, _ := mustEmber(t, "tokenize", "-m", model, "--input", in)
	var ids [][]int32
	if err := json.Unmarshal([]byte(out), &ids); err != nil || len(ids) != len(texts) {
		t.Fatalf("tokenize printed %q (%v)", out, err)
	}
	if len(ids[3]) != 0 {
		t.Errorf("empty string gave %v", ids[3])
	}
	idsPath := filepath.Join(base, "ids.json")
	os.WriteFile(idsPath, []byte(out), 0o644)
	out, _ = mustEmber(t, "detokenize", "-m", model, "--input", idsPath)
	var back []string
	if err := json.Unmarshal([]byte(out), &back); err != nil || !reflect.DeepEqual(back, texts) {
		t.Errorf("round trip %q (%v), want %q", back, err, texts)
	}
	out, _ = mustEmber(t, "detokenize", "-m", model, "--input", idsPath, "--skip-special")
	json.Unmarshal([]byte(out), &back)
	if back[1] != "user\nHi" {
		t.Errorf("--skip-special gave %q, want %q", back[1], "user\nHi")
	}
	var stdout, stderr strings.Builder
	if code := runIO([]string{"ember", "tokenize", "--tokenizer", filepath.Join(model, "tokenizer.json")}, strings.NewReader("Hello, world"), &stdout, &stderr); code != 0 || strings.TrimSpace(stdout.String()) != strings.TrimSpace(mustJSON(t, ids[0])) {
		t.Errorf("stdin tokenize %q (exit %d %s), want %v", stdout.String(), code, stderr.String(), ids[0])
	}
	if _, errs, code := ember(t, "detokenize", "-m", model, "--input", in); code == 0 || !strings.Contains(errs, "want an array of arrays of token ids") {
		t.Errorf("detokenize of strings: exit %d %q", code, errs)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestSynth writes a small preset and runs it.
func TestSynth(t *testing.T) {
	base := isolate(t)
	dir := filepath.Join(base, "m")
	mustEmber(t, "synth", "--preset", "tiny", "--out", dir, "--seed", "9", "--dtype", "f16", "--layers", "2")
	for _, f := range []string{"config.json", "generation_config.json", "tokenizer.json", "model.safetensors"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("synth wrote no %s", f)
		}
	}
	out, _ := mustEmber(t, "inspect", dir)
	if !strings.Contains(out, "F16") {
		t.Errorf("inspect of an f16 synth model:\n%s", out)
	}
	mustEmber(t, "run", "-m", dir, "-p", "hi", "-n", "3", "--temp", "0.7", "--seed", "4", "--backend", "cpu")
	if _, errs, code := ember(t, "synth", "--preset", "Qwen9", "--out", dir); code == 0 || !strings.Contains(errs, `--preset "Qwen9" is not a preset`) {
		t.Errorf("bad preset: exit %d %q", code, errs)
	}
}
