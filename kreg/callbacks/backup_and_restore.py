"""`BackupAndRestore`: Keras's backup, plus the dropout RNG, so a resumed run is bit-identical."""

from __future__ import annotations

import json
import math
import os

import keras
import numpy as np

from kreg.io import write_json
from kreg.walk import seed_generators

__all__ = ["BackupAndRestore"]


class BackupAndRestore(keras.callbacks.BackupAndRestore):
    """`keras.callbacks.BackupAndRestore` that also restores the dropout masks' RNG.

    Keras's callback saves the weights (optimizer state included) and the
    epoch, but not the state of the layers' seed generators, so a resumed
    run draws different dropout masks from the ones an uninterrupted run
    would have drawn. This subclass saves every seed generator's state with
    each backup (written atomically, tagged with the epoch it belongs to) and
    restores it with the weights, so that a resumed CPU run ends bit-identical
    to an uninterrupted one (given a seeded, resumable input pipeline such as
    `kreg.pipeline.EpochSeededImages`).

    With `stop_on_nan=True` a NaN or infinite loss stops training at once;
    the weights are not backed up and the backup directory is kept (Keras's
    callback would save the NaN weights at the end of the epoch and delete
    the backup when training ends). `nan_at` then holds `(epoch, batch)`.

    Args:
        backup_dir: where the backup lives.
        stop_on_nan: stop on a NaN/inf loss and keep the last good backup.
        **kwargs: the other arguments of `keras.callbacks.BackupAndRestore`.

    Example:

    ```python
    backup = kreg.callbacks.BackupAndRestore("runs/backup")
    model.fit(data, epochs=30, callbacks=[backup])   # rerun the same line after a crash
    ```
    """

    STATE_FILE = "kreg_rng_state.json"

    def __init__(self, backup_dir, stop_on_nan: bool = True, **kwargs):
        super().__init__(backup_dir, **kwargs)
        self.stop_on_nan = stop_on_nan
        self.nan_at: tuple[int, int] | None = None
        self._epoch = 0
        self._state_path = os.path.join(backup_dir, self.STATE_FILE)

    def on_train_begin(self, logs=None):
        self.nan_at = None
        super().on_train_begin(logs)
        self._restore_rng_state()

    def _restore_rng_state(self):
        if not os.path.exists(self._state_path):
            return
        with open(self._state_path, encoding="utf-8") as f:
            saved = json.load(f)
        restored_epoch = getattr(self.model, "_initial_epoch", None)
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

    def _save_model(self):
        super()._save_model()
        states = [
            [label, np.asarray(generator.state).tolist()]
            for label, generator in seed_generators(self.model)
        ]
        write_json(self._state_path, {"epoch": self._current_epoch, "seed_generators": states})

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.stop_on_nan and logs is not None and "loss" in logs:
            loss = float(logs["loss"])
            if not math.isfinite(loss):
                self.nan_at = (self._epoch, batch)
                self.model.stop_training = True
                return
        super().on_train_batch_end(batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.nan_at is None:
            super().on_epoch_end(epoch, logs)

    def on_train_end(self, logs=None):
        if self.nan_at is None:
            super().on_train_end(logs)
