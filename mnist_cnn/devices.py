"""Training on several devices of one machine: data-parallel with TensorFlow's MirroredStrategy.

Each device trains on its share of every batch and the gradients are summed across devices. The config's batch size
and learning rate are per device: with N devices the global batch is N times larger, and the learning rate is
scaled by N with it (the linear scaling rule), so that one epoch takes N times fewer steps of the same kind.
"""

from __future__ import annotations

import tensorflow as tf

from mnist_cnn.config import Config, ConfigError


def available_devices() -> list[str]:
    """The devices to train on: the GPUs, or where there are none the CPUs (one, unless configured as several)."""
    devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
    return [device.name for device in devices]


def distribution_strategy(devices: str) -> tf.distribute.Strategy:
    """TensorFlow's default strategy for one device; a MirroredStrategy over "all" or the first N devices."""
    available = available_devices()
    count = len(available) if devices == "all" else int(devices)
    if count > len(available):
        raise ConfigError(f"devices: {count} asked for, but this machine has {len(available)}: {', '.join(available)}")
    if count == 1:
        return tf.distribute.get_strategy()
    return tf.distribute.MirroredStrategy(available[:count])


def scaled_for(config: Config, replicas: int) -> Config:
    """The config with the global batch size and learning rate of `replicas` devices training together."""
    if replicas == 1:
        return config
    return config.replace(batch_size=config.batch_size * replicas, learning_rate=config.learning_rate * replicas)
