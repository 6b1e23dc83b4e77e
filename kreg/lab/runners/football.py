"""The football experiment's orchestration: which models to train, training them, the report.

`experiments/football.py` reads top to bottom (arguments, data, plan, train,
report); the pieces it calls live here. A plan is a list of `PlannedRun`s,
each naming the engine that trains it (`kreg.lab.fullbatch`'s vocabulary):
`"reference"` (the numpy course code), `"fullbatch"` (`fit_full_batch`,
which picks its fused or Keras engine and records which) or `"stacked"`
(several models in one compiled loop).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import statistics
from pathlib import Path

import keras
import tensorflow as tf

from kreg.callbacks import GeneralizationGap, RegularizationMonitor
from kreg.lab.callbacks import DecisionBoundaryLogger
from kreg.lab.fullbatch import STACK_FROM
from kreg.lab.hparams import log_hparams, log_hparams_config
from kreg.lab.plots import save_cost_curves, save_decision_boundary
from kreg.lab.runners.course import (
    COURSE,
    COURSE_RESULTS,
    FootballRun,
    run_keras,
    run_keras_stacked,
    run_reference,
)
from kreg.lab.spread import mean_std

__all__ = [
    "STACKING",
    "PlannedRun",
    "course_comparison",
    "log_runs",
    "plan_runs",
    "refuse_used_logdir",
    "save_figures",
    "seed_summary",
    "slug",
    "stack_seeds",
    "train_plan",
]

# How several Keras seeds of one setting train: together in one compiled loop, or one by one.
STACKING = ("auto", "stacked", "sequential")


@dataclasses.dataclass(frozen=True)
class PlannedRun:
    """One model to train: its name, the engine that trains it and its settings."""

    name: str
    engine: str  # "reference", "fullbatch" or "stacked"
    settings: dict


def plan_runs(lambd, keep_prob, *, seed: int, seeds: int | None, course_dropout: bool):
    """The models to train: the course's three (and true dropout over seeds), or one setting.

    With `lambd` and `keep_prob` both None: no regularization, L2 with the
    course's lambd, the course's fixed-mask dropout (numpy reference), and
    true dropout for `seeds` (default 5) seeds from `seed`. Otherwise that
    one setting, for `seeds` (default 1) seeds; `course_dropout` trains it
    with the course's fixed masks in the numpy reference.
    """
    if lambd is None and keep_prob is None:
        kp = COURSE.keep_prob
        plan = [
            PlannedRun("no regularization", "fullbatch", {}),
            PlannedRun(f"L2 lambd={COURSE.lambd}", "fullbatch", {"lambd": COURSE.lambd}),
            PlannedRun(
                f"dropout keep_prob={kp} (course, fixed masks)", "reference", {"keep_prob": kp}
            ),
        ]
        for s in range(seed, seed + (seeds or 5)):
            name = f"dropout keep_prob={kp} (true, seed {s})"
            plan.append(PlannedRun(name, "fullbatch", {"keep_prob": kp, "seed": s}))
        return plan
    lambd = lambd or 0.0
    keep_prob = keep_prob if keep_prob is not None else 1.0
    name = f"lambd={lambd} keep_prob={keep_prob}"
    settings = {"lambd": lambd, "keep_prob": keep_prob}
    chosen = range(seed, seed + (seeds or 1))
    plan = []
    for s in chosen:
        label = name if len(chosen) == 1 else f"{name} (seed {s})"
        if course_dropout:
            fixed = {**settings, "seed": s} if len(chosen) > 1 else settings
            plan.append(PlannedRun(label + " (course, fixed masks)", "reference", fixed))
        else:
            # Without dropout the seed changes nothing; a single run records none.
            recorded = s if keep_prob < 1 or len(chosen) > 1 else None
            plan.append(PlannedRun(label, "fullbatch", {**settings, "seed": recorded}))
    return plan


def stack_seeds(plan, stacking: str, dropout_layer: str):
    """`plan` with its seeded Keras runs moved to the stacked engine where `stacking` says.

    `"auto"` stacks from `STACK_FROM` such runs (where one loop starts to pay
    on a 2-core CPU), and only with `InvertedDropout`'s counter-hash masks,
    which the stacked loop draws exactly as each model would alone.
    """
    if stacking not in STACKING:
        raise ValueError(f"`stacking` must be one of {STACKING}. Received: {stacking!r}")
    seeded = [run for run in plan if run.engine == "fullbatch" and "seed" in run.settings]
    stack = stacking == "stacked" or (
        stacking == "auto" and dropout_layer == "kreg-hash" and len(seeded) >= STACK_FROM
    )
    if len(seeded) < 2 or not stack:
        return plan
    return [dataclasses.replace(run, engine="stacked") if run in seeded else run for run in plan]


def slug(name: str) -> str:
    """A run's name as a folder name."""
    keep = [c if c.isalnum() or c in "._-" else "_" for c in name.replace(" ", "_")]
    return "".join(keep).strip("_")


