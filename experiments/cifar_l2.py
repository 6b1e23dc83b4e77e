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

import argparse
import dataclasses
import math
import sys
from pathlib import Path

import kreg_cli

# The lab runs on Keras's TensorFlow backend: choose it, and import TensorFlow without its
# start-up log lines, before anything imports Keras.
kreg_cli.prepare_environment()

# isort: split
from kreg.datasets import load_cifar10, split_validation
from kreg.lab.distribute import STRATEGIES, is_chief, make_strategy, split_cpu, worker_index
from kreg.lab.fullbatch import PRECISIONS
from kreg.lab.hparams import log_hparams, log_hparams_config
from kreg.lab.io import check_output_dir, check_output_file, write_json
from kreg.lab.plots import save_learning_curves, save_reliability, save_seed_spread
from kreg.lab.runners.cifar import (
    DEFAULT_VARIANTS,
    PROFILES,
    VARIANTS,
    SettingsChangedError,
    fingerprint,
    prepare_variant,
    run_name,
    run_variant,
    seed_summary,
)
from kreg.layers import SPATIAL_DROPOUT_LAYERS
from kreg.models import PRESETS, vgg_cifar10

## Arguments


def floats(text: str) -> tuple[float, ...]:
    return tuple(float(part) for part in text.split(","))


def ints(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(",")) if text else ()


def profile_table(name: str, profile) -> str:
    """The profile as `name  value` lines, for `--help` and the start of a run."""
    fields = dataclasses.asdict(profile)
    width = max(len(key) for key in fields)
    lines = [f"profile {name}:"]
    lines += [f"  {key:<{width}}  {value}" for key, value in fields.items()]
    return "\n".join(lines)


