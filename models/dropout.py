"""Which dropout layer a model builder uses."""

import keras

from kreg.layers import InvertedDropout

__all__ = ["DROPOUT_LAYERS", "dropout_class"]

DROPOUT_LAYERS = ("keras", "kreg")


def dropout_class(dropout_layer):
    """The dropout layer class a builder's `dropout_layer` argument names."""
    if isinstance(dropout_layer, type) and issubclass(dropout_layer, keras.layers.Layer):
        return dropout_layer
    if dropout_layer == "keras":
        return keras.layers.Dropout
    if dropout_layer == "kreg":
        return InvertedDropout
    raise ValueError(
        f"`dropout_layer` must be one of {DROPOUT_LAYERS} or a Layer class. "
        f"Received: dropout_layer={dropout_layer!r}"
    )