def refuse_used_logdir(logdir: Path | None, plan, overwrite: bool) -> str | None:
    """The error to print if a planned run's TensorBoard folder holds events (else None).

    A second run's events in the same run folder would be drawn as one zigzag;
    with `overwrite` those folders are removed instead. Folders that a killed
    run left half-written (see `partial_run_dir`) are removed in any case.
    """
    if logdir is None:
        return None
    for stale in logdir.glob(".*.partial"):
        shutil.rmtree(stale, ignore_errors=True)
    taken = [logdir / slug(run.name) for run in plan]
    taken = [d for d in taken if d.is_dir() and any(p.is_file() for p in d.rglob("*"))]
    if taken and not overwrite:
        return (
            f"{', '.join(map(str, taken))} already hold(s) TensorBoard runs; a new run would "
            "add its events to them. Pass --overwrite to replace them, or use another --logdir."
        )
    for folder in taken:
        shutil.rmtree(folder)
    return None


def partial_run_dir(logdir: Path, name: str) -> Path:
    """Where a run logs while it trains: renamed to `logdir/slug(name)` once complete.

    A run killed on the way leaves only this hidden folder, which the next
    run into the same --logdir removes; every visible run folder is complete.
    """
    return logdir / f".{slug(name)}.partial"


def complete_run_dir(logdir: Path | None, run: FootballRun) -> None:
    """Record the run's hyperparameters and metrics, then rename its folder into place."""
    if logdir is None:
        return
    partial = partial_run_dir(logdir, run.name)
    partial.mkdir(parents=True, exist_ok=True)
    hparams = _log_run(partial, run)
    (partial / "kreg_hparams.json").write_text(json.dumps(hparams))
    final = logdir / slug(run.name)
    shutil.rmtree(final, ignore_errors=True)  # --overwrite: the previous run's
    os.rename(partial, final)


def run_callbacks(logdir: Path | None, name: str, data) -> list:
    """Regularization monitors for every run; TensorBoard and boundary images with a logdir."""
    callbacks = [RegularizationMonitor(), GeneralizationGap("accuracy")]
    if logdir is not None:
        run_dir = str(partial_run_dir(logdir, name))
        callbacks += [
            keras.callbacks.TensorBoard(log_dir=run_dir, histogram_freq=1),
            DecisionBoundaryLogger(data[0], data[1], logdir=run_dir, every=10, title=name),
        ]
    return callbacks


def _report(run: FootballRun, note: str = "") -> None:
    print(
        f"  {run.name}: train accuracy {run.train_accuracy:.4f}, test accuracy "
        f"{run.test_accuracy:.4f} ({run.seconds:.1f} s{note})",
        flush=True,
    )


