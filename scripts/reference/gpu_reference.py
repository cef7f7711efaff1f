#!/usr/bin/env python3
"""What users would run instead of navab-rs, timed on the same machine, one JSON line per figure.

    gpu_reference.py embed --model MINILM_DIR --corpus bbc-news.jsonl [--limit N]
    gpu_reference.py score --model LM_DIR [--model LM_DIR ...] --seq 128 --batches 8,32,128

embed: sentence-transformers `encode` (fp32 and fp16, batch 256, max_seq_length 256) on the
articles (the "text" field) and on their blank-line separated paragraphs.
score: HF transformers full-sequence log-probabilities (sdpa attention, bf16) on random token
ids, the same work as `examples/bench --synthetic-seq`. Models with random weights from
make_random_lm.py: speed does not depend on the values.
Needs torch, transformers (and sentence-transformers for `embed`); runs on CUDA when present.
"""
import argparse
import json
import re
import time


def emit(**kw):
    print(json.dumps(kw), flush=True)


def embed(args, torch, dev, sync):
    from sentence_transformers import SentenceTransformer
    docs = [json.loads(line) for line in open(args.corpus, encoding="utf-8") if line.strip()]
    if args.limit:
        docs = docs[: args.limit]
    articles = [d["text"] for d in docs]
    paragraphs = [p.strip() for d in docs for p in re.split(r"\n\s*\n", d["text"]) if p.strip()]
    for dtype in ("fp32", "fp16"):
        if dtype == "fp16" and dev == "cpu":
            continue
        m = SentenceTransformer(args.model, device=dev)
        m.max_seq_length = 256
        if dtype == "fp16":
            m = m.half()
        for corpus, texts in (("articles", articles), ("paragraphs", paragraphs)):
            m.encode(texts[:512], batch_size=args.batch)  # warm-up
            sync()
            t = time.perf_counter()
            m.encode(texts, batch_size=args.batch, normalize_embeddings=True)
            sync()
            dt = time.perf_counter() - t
            emit(bench="embed", tool="sentence-transformers", device=dev, dtype=dtype,
                 corpus=corpus, n=len(texts), batch=args.batch, seconds=round(dt, 3),
                 docs_per_s=round(len(texts) / dt, 1))
        del m
        if dev == "cuda":
            torch.cuda.empty_cache()


def score(args, torch, dev, sync):
    from transformers import AutoModelForCausalLM
    for path in args.model:
        model = AutoModelForCausalLM.from_pretrained(
            path, torch_dtype=torch.bfloat16, attn_implementation="sdpa").to(dev).eval()
        vocab = model.config.vocab_size
        for bs in [int(b) for b in args.batches.split(",")]:
            ids = torch.randint(0, vocab, (bs, args.seq), device=dev)
            mask = torch.ones_like(ids)

            def step():
                with torch.no_grad():
                    logits = model(input_ids=ids, attention_mask=mask).logits
                    lp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
                    return lp.gather(-1, ids[:, 1:, None]).squeeze(-1).cpu()

            step()
            sync()
            t = time.perf_counter()
            for _ in range(args.repeats):
                step()
            sync()
            dt = (time.perf_counter() - t) / args.repeats
            emit(bench="score", tool="hf-transformers-sdpa", device=dev, dtype="bf16",
                 model=path.rstrip("/").split("/")[-1], seq=args.seq, batch=bs,
                 seconds=round(dt, 4), tokens_per_s=round(bs * args.seq / dt))
        del model
        if dev == "cuda":
            torch.cuda.empty_cache()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=["embed", "score"])
    ap.add_argument("--model", action="append", required=True)
    ap.add_argument("--corpus")
    ap.add_argument("--limit", type=int)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--batches", default="8,32,128")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    import torch
    torch.backends.cuda.matmul.allow_tf32 = True
    dev = "cuda" if torch.cuda.is_available() else "cpu"

    def sync():
        if dev == "cuda":
            torch.cuda.synchronize()

    if args.what == "embed":
        args.model = args.model[0]
        embed(args, torch, dev, sync)
    else:
        score(args, torch, dev, sync)


if __name__ == "__main__":
    main()
