"""Conversions between the course's regularization conventions and Keras's.

The course writes the L2-regularized cost of an `m`-example training set as

    J = cross_entropy + lambd / (2 * m) * sum_l sum(W[l] ** 2)

and Keras adds, for every kernel with `kernel_regularizer=L2(factor)`,

    loss += factor * sum(W ** 2)

to the mean loss of the batch. The two agree when `factor = lambd / (2 * m)`
with `m` the number of examples in a (full) batch, which `l2_from_lambda`
computes.

L2 penalty versus `weight_decay`: the penalty's gradient is `2 * factor * W`,
so one plain SGD step is `W -= lr * (g + 2 * factor * W)`. Keras optimizers'
decoupled `weight_decay=wd` step is `W -= lr * wd * W` followed by
`W -= lr * g`; with plain SGD (no momentum) and the same gradient the two are
the same trajectory when `wd = 2 * factor` and biases are excluded from decay
(`optimizer.exclude_from_weight_decay(var_names=["bias"])`), because the L2
regularizer is only on kernels. With momentum the penalty's gradient is
accumulated into the velocity while the decoupled decay is not, and with Adam
the penalty's gradient is divided by the running RMS of the gradient while
decoupled decay is not (that difference is what AdamW is about), so the
equivalence breaks for both.
"""

from __future__ import annotations

import math
import numbers

import keras

from kreg._dtypes import widest_float
from kreg.walk import iter_layers

__all__ = [
    "L2",
    "apply_l2",
    "l2_from_lambda",
    "lambda_from_l2",
    "rate_from_keep_prob",
    "weight_decay_from_l2",
]


@keras.saving.register_keras_serializable(package="kreg")
class L2(keras.regularizers.L2):
    """`keras.regularizers.L2` computed in the weight's own precision, optionally schedulable.

    `loss = l2 * reduce_sum(square(x))`, exactly as Keras's `L2`. Keras casts
    the Python float `l2` with `cast`, which on TensorFlow first makes a
    float32 tensor: on float64 weights the penalty then carries float32's
    rounding of the factor (0.7 / 422 is off by 2e-8 relative). This class
    converts the factor directly to the weight's dtype, so float64 models get
    the course's cost to the last digit. It is a drop-in for the Keras class
    (`isinstance(reg, keras.regularizers.L2)` holds).

    With `schedulable=True` the factor lives in a variable that compiled
    training reads at every step, so `reg.l2 = new_factor` (for example from
    `kreg.callbacks.L2Schedule`) takes effect without a retrace.

    Args:
        l2: the factor, a non-negative float.
        schedulable: keep the factor in a variable.
    """

    def __init__(self, l2=0.01, schedulable=False):
        super().__init__(l2)
        self.schedulable = bool(schedulable)
        self._factor = None
        if self.schedulable:
            self._factor = keras.Variable(
                float(self.l2), dtype=widest_float(), trainable=False, name="l2_factor"
            )

    def __setattr__(self, name, value):
        if name == "l2" and getattr(self, "_factor", None) is not None:
            value = _validate_non_negative("l2", value)
            self._factor.assign(value)
        super().__setattr__(name, value)

    def __call__(self, x):
        dtype = keras.backend.standardize_dtype(x.dtype)
        if self._factor is not None:
            factor = keras.ops.cast(self._factor.value, dtype)
        else:
            factor = keras.ops.convert_to_tensor(self.l2, dtype=dtype)
        return factor * keras.ops.sum(keras.ops.square(x))

    def get_config(self):
        return {"l2": float(self.l2), "schedulable": self.schedulable}


