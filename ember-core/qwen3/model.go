// Package qwen3 is the Qwen3 dense model, written once over the device interface.
//
// A Model holds the weights of a layer split over one or more devices: the
// embedding on the first, final norm and lm_head on the last, each layer on the
// device the split gives it. A Session (session.go) owns the KV caches and runs
// prefill — whole, chunked, or chunked with the devices overlapping — and decode.
package qwen3

import (
	"fmt"

	"github.com/ember-infer/ember/ember-core/config"
	"github.com/ember-infer/ember/ember-core/device"
	"github.com/ember-infer/ember/ember-core/snapshot"
)

// Layer is one decoder block's weights, all on Dev.
type Layer struct {
	Dev       device.Device
	InputNorm device.Tensor // [hidden]
	Q, K, V   device.Tensor // [heads*hd, hidden], [kv*hd, hidden], [kv*hd, hidden]
	QNorm     device.Tensor // [hd]
	KNorm     device.Tensor // [hd]
	O         device.Tensor // [hidden, heads*hd]
	PostNorm  device.Tensor // [hidden]
	Gate, Up  device.Tensor // [inter, hidden]
	Down      device.Tensor // [hidden, inter]

	fused fusedOps // what Dev offers of the fused ops
}

// fusedOps are the optional ops of a layer's device (nil where it offers
// none), asserted once when the layer is placed: a type assertion to an
// interface in the step itself fills the runtime's per-call-site cache at a
// random call, a heap allocation in the middle of decoding.
type fusedOps struct {
	qkv   device.QKVProjector
	glu   device.SwiGLUProjector
	norm  device.ResidualNormer
	qkr   device.QKRoPEAppender
	batch device.BatchAttender
}

func fusedOf(d device.Device) fusedOps {
	var f fusedOps
	f.qkv, _ = d.(device.QKVProjector)
	f.glu, _ = d.(device.SwiGLUProjector)
	f.norm, _ = d.(device.ResidualNormer)
	f.qkr, _ = d.(device.QKRoPEAppender)
	f.batch, _ = d.(device.BatchAttender)
	return f
}

// Model is a loaded Qwen3 model split across devices.
type Model struct {
	Config  *config.Config
	Devices []device.Device
	Split   []int // layers per device, in order

	Embed  device.Tensor // [vocab, hidden] on Devices[0]
	Layers []*Layer
	Norm   device.Tensor // [hidden] on the last device
	LMHead device.Tensor // [vocab, hidden] on the last device (the embedding itself when tied on one device)

	eps   float32
	owned []device.Tensor
}

// WeightSource yields a checkpoint's tensors by safetensors name, as raw
// little-endian bytes.
type WeightSource interface {
	Weight(name string) (dt device.DType, shape []int, data []byte, err error)
}

// Load places the model's weights on devs following split (layers per device).
// When a device's budget cannot hold its part, Load fails with the device's
// *device.OutOfMemoryError and frees everything it had placed.
func Load(cfg *config.Config, src WeightSource, devs []device.Device, split []int) (*Model, error) {
	if err := CheckSplit(cfg.NumHiddenLayers, len(devs), split); err != nil {
		return nil, err
	}
	m := &Model{Config: cfg, Devices: devs, Split: append([]int(nil), split...), eps: float32(cfg.RMSNormEps)}
	if err := m.load(src); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// CheckSplit validates a layer split: one positive count per device, summing to layers.
func CheckSplit(layers, devices int, split []int) error {
	if len(split) != devices {
		return fmt.Errorf("split %v has %d parts but there are %d devices", split, len(split), devices)
	}
	sum := 0
	for _, n := range split {
		if n < 1 {
			return fmt.Errorf("split %v gives a device %d layers; each device needs at least one", split, n)
		}
		sum += n
	}
	if sum != layers {
		return fmt.Errorf("split %v covers %d layers but the model has %d", split, sum, layers)
	}
	return nil
}

// EvenSplit divides layers over n devices as evenly as possible, earlier devices
// taking the remainder.
func EvenSplit(layers, n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = layers / n
		if i < layers%n {
			s[i]++
		}
	}
	return s
}

