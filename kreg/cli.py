"""The `kreg` command."""

from __future__ import annotations

import argparse
import sys

__all__ = ["main"]


def _convert(args) -> int:
    from kreg.regularizers import l2_from_lambda, rate_from_keep_prob, weight_decay_from_l2

    if args.keep_prob is not None:
        rate_from_keep_prob(args.keep_prob)  # validate everything before printing anything
    if args.lambd is not None:
        factor = l2_from_lambda(args.lambd, args.examples).l2
        print(f"course lambd={args.lambd} on m={args.examples} examples")
        print(f"  Keras kernel_regularizer=L2({factor!r})   (factor = lambd / (2 m))")
        print(
            f"  plain SGD weight_decay={weight_decay_from_l2(factor)!r}   "
            "(biases excluded; not equivalent with momentum or Adam)"
        )
    if args.keep_prob is not None:
        rate = rate_from_keep_prob(args.keep_prob)
        print(f"course keep_prob={args.keep_prob}")
        print(f"  Keras Dropout(rate={rate!r})")
    return 0


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
    header = ["run".ljust(width), "train acc", "test acc", "gap".rjust(7), "penalty share",
              "hparams"]  # fmt: skip
    print("  ".join(header))
    for run in runs:
        print("  ".join([
            run.name.ljust(width), _format(run.train_accuracy).rjust(9),
            _format(run.test_accuracy).rjust(8), _format(run.gap).rjust(7),
            _format(run.penalty_share, ".3f").rjust(13), _hparams_text(run, names),
        ]))  # fmt: skip


def _print_sweep(sweep) -> None:
    runs, best = sweep.runs, sweep.best_trial_id
    objective = sweep.objective
    names = sorted({name for run in runs for name in run.hparams})
    width = max(len("trial"), *(len(run.name) for run in runs))
    print(f"Sweep {sweep.root} ({len(runs)} trials; objective {objective} on the validation "
          "split; * = best, the only one evaluated on the test set)")  # fmt: skip
    print("  ".join(["best", "trial".ljust(width), objective.rjust(12), "train acc",
                     "test acc", "hparams"]))  # fmt: skip
    for run in runs:
        print("  ".join([
            ("*" if run.name == best else "").center(4), run.name.ljust(width),
            _format(run.metrics.get(objective)).rjust(12),
            _format(run.metrics.get("accuracy")).rjust(9),
            _format(run.metrics.get("test_accuracy")).rjust(8), _hparams_text(run, names),
        ]))  # fmt: skip


def _inspect(args) -> int:
    import json

    from kreg.tensorboard import find_runs, find_sweeps

    try:
        runs = find_runs(args.logdir)
        sweeps = find_sweeps(args.logdir, runs)
    except (FileNotFoundError, ValueError) as error:
        print(f"kreg inspect: error: {error}", file=sys.stderr)
        return 2
    if not runs:
        print(
            f"kreg inspect: no runs under {args.logdir}: no TensorBoard event files with "
            "hyperparameters (write them with experiments/football.py or cifar_l2.py --logdir, "
            "or kreg sweep).",
            file=sys.stderr,
        )
        return 1
    in_sweeps = {id(run) for sweep in sweeps for run in sweep.runs}
    plain = [run for run in runs if id(run) not in in_sweeps]
    if args.json:
        rows = [run.to_json() for run in plain]
        for sweep in sweeps:
            rows += [{**run.to_json(), "sweep": str(sweep.root),
                      "best": run.name == sweep.best_trial_id} for run in sweep.runs]  # fmt: skip
        print(json.dumps(rows, indent=2))
    else:
        if plain:
            _print_runs(plain)
        for sweep in sweeps:
            if plain or sweep is not sweeps[0]:
                print()
            _print_sweep(sweep)
    if args.plot:
        from kreg.plots import save_run_curves

        save_run_curves(args.plot, runs)
        if not args.json:
            print(f"Curves written to {args.plot}")
    return 0