def train_plan(plan, data, *, precision, dropout_layer, logdir, learning_rate, iterations):
    """Train every planned model, printing a line as each finishes; the runs in plan order."""
    common = dict(learning_rate=learning_rate, iterations=iterations)
    runs = {}
    for planned in plan:
        if planned.engine == "reference":
            runs[planned.name] = run_reference(
                data, name=planned.name, **planned.settings, **common
            )
        elif planned.engine == "fullbatch":
            # A progress bar on a terminal; a log file gets the one line per model.
            runs[planned.name], _ = run_keras(
                data,
                name=planned.name,
                precision=precision,
                dropout_layer=dropout_layer,
                callbacks=run_callbacks(logdir, planned.name, data),
                verbose="auto",
                **planned.settings,
                **common,
            )
        else:
            continue
        complete_run_dir(logdir, runs[planned.name])
        _report(runs[planned.name])
    stacked = [(run.name, run.settings) for run in plan if run.engine == "stacked"]
    if stacked:
        print(f"  training {len(stacked)} models together in one compiled loop...", flush=True)
        results = run_keras_stacked(
            data,
            stacked,
            precision=precision,
            callbacks=[run_callbacks(logdir, name, data) for name, _ in stacked],
            verbose="auto",
            **common,
        )
        for run, _ in results:
            runs[run.name] = run
            complete_run_dir(logdir, run)
            _report(run, f" for all {len(stacked)} together")
    return [runs[planned.name] for planned in plan]


def print_table(runs) -> None:
    """Every run: its name, engine, accuracies and seconds."""
    print(f"{'model':<46} {'engine':<10} {'train acc':>19} {'test acc':>8} {'seconds':>8}")
    for run in runs:
        print(
            f"{run.name:<46} {run.engine:<10} {run.train_accuracy:>19.16g} "
            f"{run.test_accuracy:>8.4g} {run.seconds:>8.2f}"
        )


def true_dropout_runs(runs) -> list[FootballRun]:
    """The runs with fresh dropout masks every step (Keras, keep_prob < 1)."""
    return [r for r in runs if r.engine != "reference" and r.keep_prob < 1]


def seed_summary(runs, *, course_setup: bool, course_dropout: bool) -> tuple[dict | None, str]:
    """The spread over seeds (mean ± sample std) as JSON-ready numbers and one printed line."""
    if course_setup:
        true_dropout = true_dropout_runs(runs)
        train_acc = [r.train_accuracy for r in true_dropout]
        test_acc = [r.test_accuracy for r in true_dropout]
        summary = {
            "true_dropout_train_mean": statistics.fmean(train_acc),
            "true_dropout_test_mean": statistics.fmean(test_acc),
            "true_dropout_seeds": len(true_dropout),
        }
        if len(true_dropout) == 1:
            return summary, (
                f"true dropout, one seed ({true_dropout[0].seed}): train {train_acc[0]:.4f}, "
                f"test {test_acc[0]:.4f} (no spread from one seed; --seeds N for more)"
            )
        summary["true_dropout_train_std"] = statistics.stdev(train_acc)
        summary["true_dropout_test_std"] = statistics.stdev(test_acc)
        return summary, (
            f"true dropout over {len(true_dropout)} seeds (mean ± sample std): train "
            f"{summary['true_dropout_train_mean']:.4f} ± {summary['true_dropout_train_std']:.4f}"
            f", test {summary['true_dropout_test_mean']:.4f} ± "
            f"{summary['true_dropout_test_std']:.4f}"
        )
    if len(runs) < 2:
        return None, ""
    train_mean, train_std = mean_std([r.train_accuracy for r in runs])
    test_mean, test_std = mean_std([r.test_accuracy for r in runs])
    fresh = runs[0].keep_prob < 1 and not course_dropout
    same = "" if fresh else " (no fresh dropout masks: every seed trains the same model)"
    summary = {
        "seeds": [r.seed for r in runs],
        "train_mean": train_mean,
        "train_std": train_std,
        "test_mean": test_mean,
        "test_std": test_std,
    }
    return summary, (
        f"over {len(runs)} seeds (mean ± sample std): train {train_mean:.4f} ± "
        f"{train_std:.4f}, test {test_mean:.4f} ± {test_std:.4f}{same}"
    )


