#!/usr/bin/env python3
"""Per-token log-probabilities from HF transformers, as the reference for navab-rs.

For each text: the token ids (as the HF tokenizer encodes the text, without special tokens unless
--add-special-tokens), the log-probability of every token i >= 1 given tokens < i, their sum, and
the perplexity exp(-sum / count).

    hf_logprobs.py --model models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf \
        --text "The capital of France is Paris."
    hf_logprobs.py --model DIR --texts texts.jsonl --out ref.json
    hf_logprobs.py --model FILE.gguf --save-dense models/smollm2-dense   # then also scores, if texts given

--model is an HF-layout directory (config.json, model.safetensors, tokenizer.json) or a .gguf file,
which transformers dequantizes (gguf_file=; for llama it undoes llama.cpp's Q/K row permutation).
--texts is JSONL with {"id", "text"} per line; a record that also has "ids" is scored on those ids
as given (no tokenization), which is how to compare against ids produced elsewhere.

--save-dense DIR writes the dequantized model as an HF-layout dir (config.json, model.safetensors in
f32, tokenizer files via the transformers tokenizer's save_pretrained, which for a GGUF is the
tokenizer rebuilt from the GGUF), so navab-rs and HF can load the very same dense weights.

Output: one JSON document (stdout, or --out):
    {"model", "dtype", "attn", "add_special_tokens", "torch", "transformers",
     "texts": [{"id", "text", "ids", "logprobs", "sum", "count", "perplexity"}]}
"""
import argparse
import json
import math
import os
import sys
import time

import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerFast

DTYPES = {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}


def load_model(path, dtype="f32", attn="eager"):
    """An HF causal LM from an HF-layout dir or a .gguf file (dequantized)."""
    kw = dict(dtype=DTYPES[dtype], attn_implementation=attn)
    if path.endswith(".gguf"):
        d, f = os.path.split(os.path.abspath(path))
        model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, **kw)
    else:
        model = AutoModelForCausalLM.from_pretrained(path, **kw)
    model.eval()
    return model


def load_tokenizer(model_path, tokenizer_path=None):
    """The tokenizer given by --tokenizer (a tokenizer.json or a dir), else the model's own
    (from the HF dir, or rebuilt by transformers from the GGUF's metadata)."""
    path = tokenizer_path or model_path
    if path.endswith(".json"):
        return PreTrainedTokenizerFast(tokenizer_file=path)
    if path.endswith(".gguf"):
        d, f = os.path.split(os.path.abspath(path))
        return AutoTokenizer.from_pretrained(d, gguf_file=f)
    return AutoTokenizer.from_pretrained(path)


@torch.no_grad()
def token_logprobs(model, ids):
    """log p(ids[i] | ids[:i]) for i >= 1, as a list of floats (computed in f32)."""
    if len(ids) < 2:
        return []
    x = torch.tensor([ids], dtype=torch.long)
    logits = model(input_ids=x).logits[0, :-1].float()
    lp = torch.log_softmax(logits, dim=-1)
    return lp.gather(1, x[0, 1:].unsqueeze(1)).squeeze(1).tolist()


def score(model, tok, records, add_special_tokens=False):
    out = []
    for rec in records:
        ids = rec.get("ids")
        if ids is None:
            ids = tok(rec["text"], add_special_tokens=add_special_tokens)["input_ids"]
        lps = token_logprobs(model, ids)
        s = float(sum(lps))
        out.append({"id": rec.get("id"), "text": rec.get("text"), "ids": list(ids), "logprobs": lps,
                    "sum": s, "count": len(lps),
                    "perplexity": math.exp(-s / len(lps)) if lps else None})
    return out


def add_legacy_rope_keys(config_path):
    """transformers 5 writes RoPE settings only under "rope_parameters"; readers written against
    transformers 4 configs (navab-rs's and candle's among them) look for a top-level "rope_theta"
    and silently fall back to 10000 when it is missing. Writes both forms."""
    with open(config_path, encoding="utf-8") as f:
        cfg = json.load(f)
    rope = cfg.get("rope_parameters") or {}
    if "rope_theta" in cfg or "rope_theta" not in rope:
        return
    cfg["rope_theta"] = rope["rope_theta"]
    if rope.get("rope_type", "default") != "default" and "rope_scaling" not in cfg:
        cfg["rope_scaling"] = {k: v for k, v in rope.items() if k != "rope_theta"}
    with open(config_path, "w", encoding="utf-8") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")


