#!/usr/bin/env bash
# Builds the GPU (`--features cuda`) examples on a machine without a GPU or CUDA toolkit and packs
# them, with the small models and data the GPU check needs, into a bundle folder to carry to the
# GPU machine (see docs/gpu.md).
#
#   scripts/build-cuda.sh                  # toolchain + build + smoke run + bundle
#   scripts/build-cuda.sh toolchain        # only the CUDA toolchain tree; prints its exports
#
# Environment:
#   CUDA_COMPUTE_CAP  GPU generation to compile for (default 90: H100/H200; 80 A100, 89 L40/4090)
#   CUDA_TOOLCHAIN    where the toolchain tree goes (default target/cuda-13.0)
#   CARGO_TARGET_DIR  cargo's target dir (default target)
#   BUNDLE_DIR        the bundle folder (default gpu-bundle, git-ignored)
#   NAVAB_DATA_DIR    holds bbc-news.jsonl and navab-hk-sample/ (copied into the bundle)
#   NAVAB_MODELS_DIR  holds all-MiniLM-L6-v2/ and qwen3-tokenizer/ (default models)
#   BUNDLE_SMOLLM2=1  also pack the SmolLM2 GGUF (98 MB: over a 64 MiB carry with the rest)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

CAP=${CUDA_COMPUTE_CAP:-90}
TOOLCHAIN=${CUDA_TOOLCHAIN:-$ROOT/target/cuda-13.0}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BUNDLE=${BUNDLE_DIR:-$ROOT/gpu-bundle}
MODELS=${NAVAB_MODELS_DIR:-$ROOT/models}
PY=${PYTHON:-python3}

