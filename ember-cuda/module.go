package cuda

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"embed"
	"fmt"
	"path"
	"sort"
	"strings"
	"unsafe"

	"github.com/ember-infer/ember/ember-core/device"
)

// kernelFS holds the kernels compiled by `make kernels`, one op family per
// file: the PTX (nvcc -ptx -arch=compute_80) and, beside it, a compressed
// fatbin of that PTX assembled by ptxas for sm_80, 86, 89 and 90. A context
// loads the fatbin, whose SASS the driver picks for the GPU at hand (sm_80's
// also runs on sm_87); where it holds none (a newer GPU, the emulator) or
// EMBER_CUDA_JIT=1 asks, the driver JIT-compiles the PTX instead.
//
//go:embed kernels/*.ptx kernels/*.fatbin
var kernelFS embed.FS

// storage names the kernels' storage-type suffixes, indexed by device.DType.
var storage = [...]string{device.F32: "f32", device.F16: "f16", device.BF16: "bf16"}

// dplVariants are the dims-per-lane instantiations of the attention kernels
// (head_dim up to 32, 64, 128, 256).
var dplVariants = [...]int{1, 2, 4, 8}

// kernelNames lists, per PTX file, every kernel the Go side launches. A test
// checks it against the PTX both ways.
func kernelNames() map[string][]string {
	per := func(prefix string, dts ...device.DType) []string {
		var out []string
		for _, dt := range dts {
			out = append(out, prefix+"_"+storage[dt])
		}
		return out
	}
	floats := []device.DType{device.F32, device.BF16, device.F16}
	var attn []string
	for _, dt := range floats {
		for _, d := range dplVariants {
			attn = append(attn, attnDecodeName(dt, d), attnPrefillName(dt, d), attnDecodeRowsName(dt, d))
		}
	}
	return map[string][]string{
		"attention":   attn,
		"elementwise": {"add_f32", "silu_mul_f32", "convert_f32_bf16", "convert_f32_f16"},
		"embedding":   per("embedding", floats...),
		"gemv": append(per("gemv", floats...), "gemv16_bf16", "gemv16_f16", "gemv16x3_bf16", "gemv16x3_f16",
			"gemv16_glu_bf16", "gemv16_glu_f16", "gemv16w_bf16", "gemv16w_f16", "gemv16x3w_bf16", "gemv16x3w_f16",
			"gemv16_gluw_bf16", "gemv16_gluw_f16"),
		"kvcache":  per("kv_append", floats...),
		"random":   per("fill_uniform", floats...),
		"rmsnorm":  append(append(per("rmsnorm", floats...), per("add_rmsnorm", floats...)...), per("head_rmsnorm", floats...)...),
		"rope":     append([]string{"rope_neox_f32"}, qkNames()...),
		"sampling": {"argmax_rows_f32", "topk_rows_f32", "sample_sorted_f32", "logsumexp_rows_f32"},

		// prefill attention on tensor cores (prefill.go)
		"attention_mma": mmaPrefillNames(),
	}
}

// qkName is the fused q/k norm, RoPE and KV append kernel for norm weights
// of type w and caches of type kv.
func qkName(w, kv device.DType) string {
	return "qk_rope_append_w" + storage[w] + "_kv" + storage[kv]
}

func qkNames() []string {
	var out []string
	for _, w := range []device.DType{device.F32, device.BF16, device.F16} {
		for _, kv := range []device.DType{device.F32, device.BF16, device.F16} {
			out = append(out, qkName(w, kv))
		}
	}
	return out
}

func attnDecodeName(dt device.DType, dpl int) string {
	return fmt.Sprintf("attn_decode_%s_d%d", storage[dt], dpl)
}

func attnDecodeRowsName(dt device.DType, dpl int) string {
	return fmt.Sprintf("attn_decode_rows_%s_d%d", storage[dt], dpl)
}

func attnPrefillName(dt device.DType, dpl int) string {
	return fmt.Sprintf("attn_prefill_%s_d%d", storage[dt], dpl)
}

// ptxEntries returns the names of the .entry functions in a PTX text.
func ptxEntries(ptx string) []string {
	var out []string
	for _, line := range strings.Split(ptx, "\n") {
		line = strings.TrimSpace(line)
		rest, ok := strings.CutPrefix(line, ".visible .entry ")
		if !ok {
			rest, ok = strings.CutPrefix(line, ".entry ")
		}
		if !ok {
			continue
		}
		if i := strings.IndexByte(rest, '('); i >= 0 {
			rest = rest[:i]
		}
		out = append(out, strings.TrimSpace(rest))
	}
	sort.Strings(out)
	return out
}

