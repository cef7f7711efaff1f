#!/usr/bin/env python3
"""Compares two runs of navab-rs (CPU against GPU) and prints one JSON line; pure Python.

    gpu_compare.py logprobs CPU.jsonl GPU.jsonl --label NAME     # examples/logprobs outputs
    gpu_compare.py embeddings CPU_PREFIX GPU_PREFIX --label NAME  # embed_corpus --out prefixes
    gpu_compare.py decisions CPU_DIR GPU_DIR --label NAME         # evaluate --out dirs
    gpu_compare.py summary FIGURES.jsonl                          # a Markdown table of every line
"""
import argparse
import json
import math
import sys
from array import array


def emit(**kw):
    print(json.dumps(kw), flush=True)


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
    emit(check="logprobs", label=label, texts=len(ra), tokens=len(diffs),
         max_abs_diff=max(diffs), mean_abs_diff=sum(diffs) / len(diffs))


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
    cos, max_abs = [], 0.0
    for r in range(ma["rows"]):
        x, y = va[r * d:(r + 1) * d], vb[r * d:(r + 1) * d]
        dot = sum(p * q for p, q in zip(x, y))
        nx = math.sqrt(sum(p * p for p in x)) or 1.0
        ny = math.sqrt(sum(q * q for q in y)) or 1.0
        cos.append(dot / (nx * ny))
        max_abs = max(max_abs, max(abs(p - q) for p, q in zip(x, y)))
    emit(check="embeddings", label=label, rows=len(cos), dim=d, min_cosine=min(cos),
         mean_cosine=sum(cos) / len(cos), max_abs_diff=max_abs)


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
    ap.add_argument("what", choices=["logprobs", "embeddings", "decisions", "summary"])
    ap.add_argument("a")
    ap.add_argument("b", nargs="?")
    ap.add_argument("--label", default="")
    args = ap.parse_args()
    if args.what == "summary":
        summary(args.a)
    else:
        {"logprobs": logprobs, "embeddings": embeddings, "decisions": decisions}[args.what](
            args.a, args.b, args.label)


if __name__ == "__main__":
    main()
