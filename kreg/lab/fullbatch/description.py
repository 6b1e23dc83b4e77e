"""What the fused and stacked engines train: football-style models, read and checked once.

`StackedModels` reads K Keras models (one, for the fused engine) into the
numbers the engines need: Dense shapes, L2 factors, dropout rates and seed
states. The helpers below are the engines' shared arithmetic: the
counter-hash keep-mask of `InvertedDropout(rng_algorithm="counter_hash")`,
fixed-order sums, and the fusion boundary that keeps XLA from recomputing a
mask in each of its consumers.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

from kreg.counter_rng import hash_bits_from_keys, hash_keys, hash_uniform_from_keys
from kreg.layers import InvertedDropout

__all__ = [
    "LANES",
    "StackedModels",
    "counter_hash_keep",
    "lanes",
    "materialize",
    "ordered_dot",
    "pad_models",
    "tree_sum",
]


def counter_hash_keep(index, seed, counter, rate, dtype):
    """`InvertedDropout(rng_algorithm="counter_hash")`'s keep-mask for the units `index`.

    `index` holds each unit's row-major position in the layer's
    `(examples, units)` activation (uint32); `seed` and `counter` are the
    generator's state words (tensors broadcasting with `index`, one pair per
    model when stacked); `rate` a float or a NumPy array broadcasting the same
    way. In float64 the test `bits * 2**-32 >= rate` is made in integers,
    `bits >= ceil(rate * 2**32)`: the same mask without converting each word.
    """
    k0, k1 = hash_keys(seed, counter)
    if dtype == tf.float64:
        bits = tf.cast(hash_bits_from_keys(index, k0, k1), tf.int64)
        integer_rate = tf.constant(np.ceil(np.asarray(rate) * 2.0**32).astype(np.int64))
        return tf.greater_equal(bits, integer_rate)
    uniform = hash_uniform_from_keys(index, k0, k1, dtype)
    return tf.greater_equal(uniform, tf.constant(np.asarray(rate), dtype))


# The model axis is padded to a multiple of this many lanes (copies of the last model), so
# every model's numbers are computed by the same vectorized code whatever K is: a vector
# unit's scalar tail can round transcendental functions (the sigmoid) differently.
LANES = 16


def lanes(num_models: int) -> int:
    return -(-num_models // LANES) * LANES


def pad_models(array, axis: int = -1):
    """`array` with its model axis padded to `lanes(K)` by repeating the last model."""
    array = np.asarray(array)
    num_models = array.shape[axis]
    index = np.minimum(np.arange(lanes(num_models)), num_models - 1)
    return np.take(array, index, axis=axis)


def tree_sum(x, axis: int = 0):
    """Sum `x` over `axis` as a pairwise tree in a fixed order (zeros pad it to a power of two)."""

    x = tf.convert_to_tensor(x)
    if axis != 0:
        x = tf.experimental.numpy.moveaxis(x, axis, 0)
    n = x.shape[0]
    size = 1 << max(0, (n - 1).bit_length())
    if size != n:
        padding = [[0, size - n]] + [[0, 0]] * (x.shape.rank - 1)
        x = tf.pad(x, padding)
    while size > 1:
        size //= 2
        x = x[:size] + x[size:]
    return x[0]


def materialize(x, always):
    """`x`, computed once into a buffer.

    XLA fuses cheap elementwise producers into each of their consumers, so a
    dropout mask or an activation used by several products would be computed
    again inside each (measured: 10x slower steps with 64 models). A
    conditional is a fusion boundary; `always` is a run-time True, and the
    other branch is never taken.
    """

    never = (lambda: tf.logical_not(x)) if x.dtype == tf.bool else (lambda: -x)
    return tf.cond(always, lambda: x, never)


def ordered_dot(a, b, a_axis: int, b_axis: int):
    """`sum_i a[..., i, ...] * b[..., i, ...]`, the terms added left to right.

    `a_axis` and `b_axis` index the summed axis of each operand, whose other
    axes must broadcast against each other once that axis is removed.
    """

    total = None
    for i in range(a.shape[a_axis]):
        term = tf.gather(a, i, axis=a_axis) * tf.gather(b, i, axis=b_axis)
        total = term if total is None else total + term
    return total


class StackedModels:
    """The layer settings of K football-style models, read and checked for stacking.

    Each model must be a Keras `Sequential`-style stack of `Dense` layers,
    ReLU on the hidden ones and one sigmoid unit at the output, with
    optionally a `kreg.layers.InvertedDropout(rng_algorithm="counter_hash")`
    after a hidden layer and a `keras.regularizers.L2` (kreg's or Keras's,
    not schedulable) on any kernel, as `kreg.models.football_classifier`
    builds with `dropout_layer="kreg-hash"`. All models must have the same
    Dense shapes and dtype; their factors, rates and seeds may differ (a model
    without a dropout layer is a model with rate 0).

    Args:
        models: the K Keras models.
    """

    def __init__(self, models: Sequence[keras.Model]):
        models = list(models)
        if not models:
            raise ValueError("`models` must hold at least one model. Received: []")
        self.models = models
        self.dense = [self._dense_layers(index, model) for index, model in enumerate(models)]
        shapes = [tuple(tuple(layer.kernel.shape) for layer in dense) for dense in self.dense]
        for index, shape in enumerate(shapes):
            if shape != shapes[0]:
                raise ValueError(
                    f"Every model must have the same Dense kernel shapes; model 0 has "
                    f"{shapes[0]} and model {index} has {shape}."
                )
        self.shapes = shapes[0]
        dtypes = {keras.backend.standardize_dtype(d[0].kernel.dtype) for d in self.dense}
        if len(dtypes) != 1:
            raise ValueError(f"Every model must have the same dtype. Received: {sorted(dtypes)}")
        self.dtype = dtypes.pop()
        self.factors = np.array(
            [[self._l2_factor(layer) for layer in dense] for dense in self.dense]
        ).T  # (layers, K)
        self.dropout = [self._dropout_layers(index, model) for index, model in enumerate(models)]

    @property
    def num_models(self) -> int:
        return len(self.models)

    def _dense_layers(self, index, model):
        dense, previous_dense = [], False
        for layer in model.layers:
            if isinstance(layer, keras.layers.Dense):
                dense.append(layer)
                previous_dense = True
            elif isinstance(layer, InvertedDropout):
                if not previous_dense:
                    raise ValueError(
                        f"model {index} ({model.name}): a dropout layer must follow a hidden "
                        f"Dense layer. Received: {layer.name} after a non-Dense layer"
                    )
                previous_dense = False
            else:
                raise ValueError(
                    f"model {index} ({model.name}): only Dense layers and kreg's "
                    "InvertedDropout(rng_algorithm='counter_hash') can be stacked. Received: "
                    f"{layer.name} ({type(layer).__name__})"
                )
        if len(dense) < 2:
            raise ValueError(
                f"model {index} ({model.name}) must have at least two Dense layers. "
                f"Received: {len(dense)}"
            )
        for layer in dense[:-1]:
            if layer.activation is not keras.activations.relu:
                raise ValueError(
                    f"model {index} ({model.name}): hidden Dense layers must use ReLU. "
                    f"Received: {layer.name} with {layer.activation.__name__}"
                )
        output = dense[-1]
        if output.activation is not keras.activations.sigmoid or output.units != 1:
            raise ValueError(
                f"model {index} ({model.name}): the last Dense layer must be one sigmoid unit. "
                f"Received: {output.name} with {output.units} units and "
                f"{output.activation.__name__}"
            )
        for layer in dense:
            problem = None
            if not layer.use_bias:
                problem = "use_bias=False (every Dense layer needs a bias)"
            elif not layer.trainable:
                problem = "trainable=False (every Dense layer is trained)"
            elif layer.kernel_constraint is not None or layer.bias_constraint is not None:
                problem = "a weight constraint (not applied by this trainer)"
            elif getattr(layer, "lora_enabled", False):
                problem = "LoRA enabled"
            if problem is not None:
                raise ValueError(
                    f"model {index} ({model.name}): only plain Dense layers can be trained "
                    f"here. Received: {layer.name} with {problem}"
                )
        return dense

    def _l2_factor(self, layer) -> float:
        regularizer = layer.kernel_regularizer
        if regularizer is None:
            return 0.0
        if not isinstance(regularizer, keras.regularizers.L2) or getattr(
            regularizer, "schedulable", False
        ):
            raise ValueError(
                "Stacked training needs a fixed `keras.regularizers.L2` (or kreg's L2 without "
                f"`schedulable`) as kernel regularizer. Received: {regularizer!r} on {layer.name}"
            )
        if layer.bias_regularizer is not None or layer.activity_regularizer is not None:
            raise ValueError(
                f"Stacked training regularizes kernels only. Received: a bias or activity "
                f"regularizer on {layer.name}"
            )
        return float(regularizer.l2)

    def _dropout_layers(self, index, model):
        """One entry per hidden Dense layer: the dropout layer after it, or None."""
        after, hidden = [], 0
        layers = model.layers
        for position, layer in enumerate(layers):
            if isinstance(layer, keras.layers.Dense):
                following = layers[position + 1] if position + 1 < len(layers) else None
                if hidden < len(self.shapes) - 1:
                    after.append(following if isinstance(following, InvertedDropout) else None)
                hidden += 1
        for layer in after:
            if layer is None:
                continue
            problem = None
            if layer.rng_algorithm != "counter_hash":
                problem = f"rng_algorithm={layer.rng_algorithm!r}"
            elif layer.schedulable:
                problem = "schedulable=True"
            elif layer.noise_shape is not None:
                problem = f"noise_shape={layer.noise_shape}"
            elif not 0 <= layer.rate < 1:
                problem = f"rate={layer.rate}"
            if problem is not None:
                raise ValueError(
                    f"model {index} ({model.name}): stacked dropout needs "
                    "InvertedDropout(rng_algorithm='counter_hash') with a fixed rate in [0, 1) "
                    f"and no noise_shape. Received: {layer.name} with {problem}"
                )
        return after

    def rates(self) -> np.ndarray:
        """Dropout rates, `(hidden layers, K)`."""
        return np.array(
            [[0.0 if d is None else float(d.rate) for d in dropout] for dropout in self.dropout]
        ).T

    def seed_states(self) -> np.ndarray:
        """Dropout seed generator states `[seed, counter]`, `(hidden layers, K, 2)`."""
        states = np.zeros((len(self.shapes) - 1, self.num_models, 2), dtype=np.int64)
        for k, dropout in enumerate(self.dropout):
            for layer_index, layer in enumerate(dropout):
                if layer is not None and layer.rate > 0:
                    states[layer_index, k] = keras.ops.convert_to_numpy(layer.seed_generator.state)
        return states

    def stacked_weights(self) -> list[np.ndarray]:
        """`[W1, b1, W2, b2, ...]` with the model axis last: `(in, out, K)` and `(out, K)`."""
        weights = []
        for position in range(len(self.shapes)):
            layers = [dense[position] for dense in self.dense]
            for name in ("kernel", "bias"):
                values = [keras.ops.convert_to_numpy(getattr(layer, name)) for layer in layers]
                weights.append(np.stack(values, axis=-1))
        return weights

    def write_back(self, weights: Sequence[np.ndarray], steps_done: Sequence[int]) -> None:
        """Put stacked weights into the models and advance their dropout seed generators."""
        for k, dense in enumerate(self.dense):
            for position, layer in enumerate(dense):
                layer.kernel.assign(weights[2 * position][..., k])
                layer.bias.assign(weights[2 * position + 1][..., k])
            for layer in self.dropout[k]:
                if layer is not None and layer.rate > 0:
                    state = keras.ops.convert_to_numpy(layer.seed_generator.state)
                    layer.seed_generator.state.assign(state + np.array([0, steps_done[k]]))
