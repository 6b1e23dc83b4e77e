"""A run's hyperparameters and final metrics for TensorBoard's HParams tab.

A kreg run directory holds, besides Keras's `train/` and `validation/` event
files, an event file of its own with the run's hyperparameters (the HParams
plugin's session record) and its final metrics as scalars tagged
`hparams/<metric>`. `tensorboard --logdir runs` then compares runs side by side
in its HParams tab, and `kreg.lab.runs` (behind `kreg inspect`) reads them back.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path

__all__ = ["METRICS", "hparam_domain", "log_hparams", "log_hparams_config", "log_metrics"]

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
    from tensorboard.plugins.hparams import api as hp

    run_dir = Path(run_dir)
    with _events_file(run_dir) as writer, writer.as_default():
        hp.hparams({k: _hparam_value(v) for k, v in hparams.items()}, trial_id=run_dir.name)
    if metrics:
        log_metrics(run_dir, metrics)


def log_metrics(run_dir: str | os.PathLike, metrics: Mapping) -> None:
    """Write a run's final metrics as scalars `hparams/<name>` at step 0 (the HParams tab's)."""
    import tensorflow as tf

    with _events_file(run_dir) as writer, writer.as_default():
        for name, value in metrics.items():
            tf.summary.scalar(f"hparams/{name}", float(value), step=0)


def hparam_domain(name: str, values: Iterable):
    """`hp.HParam(name, domain)` for the values runs took: what the HParams tab filters on.

    Strings and booleans get a `Discrete` domain of the values seen, integers
    a `Discrete` domain of integers (so that readers such as `kreg.lab.runs` give
    them back as integers; TensorBoard stores every number as a double), other
    numbers a `RealInterval` from the smallest to the largest. Values of mixed
    kinds get no domain.
    """
    from tensorboard.plugins.hparams import api as hp

    values = [_hparam_value(v) for v in values]
    if not values:
        return hp.HParam(name)
    kinds = {type(v) for v in values}
    if kinds in ({bool}, {str}, {int}):
        return hp.HParam(name, hp.Discrete(sorted(set(values))))
    if kinds <= {int, float}:
        return hp.HParam(name, hp.RealInterval(float(min(values)), float(max(values))))
    return hp.HParam(name)


def log_hparams_config(logdir: str | os.PathLike, hparams, metric_names=METRICS):
    """Declare, at the top of `logdir`, which hyperparameters and metrics the HParams tab lists.

    Args:
        logdir: the TensorBoard root of the runs.
        hparams: name -> the values the runs took (each gets a domain, see
            `hparam_domain`), or just the names (no domains).
        metric_names: the final metrics written by `log_metrics`.
    """
    from tensorboard.plugins.hparams import api as hp

    if isinstance(hparams, Mapping):
        declared = [hparam_domain(name, values) for name, values in hparams.items()]
    else:
        declared = [hp.HParam(name) for name in hparams]
    with _events_file(logdir) as writer, writer.as_default():
        hp.hparams_config(
            hparams=declared,
            metrics=[hp.Metric(f"hparams/{name}", display_name=name) for name in metric_names],
        )


@contextlib.contextmanager
def _events_file(folder: str | os.PathLike):
    """A summary writer whose events file appears in `folder` only once complete.

    The writer writes into a temporary folder beside it; once closed, its file
    is renamed into `folder` (one atomic rename), so a kill leaves no
    half-written events file for TensorBoard to read.
    """
    import tensorflow as tf

    folder = Path(folder)
    partial = folder / f".events.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    writer = tf.summary.create_file_writer(str(partial))
    try:
        yield writer
        writer.close()
        for path in partial.iterdir():
            os.replace(path, folder / path.name)
    finally:
        writer.close()
        shutil.rmtree(partial, ignore_errors=True)
