#!/usr/bin/env python3
"""Reference runs for navab-topics' HDBSCAN: the Python `hdbscan` and `fast_hdbscan` packages on
the same points, with the same parameters, timed, and compared with our labels.

Points files are raw little-endian float32, row-major, with a sidecar `.json` of the same stem:
{"rows": n, "dim": d, "ids": [...], "labels": [...]} (labels optional).

  # 5-d UMAP of the BBC article embeddings (the NaVAB pipeline's UMAP settings)
  python scripts/reference/hdbscan_ref.py umap /work/bbc-emb/articles.f32 /work/bbc-emb/articles.umap5.f32

  # cluster with the Python packages and compare with our labels (one per line, -1 = noise)
  python scripts/reference/hdbscan_ref.py cluster /work/bbc-emb/articles.umap5.f32 \
      --min-cluster-size 50 --ours ours.txt
"""
import argparse
import json
import time
from pathlib import Path

import numpy as np


def read_points(path):
    path = Path(path)
    meta = json.loads(path.with_suffix(".json").read_text())
    data = np.fromfile(path, dtype="<f4").reshape(meta["rows"], meta["dim"])
    return data, meta


def write_points(path, data, meta):
    path = Path(path)
    np.ascontiguousarray(data, dtype="<f4").tofile(path)
    out = {"rows": int(data.shape[0]), "dim": int(data.shape[1])}
    for key in ("ids", "labels"):
        if meta.get(key):
            out[key] = meta[key]
    path.with_suffix(".json").write_text(json.dumps(out))


def cmd_umap(args):
    import umap

    data, meta = read_points(args.input)
    start = time.perf_counter()
    reducer = umap.UMAP(n_neighbors=15, n_components=5, min_dist=0.0, metric="cosine", random_state=42)
    embedded = reducer.fit_transform(data)
    print(f"umap-learn: {data.shape} -> {embedded.shape} in {time.perf_counter() - start:.2f} s")
    write_points(args.output, embedded, meta)
    print(f"written {args.output} (+ .json)")


def summarise(name, labels, seconds, truth, ours):
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    n_clusters = len(set(labels.tolist()) - {-1})
    line = f"{name:<28} {seconds:8.2f} s  clusters {n_clusters:4d}  noise {np.mean(labels == -1):.4f}"
    if truth is not None:
        line += f"  ARI/NMI vs labels {adjusted_rand_score(truth, labels):.4f}/{normalized_mutual_info_score(truth, labels):.4f}"
    if ours is not None:
        line += f"  ARI vs ours {adjusted_rand_score(ours, labels):.4f}  NMI vs ours {normalized_mutual_info_score(ours, labels):.4f}"
    print(line)


def cmd_cluster(args):
    import hdbscan

    data, meta = read_points(args.input)
    data = data.astype(np.float64)
    truth = meta.get("labels") or None
    ours = np.loadtxt(args.ours, dtype=np.int64) if args.ours else None
    if ours is not None and len(ours) != len(data):
        raise SystemExit(f"{args.ours}: {len(ours)} labels for {len(data)} points")
    print(f"{data.shape[0]} points x {data.shape[1]} dims, min_cluster_size {args.min_cluster_size}, "
          f"min_samples {args.min_samples or args.min_cluster_size}, {args.selection}")
    if ours is not None:
        summarise("ours (from --ours)", ours, float("nan"), truth, None)
    runs = [("hdbscan (approx MST, default)", dict(approx_min_span_tree=True)),
            ("hdbscan (exact MST)", dict(approx_min_span_tree=False))]
    for name, extra in runs:
        start = time.perf_counter()
        model = hdbscan.HDBSCAN(min_cluster_size=args.min_cluster_size, min_samples=args.min_samples,
                                metric="euclidean", cluster_selection_method=args.selection,
                                core_dist_n_jobs=args.jobs, **extra).fit(data)
        summarise(name, model.labels_, time.perf_counter() - start, truth, ours)
        if args.write_labels and extra["approx_min_span_tree"] is False:
            np.savetxt(args.write_labels, model.labels_, fmt="%d")
    if not args.skip_fast:
        import fast_hdbscan

        # numba compiles on first use: time a second run.
        fast_hdbscan.HDBSCAN(min_cluster_size=5).fit(data[: min(len(data), 1000)])
        start = time.perf_counter()
        model = fast_hdbscan.HDBSCAN(min_cluster_size=args.min_cluster_size, min_samples=args.min_samples,
                                     cluster_selection_method=args.selection).fit(data)
        summarise("fast_hdbscan", model.labels_, time.perf_counter() - start, truth, ours)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    u = sub.add_parser("umap", help="5-d UMAP (n_neighbors 15, min_dist 0, cosine, seed 42) of a points file")
    u.add_argument("input")
    u.add_argument("output")
    u.set_defaults(func=cmd_umap)
    c = sub.add_parser("cluster", help="run Python hdbscan / fast_hdbscan and compare with our labels")
    c.add_argument("input")
    c.add_argument("--min-cluster-size", type=int, default=50)
    c.add_argument("--min-samples", type=int, default=None)
    c.add_argument("--selection", choices=["eom", "leaf"], default="eom")
    c.add_argument("--ours", help="our labels, one per line, -1 for noise")
    c.add_argument("--jobs", type=int, default=2, help="core-distance jobs for hdbscan")
    c.add_argument("--write-labels", help="write the exact-MST hdbscan labels here")
    c.add_argument("--skip-fast", action="store_true", help="do not run fast_hdbscan")
    c.set_defaults(func=cmd_cluster)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
