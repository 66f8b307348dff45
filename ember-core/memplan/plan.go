package memplan

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Defaults of the per-device fixed costs.
const (
	// DefaultOverhead is the runtime overhead assumed per device when the caller
	// does not measure its own: the CUDA context, the loaded kernel modules and the
	// allocator's slack — 300 MiB, what a CUDA 12 context with cuBLAS loaded takes
	// on an RTX 30-series card.
	DefaultOverhead int64 = 300 << 20
	// CUBLASWorkspace is the cuBLAS workspace each device keeps for its matmuls:
	// 32 MiB, cuBLAS's own default on Ampere and later.
	CUBLASWorkspace int64 = 32 << 20
	// MaxSplitCandidates bounds how many splits an automatic plan may enumerate.
	MaxSplitCandidates = 1_000_000
)

// ErrInput is wrapped by errors about the planner's inputs (a split that does not
// add up, no devices, a non-positive context).
var ErrInput = errors.New("invalid plan input")

// Device is one accelerator the plan may use.
type Device struct {
	// ID is the device index as the runtime numbers it (CUDA_VISIBLE_DEVICES order).
	ID int `json:"id"`
	// Capacity is the memory the plan may use on the device, in bytes.
	Capacity int64 `json:"capacity_bytes"`
}

// Devices returns n devices numbered 0..n-1, each with capacity bytes.
func Devices(n int, capacity int64) []Device {
	ds := make([]Device, n)
	for i := range ds {
		ds[i] = Device{ID: i, Capacity: capacity}
	}
	return ds
}

// Options are a plan's inputs besides the model.
type Options struct {
	// Devices are the devices in pipeline order: the first holds the embedding, the
	// last the final norm and lm_head.
	Devices []Device
	// Ctx is the context length (prompt plus generated tokens) the KV cache and the
	// attention scores are sized for.
	Ctx int
	// Batch is the number of sequences decoded together.
	Batch int
	// PrefixCacheTokens is the positions of prompt prefixes the prefix KV cache
	// may keep (its byte budget, counted per device for the layers the device
	// holds); 0: no prefix cache.
	PrefixCacheTokens int
	// Chunk is the prefill chunk length; 0 means unchunked (the whole prompt at once).
	Chunk int
	// Split gives the number of layers on each device, in order; nil means choose
	// automatically (see Compute).
	Split []int
	// Overhead is the runtime overhead per device in bytes, used as given
	// (DefaultOverhead is the CLI's default).
	Overhead int64
	// Workspace is the cuBLAS workspace per device in bytes, used as given
	// (CUBLASWorkspace is the CLI's default).
	Workspace int64
}

// DevicePlan is one device's share of a plan. All sizes are bytes.
type DevicePlan struct {
	Device     int   `json:"device"`
	FirstLayer int   `json:"first_layer"`
	Layers     int   `json:"layers"`
	Weights    int64 `json:"weights_bytes"`
	KV         int64 `json:"kv_bytes"`
	// PrefixCache is the prefix KV cache's budget on this device.
	PrefixCache int64    `json:"prefix_cache_bytes"`
	Activations int64    `json:"activation_bytes"`
	Buffers     []Buffer `json:"activation_buffers"`
	Workspace   int64    `json:"workspace_bytes"`
	Overhead    int64    `json:"overhead_bytes"`
	Total       int64    `json:"total_bytes"`
	Capacity    int64    `json:"capacity_bytes"`
	// Free is Capacity - Total; negative when the device does not fit.
	Free int64 `json:"free_bytes"`
	Fits bool  `json:"fits"`
	// Shortfall is how many bytes the device lacks (Total - Capacity), 0 when it fits.
	Shortfall int64 `json:"shortfall_bytes"`
	// LMHeadCopy is set when this device holds its own copy of a tied lm_head because
	// the embedding lives on another device.
	LMHeadCopy bool `json:"lm_head_copy"`
}

// Plan is the memory plan of one model over a list of devices.
type Plan struct {
	Model string `json:"model"`
	Ctx   int    `json:"ctx"`
	Batch int    `json:"batch"`
	Chunk int    `json:"chunk"`
	// StepTokens is the positions one prefill step processes (chunk, or ctx when
	// unchunked).
	StepTokens int   `json:"step_tokens"`
	Split      []int `json:"split"`
	// AutoSplit is set when the planner chose Split.
	AutoSplit bool         `json:"auto_split"`
	Devices   []DevicePlan `json:"devices"`
	// Fits is set when every device fits.
	Fits bool `json:"fits"`
	// Warnings are facts worth telling the user that do not stop the plan
	// (a context beyond max_position_embeddings).
	Warnings []string `json:"warnings,omitempty"`
}