def parse_args(argv=None):
    profiles = "\n\n".join(profile_table(name, p) for name, p in PROFILES.items())
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=f"{profiles}\n\nFlags override the chosen profile's values.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--quick", action="store_true", help="the minutes-long profile (default: book)")
    add(
        "--data-dir",
        type=Path,
        default=None,
        help="cifar-10-batches-py/, a folder holding "
        "it, or the .tar.gz (default: $KREG_DATA_DIR, then Keras's cache and download)",
    )
    add("--train-subset", type=int, default=None, help="first N training images (default: all)")
    add(
        "--val-fraction",
        type=float,
        default=None,
        help="share of the training images held out for validation (default: 0.1)",
    )
    add(
        "--variants",
        default=",".join(DEFAULT_VARIANTS),
        help=f"comma list of {', '.join(VARIANTS)}, or all (default: %(default)s)",
    )
    add("--epochs", type=int, help="epochs per variant (default: the profile's)")
    add("--batch-size", type=int, help="examples per step (default: the profile's)")
    add(
        "--weight-decay",
        type=float,
        help="the L2 factor on every kernel of the l2 variants (default: the profile's)",
    )
    add(
        "--dropout",
        type=floats,
        help="rate after each pooling, one per block, e.g. 0.2,0.3,0.4 (default: profile's)",
    )
    add("--dense-dropout", type=float, help="rate in the dense head (default: the profile's)")
    add("--preset", choices=("book", "keras-vgg"), help="network (default: the profile's)")
    add("--filters", type=ints, help="filters per block, e.g. 32,64 (default: the preset's)")
    add("--dense-units", type=ints, help="hidden Dense sizes, e.g. 256 (default: the preset's)")
    add("--augment", choices=("none", "crop-flip", "book"), help="default: the profile's")
    add("--optimizer", choices=("adam", "sgd"), help="default: the profile's")
    add("--learning-rate", type=float, help="default: the profile's")
    add(
        "--dropout-layer",
        choices=SPATIAL_DROPOUT_LAYERS,
        default=None,
        help="the dropout after each pooling: single units (keras, kreg, kreg-hash), whole "
        "feature maps (spatial: SpatialDropout2D; kreg-spatial: InvertedDropout with "
        "noise_shape (None, 1, 1, None)) or squares (dropblock: DropBlock2D); the dense head "
        "uses keras or kreg dropout (default: keras without --strategy, kreg, whose masks "
        "differ per replica, with one)",
    )
    add(
        "--precision",
        choices=PRECISIONS,
        default="float32",
        help="Keras dtype policy: mixed_bfloat16 computes in bfloat16 (faster on CPUs with "
        "avx512_bf16), mixed_float16 is for GPUs; the L2 penalty, dropout masks, softmax and "
        "loss stay float32 (default: %(default)s)",
    )
    add(
        "--block-size",
        type=int,
        default=3,
        help="with --dropout-layer dropblock: the side of the dropped squares; it must fit "
        "the smallest feature map (default: %(default)s)",
    )
    add(
        "--adamw-decay",
        type=float,
        default=None,
        help="AdamW's weight_decay in the adamw variants (default: 2 x the L2 factor, the "
        "decay that equals it under plain SGD)",
    )
    add(
        "--strategy",
        choices=STRATEGIES,
        default="none",
        help="tf.distribute data parallelism; --batch-size is global (default: none)",
    )
    add(
        "--cpu-replicas",
        type=int,
        default=None,
        help="with --strategy mirrored: split the CPU into N devices (default: off)",
    )
    add(
        "--weights-dir",
        type=Path,
        default=None,
        help="save the trained weights here as VARIANT.weights.h5 (default: not saved)",
    )
    add(
        "--models-dir",
        type=Path,
        default=None,
        help="save each trained variant as VARIANT.keras, a model that takes raw 0-255 images "
        "(the standardization inside; for keras.models.load_model after `import kreg`, or "
        "kreg predict) (default: not saved)",
    )
    add(
        "--seed",
        type=int,
        default=0,
        help="weights, dropout, data order and the validation split (default: 0)",
    )
    add(
        "--seeds",
        type=int,
        default=1,
        help="train every variant with N seeds (--seed, --seed + 1, ...) and report mean ± "
        "std and each regularized variant's difference from the baseline with a 95 %% "
        "interval, paired by seed (default: %(default)s)",
    )
    add(
        "--logdir",
        type=Path,
        default=Path("runs/cifar"),
        help="TensorBoard runs, one per variant (default: %(default)s)",
    )
    add(
        "--backup-dir",
        type=Path,
        default=None,
        help="backups and finished variants (default: LOGDIR/backup)",
    )
    add(
        "--overwrite",
        action="store_true",
        help="train afresh the variants whose earlier files were made with other settings "
        "(default: refuse, naming what changed)",
    )
    add(
        "--mc-samples",
        type=int,
        default=30,
        help="MC dropout samples per test image for the calibration report of the dropout "
        "variants (default: %(default)s)",
    )
    add("--json", type=Path, default=None, help="write results as JSON (default: not written)")
    add(
        "--reliability",
        type=Path,
        default=None,
        help="reliability diagrams of every variant, PNG (default: not drawn)",
    )
    add("--curves", type=Path, default=None, help="learning-curve PNG (default: not drawn)")
    add(
        "--spread",
        type=Path,
        default=None,
        help="with --seeds N > 1: test accuracy and gap per variant, every seed and mean ± "
        "std, PNG (default: not drawn)",
    )
    add(
        "--verbose",
        default="auto",
        help="Keras verbosity: 0, 1 (progress bar), 2 (a line per "
        "epoch) or auto: 1 on a terminal, 2 otherwise (default: auto)",
    )
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
        "validation_split": args.val_fraction,
        "adamw_decay": args.adamw_decay,
    }
    profile = dataclasses.replace(profile, **{k: v for k, v in overrides.items() if v is not None})
    if profile.epochs < 1 or profile.batch_size < 1:
        parser.error("--epochs and --batch-size must be positive")
    if not (math.isfinite(profile.l2) and profile.l2 >= 0):
        parser.error(f"--weight-decay must be a finite number >= 0, got {profile.l2}")
    if not (math.isfinite(profile.learning_rate) and profile.learning_rate > 0):
        parser.error(f"--learning-rate must be a finite number > 0, got {profile.learning_rate}")
    if any(not 0 <= rate < 1 for rate in (*profile.dropout, profile.dense_dropout)):
        parser.error("dropout rates must be in [0, 1)")
    blocks = len(profile.filters or PRESETS[profile.preset]["filters"])
    if len(profile.dropout) != blocks:
        parser.error(
            f"--dropout takes one rate per block: the {profile.preset} network has {blocks} "
            f"blocks, got {len(profile.dropout)} rates ({','.join(map(str, profile.dropout))})"
        )
    if profile.adamw_decay is not None and not (
        math.isfinite(profile.adamw_decay) and profile.adamw_decay >= 0
    ):
        parser.error(f"--adamw-decay must be a finite number >= 0, got {profile.adamw_decay}")
    if args.seeds < 1:
        parser.error(f"--seeds must be a positive integer, got {args.seeds}")
    if args.block_size < 1:
        parser.error(f"--block-size must be a positive integer, got {args.block_size}")
    if args.mc_samples < 2:
        parser.error(f"--mc-samples must be an integer >= 2, got {args.mc_samples}")
    if not 0 < profile.validation_split < 1:
        parser.error(f"--val-fraction must be in (0, 1), got {profile.validation_split}")
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    if variants == ["all"]:
        variants = list(VARIANTS)
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown or not variants:
        parser.error(
            f"--variants takes a comma list of {', '.join(VARIANTS)} (or all); "
            f"got {args.variants!r}"
        )
    if profile.optimizer != "adam" and any(v.startswith("adamw") for v in variants):
        parser.error(f"the adamw variants need --optimizer adam, got {profile.optimizer}")
    try:
        check_output_file(args.json, "--json")
        check_output_file(args.curves, "--curves")
        check_output_file(args.spread, "--spread")
        check_output_file(args.reliability, "--reliability")
        check_output_dir(args.weights_dir, "--weights-dir")
        check_output_dir(args.models_dir, "--models-dir")
        check_output_dir(args.logdir, "--logdir")
        check_output_dir(args.backup_dir, "--backup-dir")
    except ValueError as error:
        parser.error(str(error))
    if args.verbose == "auto":  # progress bars on a terminal, one line per epoch in a log
        args.verbose = 1 if sys.stdout.isatty() else 2
    elif args.verbose.isdigit() and int(args.verbose) in (0, 1, 2):
        args.verbose = int(args.verbose)
    else:
        parser.error(f"--verbose takes auto, 0, 1 or 2, got {args.verbose!r}")
    if args.cpu_replicas is not None and (args.strategy != "mirrored" or args.cpu_replicas < 1):
        parser.error("--cpu-replicas takes a positive integer and needs --strategy mirrored")
    if args.dropout_layer == "dropblock":
        try:  # the blocks must fit every feature map: checked on the network, before any data
            vgg_cifar10(
                profile.preset,
                filters=profile.filters,
                dense_units=profile.dense_units,
                dropout=profile.dropout,
                dropout_layer="dropblock",
                block_size=args.block_size,
            )
        except ValueError as error:
            parser.error(f"--block-size {args.block_size}: {error}")
    if args.dropout_layer is None:
        args.dropout_layer = "keras" if args.strategy == "none" else "kreg"
    elif args.dropout_layer == "keras" and args.strategy != "none":
        print(
            "warning: keras.layers.Dropout draws the same mask on every replica; "
            "--dropout-layer kreg draws one per replica.",
            file=sys.stderr,
        )
    return args, profile, variants


