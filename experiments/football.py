"""The course's football experiment: no regularization, L2 and dropout, in Keras.

The 3-layer classifier (2 -> 20 -> 3 -> 1) is trained with full-batch gradient
descent from the course's initial weights (learning rate 0.3, 30 000
iterations), and its train/test accuracies are printed beside the course's.

With no hyperparameter flags it runs the course's three models:

- no regularization,
- L2 with lambd = 0.7 (`kernel_regularizer=L2(lambd / (2 m))`),
- dropout with keep_prob = 0.86, twice: the course's own run, whose dropout
  re-seeds its RNG every iteration (numpy reference, fixed masks), and true
  dropout in Keras (fresh masks every step) over several seeds.

True dropout uses `InvertedDropout(rng_algorithm="counter_hash")` by default
(`--dropout-layer kreg-hash`): XLA draws its masks about 3x faster on CPU than
Keras's generator, which keeps the dropout runs under half the numpy loop's
time. `--dropout-layer keras` uses `keras.layers.Dropout` (the same statistics,
different masks, slower).

With `--lambd` and/or `--keep-prob` it runs that one model.

    python experiments/football.py                        # the course's table
    python experiments/football.py --lambd 0.7 --precision float64
    python experiments/football.py --synthetic --plots plots/   # without the course's data
"""

import argparse
import math
import sys
from pathlib import Path

import kreg_cli

# The lab runs on Keras's TensorFlow backend: choose it, and import TensorFlow without its
# start-up log lines, before anything imports Keras.
kreg_cli.prepare_environment()

from kreg.datasets import load_football, synthetic_football
from kreg.lab.fullbatch import STACK_FROM
from kreg.lab.io import check_output_dir, check_output_file, write_json
from kreg.lab.lock import FolderInUseError, FolderLock
from kreg.lab.runners.course import COURSE
from kreg.lab.runners.football import (
    STACKING,
    course_comparison,
    is_course_run,
    log_runs,
    plan_runs,
    print_table,
    refuse_used_logdir,
    save_figures,
    seed_summary,
    stack_seeds,
    train_plan,
)
from kreg.layers import DROPOUT_LAYERS

## Arguments


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--lambd",
        type=float,
        default=None,
        help="L2 strength in the course's convention, lambd / (2 m) (default: the course's "
        "three models)",
    )
    parser.add_argument(
        "--keep-prob",
        type=float,
        default=None,
        help="dropout keep probability (default: the course's three models)",
    )
    parser.add_argument(
        "--iterations",
        type=int,
        default=COURSE.iterations,
        help="full-batch gradient steps (default: %(default)s)",
    )
    parser.add_argument(
        "--learning-rate",
        type=float,
        default=COURSE.learning_rate,
        help="gradient-descent step size (default: %(default)s)",
    )
    parser.add_argument(
        "--precision",
        choices=("float32", "float64"),
        default="float64",
        help="float64 reproduces the course to the last digit (default: %(default)s)",
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help="the course's data.mat (default: $KREG_DATA_DIR/football/data.mat)",
    )
    parser.add_argument(
        "--synthetic",
        action="store_true",
        help="use a generated stand-in of the same shape, not the course's data (default: off)",
    )
    parser.add_argument(
        "--seeds",
        type=int,
        default=None,
        help="models trained per setting, seeds --seed, --seed + 1, ... (default: 5 for the "
        "course's true dropout, 1 with --lambd/--keep-prob)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="first dropout seed (default: %(default)s)"
    )
    parser.add_argument(
        "--dropout-layer",
        choices=DROPOUT_LAYERS,
        default="kreg-hash",
        help="dropout layer of the Keras runs (default: kreg-hash, the fastest under XLA)",
    )
    parser.add_argument(
        "--stacking",
        choices=STACKING,
        default="auto",
        help="how several Keras seeds train: together in one compiled loop (fullbatch.stacked; "
        "needs --dropout-layer kreg-hash) or one after another with fit_full_batch; auto "
        f"stacks from {STACK_FROM} seeds, where it starts to pay on a 2-core CPU "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--course-dropout",
        action="store_true",
        help="with --keep-prob: the course's fixed-mask dropout, numpy reference (default: off)",
    )
    parser.add_argument(
        "--logdir",
        type=Path,
        default=None,
        help="TensorBoard logs, one run per model (default: none written)",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace runs already in --logdir (default: refuse to add to them)",
    )
    parser.add_argument(
        "--json", type=Path, default=None, help="write results as JSON (default: not written)"
    )
    parser.add_argument(
        "--plots",
        type=Path,
        default=None,
        help="write PNG figures into this folder (default: not drawn)",
    )
    args = parser.parse_args(argv)
    if args.iterations < 0:
        parser.error(f"--iterations must be >= 0, got {args.iterations}")
    if args.seeds is not None and args.seeds < 1:
        parser.error(f"--seeds must be >= 1, got {args.seeds}")
    if args.lambd is not None and not (math.isfinite(args.lambd) and args.lambd >= 0):
        parser.error(f"--lambd must be a finite number >= 0, got {args.lambd}")
    if not (math.isfinite(args.learning_rate) and args.learning_rate > 0):
        parser.error(f"--learning-rate must be a finite number > 0, got {args.learning_rate}")
    if args.keep_prob is not None and not 0 < args.keep_prob <= 1:
        parser.error(f"--keep-prob must be in (0, 1], got {args.keep_prob}")
    if args.stacking == "stacked" and args.dropout_layer != "kreg-hash":
        parser.error(
            f"--stacking stacked draws InvertedDropout's counter_hash masks: it needs "
            f"--dropout-layer kreg-hash, got {args.dropout_layer}"
        )
    if args.course_dropout and args.keep_prob is None:
        parser.error("--course-dropout needs --keep-prob")
    try:
        check_output_file(args.json, "--json")
        check_output_dir(args.plots, "--plots")
        check_output_dir(args.logdir, "--logdir")
    except ValueError as error:
        parser.error(str(error))
    return args


