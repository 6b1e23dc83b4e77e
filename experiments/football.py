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
import shutil
import statistics
import sys
from pathlib import Path

import kreg_cli

# The lab runs on Keras's TensorFlow backend: choose it, and import TensorFlow without its
# start-up log lines, before anything imports Keras.
kreg_cli.prepare_environment()
from kreg.callbacks import GeneralizationGap, RegularizationMonitor
from kreg.datasets import load_football, synthetic_football
from kreg.lab.callbacks import DecisionBoundaryLogger
from kreg.lab.fullbatch.stacked import STACK_FROM
from kreg.lab.hparams import log_hparams, log_hparams_config
from kreg.lab.io import check_output_dir, check_output_file, write_json
from kreg.lab.plots import save_cost_curves, save_decision_boundary
from kreg.lab.runners.course import (
    COURSE,
    COURSE_RESULTS,
    run_keras,
    run_keras_stacked,
    run_reference,
)
from kreg.lab.spread import mean_std
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
        "--engine",
        choices=("auto", "stacked", "sequential"),
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
    if args.engine == "stacked" and args.dropout_layer != "kreg-hash":
        parser.error(
            f"--engine stacked draws InvertedDropout's counter_hash masks: it needs "
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


def run_callbacks(logdir, name, data):
    """Regularization monitors for every run; TensorBoard and boundary images with --logdir."""
    callbacks = [RegularizationMonitor(), GeneralizationGap("accuracy")]
    if logdir is not None:
        import keras

        run_dir = str(logdir / slug(name))
        callbacks += [
            keras.callbacks.TensorBoard(log_dir=run_dir, histogram_freq=1),
            DecisionBoundaryLogger(data[0], data[1], logdir=run_dir, every=10, title=name),
        ]
    return callbacks


def log_run(logdir, run):
    """The run's hyperparameters and final metrics for TensorBoard's HParams tab."""
    run_dir = logdir / slug(run.name)
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
    if not run.engine.startswith("keras"):  # the numpy run has no Keras logs: record its costs
        import tensorflow as tf

        with tf.summary.create_file_writer(str(run_dir / "train")).as_default():
            for step, cost in run.costs:
                tf.summary.scalar("epoch_loss", cost, step=step // 1000)
    return hparams


def slug(name: str) -> str:
    keep = [c if c.isalnum() or c in "._-" else "_" for c in name.replace(" ", "_")]
    return "".join(keep).strip("_")


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
    x_train = data[0]
    print(f"Football data: {source}; {x_train.shape[0]} train, {data[2].shape[0]} test examples.")

    common = dict(learning_rate=args.learning_rate, iterations=args.iterations)
    course_setup = args.lambd is None and args.keep_prob is None

    ## Train
    # Each plan entry: (name, engine, settings). "reference" is the numpy course code with
    # the course's fixed dropout masks; "keras" is kreg's compiled full-batch training.
    if course_setup:
        kp = COURSE.keep_prob
        plan = [
            ("no regularization", "keras", {}),
            (f"L2 lambd={COURSE.lambd}", "keras", {"lambd": COURSE.lambd}),
            (f"dropout keep_prob={kp} (course, fixed masks)", "reference", {"keep_prob": kp}),
        ]
        for seed in range(args.seed, args.seed + (args.seeds or 5)):
            plan.append(
                (
                    f"dropout keep_prob={kp} (true, seed {seed})",
                    "keras",
                    {"keep_prob": kp, "seed": seed},
                )
            )
    else:
        lambd = args.lambd or 0.0
        keep_prob = args.keep_prob if args.keep_prob is not None else 1.0
        name = f"lambd={lambd} keep_prob={keep_prob}"
        settings = {"lambd": lambd, "keep_prob": keep_prob}
        seeds = range(args.seed, args.seed + (args.seeds or 1))
        plan = []
        for seed in seeds:
            label = name if len(seeds) == 1 else f"{name} (seed {seed})"
            # Without dropout the seed changes nothing; a single run records none.
            recorded = seed if keep_prob < 1 or len(seeds) > 1 else None
            if args.course_dropout:
                fixed = {**settings, "seed": seed} if len(seeds) > 1 else settings
                plan.append((label + " (course, fixed masks)", "reference", fixed))
            else:
                plan.append((label, "keras", {**settings, "seed": recorded}))

    # Several Keras seeds train together in one compiled loop (fullbatch.stacked): each model is
    # what it would be trained alone there, with the masks InvertedDropout draws alone.
    keras_entries = [entry for entry in plan if entry[1] == "keras" and "seed" in entry[2]]
    stack = args.engine == "stacked" or (
        args.engine == "auto"
        and args.dropout_layer == "kreg-hash"
        and len(keras_entries) >= STACK_FROM
    )
    if len(keras_entries) > 1 and stack:
        plan = [
            (name, "stacked" if (name, engine, settings) in keras_entries else engine, settings)
            for name, engine, settings in plan
        ]

    if args.logdir is not None:
        # A second run's events in the same run directory would be drawn as one zigzag.
        taken = [args.logdir / slug(name) for name, _, _ in plan]
        taken = [d for d in taken if d.is_dir() and any(p.is_file() for p in d.rglob("*"))]
        if taken and not args.overwrite:
            print(
                f"error: {', '.join(map(str, taken))} already hold(s) TensorBoard runs; a new "
                "run would add its events to them. Pass --overwrite to replace them, or use "
                "another --logdir.",
                file=sys.stderr,
            )
            return 2
        for folder in taken:
            shutil.rmtree(folder)

    def report(run, note=""):
        print(
            f"  {run.name}: train accuracy {run.train_accuracy:.4f}, test accuracy "
            f"{run.test_accuracy:.4f} ({run.seconds:.1f} s{note})",
            flush=True,
        )

    runs = []
    print(f"Training {len(plan)} model(s), {args.iterations} full-batch steps each:", flush=True)
    stacked = [(name, settings) for name, engine, settings in plan if engine == "stacked"]
    for name, engine, settings in plan:
        if engine == "stacked":
            continue
        if engine == "reference":
            run = run_reference(data, name=name, **settings, **common)
        else:
            callbacks = run_callbacks(args.logdir, name, data)
            # A progress bar on a terminal; a log file gets the one line below per model.
            run, _ = run_keras(
                data,
                name=name,
                precision=args.precision,
                dropout_layer=args.dropout_layer,
                callbacks=callbacks,
                verbose="auto",
                **settings,
                **common,
            )
        runs.append(run)
        report(run)
    if stacked:
        print(f"  training {len(stacked)} models together in one compiled loop...", flush=True)
        callbacks = [run_callbacks(args.logdir, name, data) for name, _ in stacked]
        results = run_keras_stacked(
            data,
            stacked,
            precision=args.precision,
            callbacks=callbacks,
            verbose="auto",
            **common,
        )
        for run, _ in results:
            runs.append(run)
            report(run, f" for all {len(stacked)} together")

    ## Report
    print()
    print(f"{'model':<46} {'engine':<16} {'train acc':>19} {'test acc':>8} {'seconds':>8}")
    for run in runs:
        # A Keras model trained by fit_full_batch's fused step says so ("keras-fused").
        fit_engine = run.extra.get("fit_engine")
        engine = "keras-fused" if run.engine == "keras" and fit_engine == "fused" else run.engine
        print(
            f"{run.name:<46} {engine:<16} {run.train_accuracy:>19.16g} "
            f"{run.test_accuracy:>8.4g} {run.seconds:>8.2f}"
        )
    summary = None
    true_dropout = [r for r in runs if r.engine.startswith("keras") and r.keep_prob < 1]
    if course_setup:
        train_acc = [r.train_accuracy for r in true_dropout]
        test_acc = [r.test_accuracy for r in true_dropout]
        summary = {
            "true_dropout_train_mean": statistics.fmean(train_acc),
            "true_dropout_test_mean": statistics.fmean(test_acc),
            "true_dropout_seeds": len(true_dropout),
        }
        if len(true_dropout) > 1:
            train_std, test_std = statistics.stdev(train_acc), statistics.stdev(test_acc)
            summary["true_dropout_train_std"] = train_std
            summary["true_dropout_test_std"] = test_std
            spread = (
                f"true dropout over {len(true_dropout)} seeds (mean ± sample std): train "
                f"{summary['true_dropout_train_mean']:.4f} ± {train_std:.4f}, "
                f"test {summary['true_dropout_test_mean']:.4f} ± {test_std:.4f}"
            )
        else:
            spread = (
                f"true dropout, one seed ({true_dropout[0].seed}): train {train_acc[0]:.4f}, "
                f"test {test_acc[0]:.4f} (no spread from one seed; --seeds N for more)"
            )
        print()
        print(spread)
    if not course_setup and len(runs) > 1:
        train_mean, train_std = mean_std([r.train_accuracy for r in runs])
        test_mean, test_std = mean_std([r.test_accuracy for r in runs])
        same = (
            ""
            if runs[0].keep_prob < 1 and not args.course_dropout
            else (" (no fresh dropout masks: every seed trains the same model)")
        )
        print(
            f"\nover {len(runs)} seeds (mean ± sample std): train {train_mean:.4f} ± "
            f"{train_std:.4f}, test {test_mean:.4f} ± {test_std:.4f}{same}"
        )
        summary = {
            "seeds": [r.seed for r in runs],
            "train_mean": train_mean,
            "train_std": train_std,
            "test_mean": test_mean,
            "test_std": test_std,
        }
    # The course's numbers were measured on its data, with its step count and step size.
    is_course_run = (
        course_setup
        and not args.synthetic
        and args.iterations == COURSE.iterations
        and args.learning_rate == COURSE.learning_rate
        and args.precision == "float64"
    )
    if is_course_run:
        print()
        print("The course's table beside kreg's:")
        header = ("model", "course train", "course test", "kreg train", "kreg test")
        print("{:<20} {:>19} {:>11} {:>19} {:>9}".format(*header))
        kreg_rows = {"no regularization": runs[0], "L2": runs[1], "dropout": runs[2]}
        for model_name, (course_train, course_test) in COURSE_RESULTS.items():
            run = kreg_rows[model_name]
            print(
                f"{model_name:<20} {course_train:>19.16g} {course_test:>11.4g} "
                f"{run.train_accuracy:>19.16g} {run.test_accuracy:>9.4g}"
            )
        print()
        print(
            "Why the two dropout rows differ: the course's forward pass calls "
            "np.random.seed(1) on every iteration, so all its steps use the same two masks "
            f"and train one fixed thinned sub-network (test accuracy {runs[2].test_accuracy:.4g} "
            "here, scored with every unit on). True dropout draws fresh masks at every step, "
            "averaging over many sub-networks: test accuracy "
            f"{summary['true_dropout_test_mean']:.4g} here."
        )
    elif course_setup:
        print()
        print(
            "(No comparison with the course's table: it was measured on the course's data "
            f"with {COURSE.iterations} float64 steps of size {COURSE.learning_rate}.)"
        )

    if args.plots is not None:
        for run in runs:
            save_decision_boundary(
                args.plots / f"{slug(run.name)}.png",
                run.predict,
                data[0],
                data[1],
                title=run.name,
                points="training set",
                accuracy=run.train_accuracy,
            )
        costs = {}  # the true-dropout seeds as one mean curve with a band
        for run in runs:
            seeds = run in true_dropout and len(true_dropout) > 1
            key = f"true dropout ({len(true_dropout)} seeds)" if seeds else run.name
            costs.setdefault(key, []).append(run.costs)
        save_cost_curves(args.plots / "costs.png", costs)
        print(f"Figures written to {args.plots}/")
    if args.json is not None:
        payload = {"runs": [run.to_json() for run in runs], "data": source}
        if summary is not None:
            payload["summary"] = summary
        write_json(args.json, payload)
        print(f"Results written to {args.json}")
    if args.logdir is not None:
        taken = [log_run(args.logdir, run) for run in runs]
        log_hparams_config(args.logdir, {k: [h[k] for h in taken] for k in taken[0]})
        print(
            f"TensorBoard logs in {args.logdir}/ (tensorboard --logdir {args.logdir}; "
            f"kreg inspect {args.logdir})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
