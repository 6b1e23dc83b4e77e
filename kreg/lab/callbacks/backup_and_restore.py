"""`BackupAndRestore`: Keras's backup plus the dropout RNG; stops at the first non-finite value."""

from __future__ import annotations

import json
import math
import os
import weakref

import keras
import numpy as np
import tensorflow as tf

from kreg.lab._compat import keras_backup_internals, restored_initial_epoch
from kreg.lab.io import write_json
from kreg.walk import seed_generators

__all__ = ["BackupAndRestore"]

_SAVE_MODEL, _CURRENT_EPOCH = keras_backup_internals()


class BackupAndRestore(keras.callbacks.BackupAndRestore):
    """`keras.callbacks.BackupAndRestore` that also restores the dropout masks' RNG.

    Keras's callback saves the weights (optimizer state included) and the
    epoch, but not the state of the layers' seed generators, so a resumed
    run draws different dropout masks from the ones an uninterrupted run
    would have drawn. This subclass saves every seed generator's state with
    each backup (written atomically, tagged with the epoch it belongs to) and
    restores it with the weights, so that a resumed CPU run ends bit-identical
    to an uninterrupted one (given a seeded, resumable input pipeline such as
    `kreg.lab.pipeline.EpochSeededImages`).

    With `stop_on_nan=True` training stops at the end of the first batch
    after which the loss, any other logged number, or any of the model's
    weights is NaN or infinite. The weights are checked, not only the loss,
    because some CPU kernels (max pooling, ReLU) turn NaN into a finite
    number, so NaN weights can go with a finite loss. The bad weights are
    not backed up and the backup directory is kept (Keras's callback would
    save them at the end of the epoch and delete the backup when training
    ends); a message is printed as by `keras.callbacks.TerminateOnNaN`, and
    `nan_at` holds `(epoch, batch)` (0-based; `batch` is None for a
    non-finite epoch-end value such as `val_loss`) and `nan_reason` what was
    not finite. The weight check is one compiled reduction per batch.

    Args:
        backup_dir: where the backup lives.
        stop_on_nan: stop at the first non-finite loss, metric or weight and
            keep the last good backup.
        **kwargs: the other arguments of `keras.callbacks.BackupAndRestore`.

    Example:

    ```python
    backup = kreg.lab.callbacks.BackupAndRestore("runs/backup")
    model.fit(data, epochs=30, callbacks=[backup])   # rerun the same line after a crash
    ```
    """

    STATE_FILE = "kreg_rng_state.json"

    def __init__(self, backup_dir, stop_on_nan: bool = True, **kwargs):
        super().__init__(backup_dir, **kwargs)
        self.stop_on_nan = stop_on_nan
        self.nan_at: tuple[int, int | None] | None = None
        self.nan_reason: str | None = None
        self._epoch = 0
        self._all_finite = None
        self._state_path = os.path.join(backup_dir, self.STATE_FILE)

    def on_train_begin(self, logs=None):
        self.nan_at, self.nan_reason = None, None
        super().on_train_begin(logs)
        self._restore_rng_state()
        self._all_finite = _finite_check(self.model)

    def _restore_rng_state(self):
        if not os.path.exists(self._state_path):
            return
        with open(self._state_path, encoding="utf-8") as f:
            saved = json.load(f)
        restored_epoch = restored_initial_epoch(self.model)
        if saved["epoch"] != restored_epoch:
            raise ValueError(
                f"{self._state_path} belongs to epoch {saved['epoch']} but the weights backup to "
                f"epoch {restored_epoch}; the backup in {self.backup_dir} is inconsistent "
                "(interrupted while being written). Delete it to start over."
            )
        generators = seed_generators(self.model)
        saved_kinds = [label.split(":")[0] for label, _ in saved["seed_generators"]]
        kinds = [label.split(":")[0] for label, _ in generators]
        if saved_kinds != kinds:
            raise ValueError(
                f"{self._state_path}: the backup holds seed generators of {saved_kinds} but the "
                f"model has {kinds}; the backup was made by another model."
            )
        for (_, generator), (_, state) in zip(generators, saved["seed_generators"]):
            generator.state.assign(np.asarray(state, dtype=generator.state.dtype))

    def _save_model(self):  # Keras's hook that writes one backup
        super()._save_model()
        states = [
            [label, np.asarray(generator.state).tolist()]
            for label, generator in seed_generators(self.model)
        ]
        epoch = getattr(self, _CURRENT_EPOCH)
        write_json(self._state_path, {"epoch": epoch, "seed_generators": states})

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def _non_finite(self, logs) -> str | None:
        """What is not finite: a logged value (named) or the weights (the first bad one named)."""
        for key, value in (logs or {}).items():
            if isinstance(value, (int, float, np.floating)) and not math.isfinite(value):
                return f"{key} = {float(value)}"
        if self._all_finite is not None and not bool(self._all_finite()):
            bad = next(
                w.path
                for w in self.model.weights
                if keras.backend.is_float_dtype(w.dtype)
                and not np.all(np.isfinite(keras.ops.convert_to_numpy(w)))
            )
            return f"weights (first: {bad})"
        return None

    def _stop(self, epoch: int, batch: int | None, reason: str) -> None:
        self.nan_at, self.nan_reason = (epoch, batch), reason
        self.model.stop_training = True
        where = f"Epoch {epoch + 1}" + ("" if batch is None else f", batch {batch + 1}")
        print(
            f"\n{where}: non-finite {reason}; terminating training. The last good backup is "
            f"kept in {self.backup_dir}."
        )

    def on_train_batch_end(self, batch, logs=None):
        if self.stop_on_nan and self.nan_at is None:
            reason = self._non_finite(logs)
            if reason is not None:
                self._stop(self._epoch, batch, reason)
                return
        if self.nan_at is None:
            super().on_train_batch_end(batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.stop_on_nan and self.nan_at is None:
            reason = self._non_finite({k: v for k, v in (logs or {}).items()})
            if reason is not None:
                self._stop(epoch, None, reason)
        if self.nan_at is None:
            super().on_epoch_end(epoch, logs)

    def on_train_end(self, logs=None):
        if self.nan_at is None:
            super().on_train_end(logs)


_FINITE_CHECKS = weakref.WeakKeyDictionary()  # model -> its compiled check, made once


def _finite_check(model):
    """A compiled `all weights finite?` for `model`, traced once and kept between fits."""
    if model not in _FINITE_CHECKS:
        weights = [w for w in model.weights if keras.backend.is_float_dtype(w.dtype)]

        @tf.function(autograph=False)
        def all_finite():
            checks = [tf.reduce_all(tf.math.is_finite(w.value)) for w in weights]
            return tf.reduce_all(tf.stack(checks)) if checks else tf.constant(True)

        _FINITE_CHECKS[model] = all_finite
    return _FINITE_CHECKS[model]
