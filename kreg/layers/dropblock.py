"""`DropBlock2D`: dropout of contiguous square regions of a convolutional feature map."""

from __future__ import annotations

import functools

import keras
import numpy as np
from keras import ops

from kreg.layers.inverted_dropout import add_dropout_state, draw_uniform

__all__ = ["DropBlock2D", "block_coverage", "drop_fraction", "solve_gamma"]


def block_coverage(size: int, block_size: int) -> np.ndarray:
    """For each position along one axis, how many valid block starts cover it.

    A block of `block_size` starts at `0 .. size - block_size` (it must fit
    inside the map), so positions near an edge are covered by fewer blocks.
    """
    starts = np.arange(size - block_size + 1)
    positions = np.arange(size)[:, None]
    return ((positions >= starts) & (positions < starts + block_size)).sum(axis=1)


def _covers(height: int, width: int, block_size: int) -> tuple[np.ndarray, np.ndarray]:
    """How many possible blocks cover a unit (each distinct count), and the share of such units."""
    counts = np.outer(block_coverage(height, block_size), block_coverage(width, block_size))
    covers, units = np.unique(counts, return_counts=True)
    return covers.astype(np.float64), units / counts.size


def drop_fraction(gamma, height: int, width: int, block_size: int) -> float:
    """The expected fraction of units a DropBlock mask drops, for block-start probability gamma.

    A unit covered by `n` possible blocks survives when none of them starts:
    probability `(1 - gamma) ** n`.
    """
    covers, share = _covers(height, width, block_size)
    return float(1 - np.sum(share * (1 - gamma) ** covers))


def solve_gamma(rate, height: int, width: int, block_size: int, iterations: int = 60):
    """The block-start probability whose expected drop fraction is exactly `rate`.

    Ghiasi et al. (2018) use `gamma = rate / block_size**2 * (h w) / ((h - b + 1)
    (w - b + 1))`, which ignores that blocks overlap, so fewer units than `rate`
    are dropped (0.093 instead of 0.1 for a 5x5 block on a 16x16 map). The
    expected fraction is increasing in gamma, so bisection finds the exact
    value. `rate` may be a Python float or a scalar tensor (a schedulable rate:
    the bisection then runs in the graph, as one loop).
    """
    if isinstance(rate, (int, float)):
        low, high = 0.0, 1.0
        for _ in range(iterations):
            middle = (low + high) / 2
            if drop_fraction(middle, height, width, block_size) < rate:
                low = middle
            else:
                high = middle
        return (low + high) / 2
    covers, share = _covers(height, width, block_size)
    covers, share = ops.convert_to_tensor(covers), ops.convert_to_tensor(share)
    rate = ops.cast(rate, "float64")

    def halve(_, bounds):
        low, high = bounds
        middle = (low + high) / 2
        below = ops.less(1 - ops.sum(share * ops.power(1 - middle, covers)), rate)
        return ops.where(below, middle, low), ops.where(below, high, middle)

    zero = ops.zeros((), "float64")
    low, high = ops.fori_loop(0, iterations, halve, (zero, zero + 1))
    return (low + high) / 2


@functools.lru_cache(maxsize=64)
def _fixed_gamma(rate: float, height: int, width: int, block_size: int) -> float:
    return solve_gamma(rate, height, width, block_size)