// SplitString formats a split as "18+18".
func SplitString(split []int) string {
	parts := make([]string, len(split))
	for i, n := range split {
		parts[i] = strconv.Itoa(n)
	}
	return strings.Join(parts, "+")
}

// MaxTotal returns the largest per-device total of p.
func (p *Plan) MaxTotal() int64 {
	var m int64
	for _, d := range p.Devices {
		m = max(m, d.Total)
	}
	return m
}

// ResidentWeights returns the weights resident over all devices of p.
func (p *Plan) ResidentWeights() int64 {
	var n int64
	for _, d := range p.Devices {
		n += d.Weights
	}
	return n
}

func (o *Options) validate(m *Model) error {
	bad := func(format string, a ...any) error { return fmt.Errorf(format+": %w", append(a, ErrInput)...) }
	switch {
	case len(o.Devices) == 0:
		return bad("no devices to plan for")
	case o.Ctx <= 0:
		return bad("context length %d, want a positive number", o.Ctx)
	case o.Batch <= 0:
		return bad("batch %d, want a positive number", o.Batch)
	case o.PrefixCacheTokens < 0:
		return bad("prefix cache of %d tokens, want 0 or more", o.PrefixCacheTokens)
	case o.Chunk < 0:
		return bad("prefill chunk %d, want 0 (unchunked) or a positive number", o.Chunk)
	case o.Overhead < 0 || o.Workspace < 0:
		return bad("negative overhead or workspace")
	case o.Ctx > MaxCtx:
		return bad("context length %d, more than the planner sizes (at most %d)", o.Ctx, MaxCtx)
	case o.Batch > MaxBatch:
		return bad("batch %d, more than the planner sizes (at most %d)", o.Batch, MaxBatch)
	case len(o.Devices) > m.Layers():
		return bad("%d devices for %s's %d layers: every device needs at least one layer", len(o.Devices), m.Name, m.Layers())
	}
	if _, ok := m.kvChecked(m.Layers(), o.Ctx, o.Batch); !ok {
		return bad("context %d × batch %d: the KV cache would exceed 2^63 bytes", o.Ctx, o.Batch)
	}
	for _, d := range o.Devices {
		if d.Capacity <= 0 {
			return bad("device %d has capacity %d bytes, want a positive size", d.ID, d.Capacity)
		}
	}
	// The sizes are int64 products; past 2^62 bytes they would wrap (a
	// negative KV cache that "fits"). Bound the largest in float64 first.
	c := m.Config
	layers, batch, ctx, step := float64(m.Layers()), float64(o.Batch), float64(o.Ctx), float64(StepTokens(o.Ctx, o.Chunk))
	perPos := 2 * float64(c.KVDim()) * float64(m.KVDTypeBytes)
	kv := layers * (batch*ctx + float64(o.PrefixCacheTokens)) * perPos
	act := batch * ActivationDTypeBytes * (step*float64(c.NumAttentionHeads)*ctx + step*(3*float64(c.IntermediateSize)+6*float64(c.HiddenSize)+2*float64(c.QDim())+2*float64(c.KVDim())) + float64(c.VocabSize))
	if kv+act >= 1<<62 {
		return bad("batch %d at context %d with a %d-token prefix cache needs %s, past the 4 EiB a plan counts", o.Batch, o.Ctx, o.PrefixCacheTokens, formatHuge(kv+act))
	}
	return nil
}

// formatHuge is FormatSize for sizes that may be past int64.
func formatHuge(b float64) string {
	if b < 1<<62 {
		return FormatSize(int64(b))
	}
	return fmt.Sprintf("%.3g EiB", b/(1<<60))
}

func validateSplit(m *Model, split []int, devices int) error {
	if len(split) != devices {
		return fmt.Errorf("split %s has %d parts for %d devices: %w", SplitString(split), len(split), devices, ErrInput)
	}
	sum := 0
	for _, n := range split {
		if n <= 0 {
			return fmt.Errorf("split %s gives a device %d layers, want at least one: %w", SplitString(split), n, ErrInput)
		}
		sum += n
	}
	if sum != m.Layers() {
		return fmt.Errorf("split %s adds up to %d layers but %s has %d: %w", SplitString(split), sum, m.Name, m.Layers(), ErrInput)
	}
	return nil
}

