"""Training one variant, resumably, and evaluating it."""

from __future__ import annotations

import contextlib
import functools
import time
from pathlib import Path

import keras

from kreg.callbacks import GeneralizationGap, RegularizationMonitor, StochasticWeightAveraging
from kreg.lab._compat import flush_tensorboard
from kreg.lab.callbacks import BackupAndRestore
from kreg.lab.distribute import multiworker_fit
from kreg.lab.fullbatch import precision_scope
from kreg.lab.io import test_pause
from kreg.lab.pipeline import EpochSeededImages
from kreg.lab.rewind import rewind_run_logs
from kreg.lab.runners.cifar.evaluation import evaluate_calibration
from kreg.lab.runners.cifar.export import (
    export_model,
    save_model_atomically,
    save_weights_atomically,
)
from kreg.lab.runners.cifar.profiles import Profile, build_model, variant_settings
from kreg.lab.runners.cifar.results import VariantResult
from kreg.sam import SharpnessAwareMinimization
from kreg.swa import batch_norm_layers
from kreg.walk import weights_digest

__all__ = ["run_variant"]


class _KeepOutOfProgressBar(keras.callbacks.Callback):
    """Listed after the loggers: removes keys with `prefix` before the progress bar prints."""

    def __init__(self, prefix: str):
        super().__init__()
        self.prefix = prefix

    def on_epoch_end(self, epoch, logs=None):
        for key in [k for k in (logs or {}) if k.startswith(self.prefix)]:
            del logs[key]


def run_variant(
    variant: str,
    profile: Profile,
    data,
    *,
    seed: int,
    logdir: Path | None,
    backup_dir: Path,
    dropout_layer: str = "keras",
    verbose: int | str = "auto",
    strategy=None,
    weights_path: Path | None = None,
    model_path: Path | None = None,
    callbacks: list | None = None,
    mc_samples: int = 30,
    block_size: int = 3,
    precision: str = "float32",
    fingerprint: dict | None = None,
) -> tuple[VariantResult | None, BackupAndRestore]:
    """Train one variant, resumably, and evaluate it.

    `data` is `((x_train, y_train), (x_val, y_val), (x_test, y_test))`: the
    validation split drives every curve and callback during training
    (`val_*` in the logs); the test set is evaluated once, at the end.

    With a `tf.distribute` `strategy` the model is built and compiled in its
    scope, and `profile.batch_size` is the global batch (split across the
    replicas; batch normalization then uses the global batch's statistics).
    `precision` is the Keras dtype policy the model is built under (see
    `kreg.lab.fullbatch.precision_scope`). `weights_path` (`*.weights.h5`), if
    given, receives the trained weights (written atomically); `model_path`
    (`*.keras`) receives `export_model`'s model, which takes raw images.
    `fingerprint` (see `kreg.lab.runners.cifar.resume`) goes into every
    backup; only a backup with the same one is restored. `callbacks` run
    before kreg's own (tests use them to make a step go wrong on purpose).
    The result's `calibration` holds the test set's accuracy, NLL, ECE and
    Brier score for the deterministic prediction, for temperature scaling
    fitted on the validation split, and, for variants with dropout, for MC
    dropout with `mc_samples` samples.

    Returns `(result, backup)`; `result` is None when training stopped on a
    non-finite loss, metric or weight (`backup.nan_at` and `backup.nan_reason`
    say where and what; the last good backup is kept).
    """
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = data
    regularization = variant_settings(variant, profile)
    l2, dropout, dense_dropout = (
        regularization.l2,
        regularization.dropout,
        regularization.dense_dropout,
    )
    keras.utils.set_random_seed(seed)
    images = EpochSeededImages(
        x_train, y_train, profile.batch_size, seed=seed, augment=profile.augment
    )
    scope = strategy.scope() if strategy is not None else contextlib.nullcontext()
    with scope, precision_scope(precision):
        model = build_model(
            profile,
            l2=l2,
            dropout=dropout,
            dense_dropout=dense_dropout,
            dropout_layer=dropout_layer,
            block_size=block_size,
            weight_decay=regularization.weight_decay,
            seed=seed,
            sync_batch_norm=strategy is not None and strategy.num_replicas_in_sync > 1,
            name=variant.replace("+", "_"),
            architecture=regularization.architecture,
            sam_rho=regularization.sam_rho,
            label_smoothing=regularization.label_smoothing,
            stochastic_depth=regularization.stochastic_depth,
        )
    # The network itself: SAM's wrapper only trains it.
    network = model.model if isinstance(model, SharpnessAwareMinimization) else model
    averaging = []
    if regularization.swa_start >= 0:
        averaging.append(
            StochasticWeightAveraging(
                regularization.swa_start,
                batch_norm_data=images.eval_dataset(x_train, y_train)
                if batch_norm_layers(network)
                else None,
            )
        )
    # The backup outlives training: the caller removes it once the result is recorded.
    backup = BackupAndRestore(
        str(backup_dir),
        fingerprint=fingerprint,
        delete_checkpoint=False,
        on_start=functools.partial(rewind_run_logs, logdir) if logdir is not None else None,
        stateful_callbacks=averaging,
    )
    callbacks = _callbacks(images, [*averaging, *(callbacks or [])], backup, logdir)
    val_data = images.eval_dataset(x_val, y_val)
    start = time.perf_counter()
    with multiworker_fit(model, strategy):
        model.fit(
            images.train_dataset(),
            epochs=profile.epochs,
            validation_data=val_data,
            callbacks=callbacks,
            verbose=verbose,
            shuffle=False,  # the pipeline shuffles, seeded
        )
    seconds = time.perf_counter() - start
    if backup.nan_at is not None:
        return None, backup
    # Every epoch's logs, those before a resume too, as the backups kept them.
    curves = {key: [logs[key] for logs in backup.history] for key in backup.history[0]}
    if weights_path is not None:
        save_weights_atomically(network, weights_path)
    if model_path is not None:
        save_model_atomically(export_model(network, images.standardize), model_path)
    test_pause("evaluating epoch 0")
    accuracies = _accuracies(model, images, data, strategy)
    with multiworker_fit(model, strategy):
        calibration = evaluate_calibration(
            model,
            images.standardize,
            (x_val, y_val),
            (x_test, y_test),
            mc_samples=mc_samples if any(dropout) or dense_dropout else 0,
            seed=seed,
        )
    hyper = _hyperparameters(variant, profile, data, dropout_layer, block_size, precision, seed)
    result = VariantResult(
        name=variant,
        **accuracies,
        seconds=seconds,
        epochs_run=len(curves.get("loss", [])),
        history=curves,
        weights_sha256=weights_digest(network),
        hyperparameters=hyper,
        calibration=calibration,
    )
    return result, backup