func (m *Model) place(d device.Device, src WeightSource, spec snapshot.Spec) (device.Tensor, error) {
	dt, shape, data, err := src.Weight(spec.Name)
	if err != nil {
		return nil, err
	}
	if !sameShape(shape, spec.Shape) {
		return nil, fmt.Errorf("tensor %q has shape %v, want %v", spec.Name, shape, spec.Shape)
	}
	t, err := d.LoadWeight(spec.Name, dt, data, shape...)
	if err != nil {
		return nil, err
	}
	m.owned = append(m.owned, t)
	return t, nil
}

// fields binds the tensor names of snapshot.LayerSpecs to the Layer's fields.
func (l *Layer) fields() map[string]*device.Tensor {
	return map[string]*device.Tensor{
		snapshot.InputLayerNorm: &l.InputNorm,
		snapshot.QProj:          &l.Q, snapshot.KProj: &l.K, snapshot.VProj: &l.V,
		snapshot.QNorm: &l.QNorm, snapshot.KNorm: &l.KNorm,
		snapshot.OProj:                  &l.O,
		snapshot.PostAttentionLayerNorm: &l.PostNorm,
		snapshot.GateProj:               &l.Gate, snapshot.UpProj: &l.Up, snapshot.DownProj: &l.Down,
	}
}

func (m *Model) load(src WeightSource) error {
	c := m.Config
	hidden, vocab := int64(c.HiddenSize), int64(c.VocabSize)
	first, last := m.Devices[0], m.Devices[len(m.Devices)-1]
	embed := snapshot.Spec{Name: snapshot.EmbedTokens, Shape: []int64{vocab, hidden}, Layer: snapshot.NoLayer}
	var err error
	if m.Embed, err = m.place(first, src, embed); err != nil {
		return err
	}
	for k, d := range m.Devices {
		for range m.Split[k] {
			i := len(m.Layers)
			l := &Layer{Dev: d, fused: fusedOf(d)}
			fields := l.fields()
			for _, spec := range snapshot.LayerSpecs(c, i) {
				_, suffix, _ := snapshot.ParseLayerName(spec.Name)
				if *fields[suffix], err = m.place(d, src, spec); err != nil {
					return err
				}
			}
			m.Layers = append(m.Layers, l)
		}
	}
	norm := snapshot.Spec{Name: snapshot.FinalNorm, Shape: []int64{hidden}, Layer: snapshot.NoLayer}
	if m.Norm, err = m.place(last, src, norm); err != nil {
		return err
	}
	switch {
	case !c.TieWordEmbeddings:
		m.LMHead, err = m.place(last, src, snapshot.LMHeadSpec(c))
	case len(m.Devices) == 1:
		m.LMHead = m.Embed
	default:
		// Tied, but the embedding lives on another device: the last device needs
		// its own copy, which the planner counts too.
		m.LMHead, err = m.place(last, src, embed)
	}
	return err
}

// Close frees every weight the model placed. It is safe to call twice.
func (m *Model) Close() {
	for _, t := range m.owned {
		t.Device().Free(t)
	}
	m.owned = nil
}

// forwardLayer runs one decoder block over the n rows of w.x (positions
// start..start+n-1) on the layer's device, appending to its KV cache.
//
// Reads like the math: x += O·attn(rope(norm(Q·rms(x))), rope(norm(K·rms(x))), V·rms(x));
// x += Down·(silu(Gate·rms(x)) ⊙ Up·rms(x)).
func (m *Model) forwardLayer(l *Layer, w *rows, kv *layerCache, start int) error {
	d := l.Dev
	return firstErr(
		stage(d, device.StageRMSNorm),
		d.RMSNorm(w.h, w.x, l.InputNorm, m.eps),

		stage(d, device.StageAttention),
		qkv(d, l.fused.qkv, w.q, w.k, w.v, w.h, l.Q, l.K, l.V),
		m.appendAttend(d, l, w, kv, start),
		d.MatMul(w.h, w.attn, l.O),

		stage(d, device.StageRMSNorm),
		addNorm(d, l.fused.norm, w.h, w.x, w.h, l.PostNorm, m.eps),

		stage(d, device.StageFFN),
		swiGLU(d, l.fused.glu, w.gate, w.up, w.h, l.Gate, l.Up),
		d.MatMul(w.h, w.gate, l.Down),
		d.Add(w.x, w.x, w.h),
	)
}

