"""`RegularizationMonitor`: the data loss and the regularization penalty, logged apart."""

from __future__ import annotations

import keras
import numpy as np

from kreg.walk import iter_layers, regularized_variables

__all__ = ["RegularizationMonitor"]


class RegularizationMonitor(keras.callbacks.Callback):
    """Splits Keras's `loss` into the data loss and the regularization penalty, per epoch.

    Keras's reported `loss` silently includes every `kernel_regularizer`
    penalty. This callback adds to the epoch's logs (so they reach `History`,
    the progress bar, `CSVLogger` and `keras.callbacks.TensorBoard`; list it
    before those two):

    - `penalty`: the mean over the epoch's batches of the penalty
      `sum(model.losses)` each batch was trained with (evaluated at the weights
      the batch started from, which are the weights its loss saw);
    - `data_loss`: `loss - penalty`, the loss of the data alone;
    - `penalty_share`: `penalty / loss`;
    - `val_data_loss`: `val_loss` minus the penalty at the epoch-end weights
      (what `val_loss` includes), when there is validation data;
    - `kernel_norm/<layer>`: the Frobenius (L2) norm of every layer's kernel
      (regularized or not) at the end of the epoch, to watch weight decay
      shrink them and to compare runs with and without it.

    The per-batch penalty is one compiled sum of squares (well under 2 % of a
    training step for the networks kreg builds). With `steps_per_execution >
    1` Keras calls batch hooks once per execution, and the mean is over those.

    Args:
        kernel_norms: log `kernel_norm/<layer>` values.

    Example:

    ```python
    model.fit(x, y, epochs=5, callbacks=[kreg.callbacks.RegularizationMonitor()])
    # History gains data_loss, penalty, penalty_share and kernel_norm/<layer>
    ```
    """

    def __init__(self, kernel_norms: bool = True):
        super().__init__()
        self.kernel_norms = kernel_norms
        self._penalty_fn = None
        self._penalties = []

    def on_train_begin(self, logs=None):
        import tensorflow as tf

        variables = regularized_variables(self.model)
        self._kernels = [
            (layer.name, layer.kernel)
            for layer in iter_layers(self.model)
            if not getattr(layer, "layers", None) and getattr(layer, "kernel", None) is not None
        ]

        @tf.function(autograph=False)
        def penalty():
            terms = [tf.cast(v.regularizer(v.value), tf.float64) for v in variables]
            return tf.add_n(terms) if terms else tf.constant(0.0, tf.float64)

        self._penalty_fn = penalty

    def on_epoch_begin(self, epoch, logs=None):
        self._penalties = []

    def on_train_batch_begin(self, batch, logs=None):
        self._penalties.append(self._penalty_fn())

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        if self._penalties:
            penalty = float(np.mean([float(p) for p in self._penalties]))
        elif "penalty" in logs:  # kreg.training.fit_full_batch reports its last step's penalty
            penalty = float(logs["penalty"])
        else:
            penalty = float(self._penalty_fn())
        logs["penalty"] = penalty
        if "loss" in logs:
            loss = float(logs["loss"])
            logs["data_loss"] = loss - penalty
            logs["penalty_share"] = penalty / loss if loss else 0.0
        if "val_loss" in logs:
            logs["val_data_loss"] = float(logs["val_loss"]) - float(self._penalty_fn())
        if self.kernel_norms:
            for name, kernel in self._kernels:
                norm = float(np.linalg.norm(np.asarray(kernel.value, dtype=np.float64)))
                logs[f"kernel_norm/{name}"] = norm
