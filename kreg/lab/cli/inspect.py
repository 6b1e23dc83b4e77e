"""`kreg inspect`: one row per run of a TensorBoard log directory, read from its files."""

from __future__ import annotations

import json
import sys

from kreg.lab.plots import save_run_curves
from kreg.lab.runs import find_runs, find_sweeps

__all__ = ["print_sweep", "run"]


def _format(value, spec=".4f") -> str:
    return "-" if value is None else format(value, spec)


def _plain(value):
    # TensorBoard stores every number as a double; show 3000.0 as 3000.
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _hparams_text(run, names) -> str:
    return " ".join(f"{k}={_plain(run.hparams[k])}" for k in names if k in run.hparams)


def _print_runs(runs) -> None:
    names = sorted({name for run in runs for name in run.hparams})
    width = max(len(run.name) for run in runs)
    header = [
        "run".ljust(width),
        "train acc",
        "val acc",
        "test acc",
        "gap".rjust(7),
        "penalty share",
        "hparams",
    ]
    print("  ".join(header))
    for run in runs:
        print(
            "  ".join(
                [
                    run.name.ljust(width),
                    _format(run.train_accuracy).rjust(9),
                    _format(run.val_accuracy).rjust(7),
                    _format(run.test_accuracy).rjust(8),
                    _format(run.gap).rjust(7),
                    _format(run.penalty_share, ".3f").rjust(13),
                    _hparams_text(run, names),
                ]
            )
        )


def print_sweep(sweep) -> None:
    """A sweep's trials as a table, the best marked `*` (also what `kreg sweep` ends with)."""
    runs, best = sweep.runs, sweep.best_trial_id
    objective = sweep.objective
    names = sorted({name for run in runs for name in run.hparams})
    width = max(len("trial"), *(len(run.name) for run in runs))
    print(
        f"Sweep {sweep.root} ({len(runs)} trials; objective {objective} on the validation "
        "split; * = best, the only one evaluated on the test set)"
    )
    print(
        "  ".join(
            ["best", "trial".ljust(width), objective.rjust(12), "train acc", "test acc", "hparams"]
        )
    )
    for run in runs:
        print(
            "  ".join(
                [
                    ("*" if run.name == best else "").center(4),
                    run.name.ljust(width),
                    _format(run.metrics.get(objective)).rjust(12),
                    _format(run.metrics.get("accuracy")).rjust(9),
                    _format(run.metrics.get("test_accuracy")).rjust(8),
                    _hparams_text(run, names),
                ]
            )
        )


def run(args) -> int:
    try:
        runs = find_runs(args.logdir)
        sweeps = find_sweeps(args.logdir, runs)
    except (FileNotFoundError, ValueError) as error:
        print(f"kreg inspect: error: {error}", file=sys.stderr)
        return 2
    if not runs:
        print(
            f"kreg inspect: no runs under {args.logdir}: no TensorBoard run directories (with "
            "hyperparameters, or Keras's train/ and validation/ event folders). Write them "
            "with experiments/football.py or cifar_l2.py --logdir, kreg sweep, or "
            "keras.callbacks.TensorBoard.",
            file=sys.stderr,
        )
        return 1
    in_sweeps = {id(run) for sweep in sweeps for run in [*sweep.runs, *sweep.seed_runs]}
    plain = [run for run in runs if id(run) not in in_sweeps]
    if args.json:
        rows = [run.to_json() for run in plain]
        for sweep in sweeps:
            rows += [
                {
                    **run.to_json(),
                    "sweep": str(sweep.root),
                    "best": run.name == sweep.best_trial_id,
                }
                for run in sweep.runs
            ]
        print(json.dumps(rows, indent=2))
    else:
        if plain:
            _print_runs(plain)
        for sweep in sweeps:
            if plain or sweep is not sweeps[0]:
                print()
            print_sweep(sweep)
    if args.plot:
        save_run_curves(args.plot, plain, sweeps)
        if not args.json:
            print(f"Curves written to {args.plot}")
    return 0
