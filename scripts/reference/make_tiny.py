#!/usr/bin/env python3
"""Writes a tiny random-weight HF model (llama or qwen2) around a real tokenizer.json, with a
fixed torch seed, so that navab-rs and HF transformers load the very same files.

    make_tiny.py OUT_DIR --arch llama|qwen2 --tokenizer path/to/tokenizer.json
"""
import argparse, json, os, shutil, sys, torch
from transformers import AutoConfig, AutoModelForCausalLM

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hf_logprobs import add_legacy_rope_keys  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("out")
p.add_argument("--arch", choices=["llama", "qwen2"], required=True)
p.add_argument("--tokenizer", required=True)
p.add_argument("--seed", type=int, default=0)
a = p.parse_args()
vocab = len(json.load(open(a.tokenizer))["model"]["vocab"]) + 64
cfg = AutoConfig.for_model(a.arch, vocab_size=vocab, hidden_size=64, intermediate_size=128,
                           num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                           max_position_embeddings=2048, rms_norm_eps=1e-6,
                           rope_theta=10000.0 if a.arch == "llama" else 1e6, tie_word_embeddings=False)
torch.manual_seed(a.seed)
model = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)
with torch.no_grad():
    for param in model.parameters():  # HF's init is tiny; wider weights make a sharper test
        param.normal_(0.0, 0.2)
model.save_pretrained(a.out, safe_serialization=True)
add_legacy_rope_keys(f"{a.out}/config.json")  # top-level rope_theta for navab-rs
shutil.copy(a.tokenizer, f"{a.out}/tokenizer.json")
print(a.out)
