"""The CIFAR-10 regularization experiment: profiles, variants, and one variant's run."""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import json
import math
import os
import shutil
import time
from pathlib import Path
from typing import NamedTuple

import keras
import numpy as np

from kreg._retracing import ignore_retracing_warning
from kreg.calibration import apply_temperature, fit_temperature
from kreg.callbacks import GeneralizationGap, RegularizationMonitor
from kreg.lab.callbacks import BackupAndRestore
from kreg.lab.distribute import multiworker_fit
from kreg.lab.fullbatch import precision_scope
from kreg.lab.io import write_json
from kreg.lab.pipeline import EpochSeededImages
from kreg.lab.runners.settings import differences
from kreg.lab.spread import mean_std, paired_difference
from kreg.mc_dropout import mc_predict
from kreg.metrics import (
    brier_score,
    calibration_bins,
    expected_calibration_error,
    negative_log_likelihood,
)
from kreg.models import vgg_cifar10
from kreg.walk import weights_digest

__all__ = [
    "PROFILES",
    "DEFAULT_VARIANTS",
    "VARIANTS",
    "VariantSettings",
    "Profile",
    "SettingsChangedError",
    "VariantResult",
    "build_model",
    "evaluate_calibration",
    "export_model",
    "fingerprint",
    "make_optimizer",
    "prepare_variant",
    "run_name",
    "run_variant",
    "seed_summary",
    "variant_settings",
]

VARIANTS = ("baseline", "l2", "dropout", "l2+dropout", "adamw", "adamw+dropout")
# What `cifar_l2.py` trains unless --variants says otherwise (the course's comparison).
DEFAULT_VARIANTS = VARIANTS[:4]


@dataclasses.dataclass(frozen=True)
class Profile:
    """Everything a variant's run needs besides the data."""

    preset: str
    epochs: int
    batch_size: int
    optimizer: str
    learning_rate: float
    lr_decay: float  # the book's Keras 2 `decay`: lr / (1 + decay * iterations)
    augment: str
    l2: float  # the Keras L2 factor on every kernel of the l2 variants
    dropout: tuple[float, ...]
    dense_dropout: float
    filters: tuple[int, ...] | None = None
    dense_units: tuple[int, ...] | None = None
    max_train_images: int | None = None
    # The decoupled weight decay of the adamw variants (Keras's AdamW `weight_decay`); None
    # is 2 * l2, the decay that equals the L2 factor under plain SGD (see VariantSettings).
    adamw_decay: float | None = None
    # Share of the training images held out (seeded) for every curve and choice during
    # training; the test set is evaluated once, at the end.
    validation_split: float = 0.1


PROFILES = {
    # The seed book's full run: its network, Adam(1e-4, decay 1e-6), batch 128, 125 epochs,
    # rotation/shift/flip augmentation. About 89.6 % test accuracy on the full CIFAR-10.
    "book": Profile(
        preset="book",
        epochs=125,
        batch_size=128,
        optimizer="adam",
        learning_rate=1e-4,
        lr_decay=1e-6,
        augment="book",
        l2=1e-4,
        dropout=(0.2, 0.3, 0.4),
        dense_dropout=0.0,
    ),
    # Minutes on a laptop CPU: the Keras VGG-like net, Adam(1e-3), no augmentation, at most
    # 6000 training images (the whole 5085-image subset; a sample of the full set).
    "quick": Profile(
        preset="keras-vgg",
        epochs=10,
        batch_size=64,
        optimizer="adam",
        learning_rate=1e-3,
        lr_decay=0.0,
        augment="none",
        l2=1e-3,
        dropout=(0.3, 0.4),
        dense_dropout=0.5,
        max_train_images=6000,
    ),
}


@dataclasses.dataclass
class VariantResult:
    """One trained variant: accuracies on the training, validation and test sets, and more."""

    name: str
    train_accuracy: float
    val_accuracy: float
    test_accuracy: float
    seconds: float
    epochs_run: int
    history: dict
    weights_sha256: str
    hyperparameters: dict
    calibration: dict = dataclasses.field(default_factory=dict)

    @property
    def gap(self) -> float:
        return self.train_accuracy - self.test_accuracy

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "train_accuracy": self.train_accuracy,
            "val_accuracy": self.val_accuracy,
            "test_accuracy": self.test_accuracy,
            "gap": self.gap,
            "seconds": round(self.seconds, 2),
            "epochs_run": self.epochs_run,
            "weights_sha256": self.weights_sha256,
            **self.hyperparameters,
            "calibration": self.calibration,
            "history": self.history,
        }

    @classmethod
    def from_json(cls, data: dict) -> VariantResult:
        fields = {
            "name",
            "train_accuracy",
            "val_accuracy",
            "test_accuracy",
            "seconds",
            "epochs_run",
            "weights_sha256",
            "history",
            "calibration",
        }
        hyper = {k: v for k, v in data.items() if k not in fields | {"gap", "fingerprint"}}
        return cls(**{k: data[k] for k in fields if k in data}, hyperparameters=hyper)


