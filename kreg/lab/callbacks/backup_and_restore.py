"""`BackupAndRestore`: Keras's backup made one atomic unit, with the dropout RNG and a fallback."""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import warnings
import weakref
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from kreg.lab._compat import keras_backup_internals, set_initial_epoch
from kreg.lab.io import test_pause
from kreg.walk import seed_generators

__all__ = ["BackupAndRestore", "BackupUnusableError"]

_SAVE_MODEL, _CURRENT_EPOCH, _LAST_BATCH = keras_backup_internals()

WEIGHTS_FILE = "latest.weights.h5"  # Keras's names inside each checkpoint folder
METADATA_FILE = "training_metadata.json"
STATE_FILE = "kreg_state.json"
PREFIX = "checkpoint-"


class BackupUnusableError(RuntimeError):
    """Backups exist but none can be restored: the run must not start over silently."""


class BackupAndRestore(keras.callbacks.BackupAndRestore):
    """`keras.callbacks.BackupAndRestore` whose backups survive a kill at any moment.

    Keras's callback writes the weights file in place: a process killed while
    writing it leaves an unreadable backup, and its epoch is written as a
    separate file. Here each backup is one folder, `checkpoint-<n>/`, holding
    the weights with the optimizer state (Keras's `latest.weights.h5`), the
    epoch (`training_metadata.json`), every dropout seed generator's state and
    the run's `fingerprint` (`kreg_state.json`, with the weights file's
    SHA-256). It is written under a temporary name in the same folder, each
    file flushed to disk, then renamed into place; the previous backup is
    deleted only after the new one is complete. A kill at any moment leaves
    the old backup or the new one, never a mix.

    At the start of training the newest backup that reads back whole (its
    state file parses, the weights match their SHA-256 and load, the seed
    generators and fingerprint match) is restored: weights, optimizer, epoch
    and dropout RNG, and `history` (every epoch's logs as this callback saw
    them, kept in each backup), so a resumed CPU run ends bit-identical to an
    uninterrupted one (given a seeded, resumable input pipeline such as
    `kreg.lab.pipeline.EpochSeededImages`). An unusable backup is skipped with
    a warning naming it and the epoch resumed from; when backups exist and
    none is usable, `BackupUnusableError` says which and why, before any
    training.

    With `stop_on_nan=True` training stops at the end of the first batch
    after which the loss, any other logged number, or any of the model's
    weights is NaN or infinite. The weights are checked, not only the loss,
    because some CPU kernels (max pooling, ReLU) turn NaN into a finite
    number, so NaN weights can go with a finite loss. The bad weights are not
    backed up and the backups are kept; a message is printed as by
    `keras.callbacks.TerminateOnNaN`, `nan_at` holds `(epoch, batch)`
    (0-based; `batch` is None for a non-finite epoch-end value such as
    `val_loss`) and `nan_reason` what was not finite.

    Args:
        backup_dir: where the backups live.
        stop_on_nan: stop at the first non-finite loss, metric or weight and
            keep the last good backup.
        fingerprint: JSON-ready settings of the run; a backup made with other
            settings is not restored.
        on_start: called as `on_start(epoch, history)` at the start of
            training, before the other callbacks start, with the epoch training
            resumes from (0 without a backup) and the restored history: for
            example to rewind log files that a killed run wrote past it.
        keep: complete backups kept (the newest `keep`), at least 2.
        stateful_callbacks: callbacks whose state belongs in every backup,
            each with `get_state() -> dict of arrays` and `set_state(dict)`
            (for example `kreg.callbacks.StochasticWeightAveraging`, whose
            running mean a resumed run must continue). Each state is saved
            as `callback-<i>.npz` (its SHA-256 in the state file) and read
            back without pickles.
        **kwargs: the other arguments of `keras.callbacks.BackupAndRestore`
            (`save_freq`, `delete_checkpoint`).

    Example:

    ```python
    backup = kreg.lab.callbacks.BackupAndRestore("runs/backup")
    model.fit(data, epochs=30, callbacks=[backup])   # rerun the same line after a crash
    ```
    """

    def __init__(
        self,
        backup_dir,
        stop_on_nan: bool = True,
        fingerprint: dict | None = None,
        keep: int = 2,
        on_start=None,
        stateful_callbacks=(),
        **kwargs,
    ):
        if kwargs.get("double_checkpoint"):
            raise ValueError(
                "`double_checkpoint` is Keras's in-place copy; kreg keeps whole previous "
                "backups instead (`keep`). Received: "
                f"double_checkpoint={kwargs['double_checkpoint']}"
            )
        if isinstance(keep, bool) or not isinstance(keep, int) or keep < 2:
            raise ValueError(f"`keep` must be an integer >= 2. Received: keep={keep!r}")
        super().__init__(backup_dir, **kwargs)
        self.stop_on_nan = stop_on_nan
        self.fingerprint = fingerprint
        self.keep = keep
        self.nan_at: tuple[int, int | None] | None = None
        self.nan_reason: str | None = None
        self.on_start = on_start
        self.stateful_callbacks = list(stateful_callbacks)
        for callback in self.stateful_callbacks:
            if not (hasattr(callback, "get_state") and hasattr(callback, "set_state")):
                raise ValueError(
                    "`stateful_callbacks` must have get_state() and set_state(); "
                    f"{type(callback).__name__} has not."
                )
        self.restored_from: Path | None = None
        self.history: list[dict] = []  # one dict of logged numbers per epoch trained
        self._epoch = 0
        self._all_finite = None
        self._begun_early = False

    # --- Writing -------------------------------------------------------------------------

    def _save_model(self):  # Keras's hook that writes one backup
        folder = Path(self.backup_dir)
        folder.mkdir(parents=True, exist_ok=True)
        number = max((n for n, _ in self.checkpoints()), default=0) + 1
        partial = folder / f".{PREFIX}{number:06d}.partial-{os.getpid()}"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir()
        weights = partial / WEIGHTS_FILE
        self.model.save_weights(weights)
        epoch, batch = getattr(self, _CURRENT_EPOCH), getattr(self, _LAST_BATCH)
        test_pause(f"backup weights written epoch {epoch}")
        _write_synced(partial / METADATA_FILE, {"epoch": epoch, "batch": batch})
        state = {
            "epoch": epoch,
            "batch": batch,
            "weights_sha256": _sha256(weights),
            "seed_generators": [
                [label, keras.ops.convert_to_numpy(generator.state).tolist()]
                for label, generator in seed_generators(self.model)
            ],
            "fingerprint": self.fingerprint,
            "history": self.history[:epoch],
            "callback_states": self._save_callback_states(partial),
        }
        _write_synced(partial / STATE_FILE, state)
        _fsync(weights)
        _fsync(partial)
        test_pause(f"backup state written epoch {epoch}")
        os.rename(partial, folder / f"{PREFIX}{number:06d}")
        _fsync(folder)
        test_pause(f"backup renamed epoch {epoch}")
        for _, old in self.checkpoints()[self.keep :]:
            shutil.rmtree(old, ignore_errors=True)

    def _save_callback_states(self, folder: Path) -> list[list[str]]:
        saved = []
        for index, callback in enumerate(self.stateful_callbacks):
            path = folder / f"callback-{index}.npz"
            with open(path, "wb") as file:
                np.savez(file, **callback.get_state())
            _fsync(path)
            saved.append([type(callback).__name__, _sha256(path)])
        return saved

    def checkpoints(self) -> list[tuple[int, Path]]:
        """The complete backups, newest first, as `(number, folder)`."""
        folder = Path(self.backup_dir)
        if not folder.is_dir():
            return []
        found = []
        for path in folder.iterdir():
            suffix = path.name[len(PREFIX) :]
            if path.is_dir() and path.name.startswith(PREFIX) and suffix.isdigit():
                found.append((int(suffix), path))
        return sorted(found, reverse=True)

    # --- Restoring -----------------------------------------------------------------------

    def restorer(self) -> keras.callbacks.Callback:
        """A callback to list first, when this one is listed after the loggers.

        Listed after `CSVLogger` and `TensorBoard`, this callback backs up an
        epoch only once they have written it; but the restore (and `on_start`)
        must come before they open their files. The returned callback does the
        restore at the start of training, and this one then skips it.
        """
        return _Restorer(self)

    def on_train_begin(self, logs=None):
        if self._begun_early:
            self._begun_early = False
            return
        self._begin()

    def _begin(self) -> None:
        self.nan_at, self.nan_reason = None, None
        self.history = []
        self._remove_partial_backups()
        self.restored_from = self._restore_newest_usable()
        if self.on_start is not None:
            self.on_start(len(self.history), list(self.history))
        self._all_finite = _finite_check(self.model)

    def _remove_partial_backups(self) -> None:
        folder = Path(self.backup_dir)
        if folder.is_dir():
            for path in folder.glob(f".{PREFIX}*.partial-*"):
                shutil.rmtree(path, ignore_errors=True)

    def _restore_newest_usable(self) -> Path | None:
        candidates = self.checkpoints()
        if not candidates:
            return None
        if self.model.optimizer is not None and not self.model.optimizer.built:
            self.model.optimizer.build(self.model.trainable_variables)
        problems = []
        for _, folder in candidates:
            try:
                state = self._restore(folder)
            except (OSError, ValueError, KeyError, TypeError) as error:
                problems.append(f"{folder}: {_short(error)}")
                continue
            test_pause(f"backup restored epoch {state['epoch']}")
            if problems:
                warnings.warn(
                    f"Skipped unusable backup(s) ({'; '.join(problems)}); resuming from "
                    f"{folder} (epoch {state['epoch']}).",
                    stacklevel=2,
                )
            return folder
        raise BackupUnusableError(
            f"No backup in {self.backup_dir} can be restored ({'; '.join(problems)})."
        )

    def _restore(self, folder: Path) -> dict:
        """Restore one backup folder, or raise naming what is wrong with it."""
        state_path = folder / STATE_FILE
        try:
            state = json.loads(state_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise ValueError(f"{state_path} is unreadable ({_short(error)})") from None
        weights = folder / WEIGHTS_FILE
        if not weights.is_file() or _sha256(weights) != state["weights_sha256"]:
            raise ValueError(f"{weights} is missing or does not match its SHA-256")
        if self.fingerprint is not None and state.get("fingerprint") != self.fingerprint:
            raise ValueError("it was made with other settings (its fingerprint differs)")
        generators = seed_generators(self.model)
        saved_kinds = [label.split(":")[0] for label, _ in state["seed_generators"]]
        kinds = [label.split(":")[0] for label, _ in generators]
        if saved_kinds != kinds:
            raise ValueError(
                f"it holds seed generators of {saved_kinds} but the model has {kinds}"
            )
        callback_states = self._read_callback_states(folder, state.get("callback_states", []))
        try:
            self.model.load_weights(weights)
        except Exception as error:  # h5py raises its own kinds for a damaged file
            raise ValueError(f"{weights} does not load ({_short(error)})") from None
        for callback, arrays in zip(self.stateful_callbacks, callback_states):
            callback.set_state(arrays)
        for (_, generator), (_, saved) in zip(generators, state["seed_generators"]):
            generator.state.assign(np.asarray(saved, dtype=generator.state.dtype))
        set_initial_epoch(self.model, int(state["epoch"]))
        self.history = list(state.get("history", []))
        return state

    def _read_callback_states(self, folder: Path, saved: list) -> list[dict]:
        names = [type(callback).__name__ for callback in self.stateful_callbacks]
        if [name for name, _ in saved] != names:
            raise ValueError(
                f"it holds the states of callbacks {[n for n, _ in saved]}, this run has {names}"
            )
        states = []
        for index, (_, digest) in enumerate(saved):
            path = folder / f"callback-{index}.npz"
            if not path.is_file() or _sha256(path) != digest:
                raise ValueError(f"{path} is missing or does not match its SHA-256")
            with np.load(path, allow_pickle=False) as arrays:
                states.append({key: arrays[key] for key in arrays.files})
        return states

    # --- Non-finite values ---------------------------------------------------------------

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
            del self.history[epoch:]
            self.history.append(
                {
                    key: float(value)
                    for key, value in (logs or {}).items()
                    if isinstance(value, (int, float, np.number))
                }
            )
            super().on_epoch_end(epoch, logs)

    def on_train_end(self, logs=None):
        if self.nan_at is None:
            super().on_train_end(logs)


class _Restorer(keras.callbacks.Callback):
    """`BackupAndRestore.restorer()`: its restore, run where this callback is listed."""

    def __init__(self, backup: BackupAndRestore):
        super().__init__()
        self.backup = backup

    def on_train_begin(self, logs=None):
        if self.backup.model is not self.model:
            self.backup.set_model(self.model)
        self.backup._begin()
        self.backup._begun_early = True


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_synced(path: Path, data: dict) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f)
        f.flush()
        os.fsync(f.fileno())


def _fsync(path: Path) -> None:
    """Flush a file's or a folder's entry to disk (a rename is durable once its folder is)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _short(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"[:200]


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
