#!/usr/bin/env python3
"""Write an Ember Qwen3 snapshot (config.json + model.safetensors, BF16 or F16
weights, e.g. from `ember synth`) as a GGUF file that llama.cpp's qwen3
architecture loads, for tools/bench-vs-llama.sh.

Needs numpy and llama.cpp's gguf-py on PYTHONPATH (no torch). Matrices keep
their dtype byte for byte; 1-D norm weights are widened to F32 as llama.cpp's
own converter does (exact for BF16 and F16). The tokenizer is llama.cpp's
"none" model with vocab_size dummy tokens: llama-bench draws random token ids
and never tokenizes text.

usage: safetensors-to-gguf.py SNAPSHOT_DIR OUT.gguf
"""
import json
import os
import re
import struct
import sys

import numpy as np

try:
    import gguf
except ImportError:
    sys.exit("safetensors-to-gguf: cannot import gguf; put llama.cpp's gguf-py on PYTHONPATH")

LAYER_NAMES = {
    "input_layernorm": "attn_norm",
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "self_attn.q_norm": "attn_q_norm",
    "self_attn.k_norm": "attn_k_norm",
    "post_attention_layernorm": "ffn_norm",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}


def gguf_name(name):
    if name == "model.embed_tokens.weight":
        return "token_embd.weight"
    if name == "model.norm.weight":
        return "output_norm.weight"
    if name == "lm_head.weight":
        return "output.weight"
    m = re.fullmatch(r"model\.layers\.(\d+)\.(.+)\.weight", name)
    if m and m.group(2) in LAYER_NAMES:
        return f"blk.{m.group(1)}.{LAYER_NAMES[m.group(2)]}.weight"
    sys.exit(f"safetensors-to-gguf: tensor {name!r} is not one of Qwen3's")


def read_safetensors(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
    base = 8 + n
    mm = np.memmap(path, dtype=np.uint8, mode="r")
    for name, info in header.items():
        if name == "__metadata__":
            continue
        lo, hi = info["data_offsets"]
        dt = info["dtype"]
        if dt not in ("BF16", "F16", "F32"):
            sys.exit(f"safetensors-to-gguf: tensor {name!r} is {dt}; want BF16, F16 or F32")
        raw = mm[base + lo: base + hi]
        yield name, dt, info["shape"], raw


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip().splitlines()[-1])
    snap, out = sys.argv[1], sys.argv[2]
    with open(os.path.join(snap, "config.json")) as f:
        cfg = json.load(f)
    if cfg.get("model_type") != "qwen3":
        sys.exit(f"safetensors-to-gguf: {snap}/config.json has model_type {cfg.get('model_type')!r}, want 'qwen3'")

    tensors = list(read_safetensors(os.path.join(snap, "model.safetensors")))
    dtypes = {dt for name, dt, shape, _ in tensors if len(shape) == 2}
    if len(dtypes) != 1:
        sys.exit(f"safetensors-to-gguf: matrices mix dtypes {sorted(dtypes)}; want one")
    mdt = dtypes.pop()

    w = gguf.GGUFWriter(out, "qwen3")
    w.add_name("ember-synth")
    w.add_file_type({"BF16": gguf.LlamaFileType.MOSTLY_BF16, "F16": gguf.LlamaFileType.MOSTLY_F16,
                     "F32": gguf.LlamaFileType.ALL_F32}[mdt])
    w.add_context_length(cfg["max_position_embeddings"])
    w.add_embedding_length(cfg["hidden_size"])
    w.add_block_count(cfg["num_hidden_layers"])
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_head_count(cfg["num_attention_heads"])
    w.add_head_count_kv(cfg["num_key_value_heads"])
    hd = cfg.get("head_dim", cfg["hidden_size"] // cfg["num_attention_heads"])
    w.add_key_length(hd)
    w.add_value_length(hd)
    w.add_rope_freq_base(float(cfg["rope_theta"]))
    w.add_layer_norm_rms_eps(float(cfg["rms_norm_eps"]))
    w.add_vocab_size(cfg["vocab_size"])
    w.add_tokenizer_model("none")

    for name, dt, shape, raw in tensors:
        if name == "lm_head.weight" and cfg.get("tie_word_embeddings"):
            continue
        if dt == "F32":
            arr = raw.view(np.float32).reshape(shape)
            w.add_tensor(gguf_name(name), arr)
            continue
        bits = raw.view(np.uint16).reshape(shape)
        if len(shape) == 1:  # norms: widen exactly to F32
            if dt == "BF16":
                arr = (bits.astype(np.uint32) << 16).view(np.float32)
            else:
                arr = bits.view(np.float16).astype(np.float32)
            w.add_tensor(gguf_name(name), arr)
        elif dt == "BF16":
            w.add_tensor(gguf_name(name), bits, raw_dtype=gguf.GGMLQuantizationType.BF16)
        else:
            w.add_tensor(gguf_name(name), bits.view(np.float16))

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    main()
