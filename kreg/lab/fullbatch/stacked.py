"""Many small full-batch classifiers trained side by side in one compiled loop.

The football network (2-20-3-1 on 211 examples) is too small to keep a CPU
busy: one model's step is mostly per-op overhead. `fit_full_batch_stacked`
trains K such models at once. Their weights are stacked along a trailing
model axis (a kernel of shape `(in, out)` becomes `(in, out, K)`), so every
operation of a step acts on all K models together, and each model keeps its
own L2 factor, dropout rate, dropout seed and learning rate.

Every sum in a step is written out in a fixed order: the dot products of the
forward and backward passes as a left-to-right sum over the shorter axis,
and the sums over the examples (gradients, cost) as a pairwise tree over the
examples padded to a power of two. Nothing is left to a matrix-multiply
kernel or a reduction emitter, whose summation order may change with the
shapes (with K), and the model axis is padded to a multiple of 16 lanes so
that every model goes through the same vectorized code (a scalar tail may
round the sigmoid differently). Each model's arithmetic is therefore the same whichever
models share the stack and wherever it sits in it: a model trained in a stack
of 64 is bit for bit the model trained alone by this function (tested). The
dropout masks are `InvertedDropout(rng_algorithm="counter_hash")`'s, drawn
from each layer's own seed generator, so a model's masks are the ones it
draws when trained alone by `kreg.lab.fullbatch.fit_full_batch`; the two trainers
then agree to rounding (they sum in different orders), not bit for bit.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

from kreg._retracing import ignore_retracing_warning
from kreg.lab.fullbatch.description import (
    StackedModels,
    counter_hash_keep,
    lanes,
    materialize,
    ordered_dot,
    pad_models,
    tree_sum,
)
from kreg.lab.fullbatch.loop import (
    FullBatchHistory,
    as_tensors,
    check_loop_arguments,
    loop_steps,
    run_intervals,
)

__all__ = ["STACK_FROM", "StackedModels", "fit_full_batch_stacked"]

# From this many models, one stacked call clearly beats training them one by one with
# fit_full_batch on the 2-core development CPU (bench/football_stack.py, 30 000 steps,
# compilation included): a stack of up to 16 takes 11-14 s, one model alone 1.1-1.75 s
# (fused engine), so the break-even is about 8 to 11 models.
STACK_FROM = 16


def _build_stacked_loop(stack, variables, x, y, validation, learning_rates, jit_compile):
    """One compiled call: `num_steps` steps of all K models, then the interval's evaluation."""

    ignore_retracing_warning("_build_stacked_loop.<locals>.run")
    dtype = tf.as_dtype(stack.dtype)
    num_layers, num_models = len(stack.shapes), lanes(stack.num_models)
    factors = tf.constant(pad_models(stack.factors), dtype=dtype)  # (layers, K)
    rates = pad_models(stack.rates())  # (hidden layers, K)
    scales = tf.constant(1.0 / (1.0 - rates), dtype=dtype)  # as InvertedDropout: 1 / (1 - rate)
    states = pad_models(stack.seed_states(), axis=1)  # (hidden layers, K, 2)
    seeds, counters_at_start = tf.constant(states[..., 0]), tf.constant(states[..., 1])
    learning_rates = tf.constant(pad_models(learning_rates), dtype=dtype)  # (K,)

    def masks(shape, position, counters):
        # Every model's InvertedDropout(rng_algorithm="counter_hash") mask, keyed by the pair
        # [seed, counter] of its generator, over the units' row-major indices.
        index = tf.reshape(tf.range(shape[0] * shape[1], dtype=tf.int32), shape)
        index = tf.cast(index, tf.uint32)[:, :, None]
        seed, counter = seeds[position][None, None, :], counters[position][None, None, :]
        return counter_hash_keep(index, seed, counter, rates[position][None, None, :], dtype)

    def forward(inputs, counters=None, always=None):
        """Logits `(m, K)`, and for training (`counters` of the masks) what backprop needs."""
        activations, pre_activations, keeps = [], [], []
        h = inputs[:, :, None, None]  # (m, in, 1, 1): the inputs are the same for every model
        for position in range(num_layers):
            kernel, bias = variables[2 * position], variables[2 * position + 1]
            activations.append(h)
            z = ordered_dot(h[:, :, None, :] if h.shape.rank == 3 else h, kernel[None], 1, 1)
            z = z + bias[None]  # (m, out, K)
            if position == num_layers - 1:
                return z[:, 0, :], (activations, pre_activations, keeps)
            if counters is not None:
                z = materialize(z, always)
            pre_activations.append(z)
            h = tf.nn.relu(z)
            if counters is not None and rates[position].any():
                keep = materialize(masks(h.shape[:2], position, counters), always)
                h = tf.where(keep, h, tf.zeros_like(h)) * scales[position][None, None, :]
            else:
                keep = None  # no model drops units here
            keeps.append(keep)
            if counters is not None:
                h = materialize(h, always)

    def data_loss(logits, targets):
        # Binary cross-entropy from the logits (what Keras computes after a sigmoid).
        softplus = tf.math.log1p(tf.exp(-tf.abs(logits)))
        per_example = tf.nn.relu(logits) - logits * targets + softplus
        return tree_sum(per_example) / float(logits.shape[0])

    def penalty():
        total = None
        for position in range(num_layers):
            squares = tf.reshape(tf.square(variables[2 * position]), [-1, num_models])
            term = factors[position] * tree_sum(squares)
            total = term if total is None else total + term
        return total

    y_column = tf.cast(tf.reshape(y, [-1, 1]), dtype)  # (m, 1): broadcasts over the models

    def one_step(counters, active, always):
        logits, (activations, pre_activations, keeps) = forward(x, counters, always)
        step_penalty = penalty()
        loss = data_loss(logits, y_column) + step_penalty
        # The course's backward pass, every model at once; dz is (m, out, K).
        dz = ((tf.sigmoid(logits) - y_column) / float(x.shape[0]))[:, None, :]
        grads = [None] * (2 * num_layers)
        for position in reversed(range(num_layers)):
            kernel, inputs = variables[2 * position], activations[position]
            if position == 0:
                products = inputs * dz[:, None, :, :]  # (m, in, 1, 1) * (m, 1, out, K)
            else:
                products = inputs[:, :, None, :] * dz[:, None, :, :]
            grads[2 * position] = tree_sum(products) + factors[position] * (2.0 * kernel)
            grads[2 * position + 1] = tree_sum(dz)
            if position == 0:
                break
            da = ordered_dot(dz[:, None, :, :], kernel[None], 2, 2)  # sum over the outputs
            keep = keeps[position - 1]
            if keep is not None:
                da = tf.where(keep, da, tf.zeros_like(da)) * scales[position - 1][None, None, :]
            dz = tf.where(pre_activations[position - 1] > 0, da, tf.zeros_like(da))
            dz = materialize(dz, always)
        for variable, grad in zip(variables, grads):
            # A stopped model keeps its weights exactly.
            variable.assign(tf.where(active, variable - grad * learning_rates, variable))
        return loss, step_penalty

    def accuracy(inputs, targets):
        predicted = tf.cast(tf.sigmoid(forward(inputs)[0]) > 0.5, dtype)
        hits = tf.cast(tf.equal(predicted, tf.cast(tf.reshape(targets, [-1, 1]), dtype)), dtype)
        return tf.reduce_sum(hits, axis=0) / float(inputs.shape[0])  # whole counts: exact

    @tf.function(jit_compile=jit_compile, reduce_retracing=True, autograph=False)
    def run(num_steps, done, active):
        def step(i):
            counters = counters_at_start + done + tf.cast(i, tf.int64)
            return one_step(counters, active, tf.greater_equal(i, 0))

        zero = tf.zeros([num_models], dtype=dtype)
        first, last, last_penalty = loop_steps(num_steps, step, zero)
        logs = {"loss": last, "penalty": last_penalty, "accuracy": accuracy(x, y)}
        if validation is not None:
            x_val, y_val = validation
            y_val_column = tf.cast(tf.reshape(y_val, [-1, 1]), dtype)
            logs["val_loss"] = data_loss(forward(x_val)[0], y_val_column) + penalty()
            logs["val_accuracy"] = accuracy(x_val, y_val)
        return first, logs

    return run


