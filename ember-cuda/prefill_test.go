package cuda

import (
	"slices"
	"strings"
	"testing"

	"github.com/ember-infer/ember/ember-core/device"
	"github.com/ember-infer/ember/ember-cuda/fakedriver"
)

func TestMMAPrefillOK(t *testing.T) {
	const a = 1 << 20 // aligned
	for _, tc := range []struct {
		n, hd        int
		dt           device.DType
		q, o, kc, vc uint64
		want         bool
	}{
		{16, 128, device.BF16, a, a, a, a, true},
		{2048, 64, device.F16, a, a, a, a, true},
		{15, 128, device.BF16, a, a, a, a, false}, // under one warp's tile
		{64, 128, device.F32, a, a, a, a, false},  // f32 cache
		{64, 32, device.BF16, a, a, a, a, false},  // no head_dim 32 variant
		{64, 256, device.BF16, a, a, a, a, false},
		{64, 96, device.F16, a, a, a, a, false},
		{64, 128, device.BF16, a + 8, a, a, a, true}, // f32 pairs need 8 bytes
		{64, 128, device.BF16, a + 4, a, a, a, false},
		{64, 128, device.BF16, a, a + 4, a, a, false},
		{64, 128, device.BF16, a, a, a + 8, a, false}, // cp.async needs 16
		{64, 128, device.BF16, a, a, a, a + 8, false},
	} {
		if got := mmaPrefillOK(tc.n, tc.hd, tc.dt, tc.q, tc.o, tc.kc, tc.vc); got != tc.want {
			t.Errorf("mmaPrefillOK(%+v) = %v", tc, got)
		}
	}
}

// Attention sends a chunk of 16 or more queries over a 16-bit cache at
// head_dim 64 or 128 to the tensor-core kernel and everything else to the
// CUDA-core one; AttentionWith follows the path it is given and refuses the
// tensor cores where they cannot run the chunk, in one sentence.
func TestFakePrefillDispatch(t *testing.T) {
	fakeGPUs(t, fakedriver.Options{})
	devs, err := Open([]int{0}, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := devs[0]
	defer d.Close()
	var got []uint64
	d.mu.Lock()
	d.onLaunch = func(o *op) {
		if o.kind == opKernel {
			got = append(got, o.fn)
		}
	}
	d.mu.Unlock()
	m := d.phys.mods
	for _, tc := range []struct {
		n, hd int
		dt    device.DType
		path  PrefillPath
		want  uint64
		err   string
	}{
		{16, 128, device.BF16, prefillAuto, m.mma[device.BF16][1], ""},
		{100, 64, device.F16, prefillAuto, m.mma[device.F16][0], ""},
		{15, 128, device.BF16, prefillAuto, m.attn[1][device.BF16][dplIndex(4)], ""},
		{64, 128, device.F32, prefillAuto, m.attn[1][device.F32][dplIndex(4)], ""},
		{64, 32, device.BF16, prefillAuto, m.attn[1][device.BF16][dplIndex(1)], ""},
		{64, 128, device.BF16, PrefillCUDACores, m.attn[1][device.BF16][dplIndex(4)], ""},
		{64, 128, device.BF16, PrefillTensorCores, m.mma[device.BF16][1], ""},
		{1, 128, device.BF16, PrefillTensorCores, m.attn[0][device.BF16][dplIndex(4)], ""}, // decode is decode
		{8, 128, device.BF16, PrefillTensorCores, 0, "takes at least 16 queries"},
		{64, 128, device.F32, PrefillTensorCores, 0, "not 64 queries over F32 with head_dim 128"},
	} {
		heads, kv := 4, 2
		kc, _ := d.Alloc(tc.dt, 200, kv*tc.hd)
		vc, _ := d.Alloc(tc.dt, 200, kv*tc.hd)
		q, _ := d.Alloc(device.F32, tc.n, heads*tc.hd)
		out, _ := d.Alloc(device.F32, tc.n, heads*tc.hd)
		got = got[:0]
		err := d.AttentionWith(out, q, kc, vc, 7, heads, kv, tc.hd, tc.path)
		if err == nil {
			err = d.Sync()
		}
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%+v: error %v, want one saying %q", tc, err, tc.err)
			}
		case err != nil:
			t.Errorf("%+v: %v", tc, err)
		case tc.want == 0 || !slices.Equal(got, []uint64{tc.want}):
			t.Errorf("%+v: kernels %#x, want %#x", tc, got, tc.want)
		}
		for _, x := range []device.Tensor{kc, vc, q, out} {
			d.Free(x)
		}
	}
}