METHODS = {"deterministic": "det", "temperature": "temp", "mc_dropout": "mc"}


def calibration_metrics(calibration: dict) -> dict:
    """`det_nll`, `temp_ece`, `mc_nll`, ...: the calibration report as TensorBoard scalars."""
    return {
        f"{short}_{key}": calibration[method][key]
        for method, short in METHODS.items()
        if method in calibration
        for key in ("nll", "ece")
    }


def regularization_text(hyper: dict) -> str:
    """The optimizer and the exact penalty or decay of a run: `adam, L2 0.001`."""
    parts = [hyper["optimizer"]]
    if hyper.get("l2"):
        parts.append(f"L2 {hyper['l2']:g}")
    if hyper.get("weight_decay"):
        parts.append(f"decay {hyper['weight_decay']:g}")
    return ", ".join(parts)


def print_table(results) -> None:
    """One seed: accuracies, gap and time per variant, with what regularized it."""
    print(
        f"\n{'model':<14} {'train acc':>9} {'val acc':>8} {'test acc':>9} {'gap':>7} "
        f"{'seconds':>8}  {'optimizer, penalty':<22} (gap = train - test accuracy)"
    )
    for r in results:
        print(
            f"{r.name:<14} {r.train_accuracy:>9.4f} {r.val_accuracy:>8.4f} "
            f"{r.test_accuracy:>9.4f} {r.gap:>7.4f} {r.seconds:>8.1f}  "
            f"{regularization_text(r.hyperparameters):<22}"
        )
    by_name = {r.name: r for r in results}
    if "baseline" in by_name and "l2+dropout" in by_name:
        base, both = by_name["baseline"], by_name["l2+dropout"]
        points = 100 * (both.test_accuracy - base.test_accuracy)
        ratio = both.gap / base.gap if base.gap else float("nan")
        print(f"\nl2+dropout vs baseline: test accuracy {points:+.1f} points, gap {ratio:.2f}x")