def _sweep_data(args):
    """`(train, validation, test, description)`; the validation split comes out of training."""
    from kreg.sweep import split_validation

    if args.task == "football":
        from kreg.datasets import load_football, synthetic_football

        if args.synthetic:
            x, y, x_test, y_test = synthetic_football(seed=0)
            source = "a generated stand-in (not the course's data)"
        else:
            x, y, x_test, y_test = load_football(args.data)
            source = "the course's football data"
        x_train, y_train, x_val, y_val = split_validation(x, y, args.val_fraction, args.seed)
    else:
        from kreg.cifar import PROFILES
        from kreg.datasets import load_cifar10

        # The quick profile's cap on training images (6000) unless --train-subset says.
        subset = args.train_subset or PROFILES["quick"].max_train_images
        (x_train, y_train), (x_val, y_val), (x_test, y_test) = load_cifar10(
            args.data_dir, train_subset=subset, validation_split=args.val_fraction,
            seed=args.seed,
        )  # fmt: skip
        source = "CIFAR-10"
    description = (f"{source}: {len(x_train)} training, {len(x_val)} validation "
                   f"(held out of training), {len(x_test)} test examples")  # fmt: skip
    return (x_train, y_train), (x_val, y_val), (x_test, y_test), description


def _sweep(args) -> int:
    import dataclasses
    import os

    from kreg.sweep import (
        SPACES,
        CifarHyperModel,
        FootballHyperModel,
        hparams_table,
        parse_values,
        run_sweep,
    )  # fmt: skip

    given = {"lambd": args.lambd, "keep_prob": args.keep_prob, "weight_decay": args.weight_decay,
             "dropout": args.dropout, "dense_dropout": args.dense_dropout}  # fmt: skip
    valid = SPACES[args.task]
    wrong = [name for name, text in given.items() if text is not None and name not in valid]
    if wrong:
        flags = ", ".join("--" + name.replace("_", "-") for name in wrong)
        raise ValueError(
            f"{flags} do not apply to the {args.task} sweep; it tunes {sorted(valid)}."
        )
    space = {name: parse_values(name, given[name]) if given[name] is not None else values
             for name, values in valid.items()}  # fmt: skip
    if args.search == "grid" and any(v[0] == "range" for v in space.values()):
        raise ValueError("Grid search needs listed values (0,0.3,0.7), not ranges (low:high).")
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
            space, train_examples=len(train[0]), steps=args.steps, seed=args.seed,
            log_every=args.log_every,
        )  # fmt: skip
    else:
        from kreg.cifar import PROFILES

        profile = PROFILES["quick"]
        if args.epochs is not None:
            profile = dataclasses.replace(profile, epochs=args.epochs)
        hypermodel = CifarHyperModel(space, profile, seed=args.seed)
    role = os.environ.get("KERASTUNER_TUNER_ID", "local")
    project = args.project_name or f"{args.task}-{args.search}"
    print(f"kreg sweep {args.task} ({args.search}, {role}): {description}", flush=True)
    result = run_sweep(
        hypermodel, train, validation, test, search=args.search, objective=args.objective,
        max_trials=args.max_trials, seed=args.seed, directory=args.directory,
        project_name=project, logdir=args.logdir or f"runs/sweep-{project}",
        overwrite=args.overwrite,
        worker_timeout=args.worker_timeout or None, heartbeat=args.heartbeat,
    )  # fmt: skip
    if result is None:
        print(f"kreg sweep: worker {role} done: the oracle has no more trials.")
        return 0
    print(hparams_table(result))
    best = " ".join(f"{k}={v:g}" for k, v in result.best_hparams.items())
    print(f"best by {result.objective}: {best}; test accuracy {result.test['accuracy']:.4f} "
          "(the test set's only use)")  # fmt: skip
    return 0


