#!/usr/bin/env bash
# Here, before a GPU run: the wheels the GPU machine lacks go to .whl/ and MNIST to benchmarks/gpu/data/ (both
# ignored by git, both carried by the device call). The machine has Python 3.12, JAX, PyTorch, NumPy, SciPy,
# Pillow, matplotlib, h5py, rich and more, but not Keras, its helpers or cloudmesh-common.
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA=${1:-../shared/data}
mkdir -p .whl benchmarks/gpu/data
cp "$DATA"/*-ubyte.gz benchmarks/gpu/data/
python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \
    keras==3.15.1 namex optree cloudmesh-common==5.0.64 oyaml pyfiglet tzlocal
python3 -m pip wheel --quiet --no-deps -w .whl python-hostlist  # published as source only; pure Python
du -sh .whl benchmarks/gpu/data
