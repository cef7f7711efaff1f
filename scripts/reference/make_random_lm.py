#!/usr/bin/env python3
"""Writes an HF-layout decoder (config.json, safetensors, tokenizer.json) with random weights of a
named architecture, for speed measurements where only the shapes matter.

    make_random_lm.py SHAPE OUT_DIR [--tokenizer tokenizer.json]

SHAPE: qwen2.5-0.5b or llama-3.1-8b (their published configs; written with transformers
`from_config`, bf16, on the GPU when there is one) or tiny (2 layers, written in pure Python,
f32, for dry runs on machines without PyTorch). Both navab-rs and the Python reference load the
same directory. Without --tokenizer, a word-level tokenizer of a few tokens is written: enough
to load the model for scoring random token ids (a tokenizer larger than the model's vocabulary,
e.g. Qwen's for the Llama shape, does not load).
"""
import argparse
import json
import os
import random
import shutil
import struct
from array import array

SHAPES = {
    "qwen2.5-0.5b": dict(model_type="qwen2", architectures=["Qwen2ForCausalLM"], vocab_size=151936,
                         hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                         num_attention_heads=14, num_key_value_heads=2,
                         max_position_embeddings=32768, tie_word_embeddings=True,
                         rope_theta=1e6, rms_norm_eps=1e-6, hidden_act="silu"),
    "llama-3.1-8b": dict(model_type="llama", architectures=["LlamaForCausalLM"], vocab_size=128256,
                         hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                         num_attention_heads=32, num_key_value_heads=8,
                         max_position_embeddings=131072, tie_word_embeddings=False,
                         rope_theta=5e5, rms_norm_eps=1e-5, hidden_act="silu"),
    # Qwen2 layout (q/k/v biases, tied embeddings) at a size pure Python writes in seconds.
    "tiny": dict(model_type="qwen2", architectures=["Qwen2ForCausalLM"], vocab_size=151936,
                 hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                 num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                 tie_word_embeddings=True, rope_theta=1e6, rms_norm_eps=1e-6, hidden_act="silu"),
}

MINIMAL_TOKENIZER = {
    "version": "1.0", "truncation": None, "padding": None, "added_tokens": [],
    "normalizer": None, "pre_tokenizer": {"type": "Whitespace"}, "post_processor": None,
    "decoder": None,
    "model": {"type": "WordLevel", "vocab": {"<unk>": 0, "a": 1, "b": 2}, "unk_token": "<unk>"},
}


def with_transformers(cfg, out):
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM
    config = AutoConfig.for_model(**cfg)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(0)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, torch_dtype=torch.bfloat16)
    model.save_pretrained(out, safe_serialization=True)


def pure_python(cfg, out):
    h, i, v = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    heads, kv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = h // heads
    shapes = {"model.embed_tokens.weight": [v, h], "model.norm.weight": [h]}
    for layer in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        shapes.update({
            p + "self_attn.q_proj.weight": [h, h], p + "self_attn.q_proj.bias": [h],
            p + "self_attn.k_proj.weight": [kv * hd, h], p + "self_attn.k_proj.bias": [kv * hd],
            p + "self_attn.v_proj.weight": [kv * hd, h], p + "self_attn.v_proj.bias": [kv * hd],
            p + "self_attn.o_proj.weight": [h, h],
            p + "mlp.gate_proj.weight": [i, h], p + "mlp.up_proj.weight": [i, h],
            p + "mlp.down_proj.weight": [h, i],
            p + "input_layernorm.weight": [h], p + "post_attention_layernorm.weight": [h],
        })
    rng = random.Random(0)
    header, blobs, offset = {}, [], 0
    for name, shape in shapes.items():
        n = 1
        for d in shape:
            n *= d
        if name.endswith("norm.weight"):
            values = array("f", [1.0]) * n
        else:
            # Uniform with std 0.02 (HF's initializer_range): only the shapes matter here.
            a = 0.02 * 3 ** 0.5
            values = array("f", (rng.uniform(-a, a) for _ in range(n)))
        raw = values.tobytes()
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    blob = json.dumps(header).encode()
    blob += b" " * (-len(blob) % 8)
    with open(os.path.join(out, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(blob)) + blob)
        for b in blobs:
            f.write(b)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(dict(cfg, torch_dtype="float32"), f, indent=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("shape", choices=sorted(SHAPES))
    ap.add_argument("out")
    ap.add_argument("--tokenizer", help="a tokenizer.json to copy alongside")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    cfg = SHAPES[args.shape]
    if args.shape == "tiny":
        pure_python(cfg, args.out)
    else:
        with_transformers(cfg, args.out)
    if args.tokenizer:
        shutil.copy(args.tokenizer, os.path.join(args.out, "tokenizer.json"))
    else:
        with open(os.path.join(args.out, "tokenizer.json"), "w") as f:
            json.dump(MINIMAL_TOKENIZER, f)


if __name__ == "__main__":
    main()
