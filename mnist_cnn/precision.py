"""The numeric precision of training: float32, or mixed precision where the hardware runs it natively.

Mixed precision (Keras' `mixed_bfloat16` and `mixed_float16`) computes in 16 bits and keeps the weights in float32.
"auto" picks bfloat16 on CPUs with native bfloat16 instructions, float16 on GPUs whose tensor cores take no float32
(compute capability 7.x), and float32 elsewhere: from 8.0 on, tensor cores run float32 as TF32, and 16 bits gain this
small network little for a slower first compile (docs/backends-and-gpus.md, "Precision").
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import keras

from mnist_cnn import backend

# /proc/cpuinfo's flags of native bfloat16 arithmetic.
CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")
# The first GPUs with tensor cores (float16 only), and the first whose tensor cores also run float32 (as TF32).
TENSOR_CORE_CAPABILITY = (7, 0)
TF32_CAPABILITY = (8, 0)


def cpu_flags() -> set[str]:
    """The CPU's feature flags, from /proc/cpuinfo (empty where there is none)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    line = next((line for line in text.splitlines() if line.startswith("flags")), "")
    return set(line.partition(":")[2].split())


def resolve_precision(precision: str) -> str:
    """The Keras policy name that `precision` stands for on this machine ("auto" resolved)."""
    if precision != "auto":
        return precision
    capabilities = backend.gpu_compute_capabilities()
    if capabilities:
        return "mixed_float16" if TENSOR_CORE_CAPABILITY <= min(capabilities) < TF32_CAPABILITY else "float32"
    return "mixed_bfloat16" if cpu_flags() & set(CPU_BF16_FLAGS) else "float32"


def set_precision(precision: str) -> str:
    """Make `precision` Keras' global dtype policy for the models built from now on; return the policy's name."""
    policy = resolve_precision(precision)
    keras.mixed_precision.set_global_policy(policy)
    return policy


@contextmanager
def precision_policy(precision: str) -> Iterator[str]:
    """`set_precision` for the models built inside the `with` block; the global policy is restored after it, so that
    a mixed-precision run leaves the models built later in the same process (a notebook, a test) in their own policy."""
    earlier = keras.mixed_precision.global_policy()
    try:
        yield set_precision(precision)
    finally:
        keras.mixed_precision.set_global_policy(earlier)
