#!/usr/bin/env bash
# Creates (or updates) a Python virtual environment with the reference stack of
# scripts/reference/requirements.txt: PyTorch, transformers (with GGUF loading), safetensors, gguf.
#
#   scripts/reference/setup-venv.sh [DIR] [PIP_ARGS...]
#
#   DIR        where to create the venv (default: .venv-ref at the repository root, git-ignored)
#   PIP_ARGS   passed on to `pip install`, e.g. `--index-url URL` of PyTorch's CPU-only wheel index:
#              on Linux the default torch wheel pulls the CUDA libraries (several GB), which CPU
#              comparisons do not need.
#   PYTHON     the interpreter to create the venv with (default: python3; 3.10 or newer)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
venv=$root/.venv-ref
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then venv=$1; shift; fi
PY=${PYTHON:-python3}

"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
  || { echo "setup-venv: $PY is $("$PY" --version 2>&1); Python 3.10 or newer is needed" >&2; exit 1; }
if [ ! -x "$venv/bin/python" ]; then
  echo "setup-venv: creating $venv" >&2
  "$PY" -m venv "$venv"
else
  echo "setup-venv: updating $venv" >&2
fi
echo "setup-venv: installing $(grep -cvE '^\s*(#|$)' "$here/requirements.txt") pinned packages (torch is large; this takes a while)" >&2
"$venv/bin/python" -m pip install --disable-pip-version-check -q -r "$here/requirements.txt" "$@"
"$venv/bin/python" -c 'import torch, transformers, gguf, safetensors, numpy
print(f"torch {torch.__version__}, transformers {transformers.__version__}, gguf, safetensors, numpy {numpy.__version__}: ok")' >&2
echo "setup-venv: ready; run the reference scripts with $venv/bin/python" >&2
