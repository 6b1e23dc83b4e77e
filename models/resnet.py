"""He et al.'s CIFAR-10 ResNets, regularized with L2 and stochastic depth."""

from __future__ import annotations

import keras

from kreg.layers import StochasticDepth, linear_depth_rates
from kreg.models._presets import check_l2, resolve_preset
from kreg.regularizers import L2

__all__ = ["RESNET_PRESETS", "resnet_cifar10"]

RESNET_PRESETS = {
    # He, Zhang, Ren and Sun (2016), section 4.2: 16, 32, 64 filters, weight decay 1e-4 under
    # SGD, i.e. the Keras L2 factor 5e-5 (the penalty's gradient 2 * l2 * W is the decay).
    "he": dict(filters=(16, 32, 64), l2=5e-5, stochastic_depth=0.0),
    # Huang, Sun, Liu, Sedra and Weinberger (2016): the same network with stochastic depth,
    # the linear rule down to a survival probability of 0.5 for the last block.
    "huang": dict(filters=(16, 32, 64), l2=5e-5, stochastic_depth=0.5),
}


def resnet_cifar10(
    depth: int = 20,
    preset: str | None = "he",
    *,
    filters: tuple[int, int, int] | None = None,
    l2: float | None = None,
    stochastic_depth: float | None = None,
    schedulable: bool = False,
    input_shape: tuple[int, int, int] = (32, 32, 3),
    num_classes: int = 10,
    seed: int | None = None,
    name: str | None = None,
) -> keras.Model:
    """He et al.'s CIFAR-10 ResNet (2016): `depth = 6 n + 2` layers, three stages of `n` blocks.

    A 3x3 convolution with `filters[0]` filters, batch normalization and ReLU;
    then three stages of `n` basic blocks (two 3x3 convolutions, each followed
    by batch normalization, the first by ReLU; the block's input added back;
    ReLU), with `filters[0]`, `filters[1]` and `filters[2]` filters, the first
    block of the second and third stage striding by 2; then global average
    pooling and a softmax Dense layer. Where a block changes the shape, its
    shortcut is a 1x1 convolution with batch normalization (the paper's option
    B; its CIFAR experiments used zero padding, option A, with slightly fewer
    weights). ResNet-20 has 0.27 M weights. Every Conv2D and Dense kernel gets
    `kernel_regularizer=L2(l2)` when `l2 > 0`.

    With `stochastic_depth > 0`, each block's residual branch goes through
    `kreg.layers.StochasticDepth`, with the rates of
    `kreg.layers.linear_depth_rates(3 n, stochastic_depth)`: from
    `stochastic_depth / (3 n)` for the first block to `stochastic_depth` for
    the last.

    Args:
        depth: `6 n + 2` layers with weights: 20, 32, 44, 56, 110, ...
        preset: `"he"` (L2 5e-5, the paper's weight decay 1e-4 as a Keras L2
            factor; no stochastic depth), `"huang"` (the same with
            stochastic depth 0.5) or None (every other architecture argument
            must then be given). Explicit arguments override the preset's.
        filters: the three stages' filters.
        l2: the L2 factor on every kernel; 0 for none.
        stochastic_depth: the last block's drop rate; 0 adds no layer.
        schedulable: build the StochasticDepth layers with
            `schedulable=True`, for `kreg.callbacks.DropoutSchedule`.
        input_shape: image shape, channels last.
        num_classes: output classes.
        seed: seed of the stochastic depth layers (each gets its own, `seed + i`).
        name: model name (defaults to `resnet{depth}`).

    Returns:
        An uncompiled functional `keras.Model`.
    """
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
        raise ValueError(
            f"`depth` must be 6 n + 2 for an integer n >= 1 (20, 32, 44, 56, 110, ...). "
            f"Received: depth={depth!r}"
        )
    given = dict(filters=filters, l2=l2, stochastic_depth=stochastic_depth)
    config = resolve_preset(RESNET_PRESETS, preset, given)
    filters = tuple(config["filters"])
    if len(filters) != 3 or any(
        isinstance(f, bool) or not isinstance(f, int) or f <= 0 for f in filters
    ):
        raise ValueError(
            f"`filters` must be three positive integers. Received: filters={filters!r}"
        )
    factor = check_l2(config["l2"])
    final_rate = config["stochastic_depth"]
    if not 0 <= final_rate < 1:
        raise ValueError(
            f"`stochastic_depth` must be in [0, 1). Received: stochastic_depth={final_rate}"
        )
    blocks_per_stage = (depth - 2) // 6
    rates = linear_depth_rates(3 * blocks_per_stage, final_rate)

    def regularizer():
        return L2(factor) if factor > 0 else None

    def conv(x, width, kernel, strides, layer_name):
        return keras.layers.Conv2D(
            width,
            kernel,
            strides=strides,
            padding="same",
            use_bias=False,
            kernel_initializer="he_normal",
            kernel_regularizer=regularizer(),
            name=layer_name,
        )(x)

    def batch_norm(x, layer_name):
        return keras.layers.BatchNormalization(name=layer_name)(x)

    inputs = keras.Input(shape=input_shape)
    x = conv(inputs, filters[0], 3, 1, "stem_conv")
    x = keras.layers.ReLU(name="stem_relu")(batch_norm(x, "stem_bn"))
    index = 0
    for stage, width in enumerate(filters, start=1):
        for block in range(1, blocks_per_stage + 1):
            prefix = f"stage{stage}_block{block}"
            strides = 2 if stage > 1 and block == 1 else 1
            branch = conv(x, width, 3, strides, f"{prefix}_conv1")
            branch = keras.layers.ReLU(name=f"{prefix}_relu1")(batch_norm(branch, f"{prefix}_bn1"))
            branch = batch_norm(conv(branch, width, 3, 1, f"{prefix}_conv2"), f"{prefix}_bn2")
            shortcut = x
            if strides != 1 or x.shape[-1] != width:
                shortcut = conv(x, width, 1, strides, f"{prefix}_shortcut_conv")
                shortcut = batch_norm(shortcut, f"{prefix}_shortcut_bn")
            if final_rate > 0:
                branch = StochasticDepth(
                    rates[index],
                    seed=None if seed is None else seed + index,
                    schedulable=schedulable,
                    name=f"{prefix}_drop_path",
                )(branch)
            x = keras.layers.Add(name=f"{prefix}_add")([shortcut, branch])
            x = keras.layers.ReLU(name=f"{prefix}_out")(x)
            index += 1
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = keras.layers.Dense(
        num_classes,
        activation="softmax",
        kernel_regularizer=regularizer(),
        # The softmax (and so the loss) in float32 under a mixed-precision policy.
        dtype="float32" if keras.config.dtype_policy().name.startswith("mixed") else None,
        name="predictions",
    )(x)
    return keras.Model(inputs, outputs, name=name or f"resnet{depth}")
