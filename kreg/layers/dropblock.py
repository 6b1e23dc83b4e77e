"""`DropBlock2D`: dropout of contiguous rectangular regions of a convolutional feature map."""

from __future__ import annotations

import functools

import keras
import numpy as np
from keras import ops

from kreg.layers.base import SchedulableDropout
from kreg.layers.masks import block_coverage, drop_fraction, dropblock_multiplier, solve_gamma

__all__ = ["DropBlock2D", "block_coverage", "drop_fraction", "solve_gamma"]


@functools.lru_cache(maxsize=64)
def _fixed_gamma(rate: float, height: int, width: int, block_size: tuple[int, int]) -> float:
    return solve_gamma(rate, height, width, block_size)


def _validate_block_size(block_size) -> tuple[int, int]:
    pair = tuple(block_size) if isinstance(block_size, (tuple, list)) else (block_size, block_size)
    valid = len(pair) == 2 and all(
        not isinstance(side, bool) and isinstance(side, (int, np.integer)) and side >= 1
        for side in pair
    )
    if not valid:
        raise ValueError(
            "`block_size` must be a positive integer or a pair (height, width) of positive "
            f"integers. Received: block_size={block_size!r}"
        )
    return int(pair[0]), int(pair[1])


@keras.saving.register_keras_serializable(package="kreg")
class DropBlock2D(SchedulableDropout):
    """DropBlock: drops contiguous rectangular regions of each feature map.

    Dropping single activations after a convolution barely regularizes:
    neighbouring pixels carry the same information, so the next layer reads
    it from the pixels that were kept. DropBlock (Ghiasi, Lin and Le, 2018)
    drops whole square regions instead. In training, block starts are drawn
    independently per example and channel with probability `gamma`, among
    the positions where a whole block fits inside the map; every unit of a
    started block is dropped; the kept units are multiplied by the measured
    keep fraction's inverse (`mask.size / mask.sum()` over the batch, as in
    the paper), so the expected activation is unchanged. `gamma` is solved so
    that the expected fraction of dropped units equals `rate` exactly (the
    paper's closed form ignores overlapping blocks and drops less). With
    `block_size=1` this is dropout of single units. At inference the layer
    is the identity.

    The uniforms come from `kreg.counter_rng` (a counter hash of each unit's
    index with the step's seed), so a seed gives the same masks in eager,
    graph and compiled execution, in float32 or mixed precision, on every
    backend.

    Args:
        rate: Float in [0, 1). Fraction of the units to drop.
        block_size: Integer >= 1, the side of square blocks, or a pair
            `(height, width)` of integers for rectangular ones (as KerasCV's
            `DropBlock2D`). Must not exceed the feature map.
        seed: A Python integer to use as random seed.
        schedulable: keep the rate in a variable so that it can change during
            compiled training, as `kreg.callbacks.DropoutSchedule` does (the
            paper ramps the rate up linearly from 0).
        data_format: `"channels_last"` or `"channels_first"`; defaults to
            `keras.config.image_data_format()`.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: A 4D tensor, `(batch, height, width, channels)` (channels
            last) or `(batch, channels, height, width)`.
        training: Python boolean indicating whether the layer should behave in
            training mode (dropping blocks) or in inference mode (identity).
    """

    def __init__(
        self,
        rate,
        block_size=3,
        seed=None,
        schedulable=False,
        data_format=None,
        **kwargs,
    ):
        super().__init__(rate, seed=seed, schedulable=schedulable, **kwargs)
        self.block_size = (
            list(_validate_block_size(block_size))
            if isinstance(block_size, (tuple, list))
            else int(_validate_block_size(block_size)[0])
        )
        self._block = _validate_block_size(block_size)
        data_format = data_format or keras.config.image_data_format()
        if data_format not in ("channels_last", "channels_first"):
            raise ValueError(
                "`data_format` must be 'channels_last' or 'channels_first'. "
                f"Received: data_format={data_format!r}"
            )
        self.data_format = data_format
        self.input_spec = keras.layers.InputSpec(ndim=4)

    @staticmethod
    def _validate_rate(rate) -> float:
        if not (isinstance(rate, (int, float, np.floating)) and 0 <= rate < 1):
            raise ValueError(
                f"Invalid value received for argument `rate`. Expected a float value in "
                f"[0, 1). Received: rate={rate}"
            )
        return rate

    def _spatial(self, shape) -> tuple:
        return tuple(shape[1:3]) if self.data_format == "channels_last" else tuple(shape[2:4])

    def build(self, input_shape):
        height, width = self._spatial(input_shape)
        if height is None or width is None:
            raise ValueError(
                f"DropBlock2D needs the feature map's height and width. "
                f"Received: input_shape={input_shape}"
            )
        if self._block[0] > height or self._block[1] > width:
            raise ValueError(
                f"`block_size` must not exceed the feature map ({height}x{width}) of layer "
                f"{self.name!r}. Received: block_size={self.block_size}"
            )

    def _drop(self, inputs, rate, seed_generator):
        return inputs * ops.cast(self.mask(inputs, seed_generator), inputs.dtype)

    def mask(self, inputs, seed_generator):
        """The multiplier of a training step: 0 on dropped blocks, the keep scale elsewhere."""
        height, width = self._spatial(inputs.shape)
        if self.schedulable:
            gamma = solve_gamma(self._rate_variable.value, height, width, self._block)
        else:
            gamma = _fixed_gamma(float(self.rate), height, width, self._block)
        return dropblock_multiplier(inputs, gamma, self._block, seed_generator, self.data_format)

    def get_config(self):
        config = {"block_size": self.block_size, "data_format": self.data_format}
        return {**super().get_config(), **config}
