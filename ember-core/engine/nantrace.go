package engine

import (
	"fmt"
	"math"
	"regexp"
	"sync"

	"github.com/ember-infer/ember/ember-core/device"
)

// nanTrace finds the first op whose output holds a NaN or an infinity
// (--debug-nonfinite). Each device of the engine is wrapped in a traceDevice
// that, after every op that writes activations, downloads the output and
// scans it; the first non-finite value is recorded with the op, the weight it
// used and the layer. Without the flag no device is wrapped, so the ops cost
// nothing more. The wrapper offers none of the optional fused ops
// (device.QKVProjector …), whose outputs have the bits of the unfused ones,
// so each op is seen on its own.
type nanTrace struct {
	mu      sync.Mutex
	names   map[device.Tensor]string // weight tensor → its checkpoint name
	first   string                   // the first non-finite op, in words; "" while none
	scanErr error                    // a download that failed while tracing
}

// origin is the first non-finite op, in words ("" when none was seen), and
// the download error that stopped the tracing, if one did.
func (t *nanTrace) origin() (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.first, t.scanErr
}

// traceDevice is a device whose ops report to a nanTrace.
type traceDevice struct {
	device.Device
	t     *nanTrace
	layer string // the layer of the last weight this device's ops used
}

func (t *nanTrace) wrap(d device.Device) device.Device {
	return &traceDevice{Device: d, t: t}
}

// Close closes the wrapped device when it has a Close.
func (d *traceDevice) Close() error {
	if c, ok := d.Device.(interface{ Close() error }); ok {
		return c.Close()
	}
	if c, ok := d.Device.(interface{ Close() }); ok {
		c.Close()
	}
	return nil
}

var layerOf = regexp.MustCompile(`^model\.layers\.(\d+)\.`)

func (d *traceDevice) LoadWeight(name string, dt device.DType, data []byte, shape ...int) (device.Tensor, error) {
	w, err := d.Device.LoadWeight(name, dt, data, shape...)
	if err == nil {
		d.t.mu.Lock()
		if d.t.names == nil {
			d.t.names = map[device.Tensor]string{}
		}
		d.t.names[w] = name
		d.t.mu.Unlock()
	}
	return w, err
}

// after checks out, the output of op (which read weight w, or none), once
// the op succeeded and while no earlier op was found non-finite.
func (d *traceDevice) after(err error, op string, w device.Tensor, out device.Tensor) error {
	if err != nil {
		return err
	}
	d.t.mu.Lock()
	name := d.t.names[w]
	done := d.t.first != "" || d.t.scanErr != nil
	d.t.mu.Unlock()
	if name != "" {
		if m := layerOf.FindStringSubmatch(name); m != nil {
			d.layer = "layer " + m[1]
		} else {
			d.layer = "" // embedding, final norm, lm_head: outside the layers
		}
	}
	if done || out.DType() == device.I32 {
		return nil
	}
	i, v, serr := firstNonFinite(d.Device, out)
	if serr != nil {
		d.t.mu.Lock()
		d.t.scanErr = serr
		d.t.mu.Unlock()
		return nil
	}
	if i < 0 {
		return nil
	}
	where := d.layer
	if where == "" {
		where = "outside the decoder layers"
	}
	what := op
	if name != "" {
		what += " with " + name
		if wi, wv, err := firstNonFinite(d.Device, w); err == nil && wi >= 0 {
			what += fmt.Sprintf(" (that weight itself holds %v at element %d)", wv, wi)
		}
	}
	s := fmt.Sprintf("%s, op %s on %s: element %d of its output %v is %v", where, what, d.Name(), i, out.Shape(), v)
	d.t.mu.Lock()
	if d.t.first == "" {
		d.t.first = s
	}
	d.t.mu.Unlock()
	return nil
}

// firstNonFinite downloads t and returns its first NaN or infinite element
// and its index, or -1.
func firstNonFinite(d device.Device, t device.Tensor) (int, float32, error) {
	buf := make([]float32, device.Elems(t.Shape()))
	if err := d.Download(buf, t); err != nil {
		return -1, 0, err
	}
	for i, v := range buf {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return i, v, nil
		}
	}
	return -1, 0, nil
}

func (d *traceDevice) Embedding(out, table, ids device.Tensor) error {
	return d.after(d.Device.Embedding(out, table, ids), "Embedding", table, out)
}

func (d *traceDevice) RMSNorm(out, x, w device.Tensor, eps float32) error {
	return d.after(d.Device.RMSNorm(out, x, w, eps), "RMSNorm", w, out)
}

func (d *traceDevice) HeadRMSNorm(x, w device.Tensor, headDim int, eps float32) error {
	return d.after(d.Device.HeadRMSNorm(x, w, headDim, eps), "HeadRMSNorm", w, x)
}

func (d *traceDevice) MatMul(out, x, w device.Tensor) error {
	return d.after(d.Device.MatMul(out, x, w), "MatMul", w, out)
}

func (d *traceDevice) RoPE(x device.Tensor, headDim int, pos device.Tensor, theta float64) error {
	return d.after(d.Device.RoPE(x, headDim, pos, theta), "RoPE", nil, x)
}

func (d *traceDevice) Attention(out, q, kc, vc device.Tensor, start, heads, kvHeads, headDim int) error {
	return d.after(d.Device.Attention(out, q, kc, vc, start, heads, kvHeads, headDim), "Attention", nil, out)
}

func (d *traceDevice) SiLUMul(out, gate, up device.Tensor) error {
	return d.after(d.Device.SiLUMul(out, gate, up), "SiLUMul", nil, out)
}

func (d *traceDevice) Add(out, a, b device.Tensor) error {
	return d.after(d.Device.Add(out, a, b), "Add", nil, out)
}