def _callbacks(images, extra, backup, logdir: Path | None) -> list:
    """The run's callbacks, in order.

    The monitors write into the logs that the loggers read; the backup comes
    after the loggers, which have then written (and flushed) the epoch it
    records, so no backup claims an epoch whose logs are not on disk. Its
    restore (which rewinds the logs) comes first, before they open them.
    """
    callbacks = [backup.restorer(), images.callback, *(extra or []), RegularizationMonitor()]
    callbacks.append(GeneralizationGap("accuracy"))
    if logdir is not None:
        logdir.mkdir(parents=True, exist_ok=True)
        board = keras.callbacks.TensorBoard(log_dir=str(logdir), histogram_freq=1)
        callbacks += [
            keras.callbacks.CSVLogger(str(logdir / "log.csv"), append=True),
            board,
            keras.callbacks.LambdaCallback(on_epoch_end=lambda *_: flush_tensorboard(board)),
        ]
    callbacks.append(backup)
    # Per-layer norms belong in TensorBoard and the CSV, not in a 470-character progress line.
    callbacks.append(_KeepOutOfProgressBar("kernel_norm/"))
    return callbacks


def _accuracies(model, images, data, strategy) -> dict:
    """Train, validation and test accuracy in inference mode; the test set's only use."""
    names = ("train_accuracy", "val_accuracy", "test_accuracy")
    with multiworker_fit(model, strategy):
        return {
            name: float(model.evaluate(images.eval_dataset(x, y), verbose=0)[1])
            for name, (x, y) in zip(names, data)
        }


def _hyperparameters(variant, profile, data, dropout_layer, block_size, precision, seed) -> dict:
    """What the variant was trained with, for its JSON record and TensorBoard's HParams."""
    (x_train, _), (x_val, _), (x_test, _) = data
    regularization = variant_settings(variant, profile)
    return {
        "variant": variant,
        "preset": profile.preset,
        "epochs": profile.epochs,
        "batch_size": profile.batch_size,
        "optimizer": regularization.optimizer,
        "learning_rate": profile.learning_rate,
        "augment": profile.augment,
        "l2": regularization.l2,
        "weight_decay": regularization.weight_decay,
        "dropout": list(regularization.dropout),
        "dense_dropout": regularization.dense_dropout,
        "dropout_layer": dropout_layer,
        "block_size": block_size if dropout_layer == "dropblock" else 0,
        "architecture": regularization.architecture,
        "swa_start": regularization.swa_start,
        "sam_rho": regularization.sam_rho,
        "label_smoothing": regularization.label_smoothing,
        "stochastic_depth": regularization.stochastic_depth,
        "precision": precision,
        "seed": seed,
        "train_images": len(x_train),
        "val_images": len(x_val),
        "test_images": len(x_test),
    }
