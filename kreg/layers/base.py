"""What kreg's dropout layers share: a validated rate, kept in a variable if schedulable."""

from __future__ import annotations

import keras

from kreg._dtypes import widest_float

__all__ = ["SchedulableDropout"]


class SchedulableDropout(keras.layers.Layer):
    """Base class of kreg's dropout layers: a rate that `kreg.callbacks.DropoutSchedule` can drive.

    The layer holds a seed generator when it can drop (as `keras.layers.Dropout`,
    none at rate 0). With `schedulable=True` the rate lives in a non-trainable
    scalar variable that compiled code reads at every step, so setting
    `layer.rate` between epochs takes effect without a retrace; the variable
    is float64 (so that `1 / (1 - rate)` comes from the exact Python value)
    where the backend has float64, float32 on JAX without x64. Subclasses
    implement `_drop(inputs, rate, seed_generator)`; `rate` is a Python float
    or that variable's value.

    Args:
        rate: the fraction of units dropped.
        seed: a Python integer to use as random seed.
        schedulable: keep the rate in a variable.
        **kwargs: base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: the input tensor.
        training: Python boolean: drop in training mode, identity otherwise.
    """

    def __init__(self, rate, seed=None, schedulable=False, **kwargs):
        super().__init__(**kwargs)
        self._rate = self._validate_rate(rate)
        self.seed = seed
        self.schedulable = bool(schedulable)
        if rate > 0 or self.schedulable:
            self.seed_generator = keras.random.SeedGenerator(seed)
        if self.schedulable:
            # autocast=False: mixed precision must not read the rate in half precision.
            self._rate_variable = self.add_weight(
                shape=(),
                dtype=widest_float(),
                trainable=False,
                autocast=False,
                name="rate",
                initializer=keras.initializers.Constant(float(rate)),
            )
        self.supports_masking = True

    @staticmethod
    def _validate_rate(rate) -> float:
        # The same check and message as keras.layers.Dropout.
        if not 0 <= rate <= 1:
            raise ValueError(
                "Invalid value received for argument `rate`. Expected a float value between "
                f"0 and 1. Received: rate={rate}"
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

    def call(self, inputs, training=False):
        if not training:
            return inputs
        return self.drop(inputs)

    def drop(self, inputs, seed_generator=None):
        """The training-mode output whatever `training` says (`kreg.mc_predict` uses it).

        Args:
            inputs: a tensor.
            seed_generator: a `keras.random.SeedGenerator` to draw the mask
                from instead of the layer's own (whose state is then left
                unchanged).
        """
        if not self.schedulable and self.rate == 0:
            return inputs  # no seed generator: the state of keras.layers.Dropout(0)
        generator = self.seed_generator if seed_generator is None else seed_generator
        rate = self._rate_variable.value if self.schedulable else self.rate
        return self._drop(inputs, rate, generator)

    def _drop(self, inputs, rate, seed_generator):
        raise NotImplementedError

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        base_config = super().get_config()
        config = {"rate": self.rate, "seed": self.seed, "schedulable": self.schedulable}
        return {**base_config, **config}
