"""The dropout layer a model builder's `dropout_layer` argument names."""

import functools

import keras

from kreg.layers.inverted_dropout import InvertedDropout

__all__ = ["DROPOUT_LAYERS", "dropout_class"]

DROPOUT_LAYERS = ("keras", "kreg", "kreg-hash")


def dropout_class(dropout_layer):
    """The dropout layer class (or factory) a builder's `dropout_layer` argument names.

    `"keras"` is `keras.layers.Dropout`, `"kreg"` is `kreg.layers.InvertedDropout`
    and `"kreg-hash"` is `InvertedDropout(rng_algorithm="counter_hash")`, the
    fast choice under XLA on CPU.
    """
    if isinstance(dropout_layer, type) and issubclass(dropout_layer, keras.layers.Layer):
        return dropout_layer
    if dropout_layer == "keras":
        return keras.layers.Dropout
    if dropout_layer == "kreg":
        return InvertedDropout
    if dropout_layer == "kreg-hash":
        return functools.partial(InvertedDropout, rng_algorithm="counter_hash")
    raise ValueError(
        f"`dropout_layer` must be one of {DROPOUT_LAYERS} or a Layer class. "
        f"Received: dropout_layer={dropout_layer!r}"
    )
