"""The `kreg` command line: its arguments, and which command runs.

This module sits outside the `kreg` package on purpose. `import kreg` imports
TensorFlow and Keras (it registers kreg's classes with Keras, so saved models
load), which takes seconds; `kreg --help`, `kreg sweep --help` and argument
errors are answered from here without it. A command's own module, and with it
TensorFlow, is imported only once its arguments are valid.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import tempfile

__all__ = ["build_parser", "main"]

# kreg.lab.fullbatch.PRECISIONS, repeated here to keep TensorFlow out of `--help` (a test checks).
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")

DATA_HELP = (
    "Data: the experiments and `kreg sweep` read the course's football data and CIFAR-10 from "
    "$KREG_DATA_DIR (football/data.mat, cifar-10-batches-py/ or cifar-10-python.tar.gz); "
    "CIFAR-10 is downloaded into ~/.keras/datasets when it is not there."
)


def _add_convert(commands) -> argparse.ArgumentParser:
    convert = commands.add_parser(
        "convert",
        help="translate the course's lambd / keep_prob into Keras arguments",
        description="Print the Keras arguments equal to the course's hyperparameters: "
        "lambd on m examples is kernel_regularizer=L2(lambd / (2 m)) (and, under plain SGD "
        "only, weight_decay=lambd / m); keep_prob is Dropout(rate=1 - keep_prob).",
        epilog="example: kreg convert --lambd 0.7 --examples 211 --keep-prob 0.86",
    )
    convert.add_argument("--lambd", type=float, help="the course's L2 strength (no default)")
    convert.add_argument(
        "--examples",
        type=int,
        default=None,
        help="m, the training examples (no default; needs --lambd)",
    )
    convert.add_argument(
        "--keep-prob", type=float, help="the course's keep probability (no default)"
    )
    return convert


def _add_inspect(commands) -> argparse.ArgumentParser:
    inspect = commands.add_parser(
        "inspect",
        help="one row per run of a TensorBoard log directory, read from its files",
        description="List the runs of a TensorBoard log directory (kreg's experiments, kreg "
        "sweep, or any keras.callbacks.TensorBoard) with their final accuracies, gap and "
        "hyperparameters, read back from the event files.",
        epilog="example: kreg inspect runs/cifar --plot curves.png",
    )
    inspect.add_argument("logdir", help="a --logdir of the experiments, or any TensorBoard root")
    inspect.add_argument(
        "--json", action="store_true", help="print JSON instead of a table (default: a table)"
    )
    inspect.add_argument(
        "--plot", metavar="FILE.png", help="draw learning and weight-norm curves (default: none)"
    )
    return inspect


def _add_predict(commands) -> argparse.ArgumentParser:
    predict = commands.add_parser(
        "predict",
        help="classify your own images with a saved CIFAR-10 model",
        description="Load a .keras model saved by experiments/cifar_l2.py (safe_mode on) and "
        "print the most likely CIFAR-10 classes of each image. Images: a folder of PNG/JPEG "
        "files (resized to the model's input size), one image file, or a .npy array of "
        "shape (N, 32, 32, 3) with values 0-255.",
        epilog="example: kreg predict results/models/l2+dropout.keras my_photos/",
    )
    predict.add_argument("model", help="a .keras file")
    predict.add_argument("images", help="a folder of PNG/JPEG images, an image file, or a .npy")
    predict.add_argument(
        "--top", type=int, default=3, help="classes shown per image (default: %(default)s)"
    )
    return predict


def _add_sweep(commands) -> argparse.ArgumentParser:
    sweep = commands.add_parser(
        "sweep",
        help="tune L2 and dropout with KerasTuner (grid or random; local or distributed)",
        description="Tune the football model's lambd/keep_prob or the CIFAR convnet's weight "
        "decay and dropout rates on KerasTuner. Values: a comma list (0,0.3,0.7) or, for "
        "random search, a range (1e-4:1e-2). Distributed: set KERASTUNER_TUNER_ID "
        "(chief, or one ID per worker), KERASTUNER_ORACLE_IP and KERASTUNER_ORACLE_PORT.",
        epilog=f"example: kreg sweep football --lambd 0,0.3,0.7 --keep-prob 1,0.86. {DATA_HELP}",
    )
    default = " (default: %(default)s)"
    sweep.add_argument("task", choices=("football", "cifar"), help="what to tune")
    sweep.add_argument(
        "--search", choices=("grid", "random"), default="grid", help="search" + default
    )
    sweep.add_argument(
        "--max-trials",
        type=int,
        default=None,
        help="trials (random: required; grid default: all)",
    )
    sweep.add_argument(
        "--objective",
        choices=("val_accuracy", "val_loss"),
        default="val_accuracy",
        help="what the search optimizes, on the validation split" + default,
    )
    sweep.add_argument("--lambd", help="football: course L2 strengths (default: 0,0.1,0.3,0.7)")
    sweep.add_argument("--keep-prob", help="football: keep probabilities (default: 1,0.86)")
    sweep.add_argument(
        "--weight-decay", help="cifar: L2 factors on every kernel (default: 0,5e-4,1e-3)"
    )
    sweep.add_argument("--dropout", help="cifar: rate after each pooling (default: 0,0.3)")
    sweep.add_argument("--dense-dropout", help="cifar: rate in the dense head (default: 0.5)")
    sweep.add_argument(
        "--val-fraction",
        type=float,
        default=0.2,
        help="share of the training data held out for the choice" + default,
    )
    sweep.add_argument(
        "--seed", type=int, default=0, help="split, weights, dropout and search seed" + default
    )
    sweep.add_argument(
        "--steps", type=int, default=30000, help="football: steps per trial" + default
    )
    sweep.add_argument(
        "--log-every", type=int, default=1000, help="football: steps per epoch" + default
    )
    sweep.add_argument(
        "--seeds",
        type=int,
        default=1,
        help="football: models per trial, dropout seeds --seed ... --seed + N - 1; the trial "
        "scores their mean" + default,
    )
    sweep.add_argument(
        "--stacking",
        choices=("auto", "stacked", "sequential"),
        default="auto",
        help="football: stacked trains the whole grid x seeds in one compiled loop "
        "(fullbatch.stacked), sequential each model alone; auto stacks from 16 models in one "
        "loop" + default,
    )
    sweep.add_argument(
        "--epochs", type=int, default=None, help="cifar: epochs per trial (default: 10)"
    )
    sweep.add_argument(
        "--data", help="football: the course's data.mat (default: $KREG_DATA_DIR/football)"
    )
    sweep.add_argument(
        "--synthetic", action="store_true", help="football: a generated stand-in (default: off)"
    )
    sweep.add_argument(
        "--data-dir", help="cifar: CIFAR-10's folder (default: $KREG_DATA_DIR, else download)"
    )
    sweep.add_argument(
        "--train-subset", type=int, default=None, help="cifar: first N images (default: 6000)"
    )
    sweep.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="float32",
        help="cifar: Keras dtype policy, as for experiments/cifar_l2.py" + default,
    )
    sweep.add_argument(
        "--directory", default="sweeps", help="KerasTuner's folder, shared" + default
    )
    sweep.add_argument(
        "--project-name", default=None, help="KerasTuner's project (default: TASK-SEARCH)"
    )
    sweep.add_argument(
        "--logdir", default=None, help="TensorBoard root (default: runs/sweep-PROJECT)"
    )
    sweep.add_argument(
        "--overwrite", action="store_true", help="start afresh, not resume (default: resume)"
    )
    sweep.add_argument(
        "--worker-timeout",
        type=float,
        default=600.0,
        help="chief: seconds before a silent worker's trial is re-queued; 0 waits" + default,
    )
    sweep.add_argument(
        "--heartbeat", type=float, default=10.0, help="worker: seconds per beat" + default
    )
    sweep.add_argument(
        "--quiet",
        action="store_true",
        help="no per-trial and per-epoch lines, for scripts (default: KerasTuner's)",
    )
    return sweep


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The `kreg` parser and its subcommands' parsers, by name."""
    parser = argparse.ArgumentParser(
        prog="kreg",
        description="kreg: regularizing neural networks with Keras 3.",
        epilog=DATA_HELP,
    )
    parser.add_argument("--version", action="store_true", help="print the version (default: off)")
    commands = parser.add_subparsers(dest="command", metavar="{convert,inspect,predict,sweep}")
    subcommands = {
        "convert": _add_convert(commands),
        "inspect": _add_inspect(commands),
        "predict": _add_predict(commands),
        "sweep": _add_sweep(commands),
    }
    return parser, subcommands


