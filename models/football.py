"""The course's 3-layer "football" classifier as a Keras model."""

from __future__ import annotations

import math
from collections.abc import Sequence

import keras

from kreg import reference
from kreg.layers import DROPOUT_LAYERS, dropout_class
from kreg.regularizers import L2

__all__ = ["football_classifier"]


def football_classifier(
    input_dim: int = 2,
    hidden_units: Sequence[int] = (20, 3),
    l2: float = 0.0,
    dropout: float = 0.0,
    *,
    kernel_initializer="course",
    init_seed: int = 3,
    dropout_layer="keras",
    seed: int | None = None,
    dtype: str = "float32",
    name: str = "football_classifier",
) -> keras.Model:
    """Dense(h1, relu) [dropout] Dense(h2, relu) [dropout] Dense(1, sigmoid).

    Args:
        input_dim: number of input features (2 for the football data).
        hidden_units: sizes of the two hidden layers.
        l2: Keras L2 factor put on every Dense kernel as
            `kernel_regularizer=kreg.regularizers.L2(l2)` (a
            `keras.regularizers.L2` exact in float64; 0 puts none). For
            the course's `lambd` on `m` examples use
            `kreg.regularizers.l2_from_lambda(lambd, m).l2`.
        dropout: dropout rate after each hidden layer (Keras convention,
            `1 - keep_prob`); 0 adds no dropout layer.
        kernel_initializer: `"course"` draws the kernels exactly as
            `kreg.reference.initialize_parameters(seed=init_seed)` does
            (transposed to Keras's `(in, out)`), so the model starts from the
            course's weights; anything else is passed to `Dense`.
        init_seed: seed of the course initialization.
        dropout_layer: `"keras"` (`keras.layers.Dropout`), `"kreg"`
            (`kreg.layers.InvertedDropout`), `"kreg-hash"`
            (`InvertedDropout(rng_algorithm="counter_hash")`), or a layer
            class taking `(rate, seed=...)`.
        seed: seed of the dropout layers (the second gets `seed + 1`); None
            leaves them unseeded.
        dtype: dtype of every layer; `"float64"` reproduces the course to the
            last digit.
        name: model name.

    Returns:
        An uncompiled `keras.Sequential` whose `layers` hold the three Dense
        layers in order (with the dropout layers between them).
    """
    hidden_units = tuple(hidden_units)
    if len(hidden_units) != 2 or any(
        not isinstance(h, int) or isinstance(h, bool) or h <= 0 for h in hidden_units
    ):
        raise ValueError(
            f"`hidden_units` must be two positive integers. Received: hidden_units={hidden_units}"
        )
    if not isinstance(input_dim, int) or input_dim <= 0:
        raise ValueError(
            f"`input_dim` must be a positive integer. Received: input_dim={input_dim}"
        )
    if not math.isfinite(l2) or l2 < 0:
        raise ValueError(f"`l2` must be finite and non-negative. Received: l2={l2}")
    if not 0 <= dropout < 1:
        raise ValueError(f"`dropout` must be in the interval [0, 1). Received: dropout={dropout}")
    if isinstance(dropout_layer, str) and dropout_layer not in DROPOUT_LAYERS:
        raise ValueError(
            f"`dropout_layer` must be one of {DROPOUT_LAYERS} or a Layer class (the "
            f"football model has no feature maps). Received: dropout_layer={dropout_layer!r}"
        )
    dropout_cls = dropout_class(dropout_layer) if dropout > 0 else None
    course_init = isinstance(kernel_initializer, str) and kernel_initializer == "course"

    model = keras.Sequential(name=name)
    model.add(keras.Input(shape=(input_dim,), dtype=dtype))
    for index, units in enumerate(hidden_units):
        model.add(
            keras.layers.Dense(
                units,
                activation="relu",
                kernel_initializer="zeros" if course_init else kernel_initializer,
                kernel_regularizer=L2(l2) if l2 > 0 else None,
                dtype=dtype,
                name=f"dense_{index + 1}",
            )
        )
        if dropout_cls is not None:
            layer_seed = None if seed is None else seed + index
            model.add(
                dropout_cls(dropout, seed=layer_seed, dtype=dtype, name=f"dropout_{index + 1}")
            )
    model.add(
        keras.layers.Dense(
            1,
            activation="sigmoid",
            kernel_initializer="zeros" if course_init else kernel_initializer,
            kernel_regularizer=L2(l2) if l2 > 0 else None,
            dtype=dtype,
            name="output",
        )
    )
    if course_init:
        parameters = reference.initialize_parameters([input_dim, *hidden_units, 1], seed=init_seed)
        set_course_parameters(model, parameters)
    return model


def dense_layers(model: keras.Model) -> list[keras.layers.Dense]:
    """The model's Dense layers, in order."""
    return [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]


def set_course_parameters(model: keras.Model, parameters: dict) -> None:
    """Load course-layout `W1, b1, ...` (`W` is `(out, in)`) into the Dense layers."""
    for index, layer in enumerate(dense_layers(model), start=1):
        layer.kernel.assign(parameters[f"W{index}"].T)
        layer.bias.assign(parameters[f"b{index}"][:, 0])


def course_parameters(model: keras.Model) -> dict:
    """The Dense layers' weights in the course layout (`W` is `(out, in)`, `b` is `(out, 1)`)."""
    parameters = {}
    for index, layer in enumerate(dense_layers(model), start=1):
        parameters[f"W{index}"] = keras.ops.convert_to_numpy(layer.kernel).T
        parameters[f"b{index}"] = keras.ops.convert_to_numpy(layer.bias)[:, None]
    return parameters
