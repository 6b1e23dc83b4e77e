"""What L2 and dropout do to the generalization gap of a VGG-style CIFAR-10 convnet.

Trains the same network four times on the same data with the same seed:
`baseline` (no regularization), `l2` (kernel_regularizer=L2(weight decay) on
every Conv2D and Dense kernel), `dropout` (Dropout after every pooling layer
and in the dense head) and `l2+dropout`, then prints train and test accuracy
and their gap for each, the way the course compares its models.

    python experiments/cifar_l2.py --quick          # minutes on a laptop CPU
    python experiments/cifar_l2.py                  # the book's full run (125 epochs)

Every variant logs to TensorBoard (`--logdir`, one run each, with weight
histograms) and to a CSV file, and backs itself up every epoch: rerun the same
command after an interruption and it resumes where it stopped, ending
bit-identical to an uninterrupted run on CPU. Variants that finished are not
trained again.

`--strategy` trains data-parallel on tf.distribute, `--batch-size` being the
global batch: `mirrored` uses every GPU of the machine (`--cpu-replicas N`
splits a CPU into N devices instead, to try it without GPUs), `multiworker`
runs one process per machine, configured by TF_CONFIG (see the README). With
a strategy the dropout layer defaults to kreg's InvertedDropout, which draws a
different mask on every replica; keras.layers.Dropout draws the same one.
"""

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import kreg  # noqa: F401  (first: quiet TensorFlow start-up)

# isort: split
from kreg.datasets import load_cifar10
from kreg.distribute import STRATEGIES, is_chief, make_strategy, split_cpu, worker_index
from kreg.hparams import log_hparams, log_hparams_config
from kreg.io import write_json
from kreg.layers import DROPOUT_LAYERS
from kreg.plots import save_learning_curves
from kreg.runners.cifar import PROFILES, VARIANTS, VariantResult, run_variant

## Arguments


def floats(text: str) -> tuple[float, ...]:
    return tuple(float(part) for part in text.split(","))