def _add_sweep_parser(commands):
    sweep = commands.add_parser(
        "sweep", help="tune L2 and dropout with KerasTuner (grid or random; local or distributed)",
        description="Tune the football model's lambd/keep_prob or the CIFAR convnet's weight "
        "decay and dropout rates on KerasTuner. Values: a comma list (0,0.3,0.7) or, for "
        "random search, a range (1e-4:1e-2). Distributed: set KERASTUNER_TUNER_ID "
        "(chief, or one ID per worker), KERASTUNER_ORACLE_IP and KERASTUNER_ORACLE_PORT.",
    )  # fmt: skip
    sweep.add_argument("task", choices=("football", "cifar"))
    sweep.add_argument("--search", choices=("grid", "random"), default="grid")
    sweep.add_argument("--max-trials", type=int, default=None, help="required for random")
    sweep.add_argument("--objective", choices=("val_accuracy", "val_loss"), default="val_accuracy")
    sweep.add_argument("--lambd", help="football: course L2 strengths (default 0,0.1,0.3,0.7)")
    sweep.add_argument("--keep-prob", help="football: keep probabilities (default 1,0.86)")
    sweep.add_argument("--weight-decay", help="cifar: L2 factors (default 0,5e-4,1e-3)")
    sweep.add_argument("--dropout", help="cifar: rate after each pooling (default 0,0.3)")
    sweep.add_argument("--dense-dropout", help="cifar: rate in the dense head (default 0.5)")
    held_out = "share of the training data held out for the choice (0.2)"
    sweep.add_argument("--val-fraction", type=float, default=0.2, help=held_out)
    sweep.add_argument("--seed", type=int, default=0, help="split, weights, dropout, search")
    sweep.add_argument("--steps", type=int, default=30000, help="football: steps per trial")
    sweep.add_argument("--log-every", type=int, default=1000, help="football: steps per epoch")
    sweep.add_argument("--epochs", type=int, default=None, help="cifar: epochs per trial (10)")
    sweep.add_argument("--data", help="football: the course's data.mat")
    sweep.add_argument("--synthetic", action="store_true", help="football: generated stand-in")
    sweep.add_argument("--data-dir", help="cifar: as for experiments/cifar_l2.py")
    sweep.add_argument("--train-subset", type=int, default=None, help="cifar: first N (6000)")
    sweep.add_argument("--directory", default="sweeps", help="KerasTuner's folder (shared)")
    sweep.add_argument("--project-name", default=None, help="default: TASK-SEARCH")
    sweep.add_argument("--logdir", default=None, help="TensorBoard root (runs/sweep-PROJECT)")
    sweep.add_argument("--overwrite", action="store_true", help="start afresh, not resume")
    timeout = "chief: seconds before a silent worker's trial is re-queued (600; 0: wait)"
    sweep.add_argument("--worker-timeout", type=float, default=600.0, help=timeout)
    sweep.add_argument("--heartbeat", type=float, default=10.0, help="worker: seconds per beat")
    return sweep


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="kreg", description="kreg: regularizing neural networks with Keras 3."
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    commands = parser.add_subparsers(dest="command")
    convert = commands.add_parser(
        "convert", help="translate the course's lambd / keep_prob into Keras arguments"
    )
    convert.add_argument("--lambd", type=float, help="the course's L2 strength")
    convert.add_argument("--examples", type=int, default=None, help="m, training examples")
    convert.add_argument("--keep-prob", type=float, help="the course's keep probability")
    inspect = commands.add_parser(
        "inspect", help="one row per run of a TensorBoard log directory, read from its files"
    )
    inspect.add_argument("logdir", help="a --logdir of the experiments")
    inspect.add_argument("--json", action="store_true", help="print JSON instead of a table")
    inspect.add_argument("--plot", metavar="FILE.png", help="draw learning and weight-norm curves")
    sweep = _add_sweep_parser(commands)
    args = parser.parse_args(argv)

    if args.version:
        from kreg import __version__

        print(f"kreg {__version__}")
        return 0
    if args.command == "convert":
        if args.lambd is None and args.keep_prob is None:
            convert.error("give --lambd (with --examples) and/or --keep-prob")
        if args.lambd is not None and args.examples is None:
            convert.error("--lambd needs --examples (m, the number of training examples)")
        try:
            return _convert(args)
        except ValueError as error:
            print(f"kreg convert: error: {error}", file=sys.stderr)
            return 2
    if args.command == "inspect":
        return _inspect(args)
    if args.command == "sweep":
        for name in ("max_trials", "steps", "log_every", "epochs", "train_subset"):
            value = getattr(args, name)
            if value is not None and value < 1:
                sweep.error(f"--{name.replace('_', '-')} must be a positive integer, got {value}")
        if not 0 < args.val_fraction < 1:
            sweep.error(f"--val-fraction must be in (0, 1), got {args.val_fraction}")
        try:
            return _sweep(args)
        except (ValueError, FileNotFoundError) as error:
            print(f"kreg sweep: error: {error}", file=sys.stderr)
            return 2
    parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
