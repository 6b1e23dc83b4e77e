"""The `kreg` command: `convert`, `inspect` and `sweep`."""

from __future__ import annotations

import argparse
import sys

from kreg.cli import convert as convert_command
from kreg.cli import inspect as inspect_command
from kreg.cli import sweep as sweep_command

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="kreg", description="kreg: regularizing neural networks with Keras 3."
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    commands = parser.add_subparsers(dest="command")
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
        "--examples", type=int, default=None, help="m, the training examples (needed with --lambd)"
    )
    convert.add_argument(
        "--keep-prob", type=float, help="the course's keep probability (no default)"
    )
    inspect = commands.add_parser(
        "inspect", help="one row per run of a TensorBoard log directory, read from its files"
    )
    inspect.add_argument("logdir", help="a --logdir of the experiments")
    inspect.add_argument(
        "--json", action="store_true", help="print JSON instead of a table (default: a table)"
    )
    inspect.add_argument(
        "--plot", metavar="FILE.png", help="draw learning and weight-norm curves (default: none)"
    )
    sweep = sweep_command.add_parser(commands)
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
            return convert_command.run(args)
        except ValueError as error:
            print(f"kreg convert: error: {error}", file=sys.stderr)
            return 2
    if args.command == "inspect":
        return inspect_command.run(args)
    if args.command == "sweep":
        for name in ("max_trials", "steps", "log_every", "epochs", "train_subset"):
            value = getattr(args, name)
            if value is not None and value < 1:
                sweep.error(f"--{name.replace('_', '-')} must be a positive integer, got {value}")
        if not 0 < args.val_fraction < 1:
            sweep.error(f"--val-fraction must be in (0, 1), got {args.val_fraction}")
        if args.search == "random" and args.max_trials is None:
            sweep.error("--search random needs --max-trials (how many trials to sample)")
        try:
            return sweep_command.run(args)
        except (ValueError, FileNotFoundError) as error:
            print(f"kreg sweep: error: {error}", file=sys.stderr)
            return 2
    parser.print_usage(sys.stderr)
    print("kreg: error: give a command: convert, inspect or sweep (kreg --help)", file=sys.stderr)
    return 2
