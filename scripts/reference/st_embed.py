"""Embeds a JSONL corpus with sentence-transformers, as the reference for navab-embed.

Writes PREFIX.f32 (little-endian f32, row-major) + PREFIX.json like
`cargo run --release -p navab-embed --example embed_corpus`, and prints docs/s.

    .venv-ref/bin/python scripts/reference/st_embed.py --corpus ../shared/data/bbc-news.jsonl \
        --model models/all-MiniLM-L6-v2 --out /tmp/st/articles [--paragraphs] [--limit N] [--dtype bf16]
    .venv-ref/bin/python scripts/reference/st_embed.py --compare /tmp/st/articles /tmp/ours/articles
"""
import argparse
import json
import sys
import time

import numpy as np


def read_corpus(path, paragraphs, limit, field="text"):
    ids, labels, texts = [], [], []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f):
            if not line.strip():
                continue
            obj = json.loads(line)
            doc_id = obj.get("id", f"line{n + 1}")
            parts = [p.strip() for p in obj[field].split("\n\n") if p.strip()] if paragraphs else [obj[field]]
            for p, text in enumerate(parts):
                ids.append(f"{doc_id}#p{p}" if paragraphs else doc_id)
                labels.append(obj.get("category"))
                texts.append(text)
            if limit and len(ids) >= limit:
                break
    if limit:
        ids, labels, texts = ids[:limit], labels[:limit], texts[:limit]
    return ids, labels, texts


def load(prefix):
    meta = json.load(open(prefix + ".json"))
    data = np.fromfile(prefix + ".f32", dtype="<f4").reshape(meta["rows"], meta["dim"])
    return meta, data


def compare(a, b):
    ma, xa = load(a)
    mb, xb = load(b)
    assert ma["ids"] == mb["ids"], "the two files hold different documents"
    na = xa / np.linalg.norm(xa, axis=1, keepdims=True)
    nb = xb / np.linalg.norm(xb, axis=1, keepdims=True)
    cos = (na * nb).sum(axis=1)
    print(f"{len(cos)} rows: cosine min {cos.min():.6f}, mean {cos.mean():.6f}; "
          f"max |diff| {np.abs(xa - xb).max():.2e}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus")
    ap.add_argument("--model", default="models/all-MiniLM-L6-v2")
    ap.add_argument("--out")
    ap.add_argument("--paragraphs", action="store_true")
    ap.add_argument("--text-field", default="text")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--limit", type=int)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", choices=["f32", "bf16"], default="f32",
                    help="bf16: the model cast to bfloat16 (oneDNN uses AMX / AVX512-BF16 where the CPU has them)")
    ap.add_argument("--compare", nargs=2, metavar=("A", "B"))
    args = ap.parse_args()
    if args.compare:
        compare(*args.compare)
        return
    import torch
    from sentence_transformers import SentenceTransformer

    ids, labels, texts = read_corpus(args.corpus, args.paragraphs, args.limit, args.text_field)
    model = SentenceTransformer(args.model, device=args.device)
    if args.dtype == "bf16":
        model = model.to(torch.bfloat16)
    model.encode(texts[:8])  # warm-up
    start = time.perf_counter()
    vectors = model.encode(texts, batch_size=args.batch_size, convert_to_numpy=True)
    secs = time.perf_counter() - start
    vectors = vectors.astype("float32")
    print(f"sentence-transformers {args.dtype}, torch {torch.__version__}, {torch.get_num_threads()} threads: "
          f"{len(texts)} docs in {secs:.2f} s = {len(texts) / secs:.1f} docs/s")
    if args.out:
        vectors.astype("<f4").tofile(args.out + ".f32")
        json.dump({"rows": len(texts), "dim": vectors.shape[1], "ids": ids, "labels": labels},
                  open(args.out + ".json", "w"))


if __name__ == "__main__":
    sys.exit(main())