// Compute plans m over o.Devices. With o.Split set it plans that split. Otherwise it
// picks, among the splits that fit every device, the best balanced one: the smallest
// maximum per-device total, ties going to the most even layer counts, then to the
// split with fewer layers on earlier devices. When no split fits, it returns the
// most balanced split by the same order, with Fits false and each device's Shortfall.
func Compute(m *Model, o Options) (*Plan, error) {
	if err := o.validate(m); err != nil {
		return nil, err
	}
	if o.Split != nil {
		if err := validateSplit(m, o.Split, len(o.Devices)); err != nil {
			return nil, err
		}
		return planSplit(m, o, o.Split), nil
	}
	n := len(o.Devices)
	if c := binomial(m.Layers()-1, n-1); c > MaxSplitCandidates {
		return nil, fmt.Errorf("%d devices over %d layers give %d splits to try, more than %d; pass a split: %w",
			n, m.Layers(), c, MaxSplitCandidates, ErrInput)
	}
	var best, bestFit *Plan
	for _, split := range Splits(m.Layers(), n) {
		p := planSplit(m, o, split)
		if better(p, best) {
			best = p
		}
		if p.Fits && better(p, bestFit) {
			bestFit = p
		}
	}
	if bestFit != nil {
		best = bestFit
	}
	best.AutoSplit = true
	return best, nil
}

// better reports whether plan a is more balanced than b (nil b loses).
func better(a, b *Plan) bool {
	if b == nil {
		return true
	}
	if ma, mb := a.MaxTotal(), b.MaxTotal(); ma != mb {
		return ma < mb
	}
	if sa, sb := spread(a.Split), spread(b.Split); sa != sb {
		return sa < sb
	}
	for i := range a.Split {
		if a.Split[i] != b.Split[i] {
			return a.Split[i] < b.Split[i]
		}
	}
	return false
}

// spread is the sum of squared layer counts: smallest for the most even split.
func spread(split []int) int {
	s := 0
	for _, n := range split {
		s += n * n
	}
	return s
}

// Splits returns every way to give each of devices devices at least one of layers
// layers, in lexicographic order (fewest layers on the first device first).
func Splits(layers, devices int) [][]int {
	var out [][]int
	cur := make([]int, 0, devices)
	var rec func(left, devs int)
	rec = func(left, devs int) {
		if devs == 1 {
			out = append(out, append(append([]int(nil), cur...), left))
			return
		}
		for k := 1; k <= left-(devs-1); k++ {
			cur = append(cur, k)
			rec(left-k, devs-1)
			cur = cur[:len(cur)-1]
		}
	}
	if devices >= 1 && layers >= devices {
		rec(layers, devices)
	}
	return out
}

func binomial(n, k int) int {
	if k < 0 || k > n {
		return 0
	}
	r := 1
	for i := 1; i <= k; i++ {
		r = r * (n - k + i) / i
		if r > MaxSplitCandidates*10 {
			return r
		}
	}
	return r
}

// planSplit computes the plan of a valid split.
func planSplit(m *Model, o Options, split []int) *Plan {
	p := &Plan{
		Model: m.Name, Ctx: o.Ctx, Batch: o.Batch, Chunk: o.Chunk,
		StepTokens: StepTokens(o.Ctx, o.Chunk),
		Split:      append([]int(nil), split...), Fits: true,
	}
	if o.Ctx > m.Config.MaxPositionEmbeddings {
		p.Warnings = append(p.Warnings, fmt.Sprintf("context %d exceeds max_position_embeddings %d", o.Ctx, m.Config.MaxPositionEmbeddings))
	}
	first := 0
	last := len(split) - 1
	for i, n := range split {
		dev := o.Devices[i]
		role := Role{First: i == 0, Last: i == last}
		d := DevicePlan{Device: dev.ID, FirstLayer: first, Layers: n, Capacity: dev.Capacity,
			Workspace: o.Workspace, Overhead: o.Overhead}
		for l := first; l < first+n; l++ {
			d.Weights += m.LayerBytes[l]
		}
		if role.First {
			d.Weights += m.EmbedBytes
		}
		if role.Last {
			d.Weights += m.FinalNormBytes
			// A tied lm_head reads the embedding; only a last device without the
			// embedding needs its own copy.
			if !m.Tied() || !role.First {
				d.Weights += m.LMHeadBytes
				d.LMHeadCopy = m.Tied()
			}
		}
		d.KV = m.KVBytes(n, o.Ctx, o.Batch)
		d.Buffers = Activations(m.Config, o.Batch, o.Ctx, o.Chunk, role)
		d.Activations = SumBytes(d.Buffers)
		d.PrefixCache = m.KVBytes(n, o.PrefixCacheTokens, 1)
		d.Total = d.Weights + d.KV + d.PrefixCache + d.Activations + d.Workspace + d.Overhead
		d.Free = d.Capacity - d.Total
		d.Fits = d.Free >= 0
		if !d.Fits {
			d.Shortfall = -d.Free
			p.Fits = false
		}
		p.Devices = append(p.Devices, d)
		first += n
	}
	return p
}
