"""`RegularizationMonitor`: the data loss and the regularization penalty, logged apart."""

from __future__ import annotations

import weakref

import keras
import numpy as np
from keras import ops

from kreg._dtypes import widest_float
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
    training when it is not. On the TensorFlow and PyTorch backends it
    records by wrapping the model's `compute_loss` while training runs (the
    train and test functions are retraced once at `fit`'s start), which costs
    a few scalar additions per step. JAX's compiled step cannot update state
    outside the model, so there the penalty of each batch is computed from
    the weights the batch starts from, before the step (the same number, one
    small computation per batch); a model with activity regularizers, whose
    penalty exists only inside the step, is refused on JAX with an error
    naming the backend. With the lab's `fit_full_batch`, which reports
    `penalty` itself, it only adds the split and the norms.

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
        self._batch_penalty = None  # JAX: penalties summed on the host, per batch

    def on_train_begin(self, logs=None):
        warn_if_loggers_come_first(self, self.KEYS)
        self._kernels = [
            (layer.name, layer.kernel)
            for layer in iter_layers(self.model)
            if not getattr(layer, "layers", None) and getattr(layer, "kernel", None) is not None
        ]
        if keras.backend.backend() == "jax":
            _refuse_activity_regularizers(self.model)
            self._batch_penalty = {}
            self._sums = None
        else:
            self._sums = _penalty_sums(self.model)

    def on_epoch_begin(self, epoch, logs=None):
        if self._batch_penalty is not None:
            self._batch_penalty.update(penalty=0.0, kernel_penalty=0.0, steps=0.0)
            self._batch_penalty.update(val_penalty=0.0, val_steps=0.0)
            return
        for variable in self._sums.values():
            variable.assign(0.0)

    def on_train_batch_begin(self, batch, logs=None):
        if self._batch_penalty is None:
            return
        self._batch_penalty["penalty"] += self._weight_penalty_now()
        self._batch_penalty["kernel_penalty"] += self._kernel_penalty_now()
        self._batch_penalty["steps"] += 1.0

    def on_test_begin(self, logs=None):
        if self._batch_penalty is not None:
            return  # the weights do not move while validating: see on_epoch_end
        self._sums["val_penalty"].assign(0.0)
        self._sums["val_steps"].assign(0.0)

    def _mean(self, name: str, steps: str) -> float | None:
        if self._batch_penalty is not None:
            count = self._batch_penalty.get(steps, 0.0)
            return self._batch_penalty[name] / count if count else None
        count = _read(self._sums[steps])
        return _read(self._sums[name]) / count if count else None

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
                norm = float(np.linalg.norm(ops.convert_to_numpy(kernel.value).astype(np.float64)))
                logs[f"kernel_norm/{name}"] = norm

    def _kernel_penalty_now(self) -> float:
        kernels = [kernel for _, kernel in self._kernels]
        return _penalty_of(k for k in kernels if getattr(k, "regularizer", None) is not None)

    def _weight_penalty_now(self) -> float:
        return _penalty_of(regularized_variables(self.model))


def _penalty_of(variables) -> float:
    return float(sum(float(ops.convert_to_numpy(v.regularizer(v.value))) for v in variables))


def _read(variable) -> float:
    # tf.Variable (the TensorFlow accumulators) reads with read_value(), keras.Variable .value.
    value = variable.read_value() if hasattr(variable, "read_value") else variable.value
    return float(ops.convert_to_numpy(value))


def _refuse_activity_regularizers(model) -> None:
    regularized = [
        layer.name for layer in iter_layers(model) if getattr(layer, "activity_regularizer", None)
    ]
    if regularized:
        raise ValueError(
            "RegularizationMonitor cannot see activity regularizers on the JAX backend (their "
            f"penalty exists only inside the compiled step); layers {regularized} have one. "
            "Use the TensorFlow or PyTorch backend for this model. Received: backend='jax'"
        )


_SUMS = weakref.WeakKeyDictionary()  # model -> its accumulators, installed once


def _accumulator(model):
    """A float64 scalar (float32 where the backend lacks it) summed over replicas when read."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf  # the backend is TensorFlow: already imported by Keras

        with model.distribute_strategy.scope():
            # ON_READ + SUM: every replica adds its own step's values; reads sum them, and
            # the sums' ratio to the (also summed) counts is the mean.
            return tf.Variable(
                0.0,
                dtype=tf.float64,
                trainable=False,
                synchronization=tf.VariableSynchronization.ON_READ,
                aggregation=tf.VariableAggregation.SUM,
            )
    return keras.Variable(0.0, dtype=widest_float(), trainable=False, name="penalty_sum")


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
    names = ("penalty", "kernel_penalty", "steps", "val_penalty", "val_steps")
    sums = {name: _accumulator(model) for name in names}
    dtype = keras.backend.standardize_dtype(sums["steps"].dtype)
    original = model.compute_loss

    def total_of(terms):
        total = ops.zeros((), dtype)
        for term in terms:
            total = total + ops.cast(ops.sum(term), dtype)
        return total

    def compute_loss(x=None, y=None, y_pred=None, sample_weight=None, training=True):
        total = original(x, y, y_pred, sample_weight, training=training)
        prefix = "" if training else "val_"
        sums[f"{prefix}penalty"].assign_add(total_of(model.losses))
        sums[f"{prefix}steps"].assign_add(ops.ones((), dtype))
        if training and regularized_kernels:
            kernel_terms = [v.regularizer(v.value) for v in regularized_kernels]
            sums["kernel_penalty"].assign_add(total_of(kernel_terms))
        return total

    model.compute_loss = compute_loss
    if model.train_function is not None:
        model.make_train_function(force=True)
    model.test_function = None  # traced again, with the wrapper, when validation runs
    _SUMS[model] = sums
    return sums