def apply_l2(
    model: keras.Model, factor: float, *, layers=None, schedulable: bool = False
) -> list[keras.layers.Layer]:
    """Put `L2(factor)` on the kernels of an already built model, for real.

    In Keras 3 a regularizer is attached to the weight variable when the
    layer builds it; setting `layer.kernel_regularizer` afterwards changes the
    config but adds nothing to `model.losses`, so the penalty silently never
    reaches the loss. This sets the regularizer on the kernel variables
    themselves (so the penalty enters `model.losses` and training) and on the
    layers' `kernel_regularizer` (so it survives `model.save` and
    `keras.saving.load_model`). Compiled train functions are dropped so the
    next `fit` traces with the penalty.

    Args:
        model: a built model, e.g. a pretrained one.
        factor: the L2 factor (Keras convention: `factor * sum(W ** 2)`).
        layers: the layers (or their names) to regularize; None takes every
            layer with a `kernel` (Dense, Conv, ...), nested models included.
        schedulable: use a variable-backed factor that
            `kreg.callbacks.L2Schedule` can change during training.

    Returns:
        The layers that got the penalty.
    """
    factor = _validate_non_negative("factor", factor)
    found = [layer for layer in iter_layers(model) if getattr(layer, "kernel", None) is not None]
    if layers is not None:
        by_name = {layer.name: layer for layer in iter_layers(model)}
        chosen = []
        for item in layers:
            layer = by_name.get(item) if isinstance(item, str) else item
            if layer is None or getattr(layer, "kernel", None) is None:
                raise ValueError(f"apply_l2: {item!r} is not a layer of the model with a kernel.")
            chosen.append(layer)
        found = chosen
    if not found:
        raise ValueError(f"apply_l2: model {model.name!r} has no layer with a kernel.")
    for layer in found:
        regularizer = L2(factor, schedulable=schedulable)
        layer.kernel.regularizer = regularizer
        layer.kernel_regularizer = regularizer
    for attribute in ("train_function", "test_function", "predict_function"):
        if getattr(model, attribute, None) is not None:
            setattr(model, attribute, None)
    return found


def _validate_non_negative(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"`{name}` must be a real number. Received: {name}={value!r}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"`{name}` must be finite and non-negative. Received: {name}={value}")
    return float(value)


def _validate_num_examples(num_examples) -> int:
    if (
        isinstance(num_examples, bool)
        or not isinstance(num_examples, numbers.Integral)
        or num_examples <= 0
    ):
        raise ValueError(
            "`num_examples` must be a positive integer (the number of training examples m). "
            f"Received: num_examples={num_examples!r}"
        )
    return int(num_examples)


def l2_from_lambda(lambd: float, num_examples: int) -> L2:
    """Keras L2 regularizer equal to the course's `lambd / (2 m) * sum(W ** 2)` term.

    Keras's `L2(factor)` adds `factor * sum(W ** 2)` to the loss; the course
    adds `lambd / (2 * m) * sum(W ** 2)`, so `factor = lambd / (2 * m)`.

    Args:
        lambd: the course's regularization strength, finite and >= 0.
        num_examples: `m`, the number of training examples (the full batch).

    Returns:
        `kreg.regularizers.L2(lambd / (2 * num_examples))`, a
        `keras.regularizers.L2` that keeps the factor in float64 on float64
        weights.

    Example:

    >>> reg = l2_from_lambda(0.7, 211)
    >>> round(reg.l2, 10)
    0.0016587678
    """
    lambd = _validate_non_negative("lambd", lambd)
    m = _validate_num_examples(num_examples)
    return L2(lambd / (2 * m))


def lambda_from_l2(factor: float, num_examples: int) -> float:
    """The course's `lambd` for a Keras L2 factor: `lambd = 2 * m * factor`."""
    factor = _validate_non_negative("factor", factor)
    return 2 * _validate_num_examples(num_examples) * factor


def weight_decay_from_l2(factor: float) -> float:
    """The decoupled `weight_decay` that matches an L2 factor under plain SGD: `2 * factor`.

    Only exact for `keras.optimizers.SGD` without momentum and with biases
    excluded from decay; see the module docstring for why momentum and Adam
    differ.
    """
    return 2.0 * _validate_non_negative("factor", factor)


def rate_from_keep_prob(keep_prob: float) -> float:
    """Keras dropout `rate` for the course's `keep_prob`: `rate = 1 - keep_prob`.

    Args:
        keep_prob: probability of keeping a unit, in (0, 1].

    Returns:
        The fraction of units to drop, in [0, 1).
    """
    if isinstance(keep_prob, bool) or not isinstance(keep_prob, numbers.Real):
        raise ValueError(f"`keep_prob` must be a real number. Received: keep_prob={keep_prob!r}")
    if not (0.0 < keep_prob <= 1.0):
        raise ValueError(
            f"`keep_prob` must be in the interval (0, 1]. Received: keep_prob={keep_prob}"
        )
    return 1.0 - float(keep_prob)
