"""The numeric precision of training: float32, or mixed precision where the hardware runs it natively.

Mixed precision (Keras' `mixed_bfloat16` and `mixed_float16` policies) computes in 16 bits and keeps the weights in
float32. "auto" picks bfloat16 on CPUs with native bfloat16 instructions (AVX512_BF16 or AMX); on GPUs float16 where
float16 is the only way to the tensor cores (compute capability 7.x: V100, Colab's T4), and float32 from 8.0 on
(A100, H100), whose tensor cores run float32 matrix products as TF32: for this small network the 16-bit gain is small
there and costs compile time (on an H100 with Keras/JAX: 76,000 against 71,000 images/s, and a first epoch of 16 s
against 6.5 s); float32 elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import keras

from mnist_cnn import backend

CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")
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
