"""The interval loop every full-batch engine shares: argument checks, progress, the step loop."""

from __future__ import annotations

import dataclasses
import sys
import time

import keras
import numpy as np
import tensorflow as tf

__all__ = ["FullBatchHistory", "IntervalProgress", "check_loop_arguments", "loop_steps"]


@dataclasses.dataclass
class FullBatchHistory:
    """What `fit_full_batch` returns.

    Attributes:
        costs: `(step, cost)` at the first step of every logging interval:
            the total loss (data loss plus regularization) that step
            minimised, as the course's "Cost after iteration i".
        logs: the epoch-level logs given to the callbacks, one per interval.
        seconds: wall time of the training loop, compilation included.
        engine: the engine that trained: `"keras"` or `"fused"`.
    """

    costs: list[tuple[int, float]]
    logs: list[dict]
    seconds: float
    engine: str = "keras"


def check_loop_arguments(steps, log_every, verbose):
    """Validate a full-batch loop's `steps` and `log_every`; return `verbose` resolved."""
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"`steps` must be a non-negative integer. Received: steps={steps!r}")
    if (
        isinstance(log_every, bool)
        or not isinstance(log_every, (int, np.integer))
        or log_every < 1
    ):
        raise ValueError(
            f"`log_every` must be a positive integer. Received: log_every={log_every!r}"
        )
    if verbose == "auto":
        verbose = 1 if sys.stdout.isatty() else 0
    if verbose not in (0, 1, 2):
        raise ValueError(f"`verbose` must be 'auto', 0, 1 or 2. Received: verbose={verbose!r}")
    return verbose


class IntervalProgress:
    """What a full-batch loop shows after each interval: a Keras progress bar (1) or a line (2).

    Args:
        steps: the loop's total steps.
        verbose: 0, 1 or 2 (already resolved from "auto").
        label: words put before the values on a line (verbose 2).
    """

    def __init__(self, steps: int, verbose: int, label: str = ""):
        self.steps, self.verbose, self.label = steps, verbose, label
        self.start = time.perf_counter()
        self.progbar = None

    def update(self, done: int, shown: list[tuple[str, float]], final: bool) -> None:
        if self.verbose == 1:
            if self.progbar is None:  # the logs are the interval's values: shown as they are
                self.progbar = keras.utils.Progbar(
                    self.steps, unit_name="step", stateful_metrics=[k for k, _ in shown]
                )
            self.progbar.update(done, shown, finalize=final)
        elif self.verbose == 2:
            values = " - ".join(f"{k}: {v:.4f}" for k, v in shown)
            seconds = time.perf_counter() - self.start
            print(f"Steps {done}/{self.steps} - {seconds:.1f}s - {self.label}{values}", flush=True)


def loop_steps(num_steps, step, zero):
    """Run `step(i) -> (loss, penalty)` `num_steps` times in one `tf.while_loop`.

    Returns the first step's loss (the cost recorded for the interval), and the
    last step's loss and penalty; `zero` gives their shape and dtype.
    """

    def body(i, first, _last, _penalty):
        loss, penalty = step(i)
        first = tf.where(tf.equal(i, 0), tf.cast(loss, first.dtype), first)
        return i + 1, first, loss, penalty

    _, first, last, penalty = tf.while_loop(
        lambda i, *_: i < num_steps,
        body,
        (tf.constant(0), zero, zero, zero),
        parallel_iterations=1,
    )
    return first, last, penalty