def fit_full_batch_stacked(
    models: Sequence[keras.Model],
    x,
    y,
    *,
    steps: int,
    learning_rate: float | Sequence[float] = 0.3,
    log_every: int = 1000,
    validation_data=None,
    callbacks: Sequence[Sequence[keras.callbacks.Callback] | None] | None = None,
    jit_compile: bool = True,
    verbose="auto",
) -> list[FullBatchHistory]:
    """Train K football-style models with `steps` full-batch gradient-descent steps each, together.

    What `kreg.lab.fullbatch.fit_full_batch` does for one model (gradient descent
    on the mean binary cross-entropy plus the kernels' L2 penalties, fresh
    dropout masks every step, the logs of every `log_every` steps), for K
    models in one compiled loop. Each model keeps its own weights, L2
    factors, dropout rates, dropout seeds and learning rate (see
    `StackedModels` for the models that can be stacked). The trained weights
    are written back into the models and their dropout seed generators
    advance as if each had been trained alone.

    A model's result does not depend on the other models in the stack, or on
    its place in it: bit for bit, it is the model trained by this function
    alone. Compared with `fit_full_batch`, whose matrix products sum in
    another order, the dropout masks are the same and the weights agree to
    rounding.

    Args:
        models: the K Keras models (see `StackedModels`).
        x: inputs, the whole training set, `(m, features)`.
        y: 0/1 targets, `(m,)` or `(m, 1)`.
        steps: gradient steps per model.
        learning_rate: one step size, or one per model.
        log_every: steps per compiled call, per recorded cost and per
            callback epoch.
        validation_data: optional `(x_val, y_val)`; adds `val_loss` and
            `val_accuracy` to every model's logs.
        callbacks: None, or one list of Keras callbacks (or None) per model;
            each list sees its own model's epoch-level logs, with the model's
            weights up to date. A model whose callbacks set
            `model.stop_training` stops there (its weights stay as they are)
            while the others go on.
        jit_compile: compile the loop with XLA (kreg's default, as for
            `fit_full_batch`); False runs the same arithmetic as a plain graph.
        verbose: `"auto"`, 0, 1 or 2, as in `fit_full_batch`; the progress
            shown is the stack's (mean loss and accuracy over the models still
            training).

    Returns:
        One `FullBatchHistory` per model, in order; `seconds` is the time of
        the whole stack, compilation included.
    """

    stack = StackedModels(models)
    num_models = stack.num_models
    verbose = check_loop_arguments(steps, log_every, verbose)
    rates = np.asarray(learning_rate, dtype=np.float64)
    if rates.ndim == 0:
        rates = np.full(num_models, float(rates))
    if rates.shape != (num_models,) or not np.all(np.isfinite(rates)) or np.any(rates <= 0):
        raise ValueError(
            f"`learning_rate` must be one positive number or one per model ({num_models}). "
            f"Received: learning_rate={learning_rate!r}"
        )
    if callbacks is not None and len(callbacks) != num_models:
        raise ValueError(
            f"`callbacks` must hold one list (or None) per model ({num_models}). "
            f"Received: {len(callbacks)} entries"
        )
    dtype = stack.dtype
    x, y, validation = as_tensors(x, y, validation_data, dtype)
    if x.shape.rank != 2 or x.shape[1] != stack.shapes[0][0]:
        raise ValueError(
            f"`x` must be (examples, {stack.shapes[0][0]}) for these models. "
            f"Received: x.shape={tuple(x.shape)}"
        )
    if y.shape.num_elements() != x.shape[0]:
        raise ValueError(
            f"`y` must hold one 0/1 target per example of `x` ({x.shape[0]}). "
            f"Received: y.shape={tuple(y.shape)}"
        )
    variables = [tf.Variable(pad_models(w), dtype=dtype) for w in stack.stacked_weights()]
    run = _build_stacked_loop(stack, variables, x, y, validation, rates, jit_compile)

    def run_interval(n, done, active):
        first, logs = run(
            tf.constant(n), tf.constant(done, tf.int64), tf.constant(pad_models(active))
        )
        values = {name: value.numpy()[:num_models] for name, value in logs.items()}
        return first.numpy()[:num_models], values

    def sync_weights(steps_done):
        stack.write_back([v.numpy()[..., :num_models] for v in variables], steps_done)

    costs, logs, seconds = run_intervals(
        run_interval,
        stack.models,
        callbacks if callbacks is not None else [None] * num_models,
        steps=steps,
        log_every=log_every,
        verbose=verbose,
        sync_weights=sync_weights,
        label=f"{num_models} models (mean) - ",
    )
    return [
        FullBatchHistory(costs=costs[k], logs=logs[k], seconds=seconds, engine="stacked")
        for k in range(num_models)
    ]
