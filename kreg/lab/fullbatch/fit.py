"""Full-batch training that runs many gradient steps per compiled call.

`model.fit` runs one Python-level step per batch; with one full batch per
step, a 30 000-step run is 30 000 Keras epochs (about 30 ms each here). The
course's numpy loop takes about 70 us per step. `fit_full_batch` compiles a
loop of `steps_per_call` complete steps (forward, loss with the model's
regularization losses, backward, optimizer update, fresh dropout masks) into
one TensorFlow graph and calls it once per logging interval. For the
football-style models that `kreg.lab.fullbatch.fused` can write out (the common case of
the course), the step is its fused matrix-product form rather than the Keras
model's own call, loss, tape and optimizer: the same training, faster.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from kreg.lab.fullbatch.fused import ENGINES, build_fused_loop, fused_problem
from kreg.lab.fullbatch.keras_step import build_keras_loop
from kreg.lab.fullbatch.loop import (
    FullBatchHistory,
    as_tensors,
    check_loop_arguments,
    run_intervals,
)

__all__ = ["fit_full_batch"]


def _mean_loss(loss):
    loss_fn = keras.losses.get(loss)
    if isinstance(loss_fn, keras.losses.Loss):
        return loss_fn
    # A plain loss function returns one value per example; fit averages them.
    return lambda y_true, y_pred: keras.ops.mean(loss_fn(y_true, y_pred))


def fit_full_batch(
    model: keras.Model,
    x,
    y,
    *,
    steps: int,
    optimizer: keras.optimizers.Optimizer | None = None,
    learning_rate: float = 0.3,
    loss="binary_crossentropy",
    log_every: int = 1000,
    validation_data=None,
    callbacks=None,
    jit_compile: bool = True,
    verbose="auto",
    engine: str = "auto",
) -> FullBatchHistory:
    """Train `model` with `steps` full-batch gradient steps on `(x, y)`.

    Each step uses the whole of `x`: forward pass in training mode (dropout
    layers draw fresh masks every step), the loss plus `model.losses`
    (so `kernel_regularizer` penalties count exactly as in `model.fit`), the
    gradient, and one optimizer update. `log_every` steps run inside one
    compiled call; between calls the cost is recorded and the callbacks get
    epoch-level logs, one "epoch" per interval.

    Args:
        model: a built Keras model.
        x: inputs, the whole training set.
        y: targets, the whole training set.
        steps: number of gradient steps.
        optimizer: a Keras optimizer or its name (`"adam"`); None uses
            `keras.optimizers.SGD(learning_rate)`, the course's gradient
            descent.
        learning_rate: used when `optimizer` is None.
        loss: a Keras loss (name or callable) with mean reduction.
        log_every: steps per compiled call, per recorded cost and per
            callback epoch.
        validation_data: optional `(x_val, y_val)`; adds `val_loss` and
            `val_accuracy` to the logs.

    The logs of each interval hold `loss` (the last step's training loss,
    regularization included), `penalty` (that step's regularization part),
    `accuracy` (on the whole training set in
    inference mode after the interval), `val_loss` and `val_accuracy` with
    validation data, and `steps` (steps done so far).
        callbacks: Keras callbacks; they see `on_train_begin`,
            `on_epoch_begin/end` per interval and `on_train_end`, and may stop
            training with `model.stop_training = True`.
        jit_compile: compile the loop with XLA. On this project's CPU, XLA
            runs the football model's step about 3x faster than the plain
            graph (whose per-op dispatch dominates tiny matrices); pass False
            for models where XLA is slower (it made a small convnet 6x
            slower here).
        verbose: `"auto"`, 0, 1 or 2, as in `model.fit` with one "epoch" per
            `log_every` steps: 0 is silent, 1 a progress bar over the steps
            (updated after every interval), 2 one line per interval.
            `"auto"` is 1 when standard output is a terminal and 0 otherwise
            (a bar redrawn with carriage returns is unreadable in a log file).
        engine: `"keras"` runs the Keras model's own step (its layers,
            `model.losses`, a gradient tape and `optimizer.apply`): any model,
            loss and optimizer. `"fused"` runs the step written out as matrix
            products (`kreg.lab.fullbatch.fused`): for football-style models (Dense layers
            with ReLU, one sigmoid unit, `InvertedDropout` with
            `rng_algorithm="counter_hash"`, fixed L2 on kernels) trained by
            plain SGD on the binary cross-entropy; the same masks, the weights
            equal to the Keras engine's to rounding, in 0.67 to 0.84 of its
            time for the football model (`bench/football_speed.py`). `"auto"` (default)
            takes the fused engine when the model, loss and optimizer allow it
            and `jit_compile` is True (without XLA it is no faster).

    Returns:
        A `FullBatchHistory`.
    """

    verbose = check_loop_arguments(steps, log_every, verbose)
    if engine not in ENGINES:
        raise ValueError(f"`engine` must be one of {ENGINES}. Received: engine={engine!r}")
    if optimizer is not None:
        optimizer = keras.optimizers.get(optimizer)  # a name, as `model.compile` takes
    if engine == "fused" or (engine == "auto" and jit_compile):
        problem = fused_problem(model, optimizer, loss)
        if problem is not None and engine == "fused":
            raise ValueError(f"engine='fused' cannot train this model: {problem}")
        engine = "keras" if problem is not None else "fused"
    else:
        engine = "keras"
    dtype = model.inputs[0].dtype if getattr(model, "inputs", None) else keras.config.floatx()
    x, y, validation = as_tensors(x, y, validation_data, dtype)
    if x.shape[0] != y.shape[0]:
        raise ValueError(
            f"`x` and `y` must hold the same number of examples. "
            f"Received: x.shape={tuple(x.shape)}, y.shape={tuple(y.shape)}"
        )
    if engine == "fused":
        if optimizer is not None:
            optimizer.build(model.trainable_variables)
        run = build_fused_loop(model, optimizer, learning_rate, x, y, validation, jit_compile)
    else:
        if optimizer is None:
            optimizer = keras.optimizers.SGD(learning_rate=learning_rate)
        optimizer.build(model.trainable_variables)
        run = build_keras_loop(model, _mean_loss(loss), optimizer, x, y, validation, jit_compile)

    def run_interval(n, _done, _active):
        first, logs = run(tf.constant(n))
        return [float(first)], {name: [float(value)] for name, value in logs.items()}

    costs, logs, seconds = run_intervals(
        run_interval, [model], [callbacks], steps=steps, log_every=log_every, verbose=verbose
    )
    return FullBatchHistory(costs=costs[0], logs=logs[0], seconds=seconds, engine=engine)
