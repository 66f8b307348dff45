package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/ember-infer/ember/ember-core/hub"
	"github.com/ember-infer/ember/ember-core/memplan"
	"github.com/ember-infer/ember/ember-core/snapshot"
)

// Defaults of the plan flags.
const (
	planDefaultGPUMem = "12GiB" // the reference box's per-GPU ceiling
	planDefaultCtx    = 4096
	planDefaultChunk  = 512
)

func planCommand() *cli.Command {
	return &cli.Command{
		Name:  "plan",
		Usage: "show per-GPU memory for a model, context, batch, prefill chunk and layer split",
		UsageText: `ember plan --model MODEL [flags]
ember plan --all-presets [flags]

Examples:
  ember plan --all-presets --num-gpus 2 --gpu-mem 12GiB
  ember plan --model Qwen/Qwen3-8B --num-gpus 2 --gpu-mem 12GiB --ctx 4096 --chunk-len 512
  ember plan -m ~/hf/Qwen3-4B --devices 0,1 --gpu-mem 12GiB,10GiB --split 20,16 --json
  ember plan -m Qwen/Qwen3-8B --devices 0,1 --gpu-mem free`,
		Description: `For every device: weights resident (its layers; the embedding on the first; the
final norm and lm_head on the last, a tied lm_head copied there when the embedding
lives elsewhere), KV cache, activation buffers of one prefill step (attention scores
are heads × chunk × ctx, or heads × ctx × ctx with --chunk-len 0), the cuBLAS workspace
(32 MiB) and the runtime overhead (--overhead), their total, the free memory and
whether it fits. Without --split the most balanced split that fits is chosen; when
none fits, the most balanced one is shown with each device's shortfall.

MODEL is a snapshot directory, a models--Org--Name cache directory or an Org/Name id
found in the Hugging Face cache ($HUGGINGFACE_HUB_CACHE, $HF_HUB_CACHE, $HF_HOME/hub,
~/.cache/huggingface/hub). When no snapshot is found but MODEL names a built-in preset
(ember presets), the preset is used and stderr says so. Nothing is downloaded.
docs/memory.md has every formula and the JSON fields.`,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "model", Aliases: []string{"m"}, EnvVars: []string{hub.EnvModelPath},
				Usage: "snapshot dir, models--Org--Name cache dir, Org/Name id or preset name"},
			&cli.BoolFlag{Name: "all-presets", Usage: "plan every built-in preset (ember presets)"},
			&cli.BoolFlag{Name: "detail", Usage: "also list each device's activation buffers"},
		}, planFlags()...),
		Action: planAction,
	}
}

// planFlags are the flags plan and inspect share.
func planFlags() []cli.Flag {
	return []cli.Flag{
		&cli.IntFlag{Name: "num-gpus", Usage: "number of GPUs, numbered from 0", DefaultText: "1, or as many as --devices, --gpu-mem or --split list"},
		&cli.StringFlag{Name: "devices", Aliases: []string{"gpus"}, Usage: "GPU ids in pipeline order, e.g. 0,1 (--gpus, as in profile and milestone); a single number N given as --gpus is the old spelling of --num-gpus N"},
		&cli.StringFlag{Name: "gpu-mem", Value: planDefaultGPUMem, Usage: "memory per GPU, one size for all or one per GPU (12GiB,10GiB; units KiB MiB GiB KB MB GB or bytes), or free: what NVML reports free now"},
		&cli.IntFlag{Name: "ctx", Value: planDefaultCtx, Usage: "context length the KV cache and attention scores are sized for"},
		&cli.IntFlag{Name: "batch", Value: 1, Usage: "sequences decoded together"},
		&cli.IntFlag{Name: "prefix-cache", Usage: "token positions the prefix KV cache may keep (counted per device for its layers; shown in KV)"},
		&cli.IntFlag{Name: "chunk-len", Aliases: []string{"chunk"}, Value: planDefaultChunk, Usage: "prefill chunk length; 0 = unchunked (scores heads × ctx × ctx); --chunk is the old spelling"},
		&cli.StringFlag{Name: "split", Value: "auto", Usage: "layers per GPU, e.g. 18,18 or 18+18; auto picks the most balanced split that fits"},
		&cli.StringFlag{Name: "overhead", Value: "300MiB", Usage: "runtime overhead per GPU (CUDA context, modules, allocator slack)"},
		&cli.BoolFlag{Name: "json", Usage: "print JSON instead of tables"},
	}
}

// planSettings are the parsed shared flags.
type planSettings struct {
	devices  []memplan.Device
	ctx      int
	batch    int
	prefix   int // prefix-cache tokens
	chunk    int
	split    []int // nil = auto
	overhead int64
}