class VariantSettings(NamedTuple):
    """A variant's regularization: what its model and optimizer are built with.

    The three ways to shrink the weights relate as follows (m training examples):

    - the course's `lambd` adds `lambd / (2 m) * sum(W**2)` to the cost: that is
      `kernel_regularizer=L2(l2)` with `l2 = lambd / (2 m)`;
    - `L2(l2)` adds `2 l2 W` to each kernel's gradient; under plain SGD (no
      momentum) its update is exactly the decoupled `weight_decay = 2 l2` of
      Keras's optimizers (`W -= lr * weight_decay * W`), i.e. `lambd / m`
      (`kreg.regularizers.weight_decay_from_l2`);
    - under Adam they differ: the penalty's gradient goes through Adam's
      moment estimates and is divided by the root of the second moment, so
      weights with small gradients are pulled to zero far harder than large
      ones (Loshchilov and Hutter, "Decoupled Weight Decay Regularization").
      AdamW applies the decay outside the moments, as SGD does. The adamw
      variants use `AdamW(weight_decay=profile.adamw_decay)`, by default
      `2 * profile.l2`: the decay that the l2 variants' factor equals under SGD.

    Attributes:
        optimizer: `"adam"`, `"sgd"` (the profile's) or `"adamw"`.
        l2: the L2 factor on every kernel (0 for none).
        dropout: the rate after each pooling, per block.
        dense_dropout: the rate after each hidden Dense layer.
        weight_decay: AdamW's decoupled `weight_decay` (0 unless adamw).
    """

    optimizer: str
    l2: float
    dropout: tuple
    dense_dropout: float
    weight_decay: float


def variant_settings(variant: str, profile: Profile) -> VariantSettings:
    """The regularization of a variant of `VARIANTS` under `profile`."""
    if variant not in VARIANTS:
        raise ValueError(f"Unknown variant {variant!r}; expected one of {', '.join(VARIANTS)}.")
    adamw = variant.startswith("adamw")
    if adamw and profile.optimizer != "adam":
        raise ValueError(
            f"The {variant} variant replaces Adam by AdamW; the profile's optimizer is "
            f"{profile.optimizer!r}."
        )
    drop = "dropout" in variant
    decay = profile.adamw_decay if profile.adamw_decay is not None else 2 * profile.l2
    return VariantSettings(
        optimizer="adamw" if adamw else profile.optimizer,
        l2=profile.l2 if "l2" in variant else 0.0,
        dropout=tuple(profile.dropout) if drop else (0.0,) * len(profile.dropout),
        dense_dropout=profile.dense_dropout if drop else 0.0,
        weight_decay=decay if adamw else 0.0,
    )


def make_optimizer(profile: Profile, weight_decay: float = 0.0) -> keras.optimizers.Optimizer:
    """The profile's optimizer, with the book's inverse-time decay when `lr_decay` is set.

    A `weight_decay` > 0 makes Adam AdamW with that decoupled decay.
    """
    rate = profile.learning_rate
    if profile.lr_decay:
        rate = keras.optimizers.schedules.InverseTimeDecay(rate, 1, profile.lr_decay)
    if profile.optimizer == "adam":
        if weight_decay > 0:
            return keras.optimizers.AdamW(rate, weight_decay=weight_decay)
        return keras.optimizers.Adam(rate)
    if profile.optimizer == "sgd" and weight_decay == 0:
        return keras.optimizers.SGD(rate, momentum=0.9)
    raise ValueError(
        f"`optimizer` must be 'adam' or 'sgd' (weight decay only with adam). "
        f"Received: optimizer={profile.optimizer!r}, weight_decay={weight_decay!r}"
    )


