// Package engine opens a model for running: it resolves the model argument,
// opens the snapshot and its tokenizer, makes the devices, picks the split and
// loads the weights. The CLI verbs (run, check, bench, profile) share it, so
// that each stays a thin layer over flags.
package engine

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/ember-infer/ember/ember-core/config"
	"github.com/ember-infer/ember/ember-core/cpu"
	"github.com/ember-infer/ember/ember-core/device"
	"github.com/ember-infer/ember/ember-core/hub"
	"github.com/ember-infer/ember/ember-core/memplan"
	"github.com/ember-infer/ember/ember-core/qwen3"
	"github.com/ember-infer/ember/ember-core/snapshot"
	"github.com/ember-infer/ember/ember-core/tokenizer"
)

// Options says what to open and where.
type Options struct {
	Model   string // dir, HF cache dir or Org/Name id
	Backend string // "cpu" or "auto" (CUDA registers itself through Backends)
	// Devices lists devices: "cpu:0,cpu:1", or plain indices "0,1" for the
	// chosen backend. Empty means one device.
	Devices string
	// DeviceMem is each device's budget in bytes (0: unlimited on CPU); one
	// value for all devices or one per device.
	DeviceMem []int64
	Split     []int // layers per device; nil: the planner's best-balanced split
	Threads   int   // CPU threads per device; 0: all cores
	// Ctx and Chunk size the planner's choice of split (defaults 4096 and 512).
	Ctx, Chunk int
	// NeedTokenizer makes a missing tokenizer.json an error.
	NeedTokenizer bool
	Env           hub.Env
	// DebugNonFinite traces every op's output (slow): a non-finite logit row
	// then names the first layer and op that produced a NaN or an infinity.
	DebugNonFinite bool
	// Warn receives notes for the user (backend fallbacks); may be nil.
	Warn func(string)
}

// Engine is an opened model.
type Engine struct {
	Snapshot  *snapshot.Snapshot
	Tokenizer *tokenizer.Tokenizer // nil when the snapshot has no tokenizer.json
	Model     *qwen3.Model
	Devices   []device.Device
	Backend   string
	EOS       []int32
	trace     *nanTrace // set by Options.DebugNonFinite
}

// Backend makes n devices from a device list. The CPU backend is built in;
// ember-cli adds CUDA when it is present.
type Backend func(ids []string, mem []int64, threads int) ([]device.Device, error)

// Backends maps backend names to constructors.
var Backends = map[string]Backend{"cpu": cpuBackend}

func cpuBackend(ids []string, mem []int64, threads int) ([]device.Device, error) {
	devs := make([]device.Device, len(ids))
	for i, id := range ids {
		devs[i] = cpu.New(cpu.Options{Name: "cpu:" + id, Budget: memFor(mem, i), Threads: threads})
	}
	return devs, nil
}

func memFor(mem []int64, i int) int64 {
	switch {
	case len(mem) == 0:
		return 0
	case len(mem) == 1:
		return mem[0]
	default:
		return mem[i]
	}
}

// ParseDevices splits a device list into backend (from a "cpu:" or "cuda:"
// prefix, or "") and ids. "0,1" → ("", [0 1]); "cpu:0,cpu:1" → ("cpu", [0 1]).
func ParseDevices(s string) (backend string, ids []string, err error) {
	if strings.TrimSpace(s) == "" {
		return "", []string{"0"}, nil
	}
	var prefixed []bool
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		b, id, found := strings.Cut(part, ":")
		if !found {
			b, id = "", part
		}
		if _, err := strconv.Atoi(id); err != nil || id == "" || strings.HasPrefix(id, "-") {
			return "", nil, fmt.Errorf("--devices %q: %q is not a device index (want e.g. 0,1 or cpu:0,cpu:1)", s, part)
		}
		if backend != "" && b != "" && b != backend {
			return "", nil, fmt.Errorf("--devices %q mixes backends %s and %s", s, backend, b)
		}
		if b != "" {
			backend = b
		}
		ids = append(ids, id)
		prefixed = append(prefixed, found)
	}
	return backend, ids, checkDeviceList(s, backend, ids, prefixed)
}

// ParseSplit parses "A,B" (or "A+B") into layer counts.
func ParseSplit(s string) ([]int, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []int
	for _, part := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '+' }) {
		n, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("--split %q: %q is not a positive layer count (want e.g. 14,14)", s, part)
		}
		out = append(out, n)
	}
	return out, nil
}