def save_dense(model, tok, out_dir):
    """The (dequantized) model as an HF-layout dir in f32, with its tokenizer."""
    os.makedirs(out_dir, exist_ok=True)
    model = model.to(torch.float32)
    if getattr(model, "hf_quantizer", None) is not None:
        # A GGUF loaded on CPU is dequantized into plain tensors, but transformers still tags the model
        # as "quantized with gguf" and refuses to save it; drop the tag once every weight is dense.
        bad = [n for n, t in model.state_dict().items() if not (type(t) is torch.Tensor and t.is_floating_point())]
        if bad:
            raise SystemExit(f"--save-dense: weights still quantized (not dequantized by transformers): {bad[:5]}")
        model.hf_quantizer = None
        model.is_quantized = False
        model.quantization_method = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
    model.save_pretrained(out_dir, safe_serialization=True)
    add_legacy_rope_keys(os.path.join(out_dir, "config.json"))
    tok.save_pretrained(out_dir)
    os.chmod(os.path.join(out_dir, "model.safetensors"), 0o644)
    return sorted(os.listdir(out_dir))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--model", required=True, help="HF-layout dir or .gguf file")
    p.add_argument("--tokenizer", help="tokenizer.json or tokenizer dir (default: the model's)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--texts", help='JSONL, one {"id", "text"[, "ids"]} per line')
    src.add_argument("--text", action="append", help="a text to score (repeatable)")
    p.add_argument("--dtype", choices=sorted(DTYPES), default="f32")
    p.add_argument("--attn", choices=["eager", "sdpa"], default="eager",
                   help="attention implementation (eager: plain matmul+softmax, for exact f32 comparison)")
    p.add_argument("--add-special-tokens", action="store_true",
                   help="let the tokenizer add its special tokens (e.g. BOS); default: text tokens only")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--save-dense", metavar="DIR", help="write the dequantized model as an f32 HF-layout dir")
    p.add_argument("--out", help="write the JSON here instead of stdout")
    a = p.parse_args()
    if not (a.texts or a.text or a.save_dense):
        p.error("give --texts, --text or --save-dense")

    torch.set_num_threads(a.threads)
    t0 = time.time()
    model = load_model(a.model, "f32" if a.save_dense else a.dtype, a.attn)
    tok = load_tokenizer(a.model, a.tokenizer)
    print(f"loaded {a.model} in {time.time() - t0:.1f}s ({model.config.model_type}, "
          f"{sum(t.numel() for t in model.parameters()) / 1e6:.1f}M params)", file=sys.stderr)
    if a.save_dense:
        files = save_dense(model, tok, a.save_dense)
        print(f"saved dense f32 model to {a.save_dense}: {', '.join(files)}", file=sys.stderr)
        if a.dtype != "f32":
            model = model.to(DTYPES[a.dtype])
    if not (a.texts or a.text):
        return

    if a.texts:
        with open(a.texts, encoding="utf-8") as f:
            records = [json.loads(line) for line in f if line.strip()]
    else:
        records = [{"id": str(i), "text": t} for i, t in enumerate(a.text)]
    results = score(model, tok, records, a.add_special_tokens)
    doc = {"model": a.model, "dtype": a.dtype, "attn": a.attn, "add_special_tokens": a.add_special_tokens,
           "torch": torch.__version__, "transformers": transformers.__version__, "texts": results}
    text = json.dumps(doc, ensure_ascii=False)
    if a.out:
        with open(a.out, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    else:
        print(text)
    for r in results:
        ppl = f"{r['perplexity']:.2f}" if r["perplexity"] is not None else "n/a"
        print(f"{r['count'] + 1:4d} tokens  sum {r['sum']:9.3f}  ppl {ppl:>9}  {(r['text'] or '')[:60]!r}",
              file=sys.stderr)


if __name__ == "__main__":
    main()