def build_model(
    profile: Profile,
    *,
    l2: float,
    dropout,
    dense_dropout: float,
    dropout_layer="keras",
    seed: int | None = None,
    sync_batch_norm: bool = False,
    name: str | None = None,
    weight_decay: float = 0.0,
    block_size: int = 3,
) -> keras.Model:
    """The profile's convnet with these regularization settings, compiled with its optimizer.

    `weight_decay` > 0 trains with AdamW (see `VariantSettings`); `block_size`
    is DropBlock's, with `dropout_layer="dropblock"`.
    """
    model = vgg_cifar10(
        profile.preset,
        l2=l2,
        dropout=dropout,
        dense_dropout=dense_dropout,
        filters=profile.filters,
        dense_units=profile.dense_units,
        dropout_layer=dropout_layer,
        block_size=block_size,
        seed=seed,
        sync_batch_norm=sync_batch_norm,
        name=name,
    )
    model.compile(
        optimizer=make_optimizer(profile, weight_decay),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


class _KeepOutOfProgressBar(keras.callbacks.Callback):
    """Listed after the loggers: removes keys with `prefix` before the progress bar prints."""

    def __init__(self, prefix: str):
        super().__init__()
        self.prefix = prefix

    def on_epoch_end(self, epoch, logs=None):
        for key in [k for k in (logs or {}) if k.startswith(self.prefix)]:
            del logs[key]


def _read_csv_log(path: Path) -> dict:
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return {
        key: [float(row[key]) for row in rows]
        for key in (rows[0] if rows else {})
        if key != "epoch"
    }


def fingerprint(
    variant: str,
    profile: Profile,
    data,
    *,
    seed: int,
    dropout_layer: str,
    strategy: str = "none",
    replicas: int = 1,
    mc_samples: int = 30,
    block_size: int | None = None,
    precision: str = "float32",
) -> dict:
    """Everything that changes a variant's result, as JSON-ready values.

    The profile, the variant's regularization, SHA-256 digests of the data
    (training, validation and test arrays), the seed, the dropout layer, the
    distribution, the MC dropout samples of the calibration report, and the
    kreg, Keras and TensorFlow versions. A finished
    variant or a backup with another fingerprint is not reused.
    """
    import tensorflow as tf

    from kreg import __version__

    regularization = variant_settings(variant, profile)
    dropout, dense_dropout = regularization.dropout, regularization.dense_dropout
    arrays = [array for split in data for array in split]
    settings = {
        "variant": variant,
        "profile": dataclasses.asdict(profile),
        **regularization._asdict(),
        "dropout": list(dropout),
        "data_sha256": weights_digest(arrays),
        "seed": seed,
        "dropout_layer": dropout_layer,
        "block_size": block_size if dropout_layer == "dropblock" else None,
        "precision": precision,
        "strategy": strategy,
        "replicas": replicas,
        "mc_samples": mc_samples if any(dropout) or dense_dropout else None,
        "kreg": __version__,
        "keras": keras.__version__,
        "tensorflow": tf.__version__,
    }
    return json.loads(json.dumps(settings))  # as it reads back: tuples become lists


class SettingsChangedError(ValueError):
    """A variant's earlier results or backup were made with other settings."""


FINGERPRINT_FILE = "kreg_fingerprint.json"


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _has_files(folder: Path | None) -> bool:
    return folder is not None and folder.is_dir() and any(p.is_file() for p in folder.rglob("*"))


def prepare_variant(
    variant: str,
    settings: dict,
    *,
    done_file: Path,
    backup_dir: Path,
    logdir: Path | None,
    overwrite: bool = False,
) -> VariantResult | None:
    """Decide what to do with a variant's earlier files; return its result if it is finished.

    - finished with the same `settings` (fingerprint): its `VariantResult`;
    - interrupted with the same settings: None, and training resumes from the
      backup, appending to the same TensorBoard run;
    - nothing there: None, a fresh start.

    Anything made with other settings, or a TensorBoard run directory that
    holds another run's events, raises `SettingsChangedError` naming what differs;
    with `overwrite=True` those files are deleted instead and training starts
    afresh. The backup is tagged with `settings` before training starts.
    """
    saved = _read_json(done_file) if done_file.exists() else None
    backup_settings = _read_json(backup_dir / FINGERPRINT_FILE) if backup_dir.exists() else None
    if saved is not None and saved.get("fingerprint") == settings:
        return VariantResult.from_json(saved)
    if saved is not None:
        problem = (
            f"{done_file} holds a finished run of {variant} with other settings "
            f"({'; '.join(differences(saved.get('fingerprint'), settings))})"
        )
    elif backup_dir.exists() and backup_settings != settings:
        problem = (
            f"{backup_dir} holds an interrupted run of {variant} with other settings "
            f"({'; '.join(differences(backup_settings, settings))})"
        )
    elif not backup_dir.exists() and _has_files(logdir):
        problem = (
            f"{logdir} already holds the logs of a run of {variant}; a new run would add its "
            "events to them"
        )
    else:
        problem = None
    if problem is not None:
        if not overwrite:
            raise SettingsChangedError(
                f"{problem}. Pass --overwrite to train {variant} afresh (deleting those files), "
                "or use another --logdir."
            )
        done_file.unlink(missing_ok=True)
        shutil.rmtree(backup_dir, ignore_errors=True)
        if logdir is not None:
            shutil.rmtree(logdir, ignore_errors=True)
    backup_dir.mkdir(parents=True, exist_ok=True)
    write_json(backup_dir / FINGERPRINT_FILE, settings)
    return None


def export_model(model: keras.Model, standardize) -> keras.Model:
    """`model` with its input standardization inside: it takes raw images (values 0-255).

    Args:
        model: a trained CIFAR network that takes standardized images.
        standardize: the `kreg.lab.pipeline.ChannelStandardizer` of its training
            images; its adapted `keras.layers.Normalization` becomes the first
            layer, so the exported model computes exactly what evaluation saw.

    The result is not compiled: it holds no optimizer or loss, only what
    inference needs. Save it with `model.save("name.keras")`; it loads with
    `keras.models.load_model` after `import kreg` (kreg's layers and
    regularizers are registered there), in Keras's default safe mode.
    """
    inputs = keras.Input(shape=model.input_shape[1:], name="image")
    outputs = model(standardize.layer(inputs))
    return keras.Model(inputs, outputs, name=f"{model.name}_raw_images")


def save_model_atomically(model: keras.Model, path: Path) -> None:
    """`model.save(path)` through a temporary name: a crash leaves no half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.stem}.partial.keras")
    model.save(partial)  # a plain file open: permissions follow the umask
    os.replace(partial, path)


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
    `callbacks` run before kreg's own (tests use them to make a step go wrong
    on purpose). The result's `calibration` holds the
    test set's accuracy, NLL, ECE and Brier score for the deterministic
    prediction, for temperature scaling fitted on the validation split, and,
    for variants with dropout, for MC dropout with `mc_samples` samples.

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
        )
    backup = BackupAndRestore(str(backup_dir))
    # The monitors write into the logs, so they come before the loggers that read them.
    callbacks = [
        images.callback,
        *(callbacks or []),
        RegularizationMonitor(),
        GeneralizationGap("accuracy"),
        backup,
    ]
    if logdir is not None:
        logdir.mkdir(parents=True, exist_ok=True)
        callbacks += [
            keras.callbacks.CSVLogger(str(logdir / "log.csv"), append=True),
            keras.callbacks.TensorBoard(log_dir=str(logdir), histogram_freq=1),
        ]
    # Per-layer norms belong in TensorBoard and the CSV, not in a 470-character progress line.
    callbacks.append(_KeepOutOfProgressBar("kernel_norm/"))
    val_data = images.eval_dataset(x_val, y_val)
    start = time.perf_counter()
    with multiworker_fit(model, strategy):
        history = model.fit(
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
    curves = {k: [float(v) for v in vs] for k, vs in history.history.items()}
    if logdir is not None:
        curves = _read_csv_log(logdir / "log.csv")  # all epochs, also those before a resume
    if weights_path is not None:
        weights_path = Path(weights_path)
        weights_path.parent.mkdir(parents=True, exist_ok=True)
        partial = weights_path.with_name(f".{weights_path.stem}.partial.weights.h5")
        model.save_weights(partial)
        os.replace(partial, weights_path)
    if model_path is not None:
        save_model_atomically(export_model(model, images.standardize), model_path)
    with multiworker_fit(model, strategy):
        train_accuracy = model.evaluate(images.eval_dataset(x_train, y_train), verbose=0)[1]
        val_accuracy = model.evaluate(val_data, verbose=0)[1]
        # The test set's only use: once, after training.
        test_accuracy = model.evaluate(images.eval_dataset(x_test, y_test), verbose=0)[1]
    with multiworker_fit(model, strategy):
        calibration = evaluate_calibration(
            model,
            images.standardize,
            (x_val, y_val),
            (x_test, y_test),
            mc_samples=mc_samples if any(dropout) or dense_dropout else 0,
            seed=seed,
        )
    hyper = {
        "variant": variant,
        "preset": profile.preset,
        "epochs": profile.epochs,
        "batch_size": profile.batch_size,
        "optimizer": regularization.optimizer,
        "learning_rate": profile.learning_rate,
        "augment": profile.augment,
        "l2": l2,
        "weight_decay": regularization.weight_decay,
        "dropout": list(dropout),
        "dense_dropout": dense_dropout,
        "dropout_layer": dropout_layer,
        "block_size": block_size if dropout_layer == "dropblock" else 0,
        "precision": precision,
        "seed": seed,
        "train_images": len(x_train),
        "val_images": len(x_val),
        "test_images": len(x_test),
    }
    result = VariantResult(
        name=variant,
        train_accuracy=float(train_accuracy),
        val_accuracy=float(val_accuracy),
        test_accuracy=float(test_accuracy),
        seconds=seconds,
        epochs_run=len(curves.get("loss", [])),
        history=curves,
        weights_sha256=weights_digest(model),
        hyperparameters=hyper,
        calibration=calibration,
    )
    return result, backup


def _scores(labels, probs, num_bins: int = 15) -> dict:
    bins = calibration_bins(labels, probs, num_bins)
    return {
        "accuracy": float(np.mean(probs.argmax(axis=1) == labels.reshape(-1))),
        "nll": negative_log_likelihood(labels, probs),
        "ece": expected_calibration_error(labels, probs, num_bins),
        "brier": brier_score(labels, probs),
        "bins": {
            "counts": bins["counts"].tolist(),
            # JSON has no NaN: empty bins are None
            "confidence": [None if np.isnan(v) else float(v) for v in bins["confidence"]],
            "accuracy": [None if np.isnan(v) else float(v) for v in bins["accuracy"]],
        },
    }


def evaluate_calibration(
    model, standardize, validation, test, *, mc_samples: int, seed: int, batch_size: int = 256
) -> dict:
    """Test-set accuracy, NLL, ECE and Brier score of three ways to predict.

    `deterministic` is `model.predict`; `temperature` rescales those
    probabilities with a temperature fitted on `validation` by NLL (the
    baseline any uncertainty method must beat); `mc_dropout`, when
    `mc_samples > 0`, averages that many dropout samples (`kreg.mc_predict`).
    Each entry also holds the reliability diagram's 15 bins.
    """
    (x_val, y_val), (x_test, y_test) = validation, test
    # Each variant's model compiles its own predict step from Keras's one function.
    ignore_retracing_warning("make_predict_function")

    def predict(images):
        return model.predict(np.asarray(standardize(images)), batch_size=batch_size, verbose=0)

    val_probs, test_probs = predict(x_val).astype(np.float64), predict(x_test).astype(np.float64)
    temperature = fit_temperature(y_val, val_probs)
    report = {
        "deterministic": _scores(y_test, test_probs),
        "temperature": {
            **_scores(y_test, apply_temperature(test_probs, temperature)),
            "temperature": temperature,
        },
    }
    if mc_samples:
        mean, _ = mc_predict(model, np.asarray(standardize(x_test)), samples=mc_samples, seed=seed)
        mean = np.asarray(mean, np.float64)
        report["mc_dropout"] = {
            **_scores(y_test, mean / mean.sum(1, keepdims=True)),
            "samples": mc_samples,
        }
    return report


def run_name(variant: str, seed: int, seeds: int = 1) -> str:
    """A variant's TensorBoard run: `l2_dropout`, or `l2_dropout/seed_3` among several seeds."""
    name = variant.replace("+", "_")
    return name if seeds == 1 else f"{name}/seed_{seed}"


def seed_summary(by_variant: dict[str, list[VariantResult]]) -> dict:
    """Per variant, mean and std over seeds; for each other variant, its paired difference.

    `by_variant` maps a variant to its results, in the same seed order for
    every variant. Each variant gets `train_accuracy`, `test_accuracy` and
    `gap` as `{"mean", "std"}` (std is None for one seed); when `baseline` is
    there, every other variant also gets `vs_baseline`: for test accuracy and
    gap, the mean difference from the baseline with a 95 % Student-t interval
    over the seeds (paired: the same seed's split, initial weights and order).
    """
    summary = {}
    for variant, runs in by_variant.items():
        entry = {"seeds": [r.hyperparameters["seed"] for r in runs]}
        for key in ("train_accuracy", "test_accuracy", "gap"):
            mean, std = mean_std([getattr(r, key) for r in runs])
            entry[key] = {"mean": mean, "std": None if math.isnan(std) else std}
        entry["regularization"] = {
            k: runs[0].hyperparameters[k] for k in ("optimizer", "l2", "weight_decay")
        }
        summary[variant] = entry
    base = by_variant.get("baseline")
    for variant, runs in by_variant.items():
        if base is None or variant == "baseline":
            continue
        summary[variant]["vs_baseline"] = {
            key: paired_difference(
                [getattr(r, key) for r in runs], [getattr(r, key) for r in base]
            ).to_json()
            for key in ("test_accuracy", "gap")
        }
    return summary