// ptxFile returns the embedded PTX of one op family, e.g. "rmsnorm".
func ptxFile(family string) ([]byte, error) {
	return kernelFS.ReadFile(path.Join("kernels", family+".ptx"))
}

// fatbinFile returns the embedded SASS fatbin of one op family.
func fatbinFile(family string) ([]byte, error) {
	return kernelFS.ReadFile(path.Join("kernels", family+".fatbin"))
}

// sassUnusable reports whether loading a fatbin failed only because it holds
// no code this GPU and driver can run, so that the PTX is the way.
func sassUnusable(r int) bool { return r == errNoBinaryForGPU || r == errInvalidImage }

// Kernel images, as Device.KernelImage reports them.
const (
	ImageSASS = "SASS"    // every module from the fatbins (ptxas 11.8)
	ImagePTX  = "PTX JIT" // every module JIT-compiled by the driver
	ImageMix  = "SASS and PTX JIT"
)

// family is a kernel family the per-step ops launch by dtype (family_<storage
// of dt>), looked up in modules.hot by index: a decode step issues a few
// hundred launches, and a string-keyed map lookup for each cost about a tenth
// of the step's host time.
type family uint8

const (
	famEmbedding family = iota
	famRMSNorm
	famAddRMSNorm
	famHeadRMSNorm
	famGEMV
	famGEMV16
	famGEMV16W
	famGEMV16x3
	famGEMV16x3W
	famGEMV16GLU
	famGEMV16GLUW
	famConvertF32
	famKVAppend
	famFillUniform
	numFamilies
)

var familyNames = [numFamilies]string{
	famEmbedding: "embedding", famRMSNorm: "rmsnorm", famAddRMSNorm: "add_rmsnorm", famHeadRMSNorm: "head_rmsnorm",
	famGEMV: "gemv", famGEMV16: "gemv16", famGEMV16W: "gemv16w", famGEMV16x3: "gemv16x3", famGEMV16x3W: "gemv16x3w",
	famGEMV16GLU: "gemv16_glu", famGEMV16GLUW: "gemv16_gluw", famConvertF32: "convert_f32", famKVAppend: "kv_append",
	famFillUniform: "fill_uniform",
}

func (f family) String() string { return familyNames[f] }

// modules is the kernels loaded into one context.
type modules struct {
	mods []C.CUmodule
	fn   map[string]C.CUfunction
	// typed finds foo_<storage> by "foo" and dtype, and attn the attention
	// kernels by [decode, prefill, batched decode][dtype][dims-per-lane
	// variant], so that issuing an op builds no kernel name.
	typed map[string]*[len(storage)]uint64
	hot   [numFamilies][len(storage)]uint64 // typed's entries for the families
	attn  [3][len(storage)][len(dplVariants)]uint64
	qk    [len(storage)][len(storage)]uint64 // qk_rope_append by [norm weight][cache] dtype
	// attn_prefill_mma by [cache dtype][head_dim variant]
	mma [len(storage)][len(mmaHeadDims)]uint64
	// sass and jit count the modules loaded from the fatbins and from PTX.
	sass, jit int
}

// image says where the loaded modules' code came from.
func (m *modules) image() string {
	switch {
	case m.jit == 0:
		return ImageSASS
	case m.sass == 0:
		return ImagePTX
	}
	return ImageMix
}

// index fills typed and attn from fn.
func (m *modules) index() {
	m.typed = map[string]*[len(storage)]uint64{}
	for name, f := range m.fn {
		for dt, suf := range storage {
			if prefix, ok := strings.CutSuffix(name, "_"+suf); ok && suf != "" {
				t := m.typed[prefix]
				if t == nil {
					t = new([len(storage)]uint64)
					m.typed[prefix] = t
				}
				t[dt] = uint64(uintptrOf(f))
			}
		}
	}
	for f, name := range familyNames {
		if t := m.typed[name]; t != nil {
			m.hot[f] = *t
		}
	}
	for dt, suf := range storage {
		if suf == "" {
			continue
		}
		for i, dpl := range dplVariants {
			m.attn[0][dt][i] = m.kernel(attnDecodeName(device.DType(dt), dpl))
			m.attn[1][dt][i] = m.kernel(attnPrefillName(device.DType(dt), dpl))
			m.attn[2][dt][i] = m.kernel(attnDecodeRowsName(device.DType(dt), dpl))
		}
		for kv, kvs := range storage {
			if kvs != "" {
				m.qk[dt][kv] = m.kernel(qkName(device.DType(dt), device.DType(kv)))
			}
		}
		for i, hd := range mmaHeadDims {
			if device.DType(dt) != device.F32 {
				m.mma[dt][i] = m.kernel(mmaPrefillName(device.DType(dt), hd))
			}
		}
	}
}