def print_spread(summary: dict, seeds: list[int]) -> None:
    """Several seeds: mean ± std per variant, and the paired difference from the baseline."""
    print(
        f"\nOver {len(seeds)} seeds ({', '.join(map(str, seeds))}): mean ± sample std; "
        "vs baseline: the mean difference, paired by seed, with its 95 % interval"
    )
    print(
        f"{'model':<14} {'train acc':>15} {'test acc':>15} {'gap':>15}  "
        f"{'test acc vs baseline':>24} {'gap vs baseline':>24}  optimizer, penalty"
    )

    def spread(entry):
        std = entry["std"]
        return f"{entry['mean']:.4f} ± {std:.4f}" if std is not None else f"{entry['mean']:.4f}"

    def versus(entry):
        if entry["ci_low"] is None:
            return f"{entry['mean']:+.4f}"
        return f"{entry['mean']:+.4f} [{entry['ci_low']:+.4f}, {entry['ci_high']:+.4f}]"

    for variant, entry in summary.items():
        against = entry.get("vs_baseline")
        test_vs = versus(against["test_accuracy"]) if against else "-"
        gap_vs = versus(against["gap"]) if against else "-"
        print(
            f"{variant:<14} {spread(entry['train_accuracy']):>15} "
            f"{spread(entry['test_accuracy']):>15} {spread(entry['gap']):>15}  "
            f"{test_vs:>24} {gap_vs:>24}  {regularization_text(entry['regularization'])}"
        )


