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
