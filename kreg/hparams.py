"""A run's hyperparameters and final metrics for TensorBoard's HParams tab.

A kreg run directory holds, besides Keras's `train/` and `validation/` event
files, an event file of its own with the run's hyperparameters (the HParams
plugin's session record) and its final metrics as scalars tagged
`hparams/<metric>`. `tensorboard --logdir runs` then compares runs side by side
in its HParams tab, and `kreg.runs` (behind `kreg inspect`) reads them back.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

__all__ = ["METRICS", "log_hparams", "log_hparams_config", "log_metrics"]

METRICS = ("train_accuracy", "val_accuracy", "test_accuracy", "gap")


def _hparam_value(value):
    if isinstance(value, (bool, int, float, str)):
        return value
    if value is None:
        return "none"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


def log_hparams(run_dir: str | os.PathLike, hparams: Mapping, metrics: Mapping | None = None):
    """Record a run's hyperparameters and (optionally) its final metrics in `run_dir`.

    Args:
        run_dir: the run's TensorBoard directory.
        hparams: name -> value (bool, int, float or str; lists become
            comma-separated strings, None becomes "none").
        metrics: name -> final value, written as scalars `hparams/<name>` at
            step 0 so that the HParams tab can show them.
    """
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hp

    run_dir = Path(run_dir)
    writer = tf.summary.create_file_writer(str(run_dir))
    with writer.as_default():
        hp.hparams({k: _hparam_value(v) for k, v in hparams.items()}, trial_id=run_dir.name)
    writer.close()
    if metrics:
        log_metrics(run_dir, metrics)


def log_metrics(run_dir: str | os.PathLike, metrics: Mapping) -> None:
    """Write a run's final metrics as scalars `hparams/<name>` at step 0 (the HParams tab's)."""
    import tensorflow as tf

    writer = tf.summary.create_file_writer(str(run_dir))
    with writer.as_default():
        for name, value in metrics.items():
            tf.summary.scalar(f"hparams/{name}", float(value), step=0)
    writer.close()


def log_hparams_config(logdir: str | os.PathLike, hparam_names, metric_names=METRICS):
    """Declare, at the top of `logdir`, which hyperparameters and metrics the HParams tab lists."""
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hp

    writer = tf.summary.create_file_writer(str(logdir))
    with writer.as_default():
        hp.hparams_config(
            hparams=[hp.HParam(name) for name in hparam_names],
            metrics=[hp.Metric(f"hparams/{name}", display_name=name) for name in metric_names],
        )
    writer.close()
