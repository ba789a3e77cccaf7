"""The numeric precision of training: float32, or mixed precision where the hardware runs it natively.

Mixed precision (Keras' `mixed_bfloat16` and `mixed_float16` policies) computes in 16 bits and keeps the weights in
float32. "auto" picks bfloat16 on CPUs with native bfloat16 instructions (AVX512_BF16 or AMX), float16 on GPUs with
tensor cores (compute capability 7.0 or later), and float32 elsewhere.
"""

from __future__ import annotations

from pathlib import Path

import keras
import tensorflow as tf

CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")
TENSOR_CORE_CAPABILITY = (7, 0)


def cpu_flags() -> set[str]:
    """The CPU's feature flags, from /proc/cpuinfo (empty where there is none)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    line = next((line for line in text.splitlines() if line.startswith("flags")), "")
    return set(line.partition(":")[2].split())


def gpus_have_tensor_cores() -> bool:
    """Whether there are GPUs and all have tensor cores."""
    gpus = tf.config.list_physical_devices("GPU")
    capabilities = [tf.config.experimental.get_device_details(gpu).get("compute_capability", (0, 0)) for gpu in gpus]
    return bool(gpus) and all(tuple(capability) >= TENSOR_CORE_CAPABILITY for capability in capabilities)


def resolve_precision(precision: str) -> str:
    """The Keras policy name that `precision` stands for on this machine ("auto" resolved)."""
    if precision != "auto":
        return precision
    if tf.config.list_physical_devices("GPU"):
        return "mixed_float16" if gpus_have_tensor_cores() else "float32"
    return "mixed_bfloat16" if cpu_flags() & set(CPU_BF16_FLAGS) else "float32"


def set_precision(precision: str) -> str:
    """Make `precision` Keras' global dtype policy for the models built from now on; return the policy's name."""
    policy = resolve_precision(precision)
    keras.mixed_precision.set_global_policy(policy)
    return policy
