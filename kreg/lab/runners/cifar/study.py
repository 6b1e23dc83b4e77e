"""The CIFAR-10 study's orchestration: every variant and seed checked, trained, recorded.

`experiments/cifar_l2.py` reads top to bottom (arguments, data, check earlier
runs, train, report); the steps live here. `args` is that script's parsed
arguments (`kreg.lab.runners.cifar.arguments`).
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

from kreg.datasets import split_validation
from kreg.lab.callbacks.backup_and_restore import BackupUnusableError
from kreg.lab.hparams import log_hparams, log_hparams_config
from kreg.lab.io import test_pause, write_json
from kreg.lab.plots import save_learning_curves, save_reliability, save_seed_spread
from kreg.lab.runners.cifar.profiles import BASELINES
from kreg.lab.runners.cifar.report import (
    calibration_metrics,
    print_calibration,
    print_spread,
    print_table,
)
from kreg.lab.runners.cifar.results import VariantResult, run_name, seed_summary
from kreg.lab.runners.cifar.resume import SettingsChangedError, fingerprint, prepare_variant
from kreg.lab.runners.cifar.train import run_variant

__all__ = [
    "PlannedVariant",
    "TrainingStoppedError",
    "check_earlier_runs",
    "record_result",
    "report",
    "seed_splits",
    "train_planned",
]


@dataclasses.dataclass(frozen=True)
class PlannedVariant:
    """One variant and seed to train: its TensorBoard run name and its fingerprint."""

    variant: str
    seed: int
    name: str
    settings: dict

    @property
    def file_name(self) -> str:
        """The run's name as one file name (`l2_dropout_seed_3`), for backups and models."""
        return self.name.replace("/", "_")


class TrainingStoppedError(RuntimeError):
    """A variant's training stopped on a non-finite loss, metric or weight (exit code 3)."""


def seed_splits(x_all, y_all, test, profile, seeds: list[int]) -> dict:
    """Per seed, `(train, validation, test)`: each seed holds out its own validation split."""
    data = {}
    for seed in seeds:
        x_train, y_train, x_val, y_val = split_validation(
            x_all, y_all, profile.validation_split, seed
        )
        data[seed] = (x_train, y_train), (x_val, y_val), test
    return data


def check_earlier_runs(args, profile, variants, data, *, replicas, backup_root, chief):
    """Every variant and seed's plan, and the results of those that finished earlier.

    Nothing trains before every variant's earlier files agree with these
    settings: `prepare_variant` raises `SettingsChangedError` otherwise.
    """
    plan, results = [], {}
    for seed in data:
        for variant in variants:
            name = run_name(variant, seed, args.seeds)
            settings = fingerprint(
                variant,
                profile,
                data[seed],
                seed=seed,
                dropout_layer=args.dropout_layer,
                strategy=args.strategy,
                replicas=replicas,
                mc_samples=args.mc_samples,
                block_size=args.block_size,
                precision=args.precision,
            )
            planned = PlannedVariant(variant, seed, name, settings)
            done = prepare_variant(
                variant,
                settings,
                done_file=backup_root / f"{planned.file_name}.done.json",
                backup_dir=backup_root / planned.file_name,
                logdir=args.logdir / name if chief else None,
                overwrite=args.overwrite,
            )
            if done is not None:
                results[variant, seed] = done
            plan.append(planned)
    return plan, results


