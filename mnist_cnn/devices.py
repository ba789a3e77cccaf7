"""Training on several devices of one machine, data-parallel.

Each device trains on its share of every batch and the gradients are summed across devices (TensorFlow's
MirroredStrategy, or Keras' DataParallel on JAX: see `mnist_cnn.backend.data_parallel`). The config's batch size and
learning rate are per device: with N devices the global batch is N times larger, and the learning rate is scaled by
N with it (the linear scaling rule), so that one epoch takes N times fewer steps of the same kind.
"""

from __future__ import annotations

from mnist_cnn import backend
from mnist_cnn.config import Config


def chosen_devices(devices: str) -> list[str]:
    """The names of the devices `devices` ("all" or a number) stands for here; BackendError where there are not that
    many, or the backend cannot train on that many."""
    available = backend.available_devices()
    count = len(available) if devices == "all" else int(devices)
    backend.check_device_count(count, available)
    return available[:count]


def scaled_for(config: Config, replicas: int) -> Config:
    """The config with the global batch size and learning rate of `replicas` devices training together."""
    if replicas == 1:
        return config
    return config.replace(batch_size=config.batch_size * replicas, learning_rate=config.learning_rate * replicas)
