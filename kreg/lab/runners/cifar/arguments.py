"""`experiments/cifar_l2.py`'s arguments: the flags, and the profile they make."""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from pathlib import Path

from kreg.lab.distribute import STRATEGIES
from kreg.lab.fullbatch import PRECISIONS
from kreg.lab.io import check_output_dir, check_output_file
from kreg.lab.runners.cifar.profiles import DEFAULT_VARIANTS, PROFILES, VARIANTS, profile_table
from kreg.layers import SPATIAL_DROPOUT_LAYERS
from kreg.models import PRESETS, vgg_cifar10

__all__ = ["build_parser", "floats", "ints", "resolve_arguments"]


def floats(text: str) -> tuple[float, ...]:
    return tuple(float(part) for part in text.split(","))


def ints(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(",")) if text else ()


def build_parser(description: str) -> argparse.ArgumentParser:
    """`cifar_l2.py`'s flags; each help says its default (the chosen profile's, for most)."""
    profiles = "\n\n".join(profile_table(name, p) for name, p in PROFILES.items())
    parser = argparse.ArgumentParser(
        description=description,
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
        "--swa-start",
        type=int,
        default=None,
        help="the swa variant: the first epoch averaged, 0-based (default: three quarters of "
        "--epochs)",
    )
    add("--sam-rho", type=float, default=None, help="the sam variant's radius (default: 0.05)")
    add(
        "--label-smoothing",
        type=float,
        default=None,
        help="the smooth variant's label smoothing (default: 0.1)",
    )
    add(
        "--stochastic-depth",
        type=float,
        default=None,
        help="the resnet20+sd variant: the last block's drop rate, the linear rule of Huang "
        "et al. (default: 0.5)",
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
    return parser


def resolve_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace):
    """`(args, profile, variants)`: the profile with the flags' overrides, every value checked.

    A bad value stops with `parser.error`, naming the flag and what it takes.
    """
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
        "swa_start": args.swa_start,
        "sam_rho": args.sam_rho,
        "label_smoothing": args.label_smoothing,
        "stochastic_depth": args.stochastic_depth,
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
    if profile.swa_start is not None and not 0 <= profile.swa_start < profile.epochs:
        parser.error(
            f"--swa-start must be an epoch in 0..{profile.epochs - 1}, got {profile.swa_start}"
        )
    if not (math.isfinite(profile.sam_rho) and profile.sam_rho > 0):
        parser.error(f"--sam-rho must be a finite number > 0, got {profile.sam_rho}")
    if not 0 < profile.label_smoothing <= 1:
        parser.error(f"--label-smoothing must be in (0, 1], got {profile.label_smoothing}")
    if not 0 < profile.stochastic_depth < 1:
        parser.error(f"--stochastic-depth must be in (0, 1), got {profile.stochastic_depth}")
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
