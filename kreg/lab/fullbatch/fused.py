"""One small classifier's full-batch step written out for XLA: `fit_full_batch`'s fused engine.

A Keras model's training step, compiled by XLA, carries the cost of Keras's
general machinery: the layers' calls, the loss, the gradient tape and the
optimizer add about 6 us to the football model's 25 us step and about 0.3 s
to its compilation (`bench/football_speed.py`, docs/benchmarks.md). For the
models `kreg.lab.fullbatch.stacked.StackedModels` accepts (Dense layers with ReLU, one
sigmoid unit, `InvertedDropout(rng_algorithm="counter_hash")`, fixed L2 on
kernels) trained by plain gradient descent on the binary cross-entropy, the
step is short enough to write out: the forward pass as matrix products with
the examples on the last axis (the course's layout, which XLA runs faster
here than examples-first), the course's backward pass, and the update. The
masks are the layer's own (the same hash of the same seed-generator state),
and the loss is computed only at the steps whose value is reported.

The arithmetic is the Keras path's in another order: the weights agree with
`fit_full_batch(engine="keras")` to rounding (tested), not bit for bit.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from kreg._retracing import ignore_retracing_warning
from kreg.lab.fullbatch.description import StackedModels, counter_hash_keep, materialize

__all__ = ["ENGINES", "fused_problem", "build_fused_loop"]

ENGINES = ("auto", "keras", "fused")

_BINARY_CROSSENTROPY = ("binary_crossentropy", keras.losses.binary_crossentropy)


def fused_problem(model: keras.Model, optimizer, loss) -> str | None:
    """Why `fit_full_batch` cannot train `model` with the fused engine, or None if it can.

    Args:
        model: the Keras model.
        optimizer: `fit_full_batch`'s `optimizer` (None means SGD).
        loss: `fit_full_batch`'s `loss`.
    """
    try:
        spec = StackedModels([model])
    except ValueError as error:
        return str(error)
    if spec.dtype not in ("float32", "float64"):
        return f"the fused engine computes in float32 or float64. Received: {spec.dtype}"
    for layer in model.layers:
        policy = layer.dtype_policy
        if policy.compute_dtype != policy.variable_dtype:
            return (
                f"the fused engine needs one dtype per layer. Received: {layer.name} with "
                f"dtype policy {policy.name}"
            )
    if not _is_binary_crossentropy(loss):
        return f"the fused engine minimises the binary cross-entropy. Received: loss={loss!r}"
    if optimizer is not None and _sgd_learning_rate(optimizer) is None:
        return (
            "the fused engine runs plain gradient descent: `keras.optimizers.SGD` with a "
            "constant learning rate, no momentum, weight decay, clipping, EMA or gradient "
            f"accumulation. Received: {optimizer!r}"
        )
    return None


def _is_binary_crossentropy(loss) -> bool:
    if isinstance(loss, str) or (callable(loss) and not isinstance(loss, keras.losses.Loss)):
        return any(loss is name or loss == name for name in _BINARY_CROSSENTROPY)
    if type(loss) is keras.losses.BinaryCrossentropy:
        config = loss.get_config()
        return (
            not config["from_logits"]
            and config["label_smoothing"] == 0
            and config["axis"] == -1
            and config["reduction"] == "sum_over_batch_size"
        )
    return False


def _sgd_learning_rate(optimizer) -> float | None:
    """The constant step size of a plain `keras.optimizers.SGD`, else None."""
    if type(optimizer) is not keras.optimizers.SGD:
        return None
    plain = (
        optimizer.momentum == 0
        and not optimizer.nesterov
        and not optimizer.weight_decay
        and optimizer.clipnorm is None
        and optimizer.clipvalue is None
        and optimizer.global_clipnorm is None
        and not optimizer.use_ema
        and not optimizer.gradient_accumulation_steps
        # A schedule's config is a dict (its class and arguments), a constant's a float.
        and not isinstance(optimizer.get_config()["learning_rate"], dict)
    )
    return float(optimizer.learning_rate) if plain else None


def build_fused_loop(model, optimizer, learning_rate, x, y, validation, jit_compile):
    """`fit_full_batch`'s compiled call for an eligible model (see `fused_problem`).

    Returns `run(num_steps) -> (first loss, logs)`, as the Keras engine's: the
    call trains `num_steps` steps, writes the weights into the model's
    variables, advances the dropout layers' seed generators and the
    optimizer's step counter by `num_steps`, and evaluates the interval's logs.
    """
    ignore_retracing_warning("build_fused_loop.<locals>.run")
    spec = StackedModels([model])
    dense, dropout = spec.dense[0], spec.dropout[0]
    num_layers = len(dense)
    dtype = tf.as_dtype(spec.dtype)
    factors = [float(f) for f in spec.factors[:, 0]]
    if optimizer is not None:
        learning_rate = _sgd_learning_rate(optimizer)
    # As the Keras optimizer: the step size in the variables' dtype.
    learning_rate = tf.constant(learning_rate, dtype=dtype)
    kernels = [layer.kernel for layer in dense]
    biases = [layer.bias for layer in dense]
    dropping = [layer if layer is not None and layer.rate > 0 else None for layer in dropout]
    generators = [layer.seed_generator.state for layer in dropping if layer is not None]

    def transposed(inputs, targets):
        # Examples on the last axis: activations are (units, m).
        inputs, targets = tf.cast(inputs, dtype), tf.cast(targets, dtype)
        return tf.transpose(inputs), tf.reshape(targets, [1, -1])

    if x.shape.rank != 2 or x.shape[1] != spec.shapes[0][0]:
        raise ValueError(
            f"`x` must be (examples, {spec.shapes[0][0]}) for this model. "
            f"Received: x.shape={tuple(x.shape)}"
        )
    x_t, y_t = transposed(x, y)
    num_examples = x_t.shape[1]

    def keep_mask(layer, units, seed):
        # The unit's row-major index in the (m, units) activation; activations here are
        # (units, m), so the indices are transposed.
        index = tf.transpose(tf.reshape(tf.range(num_examples * units), [num_examples, units]))
        return counter_hash_keep(tf.cast(index, tf.uint32), seed[0], seed[1], layer.rate, dtype)

    def logits(weights, inputs, seeds=None, always=None):
        """Output logits `(1, m)`, and for training what the backward pass needs.

        `always` is a run-time True (see `kreg.lab.fullbatch.description.materialize`).
        """
        activations, pre_activations, keeps = [], [], []
        h = inputs
        for position in range(num_layers):
            kernel, bias = weights[2 * position], weights[2 * position + 1]
            activations.append(h)
            z = tf.matmul(kernel, h, transpose_a=True) + bias[:, None]
            if position == num_layers - 1:
                return z, (activations, pre_activations, keeps)
            pre_activations.append(z)
            h = tf.nn.relu(z)
            layer = dropping[position]
            keep = None
            if seeds is not None and layer is not None:
                keep = keep_mask(layer, z.shape[0], seeds[position])
                if jit_compile:
                    # Computed once: fused into each consumer, the hash ran twice (~6 us a
                    # step). A plain graph computes it once anyway, and its cond is slow.
                    keep = materialize(keep, always)
                h = tf.where(keep, h, tf.zeros_like(h)) * _scale(layer, dtype)
            keeps.append(keep)

    def penalty(weights):
        total = tf.zeros((), dtype)
        for position, factor in enumerate(factors):
            if factor:
                total += factor * tf.reduce_sum(tf.square(weights[2 * position]))
        return total

    def losses(weights, z, targets):
        # Binary cross-entropy from the logits, as Keras computes it after a sigmoid.
        per_example = tf.nn.relu(z) - z * targets + tf.math.log1p(tf.exp(-tf.abs(z)))
        step_penalty = penalty(weights)
        return tf.reduce_mean(per_example) + step_penalty, step_penalty

    def one_step(i, num_steps, weights, seeds):
        always = tf.greater_equal(i, 0)
        z, (activations, pre_activations, keeps) = logits(weights, x_t, seeds, always)
        # The loss is reported for the interval's first and last steps only.
        loss, step_penalty = tf.cond(
            tf.logical_or(tf.equal(i, 0), tf.equal(i, num_steps - 1)),
            lambda: losses(weights, z, y_t),
            lambda: (tf.zeros((), dtype), tf.zeros((), dtype)),
        )
        dz = (tf.sigmoid(z) - y_t) / float(num_examples)
        new = list(weights)
        for position in reversed(range(num_layers)):
            kernel = weights[2 * position]
            grad = tf.matmul(activations[position], dz, transpose_b=True)
            if factors[position]:
                grad += factors[position] * (2.0 * kernel)
            if position > 0:
                da = tf.matmul(kernel, dz)
                keep = keeps[position - 1]
                if keep is not None:
                    da = tf.where(keep, da, tf.zeros_like(da)) * _scale(
                        dropping[position - 1], dtype
                    )
                dz_below = tf.where(pre_activations[position - 1] > 0, da, tf.zeros_like(da))
            new[2 * position] = kernel - learning_rate * grad
            new[2 * position + 1] = weights[2 * position + 1] - learning_rate * tf.reduce_sum(
                dz, axis=1
            )
            if position > 0:
                dz = dz_below
        return new, loss, step_penalty

    @tf.function(jit_compile=jit_compile, reduce_retracing=True, autograph=False)
    def run(num_steps):
        start = [tf.convert_to_tensor(v) for pair in zip(kernels, biases) for v in pair]
        # Each dropout layer's generator state [seed, counter] at the interval's start.
        seeds_at_start = [
            None
            if layer is None
            else tf.cast(tf.convert_to_tensor(layer.seed_generator.state), tf.int64)
            for layer in dropping
        ]
        zero = tf.zeros((), dtype)

        def body(i, weights, first, _last, _penalty):
            step = tf.stack([tf.constant(0, tf.int64), tf.cast(i, tf.int64)])
            seeds = [None if s is None else s + step for s in seeds_at_start]
            weights, loss, step_penalty = one_step(i, num_steps, weights, seeds)
            first = tf.where(tf.equal(i, 0), loss, first)
            return i + 1, weights, first, loss, step_penalty

        _, weights, first, last, last_penalty = tf.while_loop(
            lambda i, *_: i < num_steps,
            body,
            (tf.constant(0), start, zero, zero, zero),
            parallel_iterations=1,
        )
        for variable, value in zip([v for pair in zip(kernels, biases) for v in pair], weights):
            variable.assign(value)
        for state in generators:
            state.assign_add(
                tf.stack([tf.zeros((), state.dtype), tf.cast(num_steps, state.dtype)])
            )
        if optimizer is not None:
            optimizer.iterations.assign_add(tf.cast(num_steps, optimizer.iterations.dtype))
        return first, last, last_penalty

    # The interval's evaluation runs on the host: compiled into the loop's call it
    # cost ~0.1 s of tracing and XLA compilation (8 to 10 % of a 30 000-step run),
    # far more than 30 evaluations of a 211-example forward pass in numpy.
    x_host, y_host = x_t.numpy(), y_t.numpy()
    validation_host = None
    if validation is not None:
        validation_host = tuple(t.numpy() for t in transposed(*validation))

    def run_interval(num_steps):
        first, last, last_penalty = run(num_steps)
        weights = [keras.ops.convert_to_numpy(v) for pair in zip(kernels, biases) for v in pair]
        logs = {"loss": last, "penalty": last_penalty, **_evaluate(weights, x_host, y_host)}
        if validation_host is not None:
            val = _evaluate(weights, *validation_host, factors)
            logs["val_loss"], logs["val_accuracy"] = val["loss"], val["accuracy"]
        return first, logs

    return run_interval


def _evaluate(weights, inputs, targets, factors=None) -> dict:
    """Inference-mode accuracy (and with `factors` the loss) of the weights, in numpy.

    `inputs` and `targets` have the examples on the last axis.
    """
    h = inputs
    num_layers = len(weights) // 2
    for position in range(num_layers):
        h = weights[2 * position].T @ h + weights[2 * position + 1][:, None]
        if position < num_layers - 1:
            h = np.maximum(h, 0)
    with np.errstate(over="ignore"):
        prob = 1 / (1 + np.exp(-h))
    logs = {"accuracy": float(np.mean((prob > 0.5).astype(targets.dtype) == targets))}
    if factors is not None:
        data_loss = np.mean(np.maximum(h, 0) - h * targets + np.log1p(np.exp(-np.abs(h))))
        penalty = sum(f * np.sum(np.square(w)) for f, w in zip(factors, weights[::2]) if f)
        logs["loss"] = float(data_loss + penalty)
    return logs


def _scale(layer, dtype):

    return tf.constant(1.0 / (1.0 - layer.rate), dtype)
