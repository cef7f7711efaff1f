#!/usr/bin/env bash
# bf16 on the CPU side by side in one run: navab-embed's embed_corpus and navab's bench in f32
# and bf16 (packed bf16 matrix products on AMX / AVX512-BF16), against sentence-transformers and
# HF transformers in f32 and cast to bf16, on the same texts.
#
#   cargo build --release -p navab-embed --example embed_corpus
#   cargo build --release --example bench
#   scripts/reference/bf16_speed.sh [DATA_DIR] [PYTHON]
#
# DATA_DIR holds bbc-news.jsonl and navab-hk-sample/ (default ../shared/data).
set -euo pipefail
data=${1:-../shared/data}
py=${2:-.venv-ref/bin/python}
bin=${CARGO_TARGET_DIR:-target}/release/examples
# The runs below hide the tools' progress output, so a missing package would leave a blank row.
"$py" -c 'import sentence_transformers, transformers' 2>/dev/null || {
  echo "$py lacks sentence-transformers or transformers: pip install -r scripts/reference/requirements.txt" >&2
  exit 1
}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
echo "CPU flags: $(grep -o -w 'amx_bf16\|amx_tile\|avx512_bf16' /proc/cpuinfo | sort -u | tr '\n' ' ')"
rate() { grep -o '[0-9.]* docs/s' | head -1; }
for spec in "articles (first 400, 256 tokens)|--limit 400" "titles (2,225)|--text-field title"; do
  name=${spec%%|*}
  args=${spec#*|}
  echo "== embedding, $name"
  for dtype in f32 bf16; do
    # shellcheck disable=SC2086
    echo "navab-embed $dtype:           $("$bin"/embed_corpus --corpus "$data/bbc-news.jsonl" --out "$out/$dtype" --dtype $dtype $args 2>/dev/null | rate)"
    # shellcheck disable=SC2086
    echo "sentence-transformers $dtype: $("$py" scripts/reference/st_embed.py --corpus "$data/bbc-news.jsonl" --out "$out/st-$dtype" --dtype $dtype $args 2>/dev/null | rate)"
  done
  for pair in "f32 bf16" "st-f32 st-bf16" "f32 st-f32"; do
    # shellcheck disable=SC2086
    set -- $pair
    echo "cosine $1 vs $2: $("$py" scripts/reference/st_embed.py --compare "$out/$1" "$out/$2" | tr '\n' ' ')"
  done
done
echo "== MC scoring (paper method, batch 1 and 8), the NaVAB sample"
for dtype in f32 bf16; do
  echo "navab $dtype:"
  "$bin"/bench --data "$data/navab-hk-sample" --methods paper --batch-sizes 1,8 --dtype $dtype 2>/dev/null | tail -n +2
  for batch in 1 8; do
    echo "HF transformers $dtype, batch $batch:"
    "$py" scripts/reference/bench_hf.py --data "$data/navab-hk-sample" --styles paper --dtype $dtype --batch-size $batch 2>/dev/null | grep -v '^{'
  done
done
