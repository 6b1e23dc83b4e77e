"""A variant's result, its TensorBoard run name, and the statistics over seeds."""

from __future__ import annotations

import dataclasses
import math

from kreg.lab.spread import mean_std, paired_difference

__all__ = ["VariantResult", "run_name", "seed_summary"]


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


def run_name(variant: str, seed: int, seeds: int = 1) -> str:
    """A variant's TensorBoard run: `l2_dropout`, or `l2_dropout/seed_3` among several seeds."""
    name = variant.replace("+", "_")
    return name if seeds == 1 else f"{name}/seed_{seed}"


def seed_summary(
    by_variant: dict[str, list[VariantResult]], baselines: dict | None = None
) -> dict:
    """Per variant, mean and std over seeds; for each other variant, its paired difference.

    `by_variant` maps a variant to its results, in the same seed order for
    every variant. Each variant gets `train_accuracy`, `val_accuracy`,
    `test_accuracy`, `gap`, `seconds` and, where calibrated, the test set's
    `nll` and `ece` (as predicted) as `{"mean", "std"}` (std is None for one
    seed). A variant whose baseline was trained too gets `baseline` (its
    name) and `vs_baseline`: for test accuracy, gap, NLL and ECE, the mean
    difference from the baseline with a 95 % Student-t interval over the
    seeds (paired: the same seed's split, data order and dropout seeds; the
    initial weights too where the architecture is the same). `baselines`
    maps a variant to its baseline's name, or None for none; every other
    variant is compared with `"baseline"`.
    """
    baselines = baselines or {}
    summary = {}
    for variant, runs in by_variant.items():
        entry = {"seeds": [r.hyperparameters["seed"] for r in runs]}
        for key, values in _measures(runs).items():
            mean, std = mean_std(values)
            entry[key] = {"mean": mean, "std": None if math.isnan(std) else std}
        entry["regularization"] = {
            k: runs[0].hyperparameters[k] for k in ("optimizer", "l2", "weight_decay")
        }
        summary[variant] = entry
    for variant, runs in by_variant.items():
        base_name = baselines.get(variant, "baseline")
        base = by_variant.get(base_name) if base_name is not None else None
        if base is None or variant == base_name:
            continue
        ours, theirs = _measures(runs), _measures(base)
        summary[variant]["baseline"] = base_name
        summary[variant]["vs_baseline"] = {
            key: paired_difference(ours[key], theirs[key]).to_json()
            for key in ("test_accuracy", "gap", "nll", "ece")
            if key in ours and key in theirs
        }
    return summary


def _measures(runs: list[VariantResult]) -> dict[str, list[float]]:
    measures = {
        key: [getattr(r, key) for r in runs]
        for key in ("train_accuracy", "val_accuracy", "test_accuracy", "gap", "seconds")
    }
    if all(r.calibration for r in runs):
        for key in ("nll", "ece"):
            measures[key] = [r.calibration["deterministic"][key] for r in runs]
    return measures
