"""Data-parallel training on `tf.distribute`: picking a strategy and who writes the results.

Keras 3 (TensorFlow backend) trains under any `tf.distribute` strategy when the
model is built and compiled in `strategy.scope()`: `fit` splits each global
batch across the replicas, scales every replica's loss, the L2 penalty
included, by `1 / replicas`, and sums the gradients, so one step equals one
single-device step on the global batch. Dropout needs one more thing, which
`kreg.layers.InvertedDropout` does: a different mask on every replica.
"""

from __future__ import annotations

import contextlib
import json
import os

from kreg.lab._compat import multiworker_trainer_patches

__all__ = [
    "STRATEGIES",
    "is_chief",
    "make_strategy",
    "multiworker_fit",
    "split_cpu",
    "worker_index",
]

STRATEGIES = ("none", "mirrored", "multiworker")


def split_cpu(replicas: int) -> list[str]:
    """Split the CPU into `replicas` logical devices (a stand-in for several GPUs).

    Must run before TensorFlow initializes its devices (before the first op).

    Returns:
        The logical devices' names, e.g. `["/cpu:0", "/cpu:1"]`.
    """
    import tensorflow as tf

    if replicas < 1:
        raise ValueError(f"`replicas` must be a positive integer. Received: replicas={replicas}")
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(replicas)]
        )
    except RuntimeError as error:
        raise RuntimeError(
            f"Cannot split the CPU into {replicas} devices: TensorFlow has already "
            f"initialized its devices ({error}). Split it first thing in the process."
        ) from None
    return [f"/cpu:{i}" for i in range(replicas)]


def make_strategy(name: str, devices: list[str] | None = None):
    """The `tf.distribute` strategy that `--strategy NAME` means.

    Args:
        name: `"none"` (TensorFlow's default strategy: one device),
            `"mirrored"` (`MirroredStrategy`: every GPU of this machine, or
            `devices`), or `"multiworker"` (`MultiWorkerMirroredStrategy`, one
            process per machine, configured by the `TF_CONFIG` environment
            variable).
        devices: for `"mirrored"`, the devices to use (default: all GPUs, or
            the CPU when there is none).
    """
    import tensorflow as tf

    if name == "none":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy(devices)
    if name == "multiworker":
        config = os.environ.get("TF_CONFIG")
        if not config:
            raise ValueError(
                "`multiworker` needs the TF_CONFIG environment variable, e.g. "
                '{"cluster": {"worker": ["host1:port", "host2:port"]}, '
                '"task": {"type": "worker", "index": 0}}.'
            )
        try:
            parsed = json.loads(config)
            parsed["cluster"]["worker"], parsed["task"]["index"]  # noqa: B018
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(
                f"TF_CONFIG must be JSON with cluster.worker and task.index ({error}). "
                f"Received: TF_CONFIG={config!r}"
            ) from None
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"`strategy` must be one of {STRATEGIES}. Received: strategy={name!r}")


def worker_index(strategy) -> int:
    """This process's task index in a multi-worker cluster; 0 otherwise."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return 0
    return int(resolver.task_id or 0)


def is_chief(strategy) -> bool:
    """Whether this process writes the shared results (logs, JSON, weights).

    TensorFlow's own answer: true for one-process strategies, and for the
    chief (or worker 0 when there is none) of a multi-worker cluster.
    """
    return bool(strategy.extended.should_checkpoint)


def multiworker_fit(model, strategy):
    """A context for `model.fit` / `evaluate` calls that makes them run under any strategy.

    Keras 3's TensorFlow trainer (3.15) does not run under
    `MultiWorkerMirroredStrategy` (keras-team/keras#20585); inside this block
    it does, through two patches of Keras internals that are applied when
    the block starts and undone when it ends (see
    `kreg.lab._compat.multiworker_trainer_patches`). Under any other strategy,
    or None, the block changes nothing.
    """
    import tensorflow as tf

    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return contextlib.nullcontext()
    return multiworker_trainer_patches(model, strategy)
