"""Which layers are dropout layers, and the one a model builder's `dropout_layer` names."""

import functools

import keras

from kreg.layers.dropblock import DropBlock2D
from kreg.layers.inverted_dropout import InvertedDropout

__all__ = ["DROPOUT_LAYERS", "SPATIAL_DROPOUT_LAYERS", "dropout_class", "is_dropout_layer"]

DROPOUT_LAYERS = ("keras", "kreg", "kreg-hash")
# Choices for the dropout after a convolution block: the above, or whole maps or blocks.
SPATIAL_DROPOUT_LAYERS = (*DROPOUT_LAYERS, "spatial", "kreg-spatial", "dropblock")


def dropout_class(dropout_layer):
    """The dropout layer class (or factory) a builder's `dropout_layer` argument names.

    `"keras"` is `keras.layers.Dropout`, `"kreg"` is `kreg.layers.InvertedDropout`
    and `"kreg-hash"` is `InvertedDropout(rng_algorithm="counter_hash")`, the
    fast choice under XLA on CPU. For feature maps (`(batch, height, width,
    channels)`) there are also `"spatial"`, `keras.layers.SpatialDropout2D`
    (whole feature maps dropped), `"kreg-spatial"`, `InvertedDropout` with
    `noise_shape=(None, 1, 1, None)` (the same maps as `"spatial"` with the
    same seed), and `"dropblock"`, `kreg.layers.DropBlock2D` (square blocks).
    """
    if isinstance(dropout_layer, type) and issubclass(dropout_layer, keras.layers.Layer):
        return dropout_layer
    if dropout_layer == "keras":
        return keras.layers.Dropout
    if dropout_layer == "kreg":
        return InvertedDropout
    if dropout_layer == "kreg-hash":
        return functools.partial(InvertedDropout, rng_algorithm="counter_hash")
    if dropout_layer == "spatial":
        return keras.layers.SpatialDropout2D
    if dropout_layer == "kreg-spatial":
        return functools.partial(InvertedDropout, noise_shape=(None, 1, 1, None))
    if dropout_layer == "dropblock":
        return DropBlock2D
    raise ValueError(
        f"`dropout_layer` must be one of {SPATIAL_DROPOUT_LAYERS} or a Layer class. "
        f"Received: dropout_layer={dropout_layer!r}"
    )


def is_dropout_layer(layer) -> bool:
    """True for `keras.layers.Dropout` (and subclasses), `InvertedDropout` and `DropBlock2D`."""
    return isinstance(layer, (keras.layers.Dropout, InvertedDropout, DropBlock2D))
