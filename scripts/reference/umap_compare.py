#!/usr/bin/env python3
"""Compares navab-topics' UMAP with umap-learn on identical input vectors, over several seeds,
by what the topic pipeline does with the layouts: cluster each 5-d layout with the Python
`hdbscan` package and score it against known labels.

Inputs are raw little-endian f32 matrices `PREFIX.f32` with a sidecar `PREFIX.json`
(`{"rows", "dim", "labels"}`), as written by navab-embed's `embed_corpus` example, so both
sides read the very same vectors. `blobs` writes a synthetic input with known labels.

  # synthetic overlapping Gaussian blobs (weak structure), labels = blob
  python scripts/reference/umap_compare.py blobs /tmp/umapcmp/blobs

  # ours (navab-topics' umap_bench example) against umap-learn, 5 seeds each
  cargo build --release -p navab-topics --example umap_bench
  python scripts/reference/umap_compare.py compare /tmp/umapcmp/blobs /tmp/umapcmp/titles \\
      --seeds 5 --min-cluster-size 15 50
  # several builds side by side (e.g. before and after a change): --ours NAME=BINARY, repeated

For each input, side and seed: UMAP(n_neighbors=15, n_components=5, min_dist=0, cosine,
random_state=seed) (umap-learn runs its SGD on one thread when seeded; ours uses every core
and is bit-reproducible), then hdbscan.HDBSCAN(min_cluster_size=m) on the layout. Printed per
input and side: ARI against the labels (noise kept as its own label, as a topic model's
outliers are), mean ± sd over seeds; clusters found; noise share; trustworthiness@10 (scikit-
learn, on unit-length rows, a seeded sample of at most --trust-sample points); seconds of
UMAP. `--json OUT` also writes every run.
"""
import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np


def read_matrix(prefix):
    meta = json.loads(Path(f"{prefix}.json").read_text())
    x = np.fromfile(f"{prefix}.f32", dtype="<f4").reshape(meta["rows"], meta["dim"])
    return x, meta


def write_matrix(prefix, x, labels=None):
    np.ascontiguousarray(x, dtype="<f4").tofile(f"{prefix}.f32")
    meta = {"rows": int(x.shape[0]), "dim": int(x.shape[1])}
    if labels is not None:
        meta["labels"] = [str(v) for v in labels]
    Path(f"{prefix}.json").write_text(json.dumps(meta))


def cmd_blobs(args):
    """Overlapping Gaussian blobs of unequal sizes: centres N(0, sep²), points centre + N(0, 1)."""
    rng = np.random.default_rng(args.seed)
    sizes = rng.integers(args.min_size, args.max_size + 1, size=args.clusters)
    centres = rng.normal(scale=args.sep, size=(args.clusters, args.dim))
    x = np.concatenate([c + rng.normal(size=(s, args.dim)) for c, s in zip(centres, sizes)])
    labels = np.repeat(np.arange(args.clusters), sizes)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_matrix(args.out, x.astype(np.float32), labels)
    print(f"wrote {args.out}.f32: {x.shape[0]} x {x.shape[1]}, {args.clusters} blobs, sep {args.sep}")


def umap_learn(x, seed):
    import umap

    model = umap.UMAP(n_neighbors=15, n_components=5, min_dist=0.0, metric="cosine", random_state=seed)
    return model.fit_transform(x)


