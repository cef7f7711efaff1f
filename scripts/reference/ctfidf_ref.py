#!/usr/bin/env python3
"""Reference c-TF-IDF top words per BBC News category, for comparison with navab-topics.

scikit-learn's CountVectorizer (1-2-grams, English stop words) fitted on each category's articles
joined into one document, as BERTopic does, then BERTopic's c-TF-IDF formula written out in
numpy: tf = counts / row sums (L1 per class), idf = ln(1 + A / f_t), A = mean words per class,
f_t = the term's count over all classes. Not run by CI; needs numpy and scikit-learn.

    PY=/path/to/venv/bin/python
    $PY scripts/reference/ctfidf_ref.py                                 # prints top-10 per category
    $PY scripts/reference/ctfidf_ref.py --compare /tmp/rs_top.json      # + overlap with navab-topics
    $PY scripts/reference/ctfidf_ref.py --dump-stop-words /tmp/sk.txt  # sklearn's list, one a line
    $PY scripts/reference/ctfidf_ref.py --per-document --compare ...   # no bigrams across articles

The Rust side: `cargo run --release -p navab-topics --example ctfidf_bbc -- --data ../shared/data/bbc-news.jsonl --drop-most-frequent 0
--json /tmp/rs_top.json` (add `--stop-words /tmp/sk.txt` to use the same stop-word list).
"""

import argparse
import json
import os
import time

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DATA = os.path.join(HERE, "..", "..", "..", "shared", "data", "bbc-news.jsonl")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=DEFAULT_DATA)
    ap.add_argument("--top-n", type=int, default=10)
    ap.add_argument("--compare", help="JSON {category: [{term, score}]} written by the ctfidf_bbc example")
    ap.add_argument("--per-document", action="store_true",
                    help="count each article alone and sum per category (no bigram across articles), as navab-topics does")
    ap.add_argument("--dump-stop-words", help="write sklearn's English stop words here and exit")
    args = ap.parse_args()

    if args.dump_stop_words:
        with open(args.dump_stop_words, "w") as f:
            f.write("\n".join(sorted(ENGLISH_STOP_WORDS)) + "\n")
        return

    start = time.perf_counter()
    by_class = {}
    with open(args.data) as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                by_class.setdefault(r["category"], []).append(r["title"] + "\n" + r["text"])
    names = sorted(by_class)
    vectorizer = CountVectorizer(ngram_range=(1, 2), stop_words="english")
    if args.per_document:
        docs = [d for n in names for d in by_class[n]]
        doc_counts = vectorizer.fit_transform(docs).astype(np.float64).tocsr()
        bounds = np.cumsum([0] + [len(by_class[n]) for n in names])
        counts = sp.csr_matrix(np.vstack([np.asarray(doc_counts[a:b].sum(axis=0)).ravel() for a, b in zip(bounds[:-1], bounds[1:])]))
    else:
        joined = [" ".join(by_class[n]) for n in names]
        counts = vectorizer.fit_transform(joined).astype(np.float64)
    vocab = vectorizer.get_feature_names_out()

    f_t = np.asarray(counts.sum(axis=0)).ravel()
    avg_words = counts.sum() / counts.shape[0]
    idf = np.log(1.0 + avg_words / f_t)
    row_sums = np.asarray(counts.sum(axis=1)).ravel()
    tf = counts.multiply(1.0 / row_sums[:, None]).tocsr()
    weights = tf.multiply(idf[None, :]).tocsr()
    elapsed = time.perf_counter() - start

    top, scores = {}, {}
    for k, name in enumerate(names):
        row = weights.getrow(k)
        order = sorted(zip(row.indices, row.data), key=lambda p: (-p[1], p[0]))[: args.top_n]
        top[name] = [vocab[i] for i, _ in order]
        scores[name] = {vocab[i]: w for i, w in order}
        print(f"{name:>13}: {', '.join(top[name])}")
    print(f"vocabulary {len(vocab)} terms; load + vectorize + c-TF-IDF {elapsed * 1e3:.0f} ms")

    if args.compare:
        with open(args.compare) as f:
            ours = json.load(f)
        total, max_rel = 0, 0.0
        for name in names:
            theirs = {w["term"]: w["score"] for w in ours.get(name, [])}
            shared = set(top[name]) & set(theirs)
            for w in shared:
                max_rel = max(max_rel, abs(theirs[w] - scores[name][w]) / scores[name][w])
            total += len(shared)
            print(f"{name:>13}: {len(shared)}/{args.top_n} shared; only reference: "
                  f"{sorted(set(top[name]) - shared)}; only navab: {sorted(set(theirs) - shared)}")
        print(f"overlap: {total}/{args.top_n * len(names)} = {total / (args.top_n * len(names)):.0%}; "
              f"largest relative weight difference on shared words: {max_rel:.2e}")


if __name__ == "__main__":
    main()