@keras.saving.register_keras_serializable(package="kreg")
class DropBlock2D(keras.layers.Layer):
    """DropBlock: drops contiguous `block_size` x `block_size` regions of each feature map.

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
    graph and XLA execution, in float32 or mixed precision.

    Args:
        rate: Float in [0, 1). Fraction of the units to drop.
        block_size: Integer >= 1, the side of the square blocks. Must not
            exceed the feature map's height or width.
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
        super().__init__(**kwargs)
        self._rate = self._validate_rate(rate)
        if isinstance(block_size, bool) or not isinstance(block_size, (int, np.integer)):
            raise ValueError(
                f"`block_size` must be a positive integer. Received: block_size={block_size!r}"
            )
        if block_size < 1:
            raise ValueError(
                f"`block_size` must be a positive integer. Received: block_size={block_size}"
            )
        self.block_size = int(block_size)
        self.seed = seed
        self.schedulable = bool(schedulable)
        data_format = data_format or keras.config.image_data_format()
        if data_format not in ("channels_last", "channels_first"):
            raise ValueError(
                "`data_format` must be 'channels_last' or 'channels_first'. "
                f"Received: data_format={data_format!r}"
            )
        self.data_format = data_format
        add_dropout_state(self, rate, seed)
        self.supports_masking = True
        self.input_spec = keras.layers.InputSpec(ndim=4)

    @staticmethod
    def _validate_rate(rate) -> float:
        if not (isinstance(rate, (int, float, np.floating)) and 0 <= rate < 1):
            raise ValueError(
                f"Invalid value received for argument `rate`. Expected a float value in "
                f"[0, 1). Received: rate={rate}"
            )
        return rate

    @property
    def rate(self) -> float:
        """The fraction of units dropped. Settable; see `schedulable`."""
        return self._rate

    @rate.setter
    def rate(self, value) -> None:
        value = self._validate_rate(value)
        if getattr(self, "schedulable", False):
            self._rate_variable.assign(float(value))
        self._rate = value

    def _spatial(self, shape) -> tuple:
        return tuple(shape[1:3]) if self.data_format == "channels_last" else tuple(shape[2:4])

    def build(self, input_shape):
        height, width = self._spatial(input_shape)
        if height is None or width is None:
            raise ValueError(
                f"DropBlock2D needs the feature map's height and width. "
                f"Received: input_shape={input_shape}"
            )
        if self.block_size > min(height, width):
            raise ValueError(
                f"`block_size` must not exceed the feature map ({height}x{width}) of layer "
                f"{self.name!r}. Received: block_size={self.block_size}"
            )

    def call(self, inputs, training=False):
        if not training:
            return inputs
        return self.drop(inputs)

    def drop(self, inputs, seed_generator=None):
        """The training-mode output whatever `training` says (used by `kreg.mc_predict`).

        Args:
            inputs: a 4D tensor.
            seed_generator: a `keras.random.SeedGenerator` to draw the blocks
                from instead of the layer's own (whose state is then unchanged).
        """
        if not self.schedulable and self.rate == 0:
            return inputs
        generator = self.seed_generator if seed_generator is None else seed_generator
        return inputs * ops.cast(self.mask(inputs, generator), inputs.dtype)

    def mask(self, inputs, seed_generator):
        """The multiplier of a training step: 0 on dropped blocks, the keep scale elsewhere."""
        height, width = self._spatial(inputs.shape)
        b = self.block_size
        if self.schedulable:
            gamma = ops.cast(solve_gamma(self._rate_variable.value, height, width, b), "float32")
        else:
            gamma = _fixed_gamma(float(self.rate), height, width, b)
        shape = ops.shape(inputs)
        channels = shape[3] if self.data_format == "channels_last" else shape[1]
        # Uniforms in float32 whatever the compute dtype (the same blocks in mixed precision),
        # drawn channels last (the same blocks in either data format).
        starts_shape = (shape[0], height - b + 1, width - b + 1, channels)
        uniform = draw_uniform(starts_shape, "float32", seed_generator, "counter_hash")
        starts = ops.cast(ops.less(uniform, gamma), "float32")
        if self.data_format == "channels_last":
            padding = [[0, 0], [b // 2, (b - 1) // 2], [b // 2, (b - 1) // 2], [0, 0]]
        else:
            starts = ops.transpose(starts, (0, 3, 1, 2))
            padding = [[0, 0], [0, 0], [b // 2, (b - 1) // 2], [b // 2, (b - 1) // 2]]
        # A "same" max pool of the padded starts marks every unit of every started block.
        dropped = ops.max_pool(
            ops.pad(starts, padding),
            pool_size=b,
            strides=1,
            padding="same",
            data_format=self.data_format,
        )
        keep = 1.0 - dropped
        size = ops.cast(ops.size(keep), "float32")
        return keep * ops.divide_no_nan(size, ops.sum(keep))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        base_config = super().get_config()
        config = {
            "rate": self.rate,
            "block_size": self.block_size,
            "seed": self.seed,
            "schedulable": self.schedulable,
            "data_format": self.data_format,
        }
        return {**base_config, **config}