def ours(prefix, seed, binary, workdir):
    out = Path(workdir) / f"ours-{seed}"
    cmd = [binary, "--input", str(prefix), "--seed", str(seed), "--trust-sample", "0", "--out", str(out)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return read_matrix(out)[0]


def score(layout, labels, sizes):
    import hdbscan
    from sklearn.metrics import adjusted_rand_score

    out = {}
    for m in sizes:
        found = hdbscan.HDBSCAN(min_cluster_size=m).fit_predict(layout)
        out[m] = {
            "ari": float(adjusted_rand_score(labels, found)),
            "clusters": int(found.max() + 1),
            "noise": float(np.mean(found < 0)),
        }
    return out


def trust(high, low, rows):
    from sklearn.manifold import trustworthiness

    return float(trustworthiness(high[rows], low[rows], n_neighbors=10))


def cmd_compare(args):
    import umap  # noqa: F401  (imported once, before the timings)

    binaries = dict(spec.split("=", 1) for spec in args.ours)
    sides = list(binaries) + ["umap-learn"]
    # umap-learn is deterministic given the seed: its runs can come from an earlier --json.
    earlier = {}
    for path in args.reuse or []:
        for r in json.loads(Path(path).read_text()):
            if r["side"] == "umap-learn":
                r["scores"] = {int(m): v for m, v in r["scores"].items()}
                earlier[(r["input"], r["seed"])] = r
    runs = []
    with tempfile.TemporaryDirectory() as workdir:
        for prefix in args.inputs:
            x, meta = read_matrix(prefix)
            labels = np.asarray(meta["labels"])
            high = x / np.linalg.norm(x, axis=1, keepdims=True)
            n = x.shape[0]
            rows = np.arange(n)
            if n > args.trust_sample:
                rows = np.sort(np.random.default_rng(7).choice(n, args.trust_sample, replace=False))
            if not all((Path(prefix).name, seed) in earlier for seed in range(args.seeds)):
                umap_learn(x[:200], 0)  # numba's compilation, kept out of the timings
            for seed in range(args.seeds):
                for side in sides:
                    again = earlier.get((Path(prefix).name, seed)) if side == "umap-learn" else None
                    if again and all(m in again["scores"] for m in args.min_cluster_size):
                        runs.append(again)
                        continue
                    t = time.perf_counter()
                    if side in binaries:
                        layout = ours(prefix, seed, binaries[side], workdir)
                    else:
                        layout = umap_learn(x, seed)
                    secs = time.perf_counter() - t
                    run = {
                        "input": Path(prefix).name,
                        "side": side,
                        "seed": seed,
                        "seconds": secs,
                        "trust": trust(high, layout, rows),
                        "scores": score(layout, labels, args.min_cluster_size),
                    }
                    runs.append(run)
                    s = " ".join(
                        f"m{m}: ARI {v['ari']:.3f} k {v['clusters']} noise {v['noise']:.2f}"
                        for m, v in run["scores"].items()
                    )
                    print(f"  {run['input']} {side} seed {seed}: {s} T {run['trust']:.3f} ({secs:.1f} s)", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(runs, indent=1))
    print_table(runs, args.min_cluster_size, sides)


def print_table(runs, sizes, sides):
    print()
    print("| input | m | side | ARI mean ± sd | clusters | noise | trust@10 | UMAP s |")
    print("|---|---|---|---|---|---|---|---|")
    verdicts = []
    for name in dict.fromkeys(r["input"] for r in runs):
        for m in sizes:
            stats = {}
            for side in sides:
                rs = [r for r in runs if r["input"] == name and r["side"] == side]
                ari = np.array([r["scores"][m]["ari"] for r in rs])
                ks = [r["scores"][m]["clusters"] for r in rs]
                noise = [r["scores"][m]["noise"] for r in rs]
                stats[side] = (ari.mean(), ari.std(ddof=1) if len(ari) > 1 else 0.0)
                print(
                    f"| {name} | {m} | {side} | {ari.mean():.3f} ± {stats[side][1]:.3f} | "
                    f"{min(ks)}–{max(ks)} | {100 * min(noise):.0f}–{100 * max(noise):.0f}% | "
                    f"{np.mean([r['trust'] for r in rs]):.3f} | {np.mean([r['seconds'] for r in rs]):.2f} |"
                )
            ml, sl = stats["umap-learn"]
            for side, (mo, _) in stats.items():
                if side != "umap-learn":
                    verdicts.append(f"{name} m{m} {side}: |{mo:.3f} - {ml:.3f}| = {abs(mo - ml):.3f} "
                                    f"{'<=' if abs(mo - ml) <= sl else '>'} umap-learn's sd {sl:.3f}")
    print()
    for v in verdicts:
        print("within one sd of umap-learn?", v)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("blobs", help="write synthetic overlapping Gaussian blobs with labels")
    b.add_argument("out")
    b.add_argument("--clusters", type=int, default=12)
    b.add_argument("--dim", type=int, default=48)
    b.add_argument("--sep", type=float, default=0.45)
    b.add_argument("--min-size", type=int, default=40)
    b.add_argument("--max-size", type=int, default=200)
    b.add_argument("--seed", type=int, default=0)
    c = sub.add_parser("compare", help="ours against umap-learn on the same vectors")
    c.add_argument("inputs", nargs="+")
    c.add_argument("--seeds", type=int, default=5)
    c.add_argument("--min-cluster-size", type=int, nargs="+", default=[15, 50])
    c.add_argument("--ours", action="append",
                   help="NAME=BINARY: a umap_bench build to run (repeatable); default ours=target/release/examples/umap_bench")
    c.add_argument("--trust-sample", type=int, default=4000)
    c.add_argument("--json")
    c.add_argument("--reuse", action="append", help="JSON of an earlier run: its umap-learn runs are reused")
    args = ap.parse_args()
    if args.cmd == "compare" and not args.ours:
        args.ours = ["ours=target/release/examples/umap_bench"]
    {"blobs": cmd_blobs, "compare": cmd_compare}[args.cmd](args)


if __name__ == "__main__":
    main()
