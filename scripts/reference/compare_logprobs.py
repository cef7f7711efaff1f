#!/usr/bin/env python3
"""Compares navab-rs per-token log-probabilities (examples/logprobs output: JSON lines
{"text", "ids", "logprobs"}) with HF transformers on the very same token ids.

    compare_logprobs.py --model DIR_OR_GGUF --ours ours.jsonl [--dtype f32] [--attn eager]
    compare_logprobs.py --model DIR --adapter ADAPTER_DIR --ours ours.jsonl   # LoRA loaded by PEFT

A .gguf is loaded with transformers' GGUF support (dequantized). Prints the largest and mean
absolute difference per text and overall (one JSON line at the end).
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hf_logprobs import DTYPES, load_model, token_logprobs  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("--model", required=True)
p.add_argument("--ours", required=True)
p.add_argument("--dtype", choices=sorted(DTYPES), default="f32")
p.add_argument("--attn", choices=["eager", "sdpa"], default="eager")
p.add_argument("--threads", type=int, default=2)
p.add_argument("--adapter", help="a PEFT LoRA folder to load on the model (peft.PeftModel.from_pretrained)")
a = p.parse_args()
torch.set_num_threads(a.threads)
model = load_model(a.model, a.dtype, a.attn)
if a.adapter:
    from peft import PeftModel
    model = PeftModel.from_pretrained(model, a.adapter).eval()
worst, total, n = 0.0, 0.0, 0
with open(a.ours, encoding="utf-8") as f:
    for line in f:
        if not line.strip():
            continue
        rec = json.loads(line)
        ref = torch.tensor(token_logprobs(model, rec["ids"]), dtype=torch.float64)
        ours = torch.tensor(rec["logprobs"], dtype=torch.float64)
        if ours.shape != ref.shape:
            sys.exit(f"{len(rec['logprobs'])} log-probs for {len(rec['ids'])} ids in {rec.get('text', '')[:50]!r}")
        diff = (ours - ref).abs()
        d = diff.max().item() if len(diff) else 0.0
        worst = max(worst, d)
        total += diff.sum().item()
        n += len(diff)
        print(f"{len(rec['ids']):4d} tokens  max |diff| {d:.2e}  sum ours {ours.sum().item():10.4f} "
              f"HF {ref.sum().item():10.4f}  {rec.get('text', '')[:50]!r}")
print(json.dumps({"model": a.model, "adapter": a.adapter, "dtype": a.dtype, "tokens": n, "max_abs_diff": worst,
                  "mean_abs_diff": total / max(n, 1)}))