def main(argv=None) -> int:
    args = parse_args(argv)

    ## Prepare the data
    if args.synthetic:
        data = synthetic_football(seed=0)
        source = "a GENERATED stand-in (not the course's data; course numbers do not apply)"
    else:
        try:
            data = load_football(args.data)
        except (FileNotFoundError, ValueError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        source = str(args.data or "$KREG_DATA_DIR/football/data.mat")
    print(f"Football data: {source}; {data[0].shape[0]} train, {data[2].shape[0]} test examples.")

    ## Plan the models
    course_setup = args.lambd is None and args.keep_prob is None
    plan = plan_runs(
        args.lambd,
        args.keep_prob,
        seed=args.seed,
        seeds=args.seeds,
        course_dropout=args.course_dropout,
    )
    # Several Keras seeds can train together in one compiled loop, each model bit for bit
    # what that loop trains alone.
    plan = stack_seeds(plan, args.stacking, args.dropout_layer)
    try:  # one run at a time per --logdir
        with FolderLock(args.logdir, "--logdir"):
            return train_and_report(args, data, source, plan, course_setup)
    except FolderInUseError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def train_and_report(args, data, source: str, plan, course_setup: bool) -> int:
    """Train the planned models and report them: the table, the spread, figures, JSON, logs."""
    problem = refuse_used_logdir(args.logdir, plan, args.overwrite)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2

    ## Train
    print(f"Training {len(plan)} model(s), {args.iterations} full-batch steps each:", flush=True)
    runs = train_plan(
        plan,
        data,
        precision=args.precision,
        dropout_layer=args.dropout_layer,
        logdir=args.logdir,
        learning_rate=args.learning_rate,
        iterations=args.iterations,
    )

    ## Report
    print()
    print_table(runs)
    summary, spread = seed_summary(
        runs, course_setup=course_setup, course_dropout=args.course_dropout
    )
    if spread:
        print(f"\n{spread}")
    if is_course_run(args, course_setup):
        print(f"\n{course_comparison(runs, summary)}")
    elif course_setup:
        print(
            "\n(No comparison with the course's table: it was measured on the course's data "
            f"with {COURSE.iterations} float64 steps of size {COURSE.learning_rate}.)"
        )
    if args.plots is not None:
        save_figures(args.plots, runs, data)
        print(f"Figures written to {args.plots}/")
    if args.json is not None:
        payload = {"runs": [run.to_json() for run in runs], "data": source}
        if summary is not None:
            payload["summary"] = summary
        write_json(args.json, payload)
        print(f"Results written to {args.json}")
    if args.logdir is not None:
        log_runs(args.logdir, runs)
        print(
            f"TensorBoard logs in {args.logdir}/ (tensorboard --logdir {args.logdir}; "
            f"kreg inspect {args.logdir})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
