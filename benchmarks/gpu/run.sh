#!/usr/bin/env bash
# On the GPU machine (see prepare.sh): install the carried wheels beside the machine's JAX and PyTorch, then measure.
#   bash benchmarks/gpu/run.sh [run.py's flags]     (the device call: carry .whl and benchmarks/gpu/data)
set -euo pipefail
cd "$(dirname "$0")/../.."
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
python3 benchmarks/gpu/run.py --output "${OUT:-benchmarks/results}" "$@"
