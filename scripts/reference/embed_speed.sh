#!/usr/bin/env bash
# Embedding speed side by side in one run: navab-embed's embed_corpus with its defaults (no
# environment variable), with one worker (each batch's products spread over the cores), and
# sentence-transformers on the same texts: short texts (BBC titles: what topic labels and
# Conflict Reduction embed are this short), paragraphs, and long articles.
#
#   cargo build --release -p navab-embed --example embed_corpus
#   scripts/reference/embed_speed.sh [CORPUS] [PYTHON]
#
# EXTRA="NAME=COMMAND;NAME=COMMAND" adds other embed_corpus builds or settings to each row, e.g.
#   EXTRA="old, 2 workers=env RAYON_NUM_THREADS=2 /tmp/old/embed_corpus --workers 2"
set -euo pipefail
corpus=${1:-../shared/data/bbc-news.jsonl}
py=${2:-.venv-ref/bin/python}
bin=target/release/examples/embed_corpus
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# name, embed_corpus arguments (st_embed.py takes the same ones)
inputs=(
  "titles|--text-field title"
  "paragraphs (first 3,000)|--paragraphs --limit 3000"
  "articles (first 300)|--limit 300"
)
IFS=';' read -ra extras <<< "${EXTRA:-}"
rate() { grep -o '[0-9.]* docs/s' | head -1; }
for spec in "${inputs[@]}"; do
  name=${spec%%|*}
  args=${spec#*|}
  echo "== $name"
  # shellcheck disable=SC2086
  echo "navab-embed, defaults:   $($bin --corpus "$corpus" --out "$out/a" $args 2>/dev/null | rate)"
  # shellcheck disable=SC2086
  echo "navab-embed, --workers 1: $($bin --corpus "$corpus" --out "$out/b" --workers 1 $args 2>/dev/null | rate)"
  for extra in ${extras[@]+"${extras[@]}"}; do
    # shellcheck disable=SC2086
    echo "${extra%%=*}: $(${extra#*=} --corpus "$corpus" --out "$out/c" $args 2>/dev/null | rate)"
  done
  # shellcheck disable=SC2086
  echo "sentence-transformers:   $("$py" scripts/reference/st_embed.py --corpus "$corpus" $args 2>/dev/null | rate)"
done
