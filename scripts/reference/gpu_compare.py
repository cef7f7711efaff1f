#!/usr/bin/env python3
"""Compares two runs of navab-rs (CPU against GPU) and prints one JSON line; pure Python.

    gpu_compare.py logprobs CPU.jsonl GPU.jsonl --label NAME     # examples/logprobs outputs
    gpu_compare.py embeddings CPU_PREFIX GPU_PREFIX --label NAME  # embed_corpus --out prefixes
    gpu_compare.py decisions CPU_DIR GPU_DIR --label NAME         # evaluate --out dirs
    gpu_compare.py embed-speed STDOUT.txt --label NAME             # embed_corpus's speed line
    gpu_compare.py summary FIGURES.jsonl                          # a Markdown table of every line

Values that are not numbers (NaN) are counted and reported, never averaged.
"""
import argparse
import json
import math
import re
import sys
from array import array


FIELDS = {}


def emit(**kw):
    print(json.dumps({**FIELDS, **kw}), flush=True)


def logprobs(a, b, label):
    ra = [json.loads(x) for x in open(a) if x.strip()]
    rb = [json.loads(x) for x in open(b) if x.strip()]
    if len(ra) != len(rb) or not ra:
        sys.exit(f"{a} has {len(ra)} rows, {b} has {len(rb)}")
    diffs = []
    for x, y in zip(ra, rb):
        if x["ids"] != y["ids"]:
            sys.exit(f"token ids differ for text {x['text'][:40]!r}")
        diffs += [abs(p - q) for p, q in zip(x["logprobs"], y["logprobs"])]
    finite = [d for d in diffs if not math.isnan(d)]
    emit(check="logprobs", label=label, texts=len(ra), tokens=len(diffs),
         nan=len(diffs) - len(finite), max_abs_diff=max(finite, default=None),
         mean_abs_diff=sum(finite) / len(finite) if finite else None)


def read_vectors(prefix):
    meta = json.load(open(prefix + ".json"))
    v = array("f")
    with open(prefix + ".f32", "rb") as f:
        v.frombytes(f.read())
    if len(v) != meta["rows"] * meta["dim"]:
        sys.exit(f"{prefix}.f32 holds {len(v)} values, not rows x dim")
    return meta, v


def embeddings(a, b, label):
    ma, va = read_vectors(a)
    mb, vb = read_vectors(b)
    if (ma["rows"], ma["dim"]) != (mb["rows"], mb["dim"]) or ma["ids"] != mb["ids"]:
        sys.exit("the two embedding files hold different documents")
    d = ma["dim"]
    cos, max_abs, nan_rows = [], 0.0, 0
    for r in range(ma["rows"]):
        x, y = va[r * d:(r + 1) * d], vb[r * d:(r + 1) * d]
        if any(math.isnan(v) for v in x) or any(math.isnan(v) for v in y):
            nan_rows += 1
            continue
        dot = sum(p * q for p, q in zip(x, y))
        nx = math.sqrt(sum(p * p for p in x)) or 1.0
        ny = math.sqrt(sum(q * q for q in y)) or 1.0
        cos.append(dot / (nx * ny))
        max_abs = max(max_abs, max(abs(p - q) for p, q in zip(x, y)))
    emit(check="embeddings", label=label, rows=ma["rows"], dim=d, nan_rows=nan_rows,
         min_cosine=min(cos, default=None),
         mean_cosine=sum(cos) / len(cos) if cos else None, max_abs_diff=max_abs)


def embed_speed(path, label):
    # embed_corpus prints "N docs, T tokens (after truncation) in S s: D docs/s, K tokens/s".
    text = open(path).read()
    m = re.search(r"(\d+) docs, (\d+) tokens .*? in ([\d.]+) s: ([\d.]+) docs/s, ([\d.]+) tokens/s",
                  text)
    if not m:
        sys.exit(f"no speed line in {path}")
    n, tokens, secs, docs_s, tok_s = m.groups()
    emit(bench="embed", label=label, n=int(n), tokens=int(tokens), seconds=float(secs),
         docs_per_s=float(docs_s), tokens_per_s=float(tok_s))


def decisions(a, b, label):
    def read(d):
        out = {}
        for line in open(d + "/items.jsonl"):
            r = json.loads(line)
            o = r["outcome"]
            out[(r["item_id"], r["method"])] = (o["correct"], o["tie"])
        return out
    ra, rb = read(a), read(b)
    keys = sorted(set(ra) & set(rb))
    if not keys:
        sys.exit("no item scored in both runs")
    same = sum(ra[k] == rb[k] for k in keys)
    emit(check="decisions", label=label, items=len(keys), same=same,
         differ=[list(k) for k in keys if ra[k] != rb[k]][:10])


def summary(path):
    rows = [json.loads(x) for x in open(path) if x.strip().startswith("{")]
    print("| figure |\n|---|")
    for r in rows:
        print("| " + ", ".join(f"{k}={v}" for k, v in r.items()) + " |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=["logprobs", "embeddings", "decisions", "embed-speed", "summary"])
    ap.add_argument("a")
    ap.add_argument("b", nargs="?")
    ap.add_argument("--label", default="")
    ap.add_argument("--fields", default="{}", help="a JSON object to add to the output line")
    args = ap.parse_args()
    FIELDS.update(json.loads(args.fields))
    if args.what == "summary":
        summary(args.a)
    elif args.what == "embed-speed":
        embed_speed(args.a, args.label)
    else:
        {"logprobs": logprobs, "embeddings": embeddings, "decisions": decisions}[args.what](
            args.a, args.b, args.label)


if __name__ == "__main__":
    main()