def train_planned(planned: PlannedVariant, args, profile, data, *, strategy, backup_root, chief):
    """Train one planned variant (resuming from its backup); its result.

    Raises `TrainingStoppedError`, naming the variant, epoch and batch, when a
    loss, metric or weight became non-finite (the last good backup is kept),
    and `SettingsChangedError` when backups exist but none can be restored.
    """
    weights_dir, models_dir = args.weights_dir, args.models_dir
    try:
        result, backup = run_variant(
            planned.variant,
            profile,
            data,
            seed=planned.seed,
            dropout_layer=args.dropout_layer,
            block_size=args.block_size,
            precision=args.precision,
            logdir=args.logdir / planned.name if chief else None,
            backup_dir=backup_root / planned.file_name,
            verbose=args.verbose if chief else 0,
            strategy=strategy,
            weights_path=weights_dir / f"{planned.file_name}.weights.h5"
            if weights_dir and chief
            else None,
            model_path=models_dir / f"{planned.file_name}.keras" if models_dir and chief else None,
            mc_samples=args.mc_samples,
            fingerprint=planned.settings,
        )
    except BackupUnusableError as error:
        raise SettingsChangedError(
            f"{error} Pass --overwrite to train {planned.variant} afresh (deleting them), or "
            "use another --logdir."
        ) from None
    if result is None:
        label = planned.variant if args.seeds == 1 else f"{planned.variant}, seed {planned.seed}"
        epoch, batch = backup.nan_at
        where = f"epoch {epoch + 1}" + ("" if batch is None else f", batch {batch + 1}")
        raise TrainingStoppedError(
            f"variant {label}: training stopped at {where}: non-finite {backup.nan_reason}. "
            f"The last good backup is kept in {backup.backup_dir} (rerunning resumes from "
            "it); lower --learning-rate or change the setup first."
        )
    result.hyperparameters["strategy"] = args.strategy
    result.hyperparameters["replicas"] = strategy.num_replicas_in_sync
    return result


def record_result(planned: PlannedVariant, result: VariantResult, logdir, backup_root: Path):
    """The run's HParams summary (chief only: `logdir` None elsewhere) and its done-file."""
    if logdir is not None:
        metrics = {
            "train_accuracy": result.train_accuracy,
            "val_accuracy": result.val_accuracy,
            "test_accuracy": result.test_accuracy,
            "gap": result.gap,
            **calibration_metrics(result.calibration),
        }
        log_hparams(logdir / planned.name, result.hyperparameters, metrics)
    write_json(
        backup_root / f"{planned.file_name}.done.json",
        {**result.to_json(), "fingerprint": planned.settings},
    )
    test_pause("result recorded epoch 0")
    # Recorded: the backup has done its job (a kill before this line leaves both, and the
    # next run reads the result back and removes the backup).
    shutil.rmtree(backup_root / planned.file_name, ignore_errors=True)


def report(args, results: dict, variants: list[str], seeds: list[int], plan) -> None:
    """The tables, the HParams domains, the figures and the JSON of a finished study."""
    ordered = [results[variant, seed] for seed in seeds for variant in variants]
    metric_names = ["train_accuracy", "val_accuracy", "test_accuracy", "gap"]
    metric_names += sorted({k for r in ordered for k in calibration_metrics(r.calibration)})
    taken = {k: [r.hyperparameters[k] for r in ordered] for k in ordered[0].hyperparameters}
    log_hparams_config(args.logdir, taken, metric_names)
    by_seed = {v: [results[v, seed] for seed in seeds] for v in variants}
    if args.seeds == 1:
        print_table([results[v, args.seed] for v in variants])
    summary = seed_summary(by_seed, BASELINES)
    if args.seeds > 1:
        print_spread(summary, seeds)
    first = [results[v, args.seed] for v in variants]
    print_calibration(first, note=f" (seed {args.seed})" if args.seeds > 1 else "")
    if args.curves is not None:
        save_learning_curves(
            args.curves, {v: [r.history for r in rs] for v, rs in by_seed.items()}
        )
        print(f"Learning curves written to {args.curves}")
    if args.spread is not None:
        spread = {
            v: {"test_accuracy": [r.test_accuracy for r in rs], "gap": [r.gap for r in rs]}
            for v, rs in by_seed.items()
        }
        save_seed_spread(args.spread, spread, title=f"{len(seeds)} seeds")
        print(f"Spread over the seeds written to {args.spread}")
    if args.reliability is not None:
        save_reliability(args.reliability, {r.name: r.calibration for r in first})
        print(f"Reliability diagrams (seed {args.seed}) written to {args.reliability}")
    if args.json is not None:
        payload = {"runs": [r.to_json() for r in ordered], "seeds": seeds, "summary": summary}
        write_json(args.json, payload)
        print(f"Results written to {args.json}")
    if args.models_dir is not None:
        example = args.models_dir / f"{plan[-1].file_name}.keras"
        print(
            f"Models (raw 0-255 images in) written to {args.models_dir}/; try one on your "
            f"images: kreg predict {example} IMAGES"
        )
    print(f"TensorBoard: tensorboard --logdir {args.logdir}")