// appendAttend normalizes and rotates the chunk's q and k, appends its k and
// v to its cache at start and attends over it. On a batched decode step
// (kv.rows) every row is a sequence of its own: row i appends to and attends
// over kv.rows[i] at w.rowPos[i], all rows in one BatchAttention where the
// device offers it.
func (m *Model) appendAttend(d device.Device, l *Layer, w *rows, kv *layerCache, start int) error {
	c := m.Config
	heads, kvHeads, hd, theta := c.NumAttentionHeads, c.NumKeyValueHeads, c.HeadDim, c.RopeTheta
	if kv.rows == nil {
		if f := l.fused.qkr; f != nil {
			return firstErr(
				f.QKRoPEAppend(w.q, w.k, w.v, l.QNorm, l.KNorm, w.pos, kv.k, kv.v, hd, m.eps, theta, start),
				d.Attention(w.attn, w.q, kv.k, kv.v, start, heads, kvHeads, hd),
			)
		}
	}
	if err := firstErr(
		d.HeadRMSNorm(w.q, l.QNorm, hd, m.eps),
		d.HeadRMSNorm(w.k, l.KNorm, hd, m.eps),
		d.RoPE(w.q, hd, w.pos, theta),
		d.RoPE(w.k, hd, w.pos, theta),
	); err != nil {
		return err
	}
	if kv.rows == nil {
		return firstErr(
			d.KVAppend(kv.k, kv.v, w.k, w.v, start),
			d.Attention(w.attn, w.q, kv.k, kv.v, start, heads, kvHeads, hd),
		)
	}
	if err := w.rowViews(d); err != nil {
		return err
	}
	ba := l.fused.batch
	batched := ba != nil
	for i, seq := range kv.rows {
		p := w.rowPos[i]
		if err := d.KVAppend(seq.k, seq.v, w.kRow[i], w.vRow[i], p); err != nil {
			return err
		}
		if !batched {
			if err := d.Attention(w.attnRow[i], w.qRow[i], seq.k, seq.v, p, heads, kvHeads, hd); err != nil {
				return err
			}
		}
	}
	if !batched {
		return nil
	}
	w.kcRow, w.vcRow = w.kcRow[:0], w.vcRow[:0]
	for _, seq := range kv.rows {
		w.kcRow, w.vcRow = append(w.kcRow, seq.k), append(w.vcRow, seq.v)
	}
	return ba.BatchAttention(w.attn, w.q, w.pos, w.kcRow, w.vcRow, w.rowPos, heads, kvHeads, hd)
}

// addNorm is x += r; out = RMSNorm(x)·w, fused where the device can.
func addNorm(d device.Device, f device.ResidualNormer, out, x, r, w device.Tensor, eps float32) error {
	if f != nil {
		return f.AddRMSNorm(out, x, r, w, eps)
	}
	return firstErr(d.Add(x, x, r), d.RMSNorm(out, x, w, eps))
}

// qkv is q, k, v = x·Qᵀ, x·Kᵀ, x·Vᵀ, in one op where the device can.
func qkv(d device.Device, f device.QKVProjector, q, k, v, x, wq, wk, wv device.Tensor) error {
	if f != nil {
		return f.MatMulQKV(q, k, v, x, wq, wk, wv)
	}
	return firstErr(d.MatMul(q, x, wq), d.MatMul(k, x, wk), d.MatMul(v, x, wv))
}

// swiGLU is gate = silu(x·Gateᵀ) ⊙ (x·Upᵀ), in one op where the device can
// (which may use up, the unfused path's buffer, as its scratch).
func swiGLU(d device.Device, f device.SwiGLUProjector, gate, up, x, wg, wu device.Tensor) error {
	if f != nil {
		return f.MatMulSwiGLU(gate, x, wg, wu, up)
	}
	return firstErr(d.MatMul(gate, x, wg), d.MatMul(up, x, wu), d.SiLUMul(gate, gate, up))
}

// firstErr returns the first non-nil error. The ops above are evaluated in order
// as arguments; on a device error later ops see the same bad state and fail
// too, so reporting the first is what matters.
func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

func stage(d device.Device, s device.Stage) error {
	d.SetStage(s)
	return nil
}

func sameShape(a []int, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if int64(a[i]) != b[i] {
			return false
		}
	}
	return true
}
