#!/usr/bin/env bash
# The GPU check: fidelity (CPU against GPU), embedding and scoring throughput beside the Python
# tools users would run instead, and topics at scale, in one call of under 8 minutes. Runs from
# the bundle that scripts/build-cuda.sh packs (see docs/gpu.md).
#
#   OUT=/some/dir scripts/gpu-check.sh [BUNDLE_DIR]          # on the GPU machine
#   LD_LIBRARY_PATH=$S/stubs:$S GPU_CHECK_SMALL=1 GPU_CHECK_DEVICE=cpu OUT=/tmp/dry \
#     scripts/gpu-check.sh gpu-bundle     # dry run of every step on a CPU; S = the toolchain's
#                                         # lib64 (its libcuda stub lets the binaries start)
#
# Every figure is one JSON line in $OUT/figures.jsonl; $OUT/summary.md tabulates them and
# $OUT/log.txt holds every command with its output. A failing step is recorded and the check
# goes on. GPU_CHECK_SMALL=1 shrinks every size (and uses a tiny random model for the large
# shapes); GPU_CHECK_DEVICE is the device our binaries are compared on (default cuda).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
if [ $# -ge 1 ]; then BUNDLE=$(cd "$1" && pwd)
elif [ -d "$HERE/bin" ]; then BUNDLE=$HERE
else BUNDLE=$(cd "$HERE/.." && pwd)/gpu-bundle; fi
[ -d "$BUNDLE/bin" ] || { echo "no bundle at $BUNDLE (run scripts/build-cuda.sh)" >&2; exit 2; }
OUT=${OUT:?set OUT to the folder for the results}
DEV=${GPU_CHECK_DEVICE:-cuda}
SMALL=${GPU_CHECK_SMALL:-0}
W=${GPU_CHECK_WORK:-/tmp/navab-gpu-check}
REF=$BUNDLE/reference
PY=${PYTHON:-python3}
mkdir -p "$OUT" "$W"
OUT=$(cd "$OUT" && pwd)
FIG=$OUT/figures.jsonl
LOG=$OUT/log.txt
: > "$FIG"; : > "$LOG"
START=$(date +%s)
# The whole check stops here, so that it ends within one 8-minute call.
BUDGET=${GPU_CHECK_BUDGET_S:-450}

fig() { echo "$1" >> "$FIG"; echo "$1"; }
left() { echo $(( BUDGET - ($(date +%s) - START) )); }
# step NAME SECONDS CMD...: runs CMD with its output in the log, under a time limit (at most
# what is left of the budget); records a failure instead of stopping.
step() {
  local name=$1 limit=$2; shift 2
  local l; l=$(left)
  [ "$limit" -gt "$l" ] && limit=$l
  if [ "$limit" -le 5 ]; then
    fig "{\"step\": \"$name\", \"status\": \"skipped\", \"reason\": \"time budget spent\"}"; return 1
  fi
  echo "=== $name (limit ${limit}s): $*" >> "$LOG"
  local t0 rc; t0=$(date +%s%N)
  timeout "$limit" "$@" >> "$LOG" 2>&1; rc=$?
  local dt; dt=$(awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')
  if [ $rc -ne 0 ]; then
    fig "{\"step\": \"$name\", \"status\": \"failed\", \"rc\": $rc, \"seconds\": $dt}"; return 1
  fi
  echo "--- $name: ${dt}s" >> "$LOG"
}
# Like step, but stdout goes to FILE (the log gets stderr).
step_to() {
  local file=$1; shift
  local name=$1 limit=$2; shift 2
  step "$name" "$limit" bash -c '"$@" > "'"$file"'"' _ "$@"
}
unxz_to() {  # FILE.xz DEST: xz when installed, else Python's lzma
  if command -v xz > /dev/null; then xz -dc "$1" > "$2"
  else "$PY" -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1" "$2"; fi
}

# --- unpack ---------------------------------------------------------------------------------------
mkdir -p "$W/bin" "$W/data" "$W/models"
for f in "$BUNDLE"/bin/*.xz; do
  b=$W/bin/$(basename "$f" .xz)
  [ -x "$b" ] || { unxz_to "$f" "$b" && chmod +x "$b"; }
done
BBC=$W/data/bbc-news.jsonl
[ -f "$BBC" ] || unxz_to "$BUNDLE/data/bbc-news.jsonl.xz" "$BBC"
SAMPLE=$BUNDLE/data/navab-hk-sample
MINILM=$W/models/all-MiniLM-L6-v2
if [ ! -f "$MINILM/model.safetensors" ]; then
  cp -r "$BUNDLE/models/all-MiniLM-L6-v2" "$W/models/"
  unxz_to "$MINILM/model.safetensors.xz" "$MINILM/model.safetensors" && rm "$MINILM/model.safetensors.xz"
fi
QTOK=$W/models/qwen3-tokenizer.json
[ -f "$QTOK" ] || unxz_to "$BUNDLE/models/qwen3-tokenizer.json.xz" "$QTOK"
B=$W/bin
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"; } \
  | head -1 | "$PY" -c 'import json, sys; print(json.dumps({"machine": sys.stdin.read().strip(), "cpus": '"$(nproc)"', "device": "'"$DEV"'", "small": '"$SMALL"'}))' \
  | while read -r l; do fig "$l"; done

if [ "$SMALL" = 1 ]; then
  SHAPES="tiny"; N_FID=16; N_EVAL=4; LIMIT="--limit 64"; PYLIMIT="--limit 64"; TOPICS_N=5000
  BATCHES=2,4; REPEATS=1
else
  SHAPES="qwen2.5-0.5b llama-3.1-8b"; N_FID=200; N_EVAL=24; LIMIT=""; PYLIMIT=""
  TOPICS_N=${GPU_CHECK_TOPICS_N:-1000000}
  BATCHES=8,32,128; REPEATS=5
fi
HAVE_TORCH=0
"$PY" -c 'import torch, transformers' 2>/dev/null && HAVE_TORCH=1
HAVE_ST=0
"$PY" -c 'import sentence_transformers' 2>/dev/null && HAVE_ST=1

# --- random-weight models of the large shapes (made here, not carried) ---------------------------
for s in $SHAPES; do
  # Qwen's tokenizer where it fits (the fidelity runs score real text with the first shape).
  tok=(--tokenizer "$QTOK"); [ "$s" = llama-3.1-8b ] && tok=()
  [ -f "$W/models/$s/config.json" ] || step "make-$s" 150 "$PY" "$REF/make_random_lm.py" "$s" "$W/models/$s" "${tok[@]}"
done
FIRST=$W/models/$(echo $SHAPES | cut -d' ' -f1)

# --- 1. fidelity -----------------------------------------------------------------------------------
# Log-probs: SmolLM2 (real weights) when the bundle holds it, else the first random shape.
LM=$FIRST
GGUF=$(ls "$BUNDLE"/models/*.gguf 2>/dev/null | head -1)
[ -n "$GGUF" ] && LM=$GGUF
head -n 8 "$BBC" > "$W/data/texts.jsonl"
LP=$W/logprobs; mkdir -p "$LP"
step_to "$LP/cpu-f32.jsonl" logprobs-cpu-f32 60 "$B/logprobs" --model "$LM" --texts "$W/data/texts.jsonl" --device cpu --dtype f32
for dt in f32 bf16; do
  step_to "$LP/$DEV-$dt.jsonl" "logprobs-$DEV-$dt" 60 "$B/logprobs" --model "$LM" --texts "$W/data/texts.jsonl" --device "$DEV" --dtype "$dt" \
    && fig "$("$PY" "$REF/gpu_compare.py" logprobs "$LP/cpu-f32.jsonl" "$LP/$DEV-$dt.jsonl" --label "$(basename "$LM") cpu-f32 vs $DEV-$dt")"
done
# Embeddings of the first N_FID articles.
E=$W/embed; mkdir -p "$E"
step emb-fid-cpu-f32 90 "$B/embed_corpus" --corpus "$BBC" --model "$MINILM" --limit $N_FID --device cpu --dtype f32 --out "$E/cpu-f32"
for dt in f32 bf16; do
  step "emb-fid-$DEV-$dt" 60 "$B/embed_corpus" --corpus "$BBC" --model "$MINILM" --limit $N_FID --device "$DEV" --dtype "$dt" --out "$E/$DEV-$dt" \
    && fig "$("$PY" "$REF/gpu_compare.py" embeddings "$E/cpu-f32" "$E/$DEV-$dt" --label "all-MiniLM-L6-v2 cpu-f32 vs $DEV-$dt")"
done
# MC decisions on the NaVAB sample.
for d in cpu "$DEV"; do
  rm -rf "$W/eval-$d"
  step "evaluate-$d" 120 "$B/evaluate" --data "$SAMPLE" --model "$LM" --device "$d" --dtype f32 --limit $N_EVAL --out "$W/eval-$d"
done
[ -f "$W/eval-$DEV/items.jsonl" ] && [ -f "$W/eval-cpu/items.jsonl" ] \
  && fig "$("$PY" "$REF/gpu_compare.py" decisions "$W/eval-cpu" "$W/eval-$DEV" --label "$(basename "$LM") sample cpu vs $DEV")"

# --- 2. embedding throughput, ours beside sentence-transformers ------------------------------------
for dt in bf16 f32; do
  for kind in articles paragraphs; do
    flag=""; [ $kind = paragraphs ] && flag=--paragraphs
    if step_to "$E/speed.txt" "emb-$kind-$DEV-$dt" 90 "$B/embed_corpus" --corpus "$BBC" --model "$MINILM" $LIMIT $flag \
        --batch-size 256 --device "$DEV" --dtype "$dt" --out "$E/speed"; then
      fig "$("$PY" "$REF/gpu_compare.py" embed-speed "$E/speed.txt" --label "navab $DEV $dt $kind" \
        --fields "{\"tool\": \"navab\", \"device\": \"$DEV\", \"dtype\": \"$dt\", \"corpus\": \"$kind\", \"batch\": 256}")"
    fi
  done
done
if [ $HAVE_ST = 1 ]; then
  step_to "$E/st.jsonl" emb-sentence-transformers 150 "$PY" "$REF/gpu_reference.py" embed --model "$MINILM" --corpus "$BBC" $PYLIMIT \
    ; grep '^{' "$E/st.jsonl" | while read -r l; do fig "$l"; done
else
  fig '{"step": "emb-sentence-transformers", "status": "skipped", "reason": "sentence_transformers is not installed"}'
fi

# --- 3. MC scoring throughput at the large shapes, sequence 128 ------------------------------------
S=$W/score; mkdir -p "$S"
for s in $SHAPES; do
  step_to "$S/$s.jsonl" "score-$s-$DEV-bf16" 120 "$B/bench" --model "$W/models/$s" --synthetic-seq 128 \
    --batch-sizes $BATCHES --repeats $REPEATS --device "$DEV" --dtype bf16 \
    ; grep '^{' "$S/$s.jsonl" | while read -r l; do fig "$l"; done
done
if [ $HAVE_TORCH = 1 ]; then
  step_to "$S/hf.jsonl" score-hf-sdpa 180 "$PY" "$REF/gpu_reference.py" score \
    $(for s in $SHAPES; do printf -- '--model %s ' "$W/models/$s"; done) --seq 128 --batches $BATCHES --repeats $REPEATS \
    ; grep '^{' "$S/hf.jsonl" | while read -r l; do fig "$l"; done
else
  fig '{"step": "score-hf-sdpa", "status": "skipped", "reason": "torch/transformers are not installed"}'
fi

# --- 4. topics at scale: kNN + UMAP + HDBSCAN on synthetic embeddings (CPU) -------------------------
T=$W/topics; mkdir -p "$T"
# What is left of the budget, less 45 s for HDBSCAN on UMAP's 5-d output.
step_to "$T/umap.txt" "umap-synthetic-$TOPICS_N" $(( $(left) - 45 )) "$B/umap_bench" --synthetic $TOPICS_N --dim 384 --clusters 50 \
    --trust-sample 2000 --out "$T/umap5" \
  && fig "$("$PY" -c 'import json, sys; print(json.dumps({"bench": "topics-umap", "synthetic": True, "n": int(sys.argv[1]), "dim": 384, "output": open(sys.argv[2]).read().strip().splitlines()}))' $TOPICS_N "$T/umap.txt")"
[ -f "$T/umap5.f32" ] && step_to "$T/hdbscan.txt" "hdbscan-synthetic-$TOPICS_N" 120 "$B/hdbscan_bench" --input "$T/umap5.f32" \
  && fig "$("$PY" -c 'import json, sys; print(json.dumps({"bench": "topics-hdbscan", "synthetic": True, "n": int(sys.argv[1]), "dim": 5, "output": open(sys.argv[2]).read().strip().splitlines()}))' $TOPICS_N "$T/hdbscan.txt")"

fig "{\"step\": \"done\", \"seconds\": $(( $(date +%s) - START ))}"
"$PY" "$REF/gpu_compare.py" summary "$FIG" > "$OUT/summary.md"
echo "figures: $FIG; summary: $OUT/summary.md; log: $LOG"
