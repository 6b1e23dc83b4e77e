"""Stochastic weight averaging's second step: batch normalization statistics for averaged weights.

The averaging itself is `kreg.callbacks.StochasticWeightAveraging`.
"""

from __future__ import annotations

from collections.abc import Iterable

import keras
import numpy as np

from kreg.walk import iter_layers

__all__ = ["batch_norm_layers", "update_batch_norm"]


def batch_norm_layers(model) -> list[keras.layers.BatchNormalization]:
    """Every `keras.layers.BatchNormalization` layer of `model`, nested models included."""
    return [
        layer for layer in iter_layers(model) if isinstance(layer, keras.layers.BatchNormalization)
    ]


def update_batch_norm(model, data, batch_size: int = 32) -> int:
    """Recompute every BatchNormalization layer's moving mean and variance on `data`.

    Averaged weights (stochastic weight averaging) never produced the
    activations the moving statistics were collected on, so those statistics
    fit none of them; Izmailov et al. (2018) recompute them with one pass
    over the training data. This is that pass, as
    `torch.optim.swa_utils.update_bn` makes it: the model runs in training
    mode on every batch, and each layer's moving mean and variance become the
    plain average over the batches of the batch means and variances (the
    first batch replaces the old values). The variances are those Keras's
    BatchNormalization uses (divided by `n`, where PyTorch keeps `n - 1`: a
    PyTorch running variance is this one times `n / (n - 1)` for batches of
    `n` values per channel). Nothing else changes: the weights and the
    layers' momentum are as before. Dropout and other training-mode layers
    are active during the pass, as in PyTorch.

    Args:
        model: a built Keras model.
        data: the inputs: a NumPy array or tensor (batched by `batch_size`),
            or an iterable of batches (a `tf.data.Dataset`, a PyTorch
            `DataLoader`, a generator, a `keras.utils.PyDataset`), each
            batch the inputs or a tuple whose first item is the inputs.
        batch_size: the batch size for an array.

    Returns:
        The number of batches seen (0 and nothing changed when the model has
        no BatchNormalization layer).
    """
    layers = batch_norm_layers(model)
    if not layers:
        return 0
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"`batch_size` must be a positive integer. Received: {batch_size!r}")
    momenta = [layer.momentum for layer in layers]
    seen = 0
    try:
        for inputs in _batches(data, batch_size):
            seen += 1
            # Keras's update is moving * momentum + batch * (1 - momentum): momentum
            # (k - 1) / k makes it the running mean of the k batch statistics so far.
            for layer in layers:
                layer.momentum = (seen - 1) / seen
            model(inputs, training=True)
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
    if seen == 0:
        raise ValueError("`data` gave no batch: update_batch_norm needs at least one.")
    return seen


def _batches(data, batch_size: int) -> Iterable:
    if isinstance(data, np.ndarray) or keras.ops.is_tensor(data):
        size = int(data.shape[0])
        for start in range(0, size, batch_size):
            yield data[start : start + batch_size]
        return
    if isinstance(data, keras.utils.PyDataset):
        data = (data[index] for index in range(len(data)))
    elif isinstance(data, (str, bytes)) or not isinstance(data, Iterable):
        raise TypeError(
            "`data` must be an array, a tensor or an iterable of batches. "
            f"Received: {type(data).__name__}"
        )
    for batch in data:
        yield batch[0] if isinstance(batch, (tuple, list)) else batch