def ints(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(",")) if text else ()


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="the minutes-long profile")
    where = "cifar-10-batches-py/, a folder holding it, or the .tar.gz"
    parser.add_argument("--data-dir", type=Path, default=None, help=where)
    parser.add_argument("--train-subset", type=int, default=None, help="first N training images")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--weight-decay", type=float, help="L2 factor of the l2 variants")
    parser.add_argument("--dropout", type=floats, help="rate after each pooling, e.g. 0.2,0.3,0.4")
    parser.add_argument("--dense-dropout", type=float, help="rate in the dense head")
    parser.add_argument("--preset", choices=("book", "keras-vgg"))
    parser.add_argument("--filters", type=ints, help="filters per block, e.g. 32,64")
    parser.add_argument("--dense-units", type=ints, help="hidden Dense sizes, e.g. 256")
    parser.add_argument("--augment", choices=("none", "crop-flip", "book"))
    parser.add_argument("--optimizer", choices=("adam", "sgd"))
    parser.add_argument("--learning-rate", type=float)
    parser.add_argument(
        "--dropout-layer",
        choices=DROPOUT_LAYERS,
        default=None,
        help="default: keras without --strategy, kreg (masks differ per replica) with one",
    )
    parser.add_argument(
        "--strategy",
        choices=STRATEGIES,
        default="none",
        help="tf.distribute data parallelism; --batch-size is global",
    )
    parser.add_argument(
        "--cpu-replicas",
        type=int,
        default=None,
        help="with --strategy mirrored: split the CPU into N devices",
    )
    parser.add_argument(
        "--weights-dir",
        type=Path,
        default=None,
        help="save the trained weights here, VARIANT.weights.h5",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--logdir", type=Path, default=Path("runs/cifar"))
    backups = "backups and finished variants (default: LOGDIR/backup)"
    parser.add_argument("--backup-dir", type=Path, default=None, help=backups)
    parser.add_argument("--json", type=Path, default=None, help="write results as JSON")
    parser.add_argument("--curves", type=Path, default=None, help="learning-curve PNG")
    parser.add_argument("--verbose", default="auto", help="Keras verbosity: auto, 0, 1 or 2")
    args = parser.parse_args(argv)

    profile = PROFILES["quick" if args.quick else "book"]
    overrides = {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "l2": args.weight_decay,
        "dropout": args.dropout,
        "dense_dropout": args.dense_dropout,
        "preset": args.preset,
        "filters": args.filters,
        "dense_units": args.dense_units,
        "augment": args.augment,
        "optimizer": args.optimizer,
        "learning_rate": args.learning_rate,
    }
    profile = dataclasses.replace(profile, **{k: v for k, v in overrides.items() if v is not None})
    if profile.epochs < 1 or profile.batch_size < 1:
        parser.error("--epochs and --batch-size must be positive")
    if profile.l2 < 0 or profile.learning_rate <= 0:
        parser.error("--weight-decay must be >= 0 and --learning-rate > 0")
    if any(not 0 <= rate < 1 for rate in (*profile.dropout, profile.dense_dropout)):
        parser.error("dropout rates must be in [0, 1)")
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown or not variants:
        parser.error(
            f"--variants takes a comma list of {', '.join(VARIANTS)}; got {args.variants!r}"
        )
    args.verbose = int(args.verbose) if args.verbose.isdigit() else args.verbose
    if args.cpu_replicas is not None and (args.strategy != "mirrored" or args.cpu_replicas < 1):
        parser.error("--cpu-replicas takes a positive integer and needs --strategy mirrored")
    if args.dropout_layer is None:
        args.dropout_layer = "keras" if args.strategy == "none" else "kreg"
    elif args.dropout_layer == "keras" and args.strategy != "none":
        print(
            "warning: keras.layers.Dropout draws the same mask on every replica; "
            "--dropout-layer kreg draws one per replica.",
            file=sys.stderr,
        )
    return args, profile, variants


def main(argv=None) -> int:
    args, profile, variants = parse_args(argv)
    import tensorflow as tf

    # The strategy comes first: devices can only be split, and a cluster joined, before
    # TensorFlow runs anything.
    devices = split_cpu(args.cpu_replicas) if args.cpu_replicas else None
    try:
        strategy = make_strategy(args.strategy, devices)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    chief = is_chief(strategy)
    # A seed makes a CPU run bit-identical: seeded initializers, dropout and data order,
    # and deterministic kernels.
    tf.config.experimental.enable_op_determinism()
    backup_root = args.backup_dir or args.logdir / "backup"
    if args.strategy == "multiworker":
        # Every worker keeps its own backups (in lockstep); only the chief writes results.
        backup_root = backup_root / f"worker{worker_index(strategy)}"
    if args.strategy != "none":
        role = "the chief" if chief else "a worker"
        print(
            f"{args.strategy}: {strategy.num_replicas_in_sync} replicas; global batch "
            f"{profile.batch_size}; this process is {role}"
        )

    ## Prepare the data
    try:
        data = load_cifar10(args.data_dir, train_subset=args.train_subset)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    (x_train, y_train), (x_test, y_test) = data
    if profile.max_train_images and len(x_train) > profile.max_train_images:
        x_train, y_train = x_train[: profile.max_train_images], y_train[: profile.max_train_images]
        data = (x_train, y_train), (x_test, y_test)
    print(
        f"CIFAR-10: {len(x_train)} training and {len(x_test)} test images; profile "
        f"{'quick' if args.quick else 'book'}: {profile}"
    )

    ## Train every variant
    results = []
    for variant in variants:
        done_file = backup_root / f"{variant.replace('+', '_')}.done.json"
        if done_file.exists():
            result = VariantResult.from_json(json.loads(done_file.read_text()))
            print(f"\n== {variant}: finished earlier, results read from {done_file}")
            results.append(result)
            continue
        print(f"\n== {variant}")
        name = variant.replace("+", "_")
        weights = args.weights_dir / f"{name}.weights.h5" if args.weights_dir and chief else None
        result, backup = run_variant(
            variant,
            profile,
            data,
            seed=args.seed,
            dropout_layer=args.dropout_layer,
            logdir=args.logdir / name if chief else None,
            backup_dir=backup_root / name,
            verbose=args.verbose if chief else 0,
            strategy=strategy,
            weights_path=weights,
        )
        if result is None:
            epoch, batch = backup.nan_at
            print(
                f"error: variant {variant}: the loss became NaN at epoch {epoch + 1}, batch "
                f"{batch + 1}; training stopped. The last good backup is kept in "
                f"{backup.backup_dir} (rerunning resumes from it); lower --learning-rate or "
                "change the setup first.",
                file=sys.stderr,
            )
            return 3
        result.hyperparameters["strategy"] = args.strategy
        result.hyperparameters["replicas"] = strategy.num_replicas_in_sync
        metrics = {
            "train_accuracy": result.train_accuracy,
            "test_accuracy": result.test_accuracy,
            "gap": result.gap,
        }
        if chief:
            log_hparams(args.logdir / name, result.hyperparameters, metrics)
        write_json(done_file, result.to_json())
        results.append(result)

    if not chief:
        print("worker done; the chief reports the results.")
        return 0
    log_hparams_config(args.logdir, list(results[0].hyperparameters))

    ## Report
    print(f"\n{'model':<12} {'train acc':>9} {'test acc':>9} {'gap':>7} {'seconds':>8}")
    for r in results:
        print(
            f"{r.name:<12} {r.train_accuracy:>9.4f} {r.test_accuracy:>9.4f} {r.gap:>7.4f} "
            f"{r.seconds:>8.1f}"
        )
    by_name = {r.name: r for r in results}
    if "baseline" in by_name and "l2+dropout" in by_name:
        base, both = by_name["baseline"], by_name["l2+dropout"]
        points = 100 * (both.test_accuracy - base.test_accuracy)
        ratio = both.gap / base.gap if base.gap else float("nan")
        print(f"\nl2+dropout vs baseline: test accuracy {points:+.1f} points, gap {ratio:.2f}x")
    if args.curves is not None:
        save_learning_curves(args.curves, {r.name: r.history for r in results})
        print(f"Learning curves written to {args.curves}")
    if args.json is not None:
        write_json(args.json, {"runs": [r.to_json() for r in results]})
        print(f"Results written to {args.json}")
    print(f"TensorBoard: tensorboard --logdir {args.logdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
