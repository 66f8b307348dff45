// Package safetensors reads and writes Hugging Face safetensors files, the format
// Qwen3 checkpoints ship in.
//
// A file is an 8-byte little-endian header length N, N bytes of JSON header mapping
// tensor names to {"dtype", "shape", "data_offsets"} (plus an optional string-to-string
// "__metadata__"), then the data section the offsets point into. Open memory-maps a
// file and validates its header as strictly as the reference implementation: known
// dtypes, non-negative shapes, offsets that hold exactly each shape's bytes and cover
// the data section with no gaps or overlaps. Tensors are zero-copy views of the
// mapping; Float32 and DecodeInto convert F32, F16 and BF16 to float32.
//
// A Set presents a whole snapshot (one file, or shards listed by
// model.safetensors.index.json) as one name → tensor mapping. WriteFunc and Write
// produce files atomically, streaming tensor data so a generator never holds a whole
// model in memory; WriteIndex writes the shard index.
//
// Every error is one sentence naming the file and, where there is one, the tensor.
// Malformed input wraps ErrFormat, a missing tensor ErrNotFound, an unusable dtype
// ErrDType. Nothing in this package panics on bad input.
package safetensors
