package main

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// hostileModel copies the tiny model into a temporary folder with config.json
// changed by replacing old with new (raw text, so any JSON can go in).
func hostileModel(t *testing.T, old, new string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "model")
	os.MkdirAll(dir, 0o755)
	for _, f := range []string{"config.json", "generation_config.json", "model.safetensors", "tokenizer.json"} {
		b, err := os.ReadFile(filepath.Join(tinyModel(t), f))
		if err != nil {
			t.Fatal(err)
		}
		if f == "config.json" {
			if !strings.Contains(string(b), old) {
				t.Fatalf("config.json has no %q", old)
			}
			b = []byte(strings.Replace(string(b), old, new, 1))
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestHugeNumbersAreSentences: numbers from the user or a config that used
// to panic or die of a fatal out-of-memory now give one sentence, or (a
// token count past the context) stop cleanly at the context.
func TestHugeNumbersAreSentences(t *testing.T) {
	model := tinyModel(t)
	isolate(t)
	layers := `"num_hidden_layers": 6`
	for _, tc := range []struct {
		name string
		args []string
		code int    // wanted exit status
		want string // in stderr
	}{
		{"run -n MaxInt64", []string{"run", "-m", model, "-p", "Hello", "-n", "9223372036854775807", "--ctx", "64", "--backend", "cpu", "-q"},
			0, "stopped at the context limit of 64 tokens"},
		{"run -n past --ctx", []string{"run", "-m", model, "-p", "Hello", "-n", "99999999999", "--ctx", "64", "--temp", "0.7", "--backend", "cpu", "-q"},
			0, "stopped at the context limit of 64 tokens"},
		{"layers 2e18 integer", []string{"run", "-m", hostileModel(t, layers, `"num_hidden_layers": 2000000000000000000`), "-p", "Hi", "-n", "2", "--backend", "cpu"},
			1, `field "num_hidden_layers" is 2000000000000000000, more than Ember can size (at most 4096)`},
		{"layers 2e18 float", []string{"inspect", hostileModel(t, layers, `"num_hidden_layers": 2e18`)},
			1, `field "num_hidden_layers": want int, got JSON number 2e18`},
		{"layers 1e9", []string{"run", "-m", hostileModel(t, layers, `"num_hidden_layers": 1000000000`), "-p", "Hi", "-n", "2", "--backend", "cpu"},
			1, `field "num_hidden_layers" is 1000000000, more than Ember can size (at most 4096)`},
		{"ctx 2^40 on an unlimited CPU", []string{"run", "-m", hostileModel(t, `"max_position_embeddings": 2048`, `"max_position_embeddings": 1073741824`),
			"-p", "Hi", "-n", "2", "--ctx", "1099511627776", "--backend", "cpu"},
			3, "ember: out of memory on cpu:0: requested"},
		{"bench --threads 5000", []string{"bench", "-m", model, "--backend", "cpu", "--threads", "5000"},
			1, "--threads 5000: this machine has"},
		{"check --greedy 1e8", []string{"check", "-m", model, "--backend", "cpu", "-p", "Hello", "--greedy", "100000000"},
			1, "--greedy 100000000: after the 1-token prompt the context of 2048 positions holds at most 2048 greedy tokens"},
		{"check --greedy -1", []string{"check", "-m", model, "--backend", "cpu", "-p", "Hello", "--greedy", "-1"},
			1, "--greedy -1: want 0 or more tokens"},
	} {
		_, errs, code := ember(t, tc.args...)
		if code != tc.code || !strings.Contains(errs, tc.want) {
			t.Errorf("%s: exit %d, stderr %q; want exit %d and %q", tc.name, code, errs, tc.code, tc.want)
		}
		if tc.code != 0 && strings.Count(strings.TrimSpace(errs), "\n") > 0 {
			t.Errorf("%s: more than one line: %q", tc.name, errs)
		}
	}
}

// TestInputFilesMustBeRegular: a config, tokenizer or generation config that
// is a device (/dev/zero: read until memory ran out) or a FIFO (the open
// blocked forever) is refused in one sentence naming it.
func TestInputFilesMustBeRegular(t *testing.T) {
	isolate(t)
	for _, tc := range []struct{ file, target, want string }{
		{"config.json", "/dev/zero", "config.json is a character device, not a regular file"},
		{"tokenizer.json", "fifo", "tokenizer.json is a FIFO, not a regular file"},
		{"generation_config.json", "/dev/zero", "generation_config.json is a character device, not a regular file"},
	} {
		dir := hostileModel(t, `"num_hidden_layers": 6`, `"num_hidden_layers": 6`)
		p := filepath.Join(dir, tc.file)
		os.Remove(p)
		if tc.target == "fifo" {
			if err := syscall.Mkfifo(p, 0o644); err != nil {
				t.Skipf("mkfifo: %v", err)
			}
		} else if err := os.Symlink(tc.target, p); err != nil {
			t.Fatal(err)
		}
		_, errs, code := ember(t, "run", "-m", dir, "-p", "Hello", "-n", "2", "--backend", "cpu")
		if code == 0 || !strings.Contains(errs, tc.want) || strings.Count(strings.TrimSpace(errs), "\n") > 0 {
			t.Errorf("%s → %s: exit %d, stderr %q; want one line containing %q", tc.file, tc.target, code, errs, tc.want)
		}
	}
}

// nanModel copies the tiny model with every element of model.norm.weight
// set to a BF16 NaN, so that every logit is NaN.
func nanModel(t *testing.T) string {
	t.Helper()
	return poisonModel(t, "model.norm.weight", 0, -1, 0x7fc0) // BF16 quiet NaN everywhere
}

// poisonModel copies the tiny model with elements [from, to) of the BF16
// tensor name (to -1: all) set to the BF16 bits v.
func poisonModel(t *testing.T, name string, from, to int64, v uint16) string {
	t.Helper()
	dir := hostileModel(t, `"num_hidden_layers": 6`, `"num_hidden_layers": 6`)
	p := filepath.Join(dir, "model.safetensors")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	n := binary.LittleEndian.Uint64(b[:8])
	var header map[string]json.RawMessage
	if err := json.Unmarshal(b[8:8+n], &header); err != nil {
		t.Fatal(err)
	}
	var info struct {
		DType   string   `json:"dtype"`
		Offsets [2]int64 `json:"data_offsets"`
	}
	if err := json.Unmarshal(header[name], &info); err != nil || info.DType != "BF16" {
		t.Fatalf("%s: %+v %v", name, info, err)
	}
	data := b[8+n:]
	end := info.Offsets[1]
	if to >= 0 {
		end = info.Offsets[0] + 2*to
	}
	for i := info.Offsets[0] + 2*from; i < end; i += 2 {
		binary.LittleEndian.PutUint16(data[i:], v)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestNaNLogitsFail: NaN weights stop greedy and sampled generation and check
// with one sentence naming the step, instead of id -1, NUL bytes or printed
// NaN logits with exit status 0.
func TestNaNLogitsFail(t *testing.T) {
	isolate(t)
	model := nanModel(t)
	want := "the prompt's logits: logit 0 is NaN: non-finite logits"
	for _, args := range [][]string{
		{"run", "-m", model, "-p", "Hello", "-n", "4", "--temp", "0", "--backend", "cpu", "-q"},
		{"run", "-m", model, "-p", "Hello", "-n", "4", "--temp", "0.8", "--backend", "cpu", "-q"},
		{"check", "-m", model, "-p", "Hello", "--backend", "cpu"},
		{"profile", "-m", model, "--backend", "cpu", "--prompt-len", "8", "--decode-steps", "2", "--iters", "1", "--warmup", "0"},
	} {
		out, errs, code := ember(t, args...)
		if code == 0 || !strings.Contains(errs, want) || strings.Contains(out, "\x00") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want a failure saying %q", args, code, out, errs, want)
		}
	}
}

// TestDebugNonFinite: with --debug-nonfinite, non-finite logits name the
// first layer and op whose output held a NaN or an infinity: a NaN weight
// (one element of layer 3's down_proj, element 5: row 0, column 5, so output
// column 0), and a finite weight that overflows an activation (layer 1's
// input norm, every element the largest BF16, 3.39e38). Without the flag the
// sentence says to rerun with it. On one device and over two (the layer on
// the second).
func TestDebugNonFinite(t *testing.T) {
	isolate(t)
	nan := poisonModel(t, "model.layers.3.mlp.down_proj.weight", 5, 6, 0x7fc0)
	inf := poisonModel(t, "model.layers.1.input_layernorm.weight", 0, -1, 0x7f7f)
	for _, tc := range []struct {
		model string
		args  []string
		want  string
	}{
		{nan, []string{"run", "--temp", "0"}, "the prompt's logits: logit 0 is NaN: non-finite logits (the weights or an op produced NaN or Inf; check the checkpoint, rerun with --debug-nonfinite to name the first layer and op"},
		{nan, []string{"run", "--temp", "0", "--debug-nonfinite"}, "the prompt's logits: logit 0 is NaN: non-finite logits; the first non-finite value came from layer 3, op MatMul with model.layers.3.mlp.down_proj.weight (that weight itself holds NaN at element 5) on cpu:0: element 0 of its output [1 128] is NaN"},
		{nan, []string{"run", "--temp", "0.8", "--debug-nonfinite", "--devices", "cpu:0,cpu:1"}, "came from layer 3, op MatMul with model.layers.3.mlp.down_proj.weight (that weight itself holds NaN at element 5) on cpu:1: element 0 of its output [1 128] is NaN"},
		{nan, []string{"check", "--debug-nonfinite"}, "came from layer 3, op MatMul with model.layers.3.mlp.down_proj.weight"},
		{inf, []string{"run", "--temp", "0", "--debug-nonfinite"}, "came from layer 1, op RMSNorm with model.layers.1.input_layernorm.weight on cpu:0: element 64 of its output [1 128] is +Inf"},
	} {
		args := append([]string{tc.args[0], "-m", tc.model, "-p", "Hello", "--backend", "cpu", "--chunk-len", "1"}, tc.args[1:]...)
		if tc.args[0] == "run" {
			args = append(args, "-n", "3", "-q")
		}
		_, errs, code := ember(t, args...)
		if code == 0 || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want %q", tc.args, code, errs, tc.want)
		}
	}
	want := "ember: iteration 1 of 1: the prompt's logits: logit 0 is NaN: non-finite logits; the first non-finite value came from layer 3, op MatMul with model.layers.3.mlp.down_proj.weight (that weight itself holds NaN at element 5) on cpu:0: element 0 of its output [8 128] is NaN"
	if _, errs, code := ember(t, "profile", "-m", nan, "--backend", "cpu", "--prompt-len", "8", "--decode-steps", "2", "--iters", "1", "--warmup", "0", "--debug-nonfinite"); code == 0 || !strings.Contains(errs, want) {
		t.Errorf("profile: exit %d, stderr %q; want %q", code, errs, want)
	}
}

// TestPlanHugeNumbers: a batch or context whose KV size overflows int64 is
// refused (it printed "KV 0 B … FITS yes", or a negative KV size).
func TestPlanHugeNumbers(t *testing.T) {
	isolate(t)
	for _, tc := range []struct{ flag, value, want string }{
		{"--batch", "4611686018427387904", "batch 4611686018427387904, more than the planner sizes (at most 1048576)"},
		{"--ctx", "4611686018427387904", "context length 4611686018427387904, more than the planner sizes (at most 1073741824)"},
		{"--ctx", "1073741824", ""},
	} {
		args := []string{"plan", "-m", "Qwen3-0.6B", tc.flag, tc.value}
		if tc.want == "" {
			args = append(args, "--batch", "1048576")
			tc.want = "context 1073741824 × batch 1048576: the KV cache would exceed 2^63 bytes"
		}
		out, errs, code := ember(t, args...)
		if code == 0 || !strings.Contains(errs, tc.want) || strings.Contains(out, "FITS") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want %q", args, code, out, errs, tc.want)
		}
	}
}

// TestReportDeltaInputs: report delta refuses a summary with a duplicate key
// (naming both lines) or a negative time, takes a folder for its summary, and
// only warns about a malformed optional samples file.
func TestReportDeltaInputs(t *testing.T) {
	base := isolate(t)
	good := repoPath(t, "testdata", "report", "baseline", "stage12_split_summary.csv")
	b, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(b), "\n")
	write := func(name, content string) string {
		dir := filepath.Join(base, name)
		os.MkdirAll(dir, 0o755)
		p := filepath.Join(dir, "stage12_split_summary.csv")
		os.WriteFile(p, []byte(content), 0o644)
		return p
	}
	dup := write("dup", string(b)+lines[1])
	_, errs, code := ember(t, "report", "delta", "--baseline", dup, "--current", good)
	if code == 0 || !strings.Contains(errs, fmt.Sprintf("%s: lines 2 and %d both hold split", dup, len(lines))) {
		t.Errorf("duplicate key: exit %d, %q", code, errs)
	}
	neg := write("neg", strings.Replace(string(b), "520.000", "-520.000", 1))
	_, errs, code = ember(t, "report", "delta", "--baseline", neg, "--current", good)
	if code == 0 || !strings.Contains(errs, neg+": line 2, column prefill_wall_ms: time -520 is negative") {
		t.Errorf("negative time: exit %d, %q", code, errs)
	}
	fromFile, _ := mustEmber(t, "report", "delta", "--baseline", good, "--current", good)
	fromDir, _ := mustEmber(t, "report", "delta", "--baseline", filepath.Dir(good), "--current", good)
	// The two runs differ in their command line and, when they straddle a
	// second, in the time the header gives.
	dropCommand := func(s string) string {
		var keep []string
		for _, l := range strings.Split(s, "\n") {
			if !strings.HasPrefix(l, "- command:") && !strings.HasPrefix(l, "- time:") {
				keep = append(keep, l)
			}
		}
		return strings.Join(keep, "\n")
	}
	if dropCommand(fromDir) != dropCommand(fromFile) || !strings.Contains(fromFile, "prefill_wall_ms") {
		t.Errorf("a folder as --baseline printed\n%s\nits summary printed\n%s", fromDir, fromFile)
	}
	bad := write("badsamples", string(b))
	os.WriteFile(filepath.Join(filepath.Dir(bad), "stage12_raw_samples.csv"), []byte("not,a\nsamples file\n"), 0o644)
	_, errs, code = ember(t, "report", "delta", "--baseline", bad, "--current", good)
	if code != 0 || !strings.Contains(errs, "ember: warning: ignoring the samples beside "+bad) {
		t.Errorf("malformed samples file: exit %d, %q; want a warning and exit 0", code, errs)
	}
}

