#!/usr/bin/env python3
"""HF transformers CPU baseline for NaVAB multiple-choice scoring: items/s, tokens/s, accuracy.

Scores the items of a NaVAB directory ({official,human}_statement_result.json; fields
"generated Q", "statement", "generated reverse statement", whitespace-stripped) with two prompt
styles, two forward passes per item each (one text per option, scored whole):

  paper  Q + "\\nMy answer is " + S        vs  Q + "\\nMy answer is " + RS
  ab     "This is a multiple choice question.\\nQ: {Q}\\nChoices:\\nA: {S}\\nB: {RS}\\nYour Answer: A"
         vs the same text ending in " B"          (--ab-format brief, the default)
         With --ab-format navab-rs the A/B text is navab-rs's own ("Question: ...", "Your answer: A").

After a warm-up on --warmup items, all items are timed (--repeat N: N times, median reported); items/s and tokens/s (tokens actually run,
padding excluded) are printed per style, then one JSON line per style. Accuracy is the fraction of
items where S's option text has the lower whole-sequence perplexity (exp of the mean negative
log-probability of tokens 1..n; like the authors' code, no BOS is added); "accuracy_continuation"
uses only the answer's tokens ("My answer is S", " A"), which is navab-rs's default `paper`.
These are navab-rs's `paper-seq` / `ab-first-seq` and `paper` / `ab-first` methods.

    scripts/reference/bench_hf.py                                  # SmolLM2 GGUF, batch 1, 2 threads
    scripts/reference/bench_hf.py --model DENSE_DIR --batch-size 8 --styles ab --out items.jsonl
    scripts/reference/bench_hf.py runs/bench-requests   # the texts `cargo run --example bench -- --data SAMPLE_DIR --dump DIR` wrote

Given a DUMP directory (one METHOD.jsonl of {"text"} per method, from navab-rs's bench example),
it times scoring exactly those texts instead (each text whole; items = texts / 2), no accuracy.
"""
import argparse
import glob
import json
import math
import os
import statistics
import sys
import time

import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MODELS = os.environ.get("NAVAB_MODELS_DIR", os.path.join(ROOT, "models"))
DEFAULT_MODEL = os.path.join(MODELS, "smollm2-135m-instruct", "SmolLM2-135M-Instruct.Q4_1.gguf")
DEFAULT_DATA = os.path.join(ROOT, "..", "shared", "data", "navab-hk-sample")
DTYPES = {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}


def read_items(data_dir):
    items = []
    for kind in ("official", "human"):
        path = os.path.join(data_dir, f"{kind}_statement_result.json")
        if not os.path.exists(path):
            continue
        with open(path, encoding="utf-8") as f:
            for i, rec in enumerate(json.load(f)):
                items.append({"id": f"{kind}/{i}", "q": rec["generated Q"].strip(),
                              "s": rec["statement"].strip(), "rs": rec["generated reverse statement"].strip()})
    if not items:
        sys.exit(f"no official_/human_statement_result.json in {data_dir}")
    return items


def options(item, style, ab_format):
    """[(context, continuation) for S, for RS]: the full text is context + continuation."""
    q, s, rs = item["q"], item["s"], item["rs"]
    if style == "paper":
        ctx = q + "\n"
        return [(ctx, "My answer is " + s), (ctx, "My answer is " + rs)]
    if ab_format == "brief":
        ctx = f"This is a multiple choice question.\nQ: {q}\nChoices:\nA: {s}\nB: {rs}\nYour Answer:"
    else:
        ctx = f"This is a multiple choice question.\nQuestion: {q}\nChoices:\nA: {s}\nB: {rs}\nYour answer:"
    return [(ctx, " A"), (ctx, " B")]


def load(path, dtype, attn):
    kw = dict(dtype=DTYPES[dtype], attn_implementation=attn)
    if path.endswith(".gguf"):
        d, f = os.path.split(os.path.abspath(path))
        model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, **kw)
        tok = AutoTokenizer.from_pretrained(d, gguf_file=f)
    else:
        model = AutoModelForCausalLM.from_pretrained(path, **kw)
        tok = AutoTokenizer.from_pretrained(path)
    model.eval()
    return model, tok