// Open resolves, opens and loads the model.
func Open(o Options) (*Engine, error) {
	if o.Env.Getenv == nil {
		o.Env = hub.OSEnv()
	}
	warn := o.Warn
	if warn == nil {
		warn = func(string) {}
	}
	if o.Model == "" {
		return nil, errors.New("no model given: pass --model (or set MODEL_PATH)")
	}
	res, err := hub.Resolve(o.Model, o.Env)
	if err != nil {
		return nil, err
	}
	snap, err := snapshot.Open(res.Dir)
	if err != nil {
		return nil, err
	}
	e := &Engine{Snapshot: snap}
	ok := false
	defer func() {
		if !ok {
			e.Close()
		}
	}()
	if err := snap.Check(); err != nil {
		return nil, err
	}
	tokPath := filepath.Join(res.Dir, "tokenizer.json")
	if _, err := os.Stat(tokPath); err == nil {
		if e.Tokenizer, err = tokenizer.Load(tokPath); err != nil {
			return nil, err
		}
		if n, vs := e.Tokenizer.VocabSize(), snap.Config.VocabSize; n > vs {
			tok, _ := e.Tokenizer.Token(int32(n - 1))
			return nil, fmt.Errorf("%s: token %q has id %d, past config.json's vocab_size of %d (ids 0 to %d): the model has no embedding or logit for it; the tokenizer is not this model's", tokPath, tok, n-1, vs, vs-1)
		}
	} else if o.NeedTokenizer {
		return nil, fmt.Errorf("model %s has no tokenizer.json (needed to turn text into tokens)", res.Dir)
	}
	for _, id := range config.EOS(snap.Config, snap.Generation) {
		e.EOS = append(e.EOS, int32(id))
	}

	prefix, ids, err := ParseDevices(o.Devices)
	if err != nil {
		return nil, err
	}
	backend := o.Backend
	if backend == "" {
		backend = "auto"
	}
	if prefix != "" {
		if backend != "auto" && backend != prefix {
			return nil, fmt.Errorf("--devices names %s devices but --backend is %s", prefix, backend)
		}
		backend = prefix
	}
	if backend == "auto" {
		backend = "cpu"
		if mk, found := Backends["cuda"]; found {
			devs, err := mk(ids, o.DeviceMem, o.Threads)
			if err == nil {
				e.Devices, backend = devs, "cuda"
			} else {
				warn(fmt.Sprintf("backend auto: CUDA is unavailable (%v); using the CPU backend", err))
			}
		} else {
			warn("backend auto: this build has no CUDA backend; using the CPU backend")
		}
	}
	if len(o.DeviceMem) > 1 && len(o.DeviceMem) != len(ids) {
		return nil, fmt.Errorf("--device-mem gives %d sizes for %d devices", len(o.DeviceMem), len(ids))
	}
	if e.Devices == nil {
		mk, found := Backends[backend]
		if !found {
			return nil, fmt.Errorf("--backend %q is not available in this build (have %s)", backend, strings.Join(names(), ", "))
		}
		if e.Devices, err = mk(ids, o.DeviceMem, o.Threads); err != nil {
			return nil, err
		}
	}
	e.Backend = backend
	if o.DebugNonFinite {
		e.trace = &nanTrace{}
		for i, d := range e.Devices {
			e.Devices[i] = e.trace.wrap(d)
		}
	}
	split := o.Split
	if split != nil {
		if err := qwen3.CheckSplit(snap.Config.NumHiddenLayers, len(e.Devices), split); err != nil {
			return nil, fmt.Errorf("--split: %w", err)
		}
	}
	if split == nil {
		if split, err = planSplit(snap, e.Devices, backend, o); err != nil {
			return nil, err
		}
		if len(split) > 1 {
			warn(fmt.Sprintf("split %s chosen by the planner (--split overrides)", memplan.SplitString(split)))
		}
	}
	if e.Model, err = qwen3.Load(snap.Config, qwen3.SetSource{Set: snap.Tensors}, e.Devices, split); err != nil {
		return nil, err
	}
	ok = true
	return e, nil
}

// planSplit asks the memory planner for the best-balanced split that fits the
// devices' budgets (unlimited CPU budgets make it the most even split). The CPU
// backend has no cuBLAS workspace or runtime overhead to plan for.
func planSplit(snap *snapshot.Snapshot, devs []device.Device, backend string, o Options) ([]int, error) {
	if len(devs) == 1 {
		return []int{snap.Config.NumHiddenLayers}, nil
	}
	pm, err := memplan.FromSnapshot(snap)
	if err != nil {
		return nil, err
	}
	opt := memplan.Options{Ctx: o.Ctx, Batch: 1, Chunk: o.Chunk}
	if opt.Ctx == 0 {
		opt.Ctx = min(4096, snap.Config.MaxPositionEmbeddings)
	}
	if o.Chunk == 0 && o.Ctx == 0 {
		opt.Chunk = 512
	}
	if backend != "cpu" {
		// A GPU device's budget is what was free after its context was made,
		// so the runtime overhead is already gone from it; the cuBLAS
		// workspace is not.
		opt.Workspace = memplan.CUBLASWorkspace
	}
	for i, d := range devs {
		total, _ := d.MemInfo()
		opt.Devices = append(opt.Devices, memplan.Device{ID: i, Capacity: total})
	}
	plan, err := memplan.Compute(pm, opt)
	if err != nil {
		return nil, err
	}
	if !plan.Fits {
		// Nothing fits with this chunk's activations. Prefer a split whose
		// weights and caches fit with the smallest step, so the model loads
		// and a smaller --chunk (or a sweep's OOM retry) can still run it.
		opt.Chunk = 1
		if small, err := memplan.Compute(pm, opt); err == nil && small.Fits {
			return small.Split, nil
		}
	}
	return plan.Split, nil
}

func names() []string {
	var out []string
	for k := range Backends {
		out = append(out, k)
	}
	return out
}

// Close frees the model, closes devices that hold resources of their own
// (a GPU context) and closes the snapshot.
func (e *Engine) Close() {
	if e.Model != nil {
		e.Model.Close()
	}
	for _, d := range e.Devices {
		if c, ok := d.(io.Closer); ok {
			c.Close()
		}
	}
	if e.Snapshot != nil {
		e.Snapshot.Close()
	}
}

// IsEOS reports whether id ends generation.
func (e *Engine) IsEOS(id int32) bool {
	for _, x := range e.EOS {
		if x == id {
			return true
		}
	}
	return false
}
