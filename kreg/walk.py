"""Walking a built model: its layers, seed generators, regularized weights, and weight digest."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import keras
import numpy as np

__all__ = ["iter_layers", "regularized_variables", "seed_generators", "weights_digest"]


def iter_layers(model) -> Iterable[keras.layers.Layer]:
    """Every layer of `model`, nested models and layers included, depth first."""
    for layer in getattr(model, "layers", []):
        yield layer
        if getattr(layer, "layers", None):
            yield from iter_layers(layer)


def seed_generators(model) -> list[tuple[str, keras.random.SeedGenerator]]:
    """Every `SeedGenerator` held by a layer of `model`, in layer order, with a readable label.

    The order is fixed by the architecture, so it identifies a generator
    across processes and across rebuilds of the same model (layer names do
    not: Keras numbers auto-named layers per process).
    """
    found = []
    for layer in iter_layers(model):
        for attribute, value in vars(layer).items():
            if isinstance(value, keras.random.SeedGenerator):
                found.append((f"{type(layer).__name__}:{layer.name}/{attribute}", value))
    return found


def regularized_variables(model) -> list:
    """The model's trainable variables that carry a regularizer, in order."""
    return [v for v in model.trainable_variables if getattr(v, "regularizer", None) is not None]


def weights_digest(model_or_arrays) -> str:
    """SHA-256 of weights in order (a model's, or a list of arrays): equal means bit-identical.

    Each array's dtype and shape are hashed with its bytes, so arrays that
    differ only in layout do not collide.
    """
    arrays = (
        model_or_arrays.get_weights()
        if hasattr(model_or_arrays, "get_weights")
        else model_or_arrays
    )
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()
