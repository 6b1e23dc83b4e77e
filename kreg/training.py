"""Full-batch training that runs many gradient steps per compiled call.

`model.fit` runs one Python-level step per batch; with one full batch per
step, a 30 000-step run is 30 000 Keras epochs (about 30 ms each here). The
course's numpy loop takes about 70 us per step. `fit_full_batch` compiles a
loop of `steps_per_call` complete steps (forward, loss with the model's
regularization losses, backward, optimizer update, fresh dropout masks) into
one TensorFlow graph and calls it once per logging interval. For the
football-style models that `kreg.fused` can write out (the common case of
the course), the step is its fused matrix-product form rather than the Keras
model's own call, loss, tape and optimizer: the same training, faster.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import sys
import time

import keras
import numpy as np

from kreg._quiet import ignore_retracing_warning

__all__ = ["PRECISIONS", "FullBatchHistory", "fit_full_batch", "floatx_scope", "precision_scope"]

# Keras dtype policies for convnet training: float32, or mixed precision (float32 variables).
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")


@contextlib.contextmanager
def floatx_scope(dtype: str):
    """Set `keras.config.floatx()` to `dtype` inside the block, then restore it.

    A float64 model is not enough for float64 arithmetic in Keras: Python
    floats such as an `L2` factor become `floatx()` tensors before they are
    cast (0.7 / 422 loses 2e-8 of its value as float32), and an optimizer's
    learning rate is a `floatx()` variable (0.3 becomes 0.30000001192...).
    Build the model and the optimizer, and train, inside this scope.
    """
    previous, previous_policy = keras.config.floatx(), keras.config.dtype_policy()
    keras.config.set_floatx(dtype)
    # Keras caches its global dtype policy the first time it is read: set and restore it
    # too, or a layer built after the block could still get `dtype`.
    keras.config.set_dtype_policy(dtype)
    try:
        yield
    finally:
        keras.config.set_floatx(previous)
        keras.config.set_dtype_policy(previous_policy)


@contextlib.contextmanager
def precision_scope(precision: str):
    """Build models inside the block under the Keras dtype policy `precision`, then restore it.

    `"mixed_bfloat16"` computes in bfloat16 with float32 variables (fast on
    CPUs with `avx512_bf16` and on recent GPUs); `"mixed_float16"` is for
    GPUs, and Keras's `compile` then scales the loss. kreg keeps what
    regularization needs in float32: the L2 penalty (computed from the float32
    kernels), dropout masks (drawn from float32 uniforms, so the same as in a
    float32 run), and `vgg_cifar10`'s softmax and so the loss.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"`precision` must be one of {PRECISIONS}. Received: {precision!r}")
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


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


def _build_step_loop(model, loss_fn, optimizer, x, y, validation, jit_compile):
    """One compiled call: `num_steps` training steps, then the interval's evaluation."""
    import tensorflow as tf

    # Every fit_full_batch call compiles a loop for its own model from this function.
    ignore_retracing_warning("_build_step_loop.<locals>.run")
    variables = model.trainable_variables

    def losses(inputs, targets, training):
        data_loss = loss_fn(targets, model(inputs, training=training))
        penalty = tf.add_n(model.losses) if model.losses else tf.zeros_like(data_loss)
        return data_loss + penalty, penalty

    def one_step():
        with tf.GradientTape() as tape:
            loss, penalty = losses(x, y, training=True)
        grads = tape.gradient(loss, variables)
        optimizer.apply(grads, variables)
        return loss, penalty

    def accuracy(inputs, targets):
        prob = model(inputs, training=False)
        if prob.shape[-1] == 1:
            hits = tf.equal(
                tf.cast(prob > 0.5, targets.dtype), tf.reshape(targets, tf.shape(prob))
            )
        else:
            predicted = tf.argmax(prob, axis=-1, output_type=tf.int64)
            hits = tf.equal(predicted, tf.cast(tf.reshape(targets, [-1]), tf.int64))
        return tf.reduce_mean(tf.cast(hits, tf.float64))

    # Evaluating inside the same compiled call saves ~20 ms of eager work per interval.
    # The loop is an explicit tf.while_loop, so AutoGraph has nothing to convert; skipping
    # it saves about a third of the trace time.
    @tf.function(jit_compile=jit_compile, reduce_retracing=True, autograph=False)
    def run(num_steps):
        # One copy of the step, in the loop body: peeling the first step out of the loop
        # (to record its cost) doubled the graph and cost ~0.5 s of XLA compilation.
        zero = tf.zeros((), dtype=x.dtype)
        first, last, penalty = loop_steps(num_steps, lambda i: one_step(), zero)
        logs = {"loss": last, "penalty": penalty, "accuracy": accuracy(x, y)}
        if validation is not None:
            x_val, y_val = validation
            logs["val_loss"] = losses(x_val, y_val, training=False)[0]
            logs["val_accuracy"] = accuracy(x_val, y_val)
        return first, logs

    return run


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
    import tensorflow as tf

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
            products (`kreg.fused`): for football-style models (Dense layers
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
    import tensorflow as tf

    from kreg.fused import ENGINES, build_fused_loop, fused_problem

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
    x = tf.convert_to_tensor(np.asarray(x), dtype=dtype)
    y = tf.convert_to_tensor(np.asarray(y), dtype=dtype)
    if x.shape[0] != y.shape[0]:
        raise ValueError(
            f"`x` and `y` must hold the same number of examples. "
            f"Received: x.shape={tuple(x.shape)}, y.shape={tuple(y.shape)}"
        )
    validation = None
    if validation_data is not None:
        x_val, y_val = validation_data
        validation = (
            tf.convert_to_tensor(np.asarray(x_val), dtype=dtype),
            tf.convert_to_tensor(np.asarray(y_val), dtype=dtype),
        )
    if engine == "fused":
        if optimizer is not None:
            optimizer.build(model.trainable_variables)
        run = build_fused_loop(model, optimizer, learning_rate, x, y, validation, jit_compile)
    else:
        if optimizer is None:
            optimizer = keras.optimizers.SGD(learning_rate=learning_rate)
        optimizer.build(model.trainable_variables)
        run = _build_step_loop(model, _mean_loss(loss), optimizer, x, y, validation, jit_compile)

    callback_list = keras.callbacks.CallbackList(
        callbacks,
        add_history=False,
        add_progbar=False,
        model=model,
        epochs=math.ceil(steps / log_every),
        steps=log_every,
        verbose=0,
    )
    progress = IntervalProgress(steps, verbose)
    costs, logs_per_epoch = [], []
    model.stop_training = False
    start = time.perf_counter()
    callback_list.on_train_begin()
    done, epoch = 0, 0
    while done < steps and not model.stop_training:
        n = min(log_every, steps - done)
        callback_list.on_epoch_begin(epoch)
        first, step_logs = run(tf.constant(n))
        costs.append((done, float(first)))
        done += n
        logs = {name: float(value) for name, value in step_logs.items()}
        logs["steps"] = done
        callback_list.on_epoch_end(epoch, logs)
        logs_per_epoch.append(logs)
        shown = [(k, v) for k, v in logs.items() if k != "steps"]
        progress.update(done, shown, final=done >= steps or model.stop_training)
        epoch += 1
    callback_list.on_train_end(logs_per_epoch[-1] if logs_per_epoch else None)
    seconds = time.perf_counter() - start
    return FullBatchHistory(costs=costs, logs=logs_per_epoch, seconds=seconds, engine=engine)
