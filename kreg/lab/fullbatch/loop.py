"""The interval loop every full-batch engine shares: argument checks, progress, the step loop."""

from __future__ import annotations

import dataclasses
import sys
import time

import keras
import numpy as np
import tensorflow as tf

__all__ = [
    "FullBatchHistory",
    "IntervalProgress",
    "check_loop_arguments",
    "as_tensors",
    "loop_steps",
    "run_intervals",
]


@dataclasses.dataclass
class FullBatchHistory:
    """What `fit_full_batch` returns.

    Attributes:
        costs: `(step, cost)` at the first step of every logging interval:
            the total loss (data loss plus regularization) that step
            minimised, as the course's "Cost after iteration i".
        logs: the epoch-level logs given to the callbacks, one per interval.
        seconds: wall time of the training loop, compilation included.
        engine: the engine that trained: `"keras"`, `"fused"` or `"stacked"`.
    """

    costs: list[tuple[int, float]]
    logs: list[dict]
    seconds: float
    engine: str = "keras"


def as_tensors(x, y, validation_data, dtype):
    """`x`, `y` and the optional `(x_val, y_val)` as tensors of the model's `dtype`."""

    def tensor(array):
        return tf.convert_to_tensor(np.asarray(array), dtype=dtype)

    validation = None if validation_data is None else tuple(map(tensor, validation_data))
    return tensor(x), tensor(y), validation


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


def run_intervals(
    run_interval,
    models,
    callbacks,
    *,
    steps: int,
    log_every: int,
    verbose: int,
    sync_weights=None,
    label: str = "",
) -> tuple[list[list], list[list], float]:
    """The interval loop of every full-batch engine, for one model or a stack of K.

    Each interval calls `run_interval(n, done, active) -> (first, logs)`:
    train `n` more steps (`done` already taken) of the models flagged in the
    boolean array `active`, returning each model's first-step loss (`first`,
    K values) and its interval logs (`logs`, name -> K values). Then each
    active model's callbacks get `on_epoch_end` with its logs; a model whose
    callbacks set `model.stop_training` trains no further. `sync_weights
    (steps_done)` writes an engine's weights into the models: after every
    interval when there are callbacks (they read the weights), and at the end.

    Args:
        run_interval: the engine's compiled interval, as above.
        models: the K Keras models.
        callbacks: one list of Keras callbacks (or None) per model.
        steps: steps per model in all.
        log_every: steps per interval (a callback "epoch").
        verbose: 0, 1 or 2 (resolved): the progress of the mean over the
            models still training.
        sync_weights: None when the engine trains the models' own variables.
        label: words before the values on a verbose-2 line.

    Returns:
        `(costs, logs, seconds)`: per model the `(step, first loss)` of each
        interval and its logs, and the loop's wall time.
    """
    num_models = len(models)
    lists = [
        keras.callbacks.CallbackList(
            list(model_callbacks or []),
            add_history=False,
            add_progbar=False,
            model=model,
            epochs=-(-steps // log_every),
            steps=log_every,
            verbose=0,
        )
        for model, model_callbacks in zip(models, callbacks)
    ]
    has_callbacks = any(callbacks)
    costs = [[] for _ in range(num_models)]
    logs_per_model = [[] for _ in range(num_models)]
    steps_done = np.zeros(num_models, dtype=np.int64)
    active = np.ones(num_models, dtype=bool)
    for model in models:
        model.stop_training = False
    progress = IntervalProgress(steps, verbose, label=label)
    start = time.perf_counter()
    for callback_list in lists:
        callback_list.on_train_begin()
    done, epoch = 0, 0
    while done < steps and active.any():
        n = min(log_every, steps - done)
        trained = np.flatnonzero(active)
        for k in trained:
            lists[k].on_epoch_begin(epoch)
        first, values = run_interval(n, done, active.copy())
        done += n
        steps_done[trained] = done
        if has_callbacks and sync_weights is not None:
            sync_weights(steps_done)
        for k in trained:
            costs[k].append((done - n, float(first[k])))
            logs = {name: float(value[k]) for name, value in values.items()}
            logs["steps"] = done
            lists[k].on_epoch_end(epoch, logs)
            logs_per_model[k].append(logs)
            if models[k].stop_training:
                active[k] = False
        shown_keys = [key for key in logs_per_model[trained[0]][-1] if key != "steps"]
        shown = [
            (key, float(np.mean([logs_per_model[k][-1][key] for k in trained])))
            for key in shown_keys
            if all(key in logs_per_model[k][-1] for k in trained)
        ]
        progress.update(done, shown, final=done >= steps or not active.any())
        epoch += 1
    if sync_weights is not None:
        sync_weights(steps_done)
    for k, callback_list in enumerate(lists):
        callback_list.on_train_end(logs_per_model[k][-1] if logs_per_model[k] else None)
    return costs, logs_per_model, time.perf_counter() - start