# --- 1. CUDA 13.0 toolchain tree from NVIDIA's Python wheels -------------------------------------
# The pins are CUDA 13.0 on purpose: PTX from a newer nvcc (13.1+, newer PTX ISA) fails to load
# on a driver that supports only 13.0 (CUDA_ERROR_UNSUPPORTED_PTX_VERSION). Match the wheels'
# minor version to the driver of the GPU machine (`nvidia-smi` prints it), not to its toolkit.
toolchain() {
  local t=$TOOLCHAIN/cuda
  if [ -x "$t/bin/nvcc" ] && [ -f "$t/lib64/stubs/libcuda.so" ]; then return; fi
  mkdir -p "$TOOLCHAIN"
  "$PY" -m venv "$TOOLCHAIN/venv"
  # nvcc: nvcc + crt (headers, link stubs) + nvvm (cicc, libdevice); headers: runtime + cccl;
  # libraries candle links: cublas (+ cublasLt), curand, nvrtc. About 1.2 GB installed.
  "$TOOLCHAIN/venv/bin/pip" install -q --disable-pip-version-check \
    nvidia-cuda-nvcc==13.0.88 nvidia-cuda-crt==13.0.88 nvidia-nvvm==13.0.88 \
    nvidia-cuda-runtime==13.0.96 nvidia-cuda-cccl==13.0.85 \
    nvidia-cublas==13.0.2.14 nvidia-curand==10.4.0.35 nvidia-cuda-nvrtc==13.0.88
  # Every CUDA 13 wheel installs into one prefix: site-packages/nvidia/cu13.
  local cu
  cu=$("$TOOLCHAIN/venv/bin/python" -c \
    'import os, nvidia; print(os.path.join(list(nvidia.__path__)[0], "cu13"))')
  [ -x "$cu/bin/nvcc" ] || { echo "nvcc not found under $cu" >&2; exit 1; }
  # A CUDA_HOME-like tree of symlinks: nvcc finds nvcc.profile, cicc and headers from its real
  # path, so a symlinked bin/ works.
  rm -rf "$t"; mkdir -p "$t/lib64/stubs"
  ln -s "$cu/bin" "$t/bin"; ln -s "$cu/nvvm" "$t/nvvm"; ln -s "$cu/include" "$t/include"
  ln -s lib64 "$t/lib"
  for f in "$cu"/lib/*.so* "$cu"/lib/*.a; do ln -s "$f" "$t/lib64/"; done
  # The linker wants the unversioned names (-lcublas ...); the wheels ship only versioned ones.
  ( cd "$t/lib64"
    ln -sf libcublas.so.13 libcublas.so; ln -sf libcublasLt.so.13 libcublasLt.so
    ln -sf libcurand.so.10 libcurand.so; ln -sf libnvrtc.so.13 libnvrtc.so
    ln -sf libcudart.so.13 libcudart.so )
  # No wheel ships libcuda (it is the driver's). The link-time stub exports every cu* entry
  # point of cuda.h: the names after preprocessing (the #define'd _v2/_v3 ones), in both the
  # legacy and the per-thread-default-stream flavour, plus the plain names. Every function
  # returns CUDA_ERROR_NO_DEVICE (100), so that the stub, put on LD_LIBRARY_PATH, also lets a CPU
  # machine smoke-test the GPU binary: `--device cuda` then fails cleanly. The error-string
  # functions answer with a fixed text so that error messages can be printed.
  {
    for d in "" "-DCUDA_API_PER_THREAD_DEFAULT_STREAM"; do
      echo '#include <cuda.h>' | gcc -E $d -I"$cu/include" -x c - \
        | grep -oE '\bcu[A-Z][A-Za-z0-9_]*[[:space:]]*\(' | tr -d ' ('
    done
    grep -oE '\bcu[A-Z][A-Za-z0-9_]*[[:space:]]*\(' "$cu/include/cuda.h" | tr -d ' ('
  } | sort -u | grep -vx 'cuGetErrorString\|cuGetErrorName' \
    | awk '{print "int " $1 "(void) { return 100; }"}' > "$t/lib64/stubs/libcuda_stub.c"
  cat >> "$t/lib64/stubs/libcuda_stub.c" <<'C'
int cuGetErrorString(int e, const char **s) { (void)e; *s = "no CUDA driver (link stub)"; return 0; }
int cuGetErrorName(int e, const char **s) { (void)e; *s = "CUDA_ERROR_NO_DEVICE"; return 0; }
C
  gcc -shared -fPIC -O0 -Wl,-soname,libcuda.so.1 \
    -o "$t/lib64/stubs/libcuda.so" "$t/lib64/stubs/libcuda_stub.c"
  ln -sf libcuda.so "$t/lib64/stubs/libcuda.so.1"
  "$t/bin/nvcc" --version | tail -1 >&2
}

cuda_env() {
  local t=$TOOLCHAIN/cuda
  # CUDA_HOME: cudarc's build script searches $CUDA_HOME/{lib,lib64,lib64/stubs} when linking;
  # PATH: cudarc and candle-kernels run nvcc; CUDARC_CUDA_VERSION pins cudarc's API level to
  # 13.0; CUDA_COMPUTE_CAP: there is no nvidia-smi here to ask.
  cat <<ENV
export CUDA_HOME=$t
export PATH=$t/bin:\$PATH
export CUDARC_CUDA_VERSION=13000
export CUDA_COMPUTE_CAP=$CAP
ENV
}

toolchain
if [ "${1:-}" = toolchain ]; then cuda_env; exit 0; fi
eval "$(cuda_env)"

# --- 2. Build -------------------------------------------------------------------------------------
# One cargo call, so that every example shares one feature resolution (and one build of candle).
CUDA_EXAMPLES="evaluate bench logprobs embed_corpus"
CPU_EXAMPLES="umap_bench hdbscan_bench"
started=$(date +%s)
cargo build --release --features navab/cuda,navab-embed/cuda \
  -p navab -p navab-embed -p navab-topics \
  $(for e in $CUDA_EXAMPLES $CPU_EXAMPLES; do printf -- '--example %s ' "$e"; done)
echo "build: $(( $(date +%s) - started )) s" >&2
BIN=$TARGET/release/examples

# --- 3. Smoke run on this CPU-only machine ------------------------------------------------------
# The binaries link libcuda.so.1 (candle 0.11 turns on cudarc's `dynamic-linking`), so without a
# driver they need the stub to start at all; with it, `--device cuda` must fail with a clear
# error and `--device cpu` must work.
if ! ldconfig -p 2>/dev/null | grep -q 'libcuda.so.1 '; then
  smoke_libs=$TOOLCHAIN/cuda/lib64/stubs:$TOOLCHAIN/cuda/lib64
  if out=$(RUST_BACKTRACE=0 LD_LIBRARY_PATH=$smoke_libs "$BIN/logprobs" --model "$MODELS/all-MiniLM-L6-v2" \
      --device cuda --text hi 2>&1); then
    echo "smoke: --device cuda succeeded on a machine without a GPU" >&2; exit 1
  fi
  echo "smoke: --device cuda without a GPU -> $(echo "$out" | head -1)" >&2
  echo "$out" | grep -q CUDA_ERROR_NO_DEVICE || { echo "smoke: unexpected error" >&2; exit 1; }
  if [ -f "$MODELS/all-MiniLM-L6-v2/model.safetensors" ] && [ -n "${NAVAB_DATA_DIR:-}" ]; then
    smoke=$(mktemp -d)
    LD_LIBRARY_PATH=$smoke_libs "$BIN/embed_corpus" --corpus "$NAVAB_DATA_DIR/bbc-news.jsonl" \
      --model "$MODELS/all-MiniLM-L6-v2" --limit 8 --device cpu --out "$smoke/e" > /dev/null
    echo "smoke: --device cpu embedded 8 articles" >&2
    rm -rf "$smoke"
  fi
fi

# --- 4. Bundle --------------------------------------------------------------------------------------
# xz -9 packs a 50 MB CUDA binary into about 6 MB (gzip -9: 13 MB); a carry is at most 64 MiB.
mkdir -p "$BUNDLE/bin" "$BUNDLE/models" "$BUNDLE/data"
for e in $CUDA_EXAMPLES $CPU_EXAMPLES; do
  xz -9 -T1 -c "$BIN/$e" > "$BUNDLE/bin/$e.xz"
done
m=$MODELS/all-MiniLM-L6-v2
if [ -f "$m/model.safetensors" ]; then
  # The weights as bf16 (45 MB instead of 91 MB); every run on the GPU machine, ours and the
  # reference, loads this same file, so CPU and GPU still compare like for like.
  d=$BUNDLE/models/all-MiniLM-L6-v2
  mkdir -p "$d"
  for f in config.json tokenizer.json tokenizer_config.json special_tokens_map.json vocab.txt \
      modules.json sentence_bert_config.json config_sentence_transformers.json; do
    [ -f "$m/$f" ] && cp "$m/$f" "$d/"
  done
  [ -d "$m/1_Pooling" ] && cp -r "$m/1_Pooling" "$d/"
  "$PY" scripts/reference/safetensors_bf16.py "$m/model.safetensors" "$d/model.safetensors"
  xz -9 -T1 -f "$d/model.safetensors"
fi
q=$MODELS/qwen3-tokenizer/tokenizer.json
[ -f "$q" ] && xz -9 -T1 -c "$q" > "$BUNDLE/models/qwen3-tokenizer.json.xz"
if [ "${BUNDLE_SMOLLM2:-0}" = 1 ]; then
  cp "$MODELS/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf" "$BUNDLE/models/"
fi
if [ -n "${NAVAB_DATA_DIR:-}" ]; then
  [ -f "$NAVAB_DATA_DIR/bbc-news.jsonl" ] && xz -9 -T1 -c "$NAVAB_DATA_DIR/bbc-news.jsonl" \
    > "$BUNDLE/data/bbc-news.jsonl.xz"
  [ -d "$NAVAB_DATA_DIR/navab-hk-sample" ] && cp -r "$NAVAB_DATA_DIR/navab-hk-sample" "$BUNDLE/data/" \
    && chmod -R u+w "$BUNDLE/data/navab-hk-sample"
else
  echo "NAVAB_DATA_DIR is unset: the bundle has no data (the check needs bbc-news.jsonl)" >&2
fi
cp scripts/gpu-check.sh "$BUNDLE/"
mkdir -p "$BUNDLE/reference"
cp scripts/reference/gpu_reference.py scripts/reference/make_random_lm.py \
  scripts/reference/gpu_compare.py "$BUNDLE/reference/"
ls -l "$BUNDLE"/bin "$BUNDLE"/models "$BUNDLE"/data >&2
echo "bundle: $(du -sb "$BUNDLE" | cut -f1) bytes in $BUNDLE" >&2
