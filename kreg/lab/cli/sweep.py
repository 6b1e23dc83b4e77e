"""`kreg sweep`: tune L2 and dropout with KerasTuner, in one process or distributed."""

from __future__ import annotations

import dataclasses
import os
import sys

from kreg.datasets import load_cifar10, load_football, split_validation, synthetic_football
from kreg.lab.cli.inspect import print_sweep
from kreg.lab.runners.cifar import PROFILES
from kreg.lab.runners.sweep import (
    SPACES,
    CifarHyperModel,
    FootballHyperModel,
    parse_values,
    run_sweep,
)
from kreg.lab.runs import find_runs, find_sweeps

__all__ = ["run"]

# The command-line flag of each search dimension.
FLAGS = {
    "lambd": "--lambd",
    "keep_prob": "--keep-prob",
    "l2": "--weight-decay",
    "dropout": "--dropout",
    "dense_dropout": "--dense-dropout",
}


def _sweep_data(args):
    """`(train, validation, test, description)`; the validation split comes out of training."""
    if args.task == "football":
        if args.synthetic:
            x, y, x_test, y_test = synthetic_football(seed=0)
            source = "a generated stand-in (not the course's data)"
        else:
            x, y, x_test, y_test = load_football(args.data)
            source = "the course's football data"
        x_train, y_train, x_val, y_val = split_validation(x, y, args.val_fraction, args.seed)
    else:
        # The quick profile's cap on training images (6000) unless --train-subset says.
        subset = args.train_subset or PROFILES["quick"].max_train_images
        (x_train, y_train), (x_val, y_val), (x_test, y_test) = load_cifar10(
            args.data_dir,
            train_subset=subset,
            validation_split=args.val_fraction,
            seed=args.seed,
        )
        source = "CIFAR-10"
    description = (
        f"{source}: {len(x_train)} training, {len(x_val)} validation "
        f"(held out of training), {len(x_test)} test examples"
    )
    return (x_train, y_train), (x_val, y_val), (x_test, y_test), description


def run(args) -> int:
    given = {
        "lambd": args.lambd,
        "keep_prob": args.keep_prob,
        "l2": args.weight_decay,
        "dropout": args.dropout,
        "dense_dropout": args.dense_dropout,
    }
    valid = SPACES[args.task]
    wrong = [name for name, text in given.items() if text is not None and name not in valid]
    if wrong:
        flags = ", ".join(FLAGS[name] for name in wrong)
        raise ValueError(
            f"{flags} do not apply to the {args.task} sweep; it tunes {sorted(valid)}."
        )
    space = {
        name: parse_values(name, given[name]) if given[name] is not None else values
        for name, values in valid.items()
    }
    if args.search == "grid" and any(v[0] == "range" for v in space.values()):
        raise ValueError("Grid search needs listed values (0,0.3,0.7), not ranges (low:high).")
    if args.task == "cifar" and (args.seeds != 1 or args.stacking != "auto"):
        raise ValueError("--seeds and --stacking apply to the football sweep only.")
    if args.seeds < 1:
        raise ValueError(f"--seeds must be >= 1, got {args.seeds}")
    hypermodel_class = FootballHyperModel if args.task == "football" else CifarHyperModel
    hypermodel_class.check_space(space)  # before loading any data
    worker = "KERASTUNER_ORACLE_IP" in os.environ and "chief" not in os.environ.get(
        "KERASTUNER_TUNER_ID", ""
    )
    train, validation, test, description = _sweep_data(args)
    if worker:
        test = None  # workers never see the test set
    if args.task == "football":
        hypermodel = FootballHyperModel(
            space,
            train_examples=len(train[0]),
            steps=args.steps,
            seed=args.seed,
            log_every=args.log_every,
            seeds=args.seeds,
            stacking=args.stacking,
            search=args.search,
        )
    else:
        profile = PROFILES["quick"]
        if args.epochs is not None:
            profile = dataclasses.replace(profile, epochs=args.epochs)
        hypermodel = CifarHyperModel(space, profile, seed=args.seed, precision=args.precision)
    role = os.environ.get("KERASTUNER_TUNER_ID", "local")
    project = args.project_name or f"{args.task}-{args.search}"
    logdir = args.logdir or f"runs/sweep-{project}"
    print(f"kreg sweep {args.task} ({args.search}, {role}): {description}", flush=True)
    result = run_sweep(
        hypermodel,
        train,
        validation,
        test,
        search=args.search,
        objective=args.objective,
        max_trials=args.max_trials,
        seed=args.seed,
        directory=args.directory,
        project_name=project,
        logdir=logdir,
        overwrite=args.overwrite,
        worker_timeout=args.worker_timeout or None,
        heartbeat=args.heartbeat,
        # KerasTuner's trial summaries; training lines one per epoch when not on a terminal.
        verbose=0 if args.quiet else (1 if sys.stdout.isatty() else 2),
    )
    if result is None:
        print(f"kreg sweep: worker {role} done: the oracle has no more trials.")
        return 0
    # The same table `kreg inspect` prints, read back from the TensorBoard files just written.
    print()
    print_sweep(find_sweeps(logdir, find_runs(logdir))[0])
    seeded = [t for t in result.trials if t.get("seeds") and len(t["seeds"]["scores"]) > 1]
    if seeded:
        print(f"\n{result.objective} over the seeds of each trial (mean ± sample std):")
        for trial in seeded:
            values = " ".join(f"{k}={v:g}" for k, v in trial["hparams"].items())
            spread = trial["seeds"]
            print(
                f"  {values}: {spread['mean']:.4f} ± {spread['std']:.4f} "
                f"({len(spread['scores'])} seeds)"
            )
    best = " ".join(f"{k}={v:g}" for k, v in result.best_hparams.items())
    print(
        f"best by {result.objective}: {best}; test accuracy {result.test['accuracy']:.4f} "
        "(the test set's only use)"
    )
    return 0