// TestDeviceListsMeanOneThing: --devices lists whose meaning was a guess
// are refused: a CPU index that is not the list position, and a backend on
// some entries only.
func TestDeviceListsMeanOneThing(t *testing.T) {
	model := tinyModel(t)
	isolate(t)
	for _, tc := range []struct{ devices, want string }{
		{"cpu:99", `--devices "cpu:99": CPU devices are logical and numbered in order from 0; entry 1 is cpu:99, want cpu:0`},
		{"cpu:0,1", `--devices "cpu:0,1" gives a backend for some devices and not others; write every entry the same way (e.g. cpu:0,cpu:1)`},
	} {
		_, errs, code := ember(t, "run", "-m", model, "-p", "Hello", "-n", "2", "--backend", "cpu", "--devices", tc.devices)
		if code == 0 || !strings.Contains(errs, tc.want) {
			t.Errorf("--devices %s: exit %d, stderr %q; want %q", tc.devices, code, errs, tc.want)
		}
	}
}

// TestRunFlagsThatMeantNothing: --system without a chat and --overlap on one
// device were ignored without a word.
func TestRunFlagsThatMeantNothing(t *testing.T) {
	model := tinyModel(t)
	isolate(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--system", "be brief"}, "--system is the system message of a chat; add --chat (or -i), or put the text in -p"},
		{[]string{"--overlap"}, "--overlap overlaps two devices' prefill chunks, and --devices gives 1; drop it or pass two devices"},
	} {
		_, errs, code := ember(t, append([]string{"run", "-m", model, "-p", "Hello", "-n", "2", "--backend", "cpu"}, tc.args...)...)
		if code == 0 || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want %q", tc.args, code, errs, tc.want)
		}
	}
	mustEmber(t, "run", "-m", model, "-p", "Hello", "-n", "2", "--backend", "cpu", "--chat", "--system", "be brief", "-q")
}