def _check(args, subcommands) -> None:
    """Argument errors argparse cannot see, reported as argparse does (exit 2)."""
    if args.command == "convert":
        convert = subcommands["convert"]
        if args.lambd is None and args.keep_prob is None:
            convert.error("give --lambd (with --examples) and/or --keep-prob")
        if args.lambd is not None and args.examples is None:
            convert.error("--lambd needs --examples (m, the number of training examples)")
    elif args.command == "predict":
        if args.top < 1:
            subcommands["predict"].error(f"--top must be a positive integer, got {args.top}")
    elif args.command == "sweep":
        sweep = subcommands["sweep"]
        for name in ("max_trials", "steps", "log_every", "epochs", "train_subset"):
            value = getattr(args, name)
            if value is not None and value < 1:
                sweep.error(f"--{name.replace('_', '-')} must be a positive integer, got {value}")
        if not 0 < args.val_fraction < 1:
            sweep.error(f"--val-fraction must be in (0, 1), got {args.val_fraction}")
        if args.search == "random" and args.max_trials is None:
            sweep.error("--search random needs --max-trials (how many trials to sample)")
        if args.task == "football" and args.precision != "float32":
            sweep.error(
                "--precision is for the cifar sweep (the football model trains in float64)"
            )


def prepare_environment() -> None:
    """Select Keras's TensorFlow backend and import TensorFlow without its log spam.

    The lab's entry points (the `kreg` command, `experiments/*.py`, the
    benchmarks) call this first, before anything imports Keras; the library
    itself never touches the environment. A `KERAS_BACKEND` already set is
    kept (the lab then names it if it is not TensorFlow). TensorFlow's C++
    runtime writes lines such as "Could not find cuda drivers" straight to
    file descriptor 2 while it loads, before `TF_CPP_MIN_LOG_LEVEL` takes
    effect: that descriptor goes to a temporary file for the import only, and
    what was captured is replayed if the import fails, so real errors are
    never lost. `KREG_TF_LOGS=1` shows everything.
    """
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    if os.environ.get("KREG_TF_LOGS") == "1":
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if os.environ["KERAS_BACKEND"] == "tensorflow":
        _import_tensorflow_quietly()


def _import_tensorflow_quietly() -> None:
    if "tensorflow" in sys.modules:
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real stderr (some notebooks): nothing to hide
        return
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            import tensorflow as tf

            tf.config.list_physical_devices()
        except ImportError:
            pass  # the lab's import names the missing extra
        except BaseException:
            os.dup2(saved, 2)
            capture.seek(0)
            sys.stderr.write(capture.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def main(argv: list[str] | None = None) -> int:
    parser, subcommands = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from importlib.metadata import version  # not `import kreg`: that imports Keras

        print(f"kreg {version('kreg')}")
        return 0
    if args.command is None:
        parser.print_usage(sys.stderr)
        print(
            "kreg: error: give a command: convert, inspect, predict or sweep (kreg --help)",
            file=sys.stderr,
        )
        return 2
    _check(args, subcommands)
    prepare_environment()
    try:
        command = importlib.import_module(f"kreg.lab.cli.{args.command}")
    except ImportError as error:  # a missing extra: the message names it
        print(f"kreg {args.command}: error: {error}", file=sys.stderr)
        return 2
    try:
        return command.run(args)
    except (ValueError, FileNotFoundError) as error:
        print(f"kreg {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
