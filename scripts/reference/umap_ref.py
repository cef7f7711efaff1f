#!/usr/bin/env python3
"""Times umap-learn on an embeddings file, for comparison with navab-topics' umap_bench.

Usage: python scripts/reference/umap_ref.py PREFIX [--out OUT_PREFIX] [--unseeded]

PREFIX.f32 holds little-endian f32 rows (row-major) and PREFIX.json {"rows": n, "dim": d}.
Runs UMAP(n_neighbors=15, n_components=5, min_dist=0.0, metric="cosine", random_state=42)
twice: the first call includes numba's compilation, the second is warm. With random_state set,
umap-learn runs its SGD on one thread; --unseeded drops the seed to let it use every core.
Prints wall and process CPU times (CPU time is the fairer figure on a loaded machine) and
trustworthiness at k=10 (scikit-learn, on unit-length rows; on a seeded
sample of at most --trust-sample points, the same sample as umap_bench draws is not attempted).
"""
import argparse
import json
import time

import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("prefix")
    ap.add_argument("--out")
    ap.add_argument("--unseeded", action="store_true")
    ap.add_argument("--n-components", type=int, default=5)
    ap.add_argument("--n-neighbors", type=int, default=15)
    ap.add_argument("--trust-sample", type=int, default=12000)
    args = ap.parse_args()
    meta = json.load(open(args.prefix + ".json"))
    x = np.fromfile(args.prefix + ".f32", dtype="<f4").reshape(meta["rows"], meta["dim"])
    print(f"data: {args.prefix}: {x.shape[0]} x {x.shape[1]}")

    t = time.perf_counter()
    import umap  # noqa: E402  (import time is reported apart)
    print(f"import umap: {time.perf_counter() - t:.2f} s")

    def run():
        kw = {} if args.unseeded else {"random_state": 42}
        model = umap.UMAP(
            n_neighbors=args.n_neighbors,
            n_components=args.n_components,
            min_dist=0.0,
            metric="cosine",
            **kw,
        )
        t, c = time.perf_counter(), time.process_time()
        emb = model.fit_transform(x)
        return emb, time.perf_counter() - t, time.process_time() - c

    emb, first, first_cpu = run()
    print(f"umap-learn first call (with JIT): {first:.2f} s wall, {first_cpu:.2f} s CPU")
    emb, warm, warm_cpu = run()
    print(f"umap-learn warm call: {warm:.2f} s wall, {warm_cpu:.2f} s CPU")

    from sklearn.manifold import trustworthiness

    n = x.shape[0]
    rows = np.arange(n)
    if n > args.trust_sample:
        rows = np.sort(np.random.default_rng(7).choice(n, args.trust_sample, replace=False))
    high = x[rows] / np.linalg.norm(x[rows], axis=1, keepdims=True)
    t = time.perf_counter()
    tw = trustworthiness(high, emb[rows], n_neighbors=10)
    print(f"trustworthiness@10 on {len(rows)} points: {tw:.4f} ({time.perf_counter() - t:.2f} s)")
    if args.out:
        emb.astype("<f4").tofile(args.out + ".f32")
        json.dump({"rows": int(emb.shape[0]), "dim": int(emb.shape[1])}, open(args.out + ".json", "w"))


if __name__ == "__main__":
    main()