// TestOddInputsAreSentences: the leftovers of the "silent oddities" list each
// get one sentence naming the flag or file: a negative --layers (it wrote the
// preset's), --out over a model (it overwrote it), a tokenizer id past the
// config's vocab_size (it failed at the embedding, later), a negative --seed
// ("parse error").
func TestOddInputsAreSentences(t *testing.T) {
	base := isolate(t)
	m := filepath.Join(base, "m")
	if _, errs, code := ember(t, "synth", "--preset", "tiny", "--layers", "-1", "--out", m); code == 0 ||
		!strings.Contains(errs, "ember: --layers -1: want at least 1 layer (leave it out for the preset's 6)") {
		t.Errorf("synth --layers -1: exit %d, %q", code, errs)
	}
	if _, err := os.Stat(m); err == nil {
		t.Errorf("synth --layers -1 wrote %s", m)
	}
	mustEmber(t, "synth", "--preset", "tiny", "--layers", "1", "--out", m)
	before, _ := os.ReadFile(filepath.Join(m, "model.safetensors"))
	if _, errs, code := ember(t, "synth", "--preset", "tiny", "--layers", "2", "--out", m); code == 0 ||
		!strings.Contains(errs, "ember: --out "+m+" already holds a model (config.json); pass --force to overwrite it, or choose another folder") {
		t.Errorf("synth over a model: exit %d, %q", code, errs)
	}
	if after, _ := os.ReadFile(filepath.Join(m, "model.safetensors")); string(after) != string(before) {
		t.Error("a refused synth changed model.safetensors")
	}
	mustEmber(t, "synth", "--preset", "tiny", "--layers", "2", "--out", m, "--force")
	if after, _ := os.ReadFile(filepath.Join(m, "model.safetensors")); len(after) <= len(before) {
		t.Errorf("--force wrote %d bytes, the 1-layer model had %d", len(after), len(before))
	}

	for name, edit := range map[string]func(map[string]any){
		"vocab entry": func(tj map[string]any) {
			tj["model"].(map[string]any)["vocab"].(map[string]any)["zzqq"] = 5000
		},
		"added token": func(tj map[string]any) {
			tj["added_tokens"] = append(tj["added_tokens"].([]any), map[string]any{"id": 1024, "content": "<|big|>", "special": true})
		},
	} {
		model := hostileModel(t, `"vocab_size": 1024`, `"vocab_size": 1024`)
		b, _ := os.ReadFile(filepath.Join(model, "tokenizer.json"))
		var tj map[string]any
		if err := json.Unmarshal(b, &tj); err != nil {
			t.Fatal(err)
		}
		edit(tj)
		b, _ = json.Marshal(tj)
		os.WriteFile(filepath.Join(model, "tokenizer.json"), b, 0o644)
		want := map[string]string{
			"vocab entry": `tokenizer.json: token "zzqq" has id 5000, past config.json's vocab_size of 1024 (ids 0 to 1023)`,
			"added token": `tokenizer.json: token "<|big|>" has id 1024, past config.json's vocab_size of 1024 (ids 0 to 1023)`,
		}[name]
		if _, errs, code := ember(t, "run", "-m", model, "-p", "Hello", "-n", "2", "--backend", "cpu"); code == 0 || !strings.Contains(errs, want) {
			t.Errorf("%s: exit %d, %q; want %q", name, code, errs, want)
		}
	}

	for _, tc := range []struct{ args, want string }{
		{"--seed -1", `ember run: --seed "-1": want a whole number from 0 to 18446744073709551615 (see ember run --help)`},
		{"--temp warm", `ember run: --temp "warm": want a number (see ember run --help)`},
		{"-n many", `ember run: -n "many": want a whole number (see ember run --help)`},
	} {
		if _, errs, code := ember(t, append([]string{"run", "-p", "Hello"}, strings.Fields(tc.args)...)...); code == 0 || !strings.Contains(errs, tc.want) {
			t.Errorf("%s: exit %d, %q; want %q", tc.args, code, errs, tc.want)
		}
	}
}