def print_calibration(results, note: str = "") -> None:
    """The test set's NLL and ECE for each variant: as predicted, temperature-scaled, MC."""
    print(
        f"\n{'calibration':<14} {'det NLL':>8} {'det ECE':>8} {'T':>5} {'temp NLL':>9} "
        f"{'temp ECE':>9} {'MC NLL':>8} {'MC ECE':>8}   (test set; T fitted on validation)"
        f"{note}"
    )
    for r in results:
        c = r.calibration
        if not c:
            continue
        det, temp, mc = c["deterministic"], c["temperature"], c.get("mc_dropout")
        mc_text = f"{mc['nll']:>8.4f} {mc['ece']:>8.4f}" if mc else f"{'-':>8} {'-':>8}"
        print(
            f"{r.name:<14} {det['nll']:>8.4f} {det['ece']:>8.4f} {temp['temperature']:>5.2f} "
            f"{temp['nll']:>9.4f} {temp['ece']:>9.4f} {mc_text}"
        )


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
        (x_all, y_all), test = load_cifar10(args.data_dir, train_subset=args.train_subset)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if profile.max_train_images and len(x_all) > profile.max_train_images:
        x_all, y_all = x_all[: profile.max_train_images], y_all[: profile.max_train_images]
    seeds = list(range(args.seed, args.seed + args.seeds))
    data = {}  # seed -> (train, validation, test): each seed holds out its own validation split
    for seed in seeds:
        x_train, y_train, x_val, y_val = split_validation(
            x_all, y_all, profile.validation_split, seed
        )
        data[seed] = (x_train, y_train), (x_val, y_val), test
    print(
        f"CIFAR-10: {len(x_train)} training, {len(x_val)} validation (held out of training) "
        f"and {len(test[0])} test images"
    )
    print(profile_table("quick" if args.quick else "book", profile))

    ## Check earlier runs of every variant and seed before training any
    plan, results = [], {}
    for seed in seeds:
        for variant in variants:
            name = run_name(variant, seed, args.seeds)
            settings = fingerprint(
                variant,
                profile,
                data[seed],
                seed=seed,
                dropout_layer=args.dropout_layer,
                strategy=args.strategy,
                replicas=strategy.num_replicas_in_sync,
                mc_samples=args.mc_samples,
                block_size=args.block_size,
                precision=args.precision,
            )
            done_name = name.replace("/", "_")
            try:
                done = prepare_variant(
                    variant,
                    settings,
                    done_file=backup_root / f"{done_name}.done.json",
                    backup_dir=backup_root / done_name,
                    logdir=args.logdir / name if chief else None,
                    overwrite=args.overwrite,
                )
            except SettingsChangedError as error:
                print(f"error: {error}", file=sys.stderr)
                return 2
            if done is not None:
                results[variant, seed] = done
            plan.append((variant, seed, name, settings))

    ## Train every variant (and seed)
    for variant, seed, name, settings in plan:
        label = variant if args.seeds == 1 else f"{variant}, seed {seed}"
        if (variant, seed) in results:
            print(f"\n== {label}: finished earlier with the same settings; results read back")
            continue
        print(f"\n== {label}")
        done_name = name.replace("/", "_")
        weights = args.weights_dir / f"{done_name}.weights.h5" if args.weights_dir else None
        exported = args.models_dir / f"{done_name}.keras" if args.models_dir else None
        result, backup = run_variant(
            variant,
            profile,
            data[seed],
            seed=seed,
            dropout_layer=args.dropout_layer,
            block_size=args.block_size,
            precision=args.precision,
            logdir=args.logdir / name if chief else None,
            backup_dir=backup_root / done_name,
            verbose=args.verbose if chief else 0,
            strategy=strategy,
            weights_path=weights if chief else None,
            model_path=exported if chief else None,
            mc_samples=args.mc_samples,
        )
        if result is None:
            epoch, batch = backup.nan_at
            where = f"epoch {epoch + 1}" + ("" if batch is None else f", batch {batch + 1}")
            print(
                f"error: variant {label}: training stopped at {where}: non-finite "
                f"{backup.nan_reason}. The last good backup is kept in {backup.backup_dir} "
                "(rerunning resumes from it); lower --learning-rate or change the setup first.",
                file=sys.stderr,
            )
            return 3
        result.hyperparameters["strategy"] = args.strategy
        result.hyperparameters["replicas"] = strategy.num_replicas_in_sync
        metrics = {
            "train_accuracy": result.train_accuracy,
            "val_accuracy": result.val_accuracy,
            "test_accuracy": result.test_accuracy,
            "gap": result.gap,
            **calibration_metrics(result.calibration),
        }
        if chief:
            log_hparams(args.logdir / name, result.hyperparameters, metrics)
        write_json(
            backup_root / f"{done_name}.done.json",
            {**result.to_json(), "fingerprint": settings},
        )
        results[variant, seed] = result

    if not chief:
        print("worker done; the chief reports the results.")
        return 0
    ordered = [results[variant, seed] for seed in seeds for variant in variants]
    metric_names = ["train_accuracy", "val_accuracy", "test_accuracy", "gap"]
    metric_names += sorted({k for r in ordered for k in calibration_metrics(r.calibration)})
    taken = {k: [r.hyperparameters[k] for r in ordered] for k in ordered[0].hyperparameters}
    log_hparams_config(args.logdir, taken, metric_names)

    ## Report
    by_seed = {v: [results[v, seed] for seed in seeds] for v in variants}
    if args.seeds == 1:
        print_table([results[v, args.seed] for v in variants])
    summary = seed_summary(by_seed)
    if args.seeds > 1:
        print_spread(summary, seeds)
    first = [results[v, args.seed] for v in variants]
    print_calibration(first, note=f" (seed {args.seed})" if args.seeds > 1 else "")
    if args.curves is not None:
        save_learning_curves(
            args.curves, {v: [r.history for r in rs] for v, rs in by_seed.items()}
        )
        print(f"Learning curves written to {args.curves}")
    if args.spread is not None:
        spread = {
            v: {"test_accuracy": [r.test_accuracy for r in rs], "gap": [r.gap for r in rs]}
            for v, rs in by_seed.items()
        }
        save_seed_spread(args.spread, spread, title=f"{len(seeds)} seeds")
        print(f"Spread over the seeds written to {args.spread}")
    if args.reliability is not None:
        save_reliability(args.reliability, {r.name: r.calibration for r in first})
        print(f"Reliability diagrams (seed {args.seed}) written to {args.reliability}")
    if args.json is not None:
        payload = {"runs": [r.to_json() for r in ordered], "seeds": seeds, "summary": summary}
        write_json(args.json, payload)
        print(f"Results written to {args.json}")
    if args.models_dir is not None:
        example = args.models_dir / f"{plan[-1][2].replace('/', '_')}.keras"
        print(
            f"Models (raw 0-255 images in) written to {args.models_dir}/; try one on your "
            f"images: kreg predict {example} IMAGES"
        )
    print(f"TensorBoard: tensorboard --logdir {args.logdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
