"""`RegularizationMonitor`: the data loss and the regularization penalty, logged apart."""

from __future__ import annotations

import weakref

import keras
import numpy as np
import tensorflow as tf

from kreg.callbacks.ordering import warn_if_loggers_come_first
from kreg.walk import iter_layers, regularized_variables

__all__ = ["RegularizationMonitor"]


class RegularizationMonitor(keras.callbacks.Callback):
    """Splits Keras's `loss` into the data loss and the regularization penalty, per epoch.

    Keras's reported `loss` silently includes every loss a model adds to the
    data loss: weight regularizers (kernel, bias), activity regularizers and
    `add_loss` terms. This callback records, inside each training step, the
    sum of those additional losses the step minimised (`sum(model.losses)`,
    as Keras adds it), and adds to the epoch's logs:

    - `penalty`: the mean over the epoch's batches of that sum;
    - `kernel_penalty`: the part of it from kernel regularizers alone
      (the L2 on `Dense`/`Conv` kernels), at the weights each batch started
      from;
    - `data_loss`: `loss - penalty`, the loss of the data alone;
    - `penalty_share`: `penalty / loss`;
    - `val_penalty` and `val_data_loss`, the same split of `val_loss`, when
      there is validation data;
    - `kernel_norm/<layer>`: the Frobenius (L2) norm of every layer's kernel
      (regularized or not) at the end of the epoch, to watch weight decay
      shrink them and to compare runs with and without it.

    The values reach `History`, `CSVLogger` and `keras.callbacks.TensorBoard`
    when this callback is listed before those two; it warns at the start of
    training when it is not. It records by wrapping the model's
    `compute_loss` while training runs (the train and test functions are
    retraced once at `fit`'s start), which costs a few scalar additions per
    step; with `kreg.training.fit_full_batch`, which reports `penalty`
    itself, it only adds the split and the norms.

    Args:
        kernel_norms: log `kernel_norm/<layer>` values.

    Example:

    ```python
    model.fit(x, y, epochs=5, callbacks=[kreg.callbacks.RegularizationMonitor()])
    # History gains penalty, kernel_penalty, data_loss, penalty_share and kernel_norm/<layer>
    ```
    """

    KEYS = "penalty, kernel_penalty, data_loss, penalty_share, kernel_norm/<layer>"

    def __init__(self, kernel_norms: bool = True):
        super().__init__()
        self.kernel_norms = kernel_norms
        self._sums = None
        self._kernels = []

    def on_train_begin(self, logs=None):
        warn_if_loggers_come_first(self, self.KEYS)
        self._kernels = [
            (layer.name, layer.kernel)
            for layer in iter_layers(self.model)
            if not getattr(layer, "layers", None) and getattr(layer, "kernel", None) is not None
        ]
        self._sums = _penalty_sums(self.model)

    def on_epoch_begin(self, epoch, logs=None):
        for variable in self._sums.values():
            variable.assign(0.0)

    def on_test_begin(self, logs=None):
        self._sums["val_penalty"].assign(0.0)
        self._sums["val_steps"].assign(0.0)

    def _mean(self, name: str, steps: str) -> float | None:
        count = float(self._sums[steps].read_value())
        return float(self._sums[name].read_value()) / count if count else None

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        penalty = self._mean("penalty", "steps")
        kernel_penalty = self._mean("kernel_penalty", "steps")
        if penalty is None:  # fit_full_batch: its last step's penalty is in the logs
            penalty = float(logs.get("penalty", 0.0))
            kernel_penalty = self._kernel_penalty_now()
        logs["penalty"] = penalty
        logs["kernel_penalty"] = kernel_penalty
        if "loss" in logs:
            loss = float(logs["loss"])
            logs["data_loss"] = loss - penalty
            logs["penalty_share"] = penalty / loss if loss else 0.0
        val_penalty = self._mean("val_penalty", "val_steps")
        if val_penalty is None and "val_loss" in logs:  # fit_full_batch: weights' penalty now
            val_penalty = self._weight_penalty_now()
        if "val_loss" in logs:
            logs["val_penalty"] = val_penalty
            logs["val_data_loss"] = float(logs["val_loss"]) - val_penalty
        if self.kernel_norms:
            for name, kernel in self._kernels:
                norm = float(np.linalg.norm(np.asarray(kernel.value, dtype=np.float64)))
                logs[f"kernel_norm/{name}"] = norm

    def _kernel_penalty_now(self) -> float:
        kernels = [kernel for _, kernel in self._kernels]
        return _penalty_of(k for k in kernels if getattr(k, "regularizer", None) is not None)

    def _weight_penalty_now(self) -> float:
        return _penalty_of(regularized_variables(self.model))


def _penalty_of(variables) -> float:
    return float(sum(float(v.regularizer(v.value)) for v in variables))


_SUMS = weakref.WeakKeyDictionary()  # model -> its accumulators, installed once


def _penalty_sums(model) -> dict:
    """Accumulators of `sum(model.losses)` per step, filled by a wrapped `compute_loss`.

    Installed on the first call for a model and kept (with the retraced train
    and test functions), so later `fit` calls pay no retrace.
    """
    if model in _SUMS:
        return _SUMS[model]
    kernel_ids = {
        id(layer.kernel)
        for layer in iter_layers(model)
        if not getattr(layer, "layers", None) and getattr(layer, "kernel", None) is not None
    }
    regularized_kernels = [v for v in regularized_variables(model) if id(v) in kernel_ids]
    with model.distribute_strategy.scope():
        # ON_READ + SUM: every replica adds its own step's values; reads sum them, and
        # the sums' ratio to the (also summed) counts is the mean.
        sums = {
            name: tf.Variable(
                0.0,
                dtype=tf.float64,
                trainable=False,
                synchronization=tf.VariableSynchronization.ON_READ,
                aggregation=tf.VariableAggregation.SUM,
            )
            for name in ("penalty", "kernel_penalty", "steps", "val_penalty", "val_steps")
        }
    original = model.compute_loss

    def compute_loss(x=None, y=None, y_pred=None, sample_weight=None, training=True):
        total = original(x, y, y_pred, sample_weight, training=training)
        terms = [tf.cast(tf.reduce_sum(loss), tf.float64) for loss in model.losses]
        penalty = tf.add_n(terms) if terms else tf.constant(0.0, tf.float64)
        prefix = "" if training else "val_"
        sums[f"{prefix}penalty"].assign_add(penalty)
        sums[f"{prefix}steps"].assign_add(1.0)
        if training and regularized_kernels:
            kernel_terms = [
                tf.cast(v.regularizer(v.value), tf.float64) for v in regularized_kernels
            ]
            sums["kernel_penalty"].assign_add(tf.add_n(kernel_terms))
        return total

    model.compute_loss = compute_loss
    if model.train_function is not None:
        model.make_train_function(force=True)
    model.test_function = None  # traced again, with the wrapper, when validation runs
    _SUMS[model] = sums
    return sums
