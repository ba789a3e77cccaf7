#!/usr/bin/env bash
# The one command of the GPU call, run from the repository's root with .whl and benchmarks/gpu/data carried (see
# prepare.sh): installs the wheels beside the machine's JAX and PyTorch, checks that both see the GPU, measures
# (benchmarks.gpu.run) until END_S and leaves the results and the log in $OUT.
#   [END_S=570] bash benchmarks/gpu/run.sh [benchmarks.gpu.run's options, e.g. --only gpu notebook --seeds 1 2]
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/gpu-out}
END_S=${END_S:-570}  # seconds into the call by which all is done: the device call's timeout_s less 30
SITE=${SITE:-/tmp/site}
SMOKE=false && [[ " $* " == *" --smoke "* ]] && SMOKE=true  # a CPU check: no GPU asked for
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH=$SITE:$PWD TF_CPP_MIN_LOG_LEVEL=3 KERAS_BACKEND=jax  # no TensorFlow there
{
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" .whl/*.whl
    nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used,utilization.gpu --format=csv,noheader
    python3 -c "import jax, keras, nbclient, mnist_cnn.train, benchmarks.common
print('jax', jax.__version__, jax.devices(), '| keras', keras.__version__)
import torch; print('torch', torch.__version__, torch.cuda.is_available())
assert jax.devices()[0].platform == 'gpu' and torch.cuda.is_available(), 'no GPU for JAX or PyTorch'" || $SMOKE || exit 3
    # Measurements start until 60 s before the end: the last may run that long on.
    python3 -m benchmarks.gpu.run --results "$OUT" --budget $((END_S - 60 - SECONDS)) "$@"
} 2>&1 | tee "$OUT/gpu-run.log"
