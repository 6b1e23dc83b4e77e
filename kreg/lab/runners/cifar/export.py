"""A trained variant as a model that takes raw images, saved without a half-written file."""

from __future__ import annotations

from pathlib import Path

import keras

from kreg.lab.io import atomic_write

__all__ = ["export_model", "save_model_atomically", "save_weights_atomically"]


def export_model(model: keras.Model, standardize) -> keras.Model:
    """`model` with its input standardization inside: it takes raw images (values 0-255).

    Args:
        model: a trained CIFAR network that takes standardized images.
        standardize: the `kreg.lab.pipeline.ChannelStandardizer` of its training
            images; its adapted `keras.layers.Normalization` becomes the first
            layer, so the exported model computes exactly what evaluation saw.

    The result is not compiled: it holds no optimizer or loss, only what
    inference needs. Save it with `model.save("name.keras")`; it loads with
    `keras.models.load_model` after `import kreg` (kreg's layers and
    regularizers are registered there), in Keras's default safe mode.
    """
    inputs = keras.Input(shape=model.input_shape[1:], name="image")
    outputs = model(standardize.layer(inputs))
    return keras.Model(inputs, outputs, name=f"{model.name}_raw_images")


def save_model_atomically(model: keras.Model, path: Path) -> None:
    """`model.save(path)` through a temporary name: a crash leaves no half-written file."""
    atomic_write(path, model.save)


def save_weights_atomically(model: keras.Model, path: Path) -> None:
    """`model.save_weights(path)` (a `*.weights.h5` file) through a temporary name."""
    atomic_write(path, model.save_weights)
