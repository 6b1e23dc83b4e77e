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
    parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
