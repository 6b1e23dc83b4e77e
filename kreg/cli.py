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


def _inspect(args) -> int:
    import json

    from kreg.tensorboard import find_runs

    try:
        runs = find_runs(args.logdir)
    except FileNotFoundError as error:
        print(f"kreg inspect: error: {error}", file=sys.stderr)
        return 2
    if not runs:
        print(
            f"kreg inspect: no runs under {args.logdir}: no TensorBoard event files with "
            "hyperparameters (write them with experiments/football.py or cifar_l2.py --logdir).",
            file=sys.stderr,
        )
        return 1
    if args.json:
        print(json.dumps([run.to_json() for run in runs], indent=2))
    else:
        names = sorted({name for run in runs for name in run.hparams})
        width = max(len(run.name) for run in runs)
        header = ["run".ljust(width), "train acc", "test acc", "gap".rjust(7), "penalty share",
                  "hparams"]  # fmt: skip
        print("  ".join(header))
        for run in runs:
            hparams = " ".join(f"{k}={_plain(run.hparams[k])}" for k in names if k in run.hparams)
            print("  ".join([
                run.name.ljust(width), _format(run.train_accuracy).rjust(9),
                _format(run.test_accuracy).rjust(8), _format(run.gap).rjust(7),
                _format(run.penalty_share, ".3f").rjust(13), hparams,
            ]))  # fmt: skip
    if args.plot:
        from kreg.plots import save_run_curves

        save_run_curves(args.plot, runs)
        if not args.json:
            print(f"Curves written to {args.plot}")
    return 0


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
    parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