func (s planSettings) options(split []int) memplan.Options {
	return memplan.Options{Devices: s.devices, Ctx: s.ctx, Batch: s.batch, Chunk: s.chunk, PrefixCacheTokens: s.prefix,
		Split: split, Overhead: s.overhead, Workspace: memplan.CUBLASWorkspace}
}

// parseInts reads a flag's list of non-negative integers, separated by
// commas (or + in a split such as 18+18).
func parseInts(flag, s string) ([]int, error) {
	var out []int
	for _, part := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '+' }) {
		n, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil || n < 0 {
			return nil, fmt.Errorf("--%s %q: want non-negative integers separated by commas", flag, s)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--%s %q: want non-negative integers separated by commas", flag, s)
	}
	return out, nil
}

// freeMemory returns the memory free now on GPUs ids; the CUDA backend
// (cudabackend.go) sets it to NVML's answer.
var freeMemory = func(ids []int) ([]int64, error) {
	return nil, errors.New("this build has no CUDA backend to ask for free memory")
}

// planGPUs reads --devices (alias --gpus, a list as in profile and milestone)
// and --num-gpus. `--gpus N`, one number, was plan's and inspect's count of
// GPUs before --gpus meant a device list everywhere; scripts rely on it, so it
// still counts, with a note on stderr.
func planGPUs(c *cli.Context) (list string, count int, err error) {
	count = c.Int("num-gpus")
	if c.IsSet("num-gpus") && count <= 0 {
		return "", 0, fmt.Errorf("--num-gpus %d: want at least 1", count)
	}
	if !c.IsSet("devices") {
		return "", count, nil
	}
	list = strings.TrimSpace(c.String("devices"))
	if n, err := strconv.Atoi(list); err == nil && gpusSpelled(c) {
		if c.IsSet("num-gpus") && count != n {
			return "", 0, fmt.Errorf("--gpus %d (the old spelling of --num-gpus) disagrees with --num-gpus %d", n, count)
		}
		note(c, fmt.Sprintf("--gpus %d reads as --num-gpus %d (its old spelling); --gpus 0,1 would name the GPUs", n, n))
		if n <= 0 {
			return "", 0, fmt.Errorf("--gpus %d: want at least 1 GPU", n)
		}
		return "", n, nil
	}
	return list, count, nil
}

// gpusSpelled reports whether the command line said --gpus (not --devices).
func gpusSpelled(c *cli.Context) bool {
	for _, a := range invocation(c) {
		if a == "--gpus" || a == "-gpus" || strings.HasPrefix(a, "--gpus=") || strings.HasPrefix(a, "-gpus=") {
			return true
		}
	}
	return false
}

// readPlanSettings parses the shared flags into devices and options.
func readPlanSettings(c *cli.Context) (planSettings, error) {
	var s planSettings
	var mems []int64
	var err error
	free := strings.EqualFold(strings.TrimSpace(c.String("gpu-mem")), "free")
	if !free {
		if mems, err = memplan.ParseSizes(c.String("gpu-mem")); err != nil {
			return s, fmt.Errorf("--gpu-mem: %w", err)
		}
	}
	for _, m := range mems {
		if m <= 0 {
			return s, fmt.Errorf("--gpu-mem %q: every GPU needs a positive size", c.String("gpu-mem"))
		}
	}
	if o, err := memplan.ParseSize(c.String("overhead")); err != nil {
		return s, fmt.Errorf("--overhead: %w", err)
	} else {
		s.overhead = o
	}
	if sp := c.String("split"); sp != "" && !strings.EqualFold(sp, "auto") {
		if s.split, err = parseInts("split", sp); err != nil {
			return s, err
		}
	}
	list, count, err := planGPUs(c)
	if err != nil {
		return s, err
	}
	var ids []int
	switch {
	case list != "":
		if ids, err = parseInts("devices", list); err != nil {
			return s, err
		}
		seen := map[int]bool{}
		for _, id := range ids {
			if seen[id] {
				return s, fmt.Errorf("--devices %q names GPU %d twice", list, id)
			}
			seen[id] = true
		}
		if count > 0 && count != len(ids) {
			return s, fmt.Errorf("--num-gpus %d disagrees with --devices %q", count, list)
		}
	default:
		n := 1
		switch {
		case count != 0:
			n = count
		case len(mems) > 1:
			n = len(mems)
		case s.split != nil:
			n = len(s.split)
		}
		if n <= 0 {
			return s, fmt.Errorf("--num-gpus %d: want at least 1", n)
		}
		for i := 0; i < n; i++ {
			ids = append(ids, i)
		}
	}
	if free {
		if mems, err = freeMemory(ids); err != nil {
			return s, fmt.Errorf("--gpu-mem free: %w", err)
		}
	}
	switch {
	case len(mems) == 1:
		for len(mems) < len(ids) {
			mems = append(mems, mems[0])
		}
	case len(mems) != len(ids):
		return s, fmt.Errorf("--gpu-mem %q gives %d sizes for %d GPUs", c.String("gpu-mem"), len(mems), len(ids))
	}
	for i, id := range ids {
		s.devices = append(s.devices, memplan.Device{ID: id, Capacity: mems[i]})
	}
	s.ctx, s.batch, s.chunk = c.Int("ctx"), c.Int("batch"), c.Int("chunk-len")
	switch {
	case s.ctx <= 0:
		return s, fmt.Errorf("--ctx %d: want a positive context length", s.ctx)
	case s.batch <= 0:
		return s, fmt.Errorf("--batch %d: want a positive batch", s.batch)
	case s.chunk < 0:
		return s, fmt.Errorf("--chunk-len %d: want 0 (unchunked) or a positive chunk length", s.chunk)
	}
	if s.prefix = c.Int("prefix-cache"); s.prefix < 0 {
		return s, fmt.Errorf("--prefix-cache %d: want 0 or more token positions", s.prefix)
	}
	if s.split != nil && len(s.split) != len(s.devices) {
		return s, fmt.Errorf("--split %s has %d parts for %d GPUs", c.String("split"), len(s.split), len(s.devices))
	}
	return s, nil
}

