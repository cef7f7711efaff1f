#!/usr/bin/env bash
# bf16 embeddings against f32 on the whole BBC corpus: the minimum cosine per article, and the
# topic model's ARI against the BBC categories over several UMAP seeds in each dtype (the f32
# spread across seeds is the run-to-run noise a bf16 difference has to be read against).
#
#   cargo build --release -p navab-embed --example embed_corpus
#   cargo build --release --example topics
#   scripts/bf16_fidelity.sh [DATA_DIR] [SEEDS]
#
# DATA_DIR holds bbc-news.jsonl (default ../shared/data); SEEDS defaults to "42 43 44 45 46".
# Needs python3 (standard library only).
set -euo pipefail
data=${1:-../shared/data}
seeds=${2:-42 43 44 45 46}
bin=${CARGO_TARGET_DIR:-target}/release/examples
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); bf16 flags: $(grep -o -w 'amx_bf16\|avx512_bf16' /proc/cpuinfo | sort -u | tr '\n' ' ')"
echo "== all-MiniLM-L6-v2 on every article (3,000 characters, 256 tokens)"
for dtype in f32 bf16; do
  echo "$dtype: $("$bin"/embed_corpus --corpus "$data/bbc-news.jsonl" --out "$out/emb-$dtype" --dtype "$dtype" 2>/dev/null | grep -o '[0-9.]* docs/s' | head -1)"
done
python3 - "$out/emb-f32" "$out/emb-bf16" <<'PY'
import array, json, math, sys
def rows(prefix):
    dim = json.load(open(prefix + ".json"))["dim"]
    v = array.array("f")
    v.frombytes(open(prefix + ".f32", "rb").read())
    return [v[i:i + dim] for i in range(0, len(v), dim)]
def cosine(x, y):
    return sum(p * q for p, q in zip(x, y)) / math.sqrt(sum(p * p for p in x) * sum(q * q for q in y))
cos = [cosine(x, y) for x, y in zip(*map(rows, sys.argv[1:]))]
print(f"bf16 vs f32 over {len(cos)} articles: minimum cosine {min(cos):.6f}, mean {sum(cos) / len(cos):.6f}")
PY
echo "== topics (the authors' settings) against the BBC categories, seeds: $seeds"
for dtype in f32 bf16; do
  aris=()
  for seed in $seeds; do
    line=$("$bin"/topics --corpus "$data/bbc-news.jsonl" --dtype "$dtype" --seed "$seed" --out "$out/topics-$dtype" 2>/dev/null)
    ari=$(grep -o 'ARI [0-9.-]*' <<<"$line" | cut -d' ' -f2)
    topics=$(grep -o '[0-9]* topics' <<<"$line" | head -1)
    echo "$dtype seed $seed: ARI $ari, $topics"
    aris+=("$ari")
  done
  python3 -c "import statistics as s, sys; v=[float(x) for x in sys.argv[1:]]; print(f'$dtype: ARI mean {s.mean(v):.3f}, sd {s.stdev(v) if len(v) > 1 else 0:.3f}, range {min(v):.3f}-{max(v):.3f}')" "${aris[@]}"
done
