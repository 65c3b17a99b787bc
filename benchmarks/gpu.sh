#!/usr/bin/env bash
# The GPU check, for any host with an NVIDIA GPU: one command, at most 8 minutes for the check.
#
#   benchmarks/gpu.sh [--steps 300] [--data PATH]
#
# Records CUDA detection and AMP (bf16, or fp16 with the GradScaler), a few hundred
# optimizer steps of each neural branch on the full corpus (Devign from
# ../shared/datasets/devign/devign.jsonl.gz if present, else the bundled sample) with
# samples/s and peak GPU memory, and a 2-process DDP run when two or more GPUs are
# visible, into benchmarks/results/gpu-<host>.md and .json (benchmarks/gpu_check.py).
#
# On a bare checkout it first runs `make install` (not counted in the 8 minutes), unless
# GPU_CHECK_PYTHON names a Python that already holds a CUDA torch (an offline GPU image). The lock
# installs the CPU build of torch; where a GPU is visible and torch has no CUDA, it swaps in
# the CUDA build of the same version from TORCH_CUDA_INDEX (default: PyTorch's cu126 index;
# needs the network). On a host without a GPU it says "no GPU" and exits 0.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

BUDGET_S="${GPU_CHECK_BUDGET_S:-470}"  # the check's own budget; the hard stop is 8 minutes
TORCH_CUDA_INDEX="${TORCH_CUDA_INDEX:-https://download.pytorch.org/whl/cu126}"
say() { printf 'gpu.sh: %s\n' "$*" >&2; }

# GPU_CHECK_PYTHON: a Python that already has a CUDA build of torch (an offline GPU image), used
# with the checkout's src/ instead of a .venv; the other requirements must be importable by it.
if [ -n "${GPU_CHECK_PYTHON:-}" ]; then
    PY="$GPU_CHECK_PYTHON"
    export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
    say "using $PY (torch $("$PY" -c 'import torch; print(torch.__version__)')) with src/ on PYTHONPATH"
else
    if [ ! -x .venv/bin/python ] || [ ! -f .venv/.installed ]; then
        say "no .venv here: make install"
        make install
    fi
    PY=.venv/bin/python
fi

gpus=0
if command -v nvidia-smi >/dev/null 2>&1; then
    gpus="$(nvidia-smi -L 2>/dev/null | grep -c '^GPU ' || true)"
fi
if ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
    if [ "$gpus" -eq 0 ]; then
        say "no GPU: nvidia-smi lists none and torch sees none; nothing to check on this host"
        exit 0
    fi
    version="$("$PY" -c 'import torch; print(torch.__version__.split("+")[0])')"
    say "$gpus GPU(s) visible, but torch $version is a CPU build: installing torch==$version from $TORCH_CUDA_INDEX"
    # --isolated: a find-links folder of CPU wheels in the pip config would satisfy torch==$version again
    PIP_FIND_LINKS="" "$PY" -m pip --isolated install --quiet --force-reinstall --no-deps "torch==$version" \
        --index-url "$TORCH_CUDA_INDEX" \
        || { say "could not install the CUDA build of torch $version (no network? set TORCH_CUDA_INDEX)"; exit 3; }
    if ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
        say "torch $("$PY" -c 'import torch; print(torch.__version__)') from $TORCH_CUDA_INDEX still sees no GPU: \
pick the index that matches the driver ($(nvidia-smi --query-gpu=driver_version --format=csv,noheader | head -1))"
        exit 3
    fi
fi

host="$(hostname -s 2>/dev/null || hostname)"
say "checking (budget ${BUDGET_S} s, hard stop 480 s); results: benchmarks/results/gpu-$host.{md,json}"
exec timeout -k 5 480 "$PY" benchmarks/gpu_check.py --budget-s "$BUDGET_S" --out "benchmarks/results/gpu-$host" "$@"