// planModel is a model ready to plan, and where it came from.
type planModel struct {
	model    *memplan.Model
	resolved *hub.Resolved      // nil for a preset
	snap     *snapshot.Snapshot // nil for a preset; closed by the caller
}

func (l *planModel) close() {
	if l.snap != nil {
		l.snap.Close()
	}
}

// loadPlanModel resolves arg to a local snapshot, or falls back to a preset of that name
// (saying so on stderr). A preset name also finds the preset's Hugging Face id in the
// cache: --model Qwen3-8B uses a downloaded Qwen/Qwen3-8B.
func loadPlanModel(arg string, stderr io.Writer) (*planModel, error) {
	r, err := hub.Resolve(arg, hub.OSEnv())
	var nf *hub.NotFoundError
	if errors.As(err, &nf) {
		p, ok := memplan.LookupPreset(arg)
		if !ok {
			return nil, fmt.Errorf("%w, and no built-in preset has that name (ember presets lists them)", err)
		}
		checked := nf.Checked
		if p.RepoID != "" && p.RepoID != arg {
			r, err = hub.Resolve(p.RepoID, hub.OSEnv())
			if errors.As(err, &nf) {
				checked = append(checked, nf.Checked...)
			}
		}
		if err != nil {
			if !errors.As(err, &nf) {
				return nil, err
			}
			fmt.Fprintf(stderr, "ember: no local snapshot of %q (checked %s); using the built-in preset %s\n",
				arg, strings.Join(checked, ", "), p.Name)
			return &planModel{model: p.Model()}, nil
		}
	} else if err != nil {
		return nil, err
	}
	snap, err := snapshot.Open(r.Dir)
	if err != nil {
		return nil, err
	}
	m, err := memplan.FromSnapshot(snap)
	if err != nil {
		snap.Close()
		return nil, err
	}
	m.Name = modelDisplayName(r)
	return &planModel{model: m, resolved: &r, snap: snap}, nil
}

// modelDisplayName labels a resolved snapshot: its repository id when known (also for a
// snapshots/<hash> directory inside a cache), else the directory's name.
func modelDisplayName(r hub.Resolved) string {
	if r.RepoID != "" {
		return r.RepoID
	}
	if filepath.Base(filepath.Dir(r.Dir)) == "snapshots" {
		if id, ok := hub.RepoIDFromCacheDir(filepath.Base(filepath.Dir(filepath.Dir(r.Dir)))); ok {
			return id
		}
	}
	return filepath.Base(r.Dir)
}

