"""`kreg convert`: the course's lambd and keep_prob as Keras arguments."""

from __future__ import annotations

from kreg.regularizers import l2_from_lambda, rate_from_keep_prob, weight_decay_from_l2

__all__ = ["run"]


def run(args) -> int:
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
