#!/usr/bin/env python3
"""Writes the tiny random HF models that navab-lm's `hf_fixtures` test checks itself against, with
HF transformers' own log-probabilities beside them (f32, eager attention).

One folder per architecture under OUT (default crates/navab-lm/tests/fixtures/hf): config.json,
model.safetensors, tokenizer.json (a word-level tokenizer over the tiny vocabulary, so the folder
loads as a model directory) and reference.json: {"transformers", "torch", "sequences": [{"ids",
"logprobs"}]} where logprobs[i] = log p(ids[i+1] | ids[..=i]). The sequences are longer than the
sliding window (8) wherever the architecture has one, so windowed attention is exercised.

    /work/venv-ref/bin/python scripts/reference/make_hf_fixtures.py [--out DIR] [--only gemma3 ...]
"""
import argparse, json, os, sys

import torch
import transformers
from transformers import AutoConfig, AutoModelForCausalLM
from tokenizers import Tokenizer, models, pre_tokenizers

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hf_logprobs import add_legacy_rope_keys, token_logprobs  # noqa: E402

VOCAB = 128
WINDOW = 8
COMMON = dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=3,
              num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
              rms_norm_eps=1e-6, tie_word_embeddings=False)
# Per architecture: the switches that make it what it is, at values that differ from the defaults
# our reader would fall back to (so a field we fail to read shows up as a mismatch).
ARCHS = {
    "mistral": dict(sliding_window=WINDOW, rope_theta=10000.0),
    "qwen3": dict(head_dim=16, rope_theta=1e6, tie_word_embeddings=True),
    "gemma2": dict(head_dim=8, query_pre_attn_scalar=12, sliding_window=WINDOW,
                   attn_logit_softcapping=5.0, final_logit_softcapping=3.0,
                   hidden_activation="gelu_pytorch_tanh", tie_word_embeddings=True),
    "gemma3_text": dict(head_dim=8, query_pre_attn_scalar=8, sliding_window=WINDOW,
                        layer_types=["sliding_attention", "full_attention", "sliding_attention"],
                        rope_theta=1e6, rope_local_base_freq=10000.0,
                        hidden_activation="gelu_pytorch_tanh", tie_word_embeddings=True),
    "phi3": dict(sliding_window=WINDOW, rope_theta=10000.0, pad_token_id=0,
                 bos_token_id=1, eos_token_id=2),
}
LENGTHS = [5, 13, 24]


def word_level_tokenizer(path):
    vocab = {f"t{i}": i for i in range(VOCAB)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="t0"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.save(path)


def make(arch, out, seed):
    cfg = AutoConfig.for_model(arch, **{**COMMON, **ARCHS[arch]})
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32, attn_implementation="eager")
    with torch.no_grad():
        for param in model.parameters():  # HF's init is tiny; wider weights make a sharper test
            param.normal_(0.0, 0.2)
    model.eval()
    name = arch.removesuffix("_text")
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    model.save_pretrained(d, safe_serialization=True)
    for extra in ("generation_config.json",):
        if os.path.exists(os.path.join(d, extra)):
            os.remove(os.path.join(d, extra))
    add_legacy_rope_keys(os.path.join(d, "config.json"))
    word_level_tokenizer(os.path.join(d, "tokenizer.json"))
    g = torch.Generator().manual_seed(seed + 1)
    seqs = [torch.randint(0, VOCAB, (n,), generator=g).tolist() for n in LENGTHS]
    ref = {"transformers": transformers.__version__, "torch": torch.__version__,
           "sequences": [{"ids": s, "logprobs": token_logprobs(model, s)} for s in seqs]}
    with open(os.path.join(d, "reference.json"), "w") as f:
        json.dump(ref, f)
        f.write("\n")
    print(d, file=sys.stderr)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    p.add_argument("--out", default=os.path.join(root, "crates/navab-lm/tests/fixtures/hf"))
    p.add_argument("--only", nargs="*", default=list(ARCHS))
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    torch.set_num_threads(2)
    for arch in a.only:
        make(arch, a.out, a.seed)


if __name__ == "__main__":
    main()
