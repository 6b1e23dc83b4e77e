"""`InvertedDropout`: the course's four dropout steps as a Keras layer."""

from __future__ import annotations

import keras
from keras import ops

from kreg.counter_rng import hash_uniform

__all__ = ["RNG_ALGORITHMS", "InvertedDropout", "draw_uniform"]

RNG_ALGORITHMS = ("auto_select", "counter_hash")


def _validate_rate(rate) -> float:
    # The same check and message as keras.layers.Dropout.
    if not 0 <= rate <= 1:
        raise ValueError(
            f"Invalid value received for argument "
            "`rate`. Expected a float value between 0 and 1. "
            f"Received: rate={rate}"
        )
    return rate


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
class InvertedDropout(keras.layers.Layer):
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
            for TensorFlow's generators, which is what brings
            `kreg.training.fit_full_batch` with dropout under half the numpy
            loop's time; its masks are not Keras's. Only the TensorFlow
            backend accepts `"counter_hash"`.
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
        super().__init__(**kwargs)
        if rng_algorithm not in RNG_ALGORITHMS:
            raise ValueError(
                f"`rng_algorithm` must be one of {RNG_ALGORITHMS}. "
                f"Received: rng_algorithm={rng_algorithm!r}"
            )
        if rng_algorithm != "auto_select" and keras.backend.backend() != "tensorflow":
            raise ValueError(
                f"`rng_algorithm={rng_algorithm!r}` needs the TensorFlow backend. "
                f"Received: backend={keras.backend.backend()!r}"
            )
        self.rng_algorithm = rng_algorithm
        self._rate = _validate_rate(rate)
        self.seed = seed
        self.noise_shape = _validate_noise_shape(noise_shape)
        self.schedulable = bool(schedulable)
        add_dropout_state(self, rate, seed)
        self.supports_masking = True
        self._build_at_init()

    @property
    def rate(self) -> float:
        """The fraction of units dropped. Settable; see `schedulable`."""
        return self._rate

    @rate.setter
    def rate(self, value) -> None:
        value = _validate_rate(value)
        if getattr(self, "schedulable", False):
            self._rate_variable.assign(float(value))
        self._rate = value

    def call(self, inputs, training=False):
        if not training:
            return inputs
        return self.drop(inputs)

    def drop(self, inputs, seed_generator=None):
        """Apply dropout to `inputs` whatever the training mode: the training-mode output.

        Args:
            inputs: a tensor.
            seed_generator: a `keras.random.SeedGenerator` to draw the mask
                from instead of the layer's own (whose state is then left
                unchanged), as `kreg.mc_predict` does.
        """
        if not self.schedulable and self.rate == 0:
            return inputs  # no seed generator: rate 0 has the state of keras.layers.Dropout(0)
        generator = self.seed_generator if seed_generator is None else seed_generator
        if self.schedulable:
            return self._drop(inputs, self._rate_variable.value, generator)
        if self.rate == 1:
            return ops.zeros_like(inputs)
        return self._drop(inputs, self.rate, generator)

    def _drop(self, inputs, rate, seed_generator):
        dtype = inputs.dtype
        # Step 1: uniforms in [0, 1), one per element of the mask. Half-precision inputs
        # (mixed precision) get float32 uniforms: the same masks as a float32 run.
        mask_dtype = "float32" if dtype in ("float16", "bfloat16") else dtype
        uniform = self._uniform(self._mask_shape(inputs), mask_dtype, seed_generator)
        if isinstance(rate, (int, float)):
            threshold = ops.convert_to_tensor(rate, dtype=mask_dtype)
            scale = ops.convert_to_tensor(1.0 / (1.0 - rate), dtype=dtype)
        else:
            threshold = ops.cast(rate, mask_dtype)
            # rate == 1 keeps no unit; divide_no_nan keeps its gradient finite.
            scale = ops.cast(ops.divide_no_nan(ops.ones_like(rate), 1.0 - rate), dtype)
        # Step 2: the keep-mask, True with probability 1 - rate.
        keep = ops.greater_equal(uniform, threshold)
        # Step 3: shut the other units down.
        shut = ops.where(keep, inputs, ops.zeros_like(inputs))
        # Step 4: rescale by 1 / keep_prob (a multiplication, as Keras does, so that the
        # kept values are bit-identical to keras.layers.Dropout's).
        return shut * scale

    def _uniform(self, shape, dtype, seed_generator):
        return draw_uniform(shape, dtype, seed_generator, self.rng_algorithm)

    def _mask_shape(self, inputs):
        shape = ops.shape(inputs)
        if self.noise_shape is None:
            return shape
        return tuple(shape[i] if dim is None else dim for i, dim in enumerate(self.noise_shape))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        base_config = super().get_config()
        config = {
            "rate": self.rate,
            "seed": self.seed,
            "noise_shape": self.noise_shape,
            "schedulable": self.schedulable,
            "rng_algorithm": self.rng_algorithm,
        }
        return {**base_config, **config}


def add_dropout_state(layer, rate, seed) -> None:
    """A dropout layer's state: a seed generator when it can drop, a rate variable if schedulable.

    As `keras.layers.Dropout`, a layer with rate 0 has no generator. A
    schedulable layer keeps its rate in a float64 variable (so that
    `1 / (1 - rate)` comes from the exact Python value; `autocast=False` keeps
    mixed precision from reading it in half precision) that compiled code reads
    at every step.
    """
    if rate > 0 or layer.schedulable:
        layer.seed_generator = keras.random.SeedGenerator(seed)
    if layer.schedulable:
        layer._rate_variable = layer.add_weight(
            shape=(),
            dtype="float64",
            trainable=False,
            autocast=False,
            name="rate",
            initializer=keras.initializers.Constant(float(rate)),
        )


def draw_uniform(shape, dtype, seed_generator, rng_algorithm="auto_select"):
    """Uniforms in [0, 1) for a dropout mask, from `seed_generator`, per `rng_algorithm`.

    Under a `tf.distribute` strategy with several replicas the replica's index
    is folded into the seed (the generator is mirrored, so replicas would
    otherwise draw the same mask).
    """
    replica = _replica_in_sync()
    if rng_algorithm == "auto_select" and replica is None:
        return keras.random.uniform(shape, dtype=dtype, seed=seed_generator)
    import tensorflow as tf

    seed = seed_generator.next()
    if replica is not None:
        seed = tf.random.experimental.stateless_fold_in(
            tf.cast(seed, tf.int64), tf.cast(replica, tf.int64)
        )
    if rng_algorithm == "counter_hash":
        return hash_uniform(shape, seed, dtype=dtype)
    # keras.random.uniform on the TensorFlow backend, with the replica's seed: fold it
    # into the int32 range XLA accepts.
    if seed.dtype != tf.int32:
        seed = tf.cast(tf.math.floormod(seed, tf.int32.max - 1), tf.int32)
    return tf.random.stateless_uniform(
        shape, seed=seed, minval=tf.cast(0.0, dtype), maxval=tf.cast(1.0, dtype), dtype=dtype
    )


def _replica_in_sync():
    """This replica's index under a tf.distribute strategy with several replicas, else None."""
    if keras.backend.backend() != "tensorflow":
        return None
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return None
    return context.replica_id_in_sync_group