class Scorer:
    def __init__(self, model, tok, batch_size, add_special_tokens):
        self.model, self.tok, self.bs, self.special = model, tok, batch_size, add_special_tokens
        self.pad = tok.pad_token_id if tok.pad_token_id is not None else (tok.eos_token_id or 0)

    def encode(self, text):
        return self.tok(text, add_special_tokens=self.special)["input_ids"]

    @torch.no_grad()
    def run(self, seqs):
        """Per-token log-probs (tokens 1..n) of each id sequence, batch by batch, right-padded."""
        out = []
        for i in range(0, len(seqs), self.bs):
            batch = seqs[i:i + self.bs]
            width = max(len(s) for s in batch)
            ids = torch.full((len(batch), width), self.pad, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for j, s in enumerate(batch):
                ids[j, :len(s)] = torch.tensor(s)
                mask[j, :len(s)] = 1
            logits = self.model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
            lp = torch.log_softmax(logits, -1).gather(2, ids[:, 1:].unsqueeze(2)).squeeze(2)
            for j, s in enumerate(batch):
                out.append(lp[j, :len(s) - 1].tolist())
        return out


def run_style(scorer, items, style, ab_format):
    """Tokenizes and scores every option of every item; returns per-item records and token count."""
    texts, ctx_lens = [], []
    for item in items:
        for ctx, cont in options(item, style, ab_format):
            ids = scorer.encode(ctx + cont)
            cids = scorer.encode(ctx)
            # Tokens of the answer: those after the context's tokens when the full text's tokens
            # start with them (true for these prompts unless a merge crosses the boundary).
            n_ctx = len(cids) if ids[:len(cids)] == cids else len(cids) - 1
            texts.append(ids)
            ctx_lens.append(max(n_ctx, 1))
    lps = scorer.run(texts)
    records, tokens = [], sum(len(t) for t in texts)
    for k, item in enumerate(items):
        rec = {"id": item["id"]}
        for o, name in enumerate(("S", "RS")):
            lp, n_ctx = lps[2 * k + o], ctx_lens[2 * k + o]
            cont = lp[n_ctx - 1:]
            rec[f"{name}_tokens"] = len(texts[2 * k + o])
            rec[f"{name}_ppl_seq"] = math.exp(-sum(lp) / len(lp))
            rec[f"{name}_ppl_cont"] = math.exp(-sum(cont) / len(cont)) if cont else float("inf")
        rec["right_seq"] = rec["S_ppl_seq"] < rec["RS_ppl_seq"]
        rec["right_cont"] = rec["S_ppl_cont"] < rec["RS_ppl_cont"]
        records.append(rec)
    return records, tokens


def bench_dump(scorer, a):
    """Times the texts of each METHOD.jsonl in a navab-rs bench dump, each scored whole."""
    paths = sorted(glob.glob(os.path.join(a.dump, "*.jsonl")))
    if not paths:
        sys.exit(f"no *.jsonl in {a.dump}")
    for path in paths:
        with open(path, encoding="utf-8") as f:
            texts = [json.loads(line)["text"] for line in f if line.strip()][:None if a.limit is None else 2 * a.limit]
        scorer.run([scorer.encode(t) for t in texts[:2 * a.warmup]])
        load_before = loadavg()
        t = time.perf_counter()
        seqs = [scorer.encode(t) for t in texts]
        scorer.run(seqs)
        dt = time.perf_counter() - t
        tokens = sum(len(s) for s in seqs)
        print(json.dumps({"method": os.path.basename(path)[:-len(".jsonl")], "texts": len(texts),
                          "items": len(texts) / 2, "batch_size": a.batch_size, "threads": a.threads,
                          "seconds": round(dt, 2), "items_per_s": round(len(texts) / 2 / dt, 3),
                          "tokens_per_s": round(tokens / dt, 1), "load_before": load_before,
                          "load_after": loadavg()}), flush=True)


def loadavg():
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("dump", nargs="?", help="directory of METHOD.jsonl texts dumped by navab-rs's bench example")
    p.add_argument("--data", default=DEFAULT_DATA, help="NaVAB dir with {official,human}_statement_result.json")
    p.add_argument("--model", default=DEFAULT_MODEL, help="GGUF file (dequantized by transformers) or HF dir")
    p.add_argument("--styles", default="ab,paper", help="comma-separated: ab, paper")
    p.add_argument("--ab-format", choices=["brief", "navab-rs"], default="brief")
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--warmup", type=int, default=2, help="items scored before timing")
    p.add_argument("--limit", type=int, help="time only the first N items")
    p.add_argument("--repeat", type=int, default=1, help="time the items N times; report the median (shared machines are noisy)")
    p.add_argument("--dtype", choices=sorted(DTYPES), default="f32")
    p.add_argument("--attn", choices=["sdpa", "eager"], default="sdpa",
                   help="attention implementation (sdpa: transformers' default)")
    p.add_argument("--add-special-tokens", action="store_true", help="let the tokenizer add BOS etc.")
    p.add_argument("--out", help="write per-item perplexities and decisions here (JSONL)")
    a = p.parse_args()

    torch.set_num_threads(a.threads)
    items = [] if a.dump else read_items(a.data)[:a.limit]
    t0 = time.time()
    model, tok = load(a.model, a.dtype, a.attn)
    print(f"model {a.model} ({model.config.model_type}, {a.dtype}, attn {a.attn}) loaded in {time.time() - t0:.1f}s; "
          f"torch {torch.__version__}, transformers {transformers.__version__}, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} cpus, batch {a.batch_size}, {len(items)} items, load avg {loadavg()}", flush=True)
    scorer = Scorer(model, tok, a.batch_size, a.add_special_tokens)
    if a.dump:
        return bench_dump(scorer, a)
    out = open(a.out, "w", encoding="utf-8") if a.out else None
    summaries = []
    for style in [s.strip() for s in a.styles.split(",") if s.strip()]:
        if style not in ("paper", "ab"):
            sys.exit(f"unknown style {style!r} (paper, ab)")
        run_style(scorer, items[:a.warmup], style, a.ab_format)
        load_before = loadavg()
        runs = []
        for _ in range(a.repeat):
            t = time.perf_counter()
            records, tokens = run_style(scorer, items, style, a.ab_format)
            runs.append(time.perf_counter() - t)
        dt = statistics.median(runs)
        n = len(items)
        summary = {"style": style if style == "paper" else f"ab-{a.ab_format}", "items": n,
                   "forward_passes": 2 * n, "batch_size": a.batch_size, "threads": a.threads,
                   "dtype": a.dtype, "attn": a.attn, "seconds": round(dt, 2),
                   "seconds_each": [round(x, 2) for x in runs], "best_items_per_s": round(n / min(runs), 3),
                   "items_per_s": round(n / dt, 3), "tokens": tokens, "tokens_per_s": round(tokens / dt, 1),
                   "accuracy_seq": round(sum(r["right_seq"] for r in records) / n, 4),
                   "accuracy_continuation": round(sum(r["right_cont"] for r in records) / n, 4),
                   "load_before": load_before, "load_after": loadavg(),
                   "model": os.path.basename(a.model.rstrip("/")), "torch": torch.__version__,
                   "transformers": transformers.__version__}
        summaries.append(summary)
        print(f"{summary['style']:<10} {n} items in {dt:7.2f}s{' (median of %d)' % len(runs) if len(runs) > 1 else ''}: "
              f"{n / dt:6.3f} items/s, {tokens / dt:7.1f} tokens/s, "
              f"accuracy (seq ppl) {summary['accuracy_seq']:.3f}, (answer ppl) {summary['accuracy_continuation']:.3f}, "
              f"load {load_before} -> {summary['load_after']}", flush=True)
        if out:
            for r in records:
                out.write(json.dumps({"style": summary["style"], **r}, ensure_ascii=False) + "\n")
    if out:
        out.close()
    for s in summaries:
        print(json.dumps(s))


if __name__ == "__main__":
    main()