def course_comparison(runs, summary: dict) -> str:
    """The course's table beside kreg's, and why the two dropout rows differ."""
    header = ("model", "course train", "course test", "kreg train", "kreg test")
    lines = [
        "The course's table beside kreg's:",
        "{:<20} {:>19} {:>11} {:>19} {:>9}".format(*header),
    ]
    kreg_rows = {"no regularization": runs[0], "L2": runs[1], "dropout": runs[2]}
    for model_name, (course_train, course_test) in COURSE_RESULTS.items():
        run = kreg_rows[model_name]
        lines.append(
            f"{model_name:<20} {course_train:>19.16g} {course_test:>11.4g} "
            f"{run.train_accuracy:>19.16g} {run.test_accuracy:>9.4g}"
        )
    lines += [
        "",
        "Why the two dropout rows differ: the course's forward pass calls np.random.seed(1) "
        "on every iteration, so all its steps use the same two masks and train one fixed "
        f"thinned sub-network (test accuracy {runs[2].test_accuracy:.4g} here, scored with "
        "every unit on). True dropout draws fresh masks at every step, averaging over many "
        f"sub-networks: test accuracy {summary['true_dropout_test_mean']:.4g} here.",
    ]
    return "\n".join(lines)


def is_course_run(args, course_setup: bool) -> bool:
    """The course's numbers were measured on its data, with its step count and step size."""
    return (
        course_setup
        and not args.synthetic
        and args.iterations == COURSE.iterations
        and args.learning_rate == COURSE.learning_rate
        and args.precision == "float64"
    )


def save_figures(folder: Path, runs, data) -> None:
    """A decision-boundary figure per run and the cost curves (seeds as a mean with a band)."""
    for run in runs:
        save_decision_boundary(
            folder / f"{slug(run.name)}.png",
            run.predict,
            data[0],
            data[1],
            title=run.name,
            points="training set",
            accuracy=run.train_accuracy,
        )
    true_dropout = true_dropout_runs(runs)
    costs = {}
    for run in runs:
        seeds = run in true_dropout and len(true_dropout) > 1
        key = f"true dropout ({len(true_dropout)} seeds)" if seeds else run.name
        costs.setdefault(key, []).append(run.costs)
    save_cost_curves(folder / "costs.png", costs)


def log_runs(logdir: Path, runs) -> None:
    """The HParams tab's declaration of the hyperparameters the runs took (each run recorded
    its own values and metrics when it completed)."""
    logged = [
        json.loads((logdir / slug(run.name) / "kreg_hparams.json").read_text()) for run in runs
    ]
    log_hparams_config(logdir, {key: [h[key] for h in logged] for key in logged[0]})


def _log_run(run_dir: Path, run: FootballRun) -> dict:
    hparams = {
        "lambd": run.lambd,
        "keep_prob": run.keep_prob,
        "learning_rate": run.learning_rate,
        "iterations": run.iterations,
        "precision": run.precision,
        "engine": run.engine,
        "seed": -1 if run.seed is None else run.seed,
        "dropout_layer": run.extra.get("dropout_layer") or "none",
    }
    metrics = {
        "train_accuracy": run.train_accuracy,
        "test_accuracy": run.test_accuracy,
        "gap": run.train_accuracy - run.test_accuracy,
    }
    log_hparams(run_dir, hparams, metrics)
    if run.engine == "reference":  # the numpy run has no Keras logs: record its costs
        with tf.summary.create_file_writer(str(run_dir / "train")).as_default():
            for step, cost in run.costs:
                tf.summary.scalar("epoch_loss", cost, step=step // 1000)
    return hparams
