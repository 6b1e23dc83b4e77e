"""`InvertedDropout`: the course's four dropout steps as a Keras layer."""

from __future__ import annotations

import keras

from kreg.layers.base import SchedulableDropout
from kreg.layers.masks import RNG_ALGORITHMS, draw_uniform, inverted_dropout

__all__ = ["RNG_ALGORITHMS", "InvertedDropout", "draw_uniform"]


def _validate_noise_shape(noise_shape):
    # The same checks and messages as keras.layers.Dropout.
    if noise_shape is None:
        return None
    prefix = "Invalid value received for argument `noise_shape`. "
    if isinstance(noise_shape, str):
        raise ValueError(
            f"{prefix}Expected a tuple or list of integers. Received: noise_shape={noise_shape}"
        )
    if not isinstance(noise_shape, tuple):
        try:
            noise_shape = tuple(noise_shape)
        except TypeError:
            raise ValueError(
                f"{prefix}Expected an iterable of integers (e.g., a tuple or list). "
                f"Received: noise_shape={noise_shape}"
            ) from None
    for i, dim in enumerate(noise_shape):
        if dim is None:
            continue
        if not isinstance(dim, int):
            raise ValueError(
                f"{prefix}Expected all elements to be integers or None. "
                f"Received element at index {i}: {dim} (type: {type(dim).__name__})"
            )
        if dim <= 0:
            raise ValueError(
                f"{prefix}Expected all dimensions to be positive integers or None. "
                f"Received negative or zero value at index {i}: {dim}"
            )
    return noise_shape


@keras.saving.register_keras_serializable(package="kreg")
class InvertedDropout(SchedulableDropout):
    """Inverted dropout written as the course's four steps; a drop-in for `keras.layers.Dropout`.

    During training each unit is kept with probability `keep_prob = 1 - rate`
    and kept units are scaled by `1 / keep_prob`, so the expected activation
    is unchanged and nothing needs rescaling at test time. The steps are:
    draw uniforms `u` in [0, 1), keep where `u >= rate` (probability
    `keep_prob`, the course's `u < keep_prob` mirrored so that, with the same
    seed, exactly the units `keras.layers.Dropout` drops are dropped), shut
    the other units down, and multiply by `1 / keep_prob`.

    With `schedulable=True` the rate lives in a non-trainable variable, so
    setting `layer.rate` (for example from `kreg.callbacks.DropoutSchedule`)
    takes effect inside an already compiled train function without a
    retrace. Without it the layer has exactly the state of
    `keras.layers.Dropout` (a seed generator when `rate > 0`, no weights) and,
    as with Keras's layer, changing `rate` after the first trace has no effect
    on compiled functions.

    Under a `tf.distribute` strategy with several replicas, each replica folds
    its index into the seed, so replicas draw different masks (the seed
    generator is mirrored, and `keras.layers.Dropout` draws the same mask on
    every replica). With one replica nothing changes.

    Under a mixed-precision policy the uniforms are drawn in float32, so the
    layer drops the units of a float32 run with the same seed (Keras's layer
    draws them in the half-precision compute dtype, whose short mantissa
    moves the threshold, and so drops other units).

    Args:
        rate: Float between 0 and 1. Fraction of the input units to drop.
        noise_shape: 1D integer tuple or list, the shape of the binary mask
            multiplied with the input; `None` entries take the input's size.
            For inputs `(batch, timesteps, features)`,
            `noise_shape=(None, 1, None)` drops the same features at every
            timestep.
        seed: A Python integer to use as random seed.
        schedulable: keep the rate in a variable so it can change during
            compiled training.
        rng_algorithm: where the uniforms come from. `"auto_select"` (the
            default) is `keras.random.uniform`, so the masks are those of
            `keras.layers.Dropout`, compiled or not. `"counter_hash"` (see
            `kreg.counter_rng`) hashes each unit's index with the step's
            seed: about 2.5 ns per unit under XLA on CPU against about 6 ns
            for TensorFlow's generators (what makes the lab's full-batch
            engines fast), and the same masks on every backend; its masks
            are not Keras's.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: Input tensor (of any rank).
        training: Python boolean indicating whether the layer should behave in
            training mode (dropping units) or in inference mode (identity).
    """

    def __init__(
        self,
        rate,
        noise_shape=None,
        seed=None,
        schedulable=False,
        rng_algorithm="auto_select",
        **kwargs,
    ):
        if rng_algorithm not in RNG_ALGORITHMS:
            raise ValueError(
                f"`rng_algorithm` must be one of {RNG_ALGORITHMS}. "
                f"Received: rng_algorithm={rng_algorithm!r}"
            )
        super().__init__(rate, seed=seed, schedulable=schedulable, **kwargs)
        self.rng_algorithm = rng_algorithm
        self.noise_shape = _validate_noise_shape(noise_shape)
        self.built = True

    def _drop(self, inputs, rate, seed_generator):
        if isinstance(rate, (int, float)) and rate == 1:
            return keras.ops.zeros_like(inputs)
        return inverted_dropout(inputs, rate, seed_generator, self.noise_shape, self.rng_algorithm)

    def get_config(self):
        config = {"noise_shape": self.noise_shape, "rng_algorithm": self.rng_algorithm}
        return {**super().get_config(), **config}