// planModelRow is one model's plan as printed, in tables and in JSON.
type planModelRow struct {
	Model  string `json:"model"`
	Source string `json:"source"` // "preset" or "snapshot"
	Path   string `json:"path,omitempty"`

	Layers       int  `json:"layers"`
	Tied         bool `json:"tied"`
	StoresLMHead bool `json:"stores_lm_head"`

	WeightsDiskBytes     int64                `json:"weights_disk_bytes"`
	WeightsDiskGiB       twoDecimals          `json:"weights_disk_gib"`
	WeightsResidentBytes int64                `json:"weights_resident_bytes"`
	KVMiB2048            twoDecimals          `json:"kv_mib_2048"`
	KVMiB4096            twoDecimals          `json:"kv_mib_4096"`
	Split                []int                `json:"split"`
	AutoSplit            bool                 `json:"auto_split"`
	Fits                 bool                 `json:"fits"`
	Devices              []memplan.DevicePlan `json:"devices"`
	Warnings             []string             `json:"warnings,omitempty"`
}

// twoDecimals is a number that JSON-encodes with exactly two decimals (1.40, 224.00).
type twoDecimals float64

// MarshalJSON writes f with two decimals.
func (f twoDecimals) MarshalJSON() ([]byte, error) {
	return []byte(strconv.FormatFloat(float64(f), 'f', 2, 64)), nil
}

// planDoc is plan's JSON document.
type planDoc struct {
	Ctx            int              `json:"ctx"`
	Batch          int              `json:"batch"`
	Chunk          int              `json:"chunk"`
	StepTokens     int              `json:"step_tokens"`
	Devices        []memplan.Device `json:"devices"`
	OverheadBytes  int64            `json:"overhead_bytes"`
	WorkspaceBytes int64            `json:"workspace_bytes"`
	Models         []planModelRow   `json:"models"`
}

// planRow plans m with s and returns its row.
func planRow(m *memplan.Model, s planSettings) (planModelRow, error) {
	p, err := memplan.Compute(m, s.options(s.split))
	if err != nil {
		return planModelRow{}, err
	}
	row := planModelRow{
		Model: m.Name, Source: "preset", Layers: m.Layers(), Tied: m.Tied(), StoresLMHead: m.StoresLMHead,
		WeightsDiskBytes: m.DiskBytes, WeightsDiskGiB: twoDecimals(roundTo2(memplan.GiBOf(m.DiskBytes))),
		WeightsResidentBytes: p.ResidentWeights(),
		KVMiB2048:            twoDecimals(roundTo2(memplan.MiBOf(m.KVPerRequest(2048)))),
		KVMiB4096:            twoDecimals(roundTo2(memplan.MiBOf(m.KVPerRequest(4096)))),
		Split:                p.Split, AutoSplit: p.AutoSplit, Fits: p.Fits, Warnings: p.Warnings,
	}
	if dir, ok := strings.CutPrefix(m.Source, "snapshot "); ok {
		row.Source, row.Path = "snapshot", dir
	}
	for _, d := range p.Devices {
		row.Devices = append(row.Devices, d)
	}
	return row, nil
}

func roundTo2(v float64) float64 {
	return float64(int64(v*100+0.5)) / 100
}

func planAction(c *cli.Context) error {
	if c.Args().Len() > 0 {
		return fmt.Errorf("plan takes no arguments (got %q); name the model with --model, before any other argument", c.Args().First())
	}
	s, err := readPlanSettings(c)
	if err != nil {
		return err
	}
	var models []*memplan.Model
	model := c.String("model")
	switch {
	case c.Bool("all-presets"):
		// MODEL_PATH in the environment does not conflict with --all-presets.
		if model != "" && model != os.Getenv(hub.EnvModelPath) {
			return fmt.Errorf("--model and --all-presets exclude each other")
		}
		for _, p := range memplan.Presets() {
			if p.Seed {
				models = append(models, p.Model())
			}
		}
	case model == "":
		return fmt.Errorf("no model: pass --model (or set %s) or --all-presets", hub.EnvModelPath)
	default:
		l, err := loadPlanModel(model, c.App.ErrWriter)
		if err != nil {
			return err
		}
		defer l.close()
		models = append(models, l.model)
	}
	doc := planDoc{Ctx: s.ctx, Batch: s.batch, Chunk: s.chunk, StepTokens: memplan.StepTokens(s.ctx, s.chunk),
		Devices: s.devices, OverheadBytes: s.overhead, WorkspaceBytes: memplan.CUBLASWorkspace}
	for _, m := range models {
		row, err := planRow(m, s)
		if err != nil {
			return err
		}
		doc.Models = append(doc.Models, row)
	}
	out := c.App.Writer
	if c.Bool("json") {
		return writePlanJSON(out, doc)
	}
	for _, r := range doc.Models {
		for _, w := range r.Warnings {
			fmt.Fprintf(c.App.ErrWriter, "ember: %s: %s\n", r.Model, w)
		}
	}
	writePlanTables(out, doc, c.Bool("detail"))
	return nil
}

func writePlanJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// planSettingsLine describes the plan's inputs in one line.
func planSettingsLine(d planDoc) string {
	chunk := fmt.Sprintf("chunk %d", d.Chunk)
	if d.StepTokens == d.Ctx && (d.Chunk == 0 || d.Chunk >= d.Ctx) {
		chunk = "unchunked prefill"
	}
	var gpus []string
	for _, dev := range d.Devices {
		gpus = append(gpus, fmt.Sprintf("GPU%d %s", dev.ID, memplan.FormatSize(dev.Capacity)))
	}
	return fmt.Sprintf("ctx %d, batch %d, %s; %s; per GPU: overhead %s, cuBLAS workspace %s",
		d.Ctx, d.Batch, chunk, strings.Join(gpus, ", "), memplan.FormatSize(d.OverheadBytes), memplan.FormatSize(d.WorkspaceBytes))
}

// planHeader is the header of the plan table.
const planHeader = "MODEL\tDISK\tKV/REQ @2048 @4096\tSPLIT\tFITS\tGPU\tLAYERS\tWEIGHTS\tKV\tACTIVATIONS\tWS+OVERHEAD\tTOTAL\tCAPACITY\tFREE"

// planRowLines renders one model's lines of the plan table: the first names the
// model, one line per device.
func planRowLines(r planModelRow) []string {
	var lines []string
	for i, d := range r.Devices {
		head := "\t\t\t\t\t"
		if i == 0 {
			fits := "yes"
			if !r.Fits {
				fits = "no"
			}
			split := memplan.SplitString(r.Split)
			if r.AutoSplit {
				split += " (auto)"
			}
			head = fmt.Sprintf("%s\t%.2f GiB\t%s / %s MiB\t%s\t%s\t", r.Model, float64(r.WeightsDiskGiB),
				mibString(float64(r.KVMiB2048)), mibString(float64(r.KVMiB4096)), split, fits)
		}
		lines = append(lines, head+fmt.Sprintf("%d\t%d-%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s",
			d.Device, d.FirstLayer, d.FirstLayer+d.Layers-1,
			memplan.FormatSize(d.Weights), kvCell(d), memplan.FormatSize(d.Activations),
			memplan.FormatSize(d.Workspace+d.Overhead), memplan.FormatSize(d.Total),
			memplan.FormatSize(d.Capacity), memplan.FormatSize(d.Free)))
	}
	return lines
}

func mibString(v float64) string {
	if v == float64(int64(v)) {
		return strconv.FormatInt(int64(v), 10)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

// writePlanTables prints the settings line, the table and a note per model that
// does not fit.
func writePlanTables(w io.Writer, d planDoc, detail bool) {
	fmt.Fprintln(w, planSettingsLine(d))
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, planHeader)
	for _, r := range d.Models {
		for _, l := range planRowLines(r) {
			fmt.Fprintln(tw, l)
		}
	}
	tw.Flush()
	for _, r := range d.Models {
		if r.Fits {
			continue
		}
		var short []string
		for _, dev := range r.Devices {
			if dev.Shortfall > 0 {
				short = append(short, fmt.Sprintf("%s on GPU%d", memplan.FormatSize(dev.Shortfall), dev.Device))
			}
		}
		what := "split " + memplan.SplitString(r.Split)
		if r.AutoSplit {
			what = "no split fits; the most balanced, " + memplan.SplitString(r.Split) + ","
		}
		fmt.Fprintf(w, "\n%s: %s is short by %s.\n", r.Model, what, strings.Join(short, " and "))
	}
	if detail {
		for _, r := range d.Models {
			writePlanBuffers(w, r)
		}
	}
}

// writePlanBuffers lists each device's activation buffers.
func writePlanBuffers(w io.Writer, r planModelRow) {
	for _, d := range r.Devices {
		fmt.Fprintf(w, "\n%s GPU%d activation buffers (f32 unless noted):\n", r.Model, d.Device)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "BUFFER\tDIMS\tBYTES\tHOLDS")
		for _, b := range d.Buffers {
			dims := make([]string, len(b.Dims))
			for i, x := range b.Dims {
				dims[i] = strconv.FormatInt(x, 10)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", b.Name, strings.Join(dims, "×"), memplan.FormatSize(b.Bytes), b.Doc)
		}
		tw.Flush()
	}
}

// kvCell is the KV column: the sessions' caches, plus the prefix cache's
// budget when there is one.
func kvCell(d memplan.DevicePlan) string {
	if d.PrefixCache == 0 {
		return memplan.FormatSize(d.KV)
	}
	return memplan.FormatSize(d.KV) + " + " + memplan.FormatSize(d.PrefixCache) + " prefix"
}