// hotDT returns kernel f_<storage of dt>, 0 when there is none.
func (m *modules) hotDT(f family, dt device.DType) uint64 {
	if int(dt) < len(storage) {
		return m.hot[f][dt]
	}
	return 0
}

// kernelDT returns kernel family_<storage of dt>, 0 when there is none.
func (m *modules) kernelDT(family string, dt device.DType) uint64 {
	if t := m.typed[family]; t != nil && int(dt) < len(t) {
		return t[dt]
	}
	return 0
}

// loadModules loads every op family into ctx, from its fatbin's SASS where
// the GPU has some (unless jit) and from its PTX otherwise, and looks up every
// kernel.
func loadModules(ctx C.CUcontext, jit bool) (*modules, error) {
	m := &modules{fn: map[string]C.CUfunction{}}
	names := kernelNames()
	families := make([]string, 0, len(names))
	for f := range names {
		families = append(families, f)
	}
	sort.Strings(families)
	for _, fam := range families {
		mod, fromSASS, err := loadModule(ctx, fam, jit)
		if err != nil {
			m.unload(ctx)
			return nil, err
		}
		if fromSASS {
			m.sass++
		} else {
			m.jit++
		}
		m.mods = append(m.mods, mod)
		for _, name := range names[fam] {
			cname := C.CString(name)
			var f C.CUfunction
			r := C.ember_module_function(ctx, &f, mod, cname)
			C.free(unsafe.Pointer(cname))
			if err := check("cuModuleGetFunction("+name+")", r); err != nil {
				m.unload(ctx)
				return nil, err
			}
			m.fn[name] = f
		}
	}
	m.index()
	return m, nil
}

// loadModule loads one op family: the fatbin first (unless jit), then the PTX
// where the fatbin holds no code for this GPU.
func loadModule(ctx C.CUcontext, fam string, jit bool) (mod C.CUmodule, fromSASS bool, err error) {
	if !jit {
		bin, err := fatbinFile(fam)
		if err != nil {
			return nil, false, fmt.Errorf("kernels %s: %w", fam, err)
		}
		image := C.CBytes(bin)
		r := C.ember_module_load(ctx, &mod, image)
		C.free(image)
		if r == 0 {
			return mod, true, nil
		}
		if !sassUnusable(int(r)) {
			return nil, false, check("cuModuleLoadData("+fam+".fatbin)", r)
		}
	}
	ptx, err := ptxFile(fam)
	if err != nil {
		return nil, false, fmt.Errorf("kernels %s: %w", fam, err)
	}
	image := C.CBytes(append(ptx, 0))
	r := C.ember_module_load(ctx, &mod, image)
	C.free(image)
	if err := check("cuModuleLoadData("+fam+".ptx)", r); err != nil {
		if ptxUnusable(int(r)) {
			// The driver cannot compile PTX ISA 7.8 at all: CUDA is
			// unavailable here, and --backend auto moves on.
			return nil, false, unavailable("the CUDA driver (%s) cannot compile Ember's kernels (%v)", DriverVersion(), err)
		}
		return nil, false, err
	}
	return mod, false, nil
}

func (m *modules) unload(ctx C.CUcontext) {
	for _, mod := range m.mods {
		C.ember_module_unload(ctx, mod)
	}
	m.mods = nil
}

// kernel returns a loaded kernel by name (0 for a name not in kernelNames,
// which TestKernelNames rules out; launching 0 fails with an error).
func (m *modules) kernel(name string) uint64 {
	return uint64(uintptrOf(m.fn[name]))
}

func uintptrOf(f C.CUfunction) uintptr { return uintptr(unsafe.Pointer(f)) }
