#!/usr/bin/env bash
# Here, before the GPU call: the wheels the GPU machine lacks into .whl/ and MNIST into benchmarks/gpu/data/, both
# kept out of git by .git/info/exclude and carried by the call (docs/backends-and-gpus.md, "On a GPU").
#   bash benchmarks/gpu/prepare.sh [MNIST_FOLDER]      (default ../shared/data: the four IDX .gz files)
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA=${1:-../shared/data}
# What Keras, mnist_cnn and a Jupyter kernel import that the machine's image (KINDS.md) lacks; one version each.
KERAS=(keras==3.15.1 namex==0.1.0 optree==0.20.0 pydot==4.0.1)
CLOUDMESH=(cloudmesh-common==5.0.64 oyaml==1.0 pyfiglet==1.0.4 tzlocal==5.4.5)
JUPYTER=(nbclient==0.10.4 nbformat==5.11.1 jupyter-client==8.10.0 jupyter-core==5.9.1 ipykernel==7.4.0
    ipython==9.18.1 ipython-pygments-lexers==1.1.1 comm==0.2.3 debugpy==1.8.22 matplotlib-inline==0.2.2
    nest-asyncio2==1.7.4 pyzmq==27.3.0 tornado==6.6.1 traitlets==5.16.1 platformdirs==4.14.9 fastjsonschema==2.22.3
    jsonschema==4.26.0 jsonschema-specifications==2025.9.1 referencing==0.37.0 rpds-py==2026.9.1 jedi==0.20.1
    parso==0.8.7 prompt-toolkit==3.0.53 wcwidth==0.9.4 pexpect==4.9.0 ptyprocess==0.7.0 stack-data==0.6.3
    executing==2.3.0 asttokens==3.0.2 pure-eval==0.2.4)
for ignored in /.whl/ /benchmarks/gpu/data/; do
    grep -qxF "$ignored" .git/info/exclude 2>/dev/null || echo "$ignored" >>.git/info/exclude
done
rm -rf .whl && mkdir -p .whl benchmarks/gpu/data
cp "$DATA"/*-ubyte.gz benchmarks/gpu/data/
platforms=()
for tag in manylinux_2_28 manylinux_2_27 manylinux_2_17 manylinux2014 manylinux1; do platforms+=(--platform "${tag}_x86_64"); done
python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    "${platforms[@]}" -d .whl "${KERAS[@]}" "${CLOUDMESH[@]}" "${JUPYTER[@]}"
python3 -m pip wheel --quiet --no-deps -w .whl python-hostlist==2.3.0  # published as source only; pure Python
du -sh .whl benchmarks/gpu/data
