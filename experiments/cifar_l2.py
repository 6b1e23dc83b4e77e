"""What L2 and dropout do to the generalization gap of a VGG-style CIFAR-10 convnet.

Trains the same network four times on the same data with the same seed:
`baseline` (no regularization), `l2` (kernel_regularizer=L2(factor) on every
Conv2D and Dense kernel; `--weight-decay` sets the factor), `dropout` (Dropout
after every pooling layer and in the dense head) and `l2+dropout`, then prints
train, validation and test accuracy and the train-test gap for each, the way
the course compares its models. A seeded tenth of the training images is held
out as the validation set that every curve and callback uses during training;
the test set is evaluated once per variant, at the end.

    python experiments/cifar_l2.py --quick          # minutes on a laptop CPU
    python experiments/cifar_l2.py                  # the book's full run (125 epochs)

Every variant logs to TensorBoard (`--logdir`, one run each, with weight
histograms) and to a CSV file, and backs itself up every epoch: rerun the same
command after an interruption and it resumes where it stopped, ending
bit-identical to an uninterrupted run on CPU. Variants that finished are not
trained again. Every finished variant and every backup records a fingerprint of
what its result depends on (profile, data, seed, dropout layer, strategy,
versions); a run with other settings into the same --logdir is refused before
any training, naming what differs, and --overwrite trains those variants
afresh.

Data: --data-dir, else $KREG_DATA_DIR (a folder holding cifar-10-batches-py/
or cifar10-subset/), else Keras's cache and download.

`--strategy` trains data-parallel on tf.distribute, `--batch-size` being the
global batch: `mirrored` uses every GPU of the machine (`--cpu-replicas N`
splits a CPU into N devices instead, to try it without GPUs), `multiworker`
runs one process per machine, configured by TF_CONFIG (see the README). With
a strategy the dropout layer defaults to kreg's InvertedDropout, which draws a
different mask on every replica; keras.layers.Dropout draws the same one.
"""

import sys

import kreg_cli

# The lab runs on Keras's TensorFlow backend: choose it, and import TensorFlow without its
# start-up log lines, before anything imports Keras.
kreg_cli.prepare_environment()

# isort: split
import tensorflow as tf

from kreg.datasets import load_cifar10
from kreg.lab.distribute import is_chief, make_strategy, split_cpu, worker_index
from kreg.lab.lock import FolderInUseError, FolderLock
from kreg.lab.runners.cifar import SettingsChangedError, profile_table
from kreg.lab.runners.cifar.arguments import build_parser, resolve_arguments
from kreg.lab.runners.cifar.study import (
    TrainingStoppedError,
    check_earlier_runs,
    record_result,
    report,
    seed_splits,
    train_planned,
)

## Arguments


def parse_args(argv=None):
    parser = build_parser(__doc__.split("\n\n")[0])
    return resolve_arguments(parser, parser.parse_args(argv))


def main(argv=None) -> int:
    args, profile, variants = parse_args(argv)
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
        (x_all, y_all), test = load_cifar10(args.data_dir, train_subset=args.train_subset)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if profile.max_train_images and len(x_all) > profile.max_train_images:
        x_all, y_all = x_all[: profile.max_train_images], y_all[: profile.max_train_images]
    seeds = list(range(args.seed, args.seed + args.seeds))
    data = seed_splits(x_all, y_all, test, profile, seeds)
    (x_train, _), (x_val, _), _ = data[seeds[0]]
    print(
        f"CIFAR-10: {len(x_train)} training, {len(x_val)} validation (held out of training) "
        f"and {len(test[0])} test images"
    )
    print(profile_table("quick" if args.quick else "book", profile))

    ## Check earlier runs, train, report: one run at a time per --logdir and backup folder
    try:
        with (
            FolderLock(args.logdir if chief else None, "--logdir"),
            FolderLock(backup_root, "--backup-dir"),
        ):
            return train_and_report(args, profile, variants, data, strategy, backup_root, chief)
    except FolderInUseError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def train_and_report(args, profile, variants, data, strategy, backup_root, chief) -> int:
    """Every variant and seed: earlier runs checked, the rest trained, then the report."""
    ## Check earlier runs of every variant and seed before training any
    try:
        plan, results = check_earlier_runs(
            args,
            profile,
            variants,
            data,
            replicas=strategy.num_replicas_in_sync,
            backup_root=backup_root,
            chief=chief,
        )
    except SettingsChangedError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    ## Train every variant (and seed)
    for planned in plan:
        label = planned.variant if args.seeds == 1 else f"{planned.variant}, seed {planned.seed}"
        if (planned.variant, planned.seed) in results:
            print(f"\n== {label}: finished earlier with the same settings; results read back")
            continue
        print(f"\n== {label}")
        try:
            result = train_planned(
                planned,
                args,
                profile,
                data[planned.seed],
                strategy=strategy,
                backup_root=backup_root,
                chief=chief,
            )
        except TrainingStoppedError as error:
            print(f"error: {error}", file=sys.stderr)
            return 3
        except SettingsChangedError as error:  # backups that cannot be restored
            print(f"error: {error}", file=sys.stderr)
            return 2
        record_result(planned, result, args.logdir if chief else None, backup_root)
        results[planned.variant, planned.seed] = result
    if not chief:
        print("worker done; the chief reports the results.")
        return 0

    ## Report
    report(args, results, variants, list(data), plan)
    return 0


if __name__ == "__main__":
    sys.exit(main())
