"""VGG-style CIFAR-10 convnets regularized with L2 and dropout."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import keras

from kreg.layers import dropout_class
from kreg.models._presets import check_l2, resolve_preset
from kreg.regularizers import L2

__all__ = ["PRESETS", "vgg_cifar10"]

# The dense head's dropout when the blocks use a feature-map dropout.
DENSE_DROPOUT = {"spatial": "keras", "kreg-spatial": "kreg", "dropblock": "kreg"}

PRESETS = {
    # The seed book's network: Conv-ReLU-BatchNorm pairs, L2 1e-4, dropout after each pooling.
    "book": dict(
        filters=(32, 64, 128),
        convs_per_block=2,
        batch_norm=True,
        padding="same",
        l2=1e-4,
        dropout=(0.2, 0.3, 0.4),
        dense_units=(),
        dense_dropout=0.0,
    ),
    # The Keras documentation's "VGG-like convnet".
    "keras-vgg": dict(
        filters=(32, 64),
        convs_per_block=2,
        batch_norm=False,
        padding="valid",
        l2=0.0,
        dropout=(0.25, 0.25),
        dense_units=(256,),
        dense_dropout=0.5,
    ),
}


def _per_block(name: str, value, blocks: int) -> tuple:
    values = tuple(value) if isinstance(value, Sequence) else (value,) * blocks
    if len(values) != blocks:
        raise ValueError(
            f"`{name}` must be one value or one per block ({blocks}). Received: {name}={value!r}"
        )
    return values


def vgg_cifar10(
    preset: str | None = "keras-vgg",
    *,
    filters: Sequence[int] | None = None,
    convs_per_block: int | None = None,
    batch_norm: bool | None = None,
    padding: str | None = None,
    l2: float | None = None,
    dropout: float | Sequence[float] | None = None,
    dense_units: Sequence[int] | None = None,
    dense_dropout: float | None = None,
    dropout_layer="keras",
    block_size: int = 3,
    sync_batch_norm: bool = False,
    input_shape: tuple[int, int, int] = (32, 32, 3),
    num_classes: int = 10,
    seed: int | None = None,
    name: str | None = None,
) -> keras.Model:
    """A VGG-style convnet: blocks of 3x3 convolutions, max pooling and dropout, then a dense head.

    Every block is `convs_per_block` x [Conv2D(f, 3x3) - ReLU (- BatchNorm)],
    then MaxPooling2D(2) and Dropout(rate); the head is Flatten, then for each
    entry of `dense_units` Dense(u, relu) and Dropout(dense_dropout), then
    Dense(num_classes, softmax). Every Conv2D and Dense kernel gets
    `kernel_regularizer=L2(l2)` when `l2 > 0` (Keras convention:
    `loss += l2 * sum(W ** 2)` per kernel; the same word as
    `football_classifier`'s `l2`, and half the decoupled `weight_decay` of
    an SGD optimizer that would match it, see `kreg.regularizers`).

    Args:
        preset: `"book"` (the seed book's network: Conv-ReLU-BatchNorm pairs
            of 32, 64, 128 filters, L2 1e-4, dropout 0.2/0.3/0.4 after the
            three poolings, Dense 10 softmax), `"keras-vgg"` (Conv32x2-Pool-
            Dropout0.25-Conv64x2-Pool-Dropout0.25-Dense256-Dropout0.5-Dense10)
            or None (every other argument must then be given). Explicit
            arguments override the preset's.
        filters: filters of each block.
        convs_per_block: convolutions per block.
        batch_norm: BatchNormalization after each convolution's ReLU.
        padding: `"same"` or `"valid"`.
        l2: the L2 factor on every kernel; 0 for none.
        dropout: the dropout rate after each pooling, one value or one per
            block; 0 adds no layer.
        dense_units: hidden Dense layers of the head.
        dense_dropout: dropout after each hidden Dense layer.
        dropout_layer: the dropout after each pooling: a name from
            `kreg.layers.SPATIAL_DROPOUT_LAYERS` or a layer class. `"keras"`,
            `"kreg"` and `"kreg-hash"` drop single activations (see
            `football_classifier`) and are also used in the dense head;
            `"spatial"` (`keras.layers.SpatialDropout2D`) and `"kreg-spatial"`
            drop whole feature maps, `"dropblock"` (`kreg.layers.DropBlock2D`)
            squares of `block_size`; the dense head then uses
            `keras.layers.Dropout` (after `"spatial"`) or `InvertedDropout`.
        block_size: DropBlock's block side; it must fit the feature map
            after every pooling.
        sync_batch_norm: BatchNormalization computes its statistics over the
            global batch, across the replicas of a `tf.distribute` strategy
            (`synchronized=True`), as on one device; the default uses each
            replica's share of the batch.
        input_shape: image shape, channels last.
        num_classes: output classes.
        seed: seed of the dropout layers (each gets its own, `seed + i`).
        name: model name (defaults to the preset's).

    Returns:
        An uncompiled `keras.Sequential`.
    """
    given = dict(
        filters=filters,
        convs_per_block=convs_per_block,
        batch_norm=batch_norm,
        padding=padding,
        l2=l2,
        dropout=dropout,
        dense_units=dense_units,
        dense_dropout=dense_dropout,
    )
    config = resolve_preset(PRESETS, preset, given)
    filters = tuple(config["filters"])
    blocks = len(filters)
    if blocks == 0 or any(not isinstance(f, int) or f <= 0 for f in filters):
        raise ValueError(f"`filters` must be positive integers. Received: filters={filters!r}")
    rates = _per_block("dropout", config["dropout"], blocks)
    all_rates = (*rates, config["dense_dropout"])
    if any(not 0 <= rate < 1 for rate in all_rates):
        raise ValueError(f"Dropout rates must be in [0, 1). Received: {all_rates}")
    factor = check_l2(config["l2"])
    if config["padding"] not in ("same", "valid"):
        raise ValueError(f"`padding` must be 'same' or 'valid'. Received: {config['padding']!r}")
    dropout_cls = dropout_class(dropout_layer)
    if dropout_layer == "dropblock":
        dropout_cls = functools.partial(dropout_cls, block_size=block_size)
    # Feature-map dropouts do not apply to the dense head's vectors.
    dense_cls = dropout_class(DENSE_DROPOUT.get(dropout_layer, dropout_layer))

    def regularizer():
        return L2(factor) if factor > 0 else None

    dropout_index = 0

    def add_dropout(model, rate, name, layer_class):
        nonlocal dropout_index
        if rate > 0:
            layer_seed = None if seed is None else seed + dropout_index
            model.add(layer_class(rate, seed=layer_seed, name=name))
        dropout_index += 1

    model = keras.Sequential(name=name or (preset or "vgg").replace("-", "_"))
    model.add(keras.Input(shape=input_shape))
    # Fixed layer names (as in keras.applications) keep logs comparable across models.
    for block, (block_filters, rate) in enumerate(zip(filters, rates), start=1):
        for conv in range(1, config["convs_per_block"] + 1):
            model.add(
                keras.layers.Conv2D(
                    block_filters,
                    3,
                    padding=config["padding"],
                    activation="relu",
                    kernel_regularizer=regularizer(),
                    name=f"block{block}_conv{conv}",
                )
            )
            if config["batch_norm"]:
                model.add(
                    keras.layers.BatchNormalization(
                        synchronized=sync_batch_norm, name=f"block{block}_bn{conv}"
                    )
                )
        model.add(keras.layers.MaxPooling2D(2, name=f"block{block}_pool"))
        add_dropout(model, rate, f"block{block}_dropout", dropout_cls)
    model.add(keras.layers.Flatten(name="flatten"))
    for index, units in enumerate(config["dense_units"], start=1):
        model.add(
            keras.layers.Dense(
                units, activation="relu", kernel_regularizer=regularizer(), name=f"fc{index}"
            )
        )
        add_dropout(model, config["dense_dropout"], f"fc{index}_dropout", dense_cls)
    model.add(
        keras.layers.Dense(
            num_classes,
            activation="softmax",
            kernel_regularizer=regularizer(),
            # The softmax (and so the loss) in float32 under a mixed-precision policy.
            dtype="float32" if keras.config.dtype_policy().name.startswith("mixed") else None,
            name="predictions",
        )
    )
    return model
