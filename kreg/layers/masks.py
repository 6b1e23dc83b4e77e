"""The masks kreg's dropout layers draw, as plain functions on `keras.ops` tensors.

Written once and shared: `InvertedDropout` and `DropBlock2D` call them, as do
`kreg.mc_predict` and the lab's full-batch engines, on every backend.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from kreg.counter_rng import hash_uniform

__all__ = [
    "RNG_ALGORITHMS",
    "block_coverage",
    "drop_fraction",
    "dropblock_multiplier",
    "draw_uniform",
    "inverted_dropout",
    "solve_gamma",
]

RNG_ALGORITHMS = ("auto_select", "counter_hash")


def draw_uniform(shape, dtype, seed_generator, rng_algorithm: str = "auto_select"):
    """Uniforms in [0, 1) for a dropout mask, from `seed_generator`, per `rng_algorithm`.

    `"auto_select"` is `keras.random.uniform`, the stream `keras.layers.Dropout`
    draws from; `"counter_hash"` is `kreg.counter_rng.hash_uniform`, the same
    values on every backend. Under a `tf.distribute` strategy with several
    replicas the replica's index is folded into the seed (the generator is
    mirrored, so replicas would otherwise draw the same mask).
    """
    if rng_algorithm not in RNG_ALGORITHMS:
        raise ValueError(
            f"`rng_algorithm` must be one of {RNG_ALGORITHMS}. "
            f"Received: rng_algorithm={rng_algorithm!r}"
        )
    replica = _replica_in_sync()
    if replica is None:
        if rng_algorithm == "counter_hash":
            return hash_uniform(shape, seed_generator.next(), dtype=dtype)
        return keras.random.uniform(shape, dtype=dtype, seed=seed_generator)
    import tensorflow as tf  # only reached under a tf.distribute strategy

    seed = tf.random.experimental.stateless_fold_in(
        tf.cast(seed_generator.next(), tf.int64), tf.cast(replica, tf.int64)
    )
    if rng_algorithm == "counter_hash":
        return hash_uniform(shape, seed, dtype=dtype)
    # keras.random.uniform on the TensorFlow backend, with the replica's seed folded into
    # the int32 range XLA accepts.
    seed = tf.cast(tf.math.floormod(seed, tf.int32.max - 1), tf.int32)
    return tf.random.stateless_uniform(
        shape, seed=seed, minval=tf.cast(0.0, dtype), maxval=tf.cast(1.0, dtype), dtype=dtype
    )


def _replica_in_sync():
    """This replica's index under a tf.distribute strategy with several replicas, else None."""
    if keras.backend.backend() != "tensorflow":
        return None
    import tensorflow as tf  # the backend is TensorFlow: already imported by Keras

    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return None
    return context.replica_id_in_sync_group


def inverted_dropout(
    inputs, rate, seed_generator, noise_shape=None, rng_algorithm: str = "auto_select"
):
    """The course's four dropout steps: draw, keep-mask, shut down, rescale by 1 / keep_prob.

    `rate` is a Python float or a scalar tensor (a schedulable rate). With
    `rng_algorithm="auto_select"` and a float rate, the keep-mask is the one
    `keras.layers.Dropout` draws from the same seed generator on this backend
    (each backend draws it its own way: TensorFlow keeps units whose uniform
    is `>= rate`, JAX those whose uniform is `< 1 - rate`, PyTorch draws
    Bernoulli variables), and kept units are rescaled as that backend's
    Dropout rescales them, so the output is bit-identical. A tensor rate, and
    `"counter_hash"`, keep units whose uniform is `>= rate` (on TensorFlow the
    same units as Dropout). Half-precision inputs get float32 draws, so the
    masks are those of a float32 run with the same seed.
    """
    dtype = keras.backend.standardize_dtype(inputs.dtype)
    mask_dtype = "float32" if dtype in ("float16", "bfloat16") else dtype
    shape = _mask_shape(inputs, noise_shape)
    fixed = isinstance(rate, (int, float))
    # Step 1 and 2: the keep-mask, True with probability 1 - rate.
    if fixed and rng_algorithm == "auto_select" and _draws_like_keras_dropout():
        keep = ops.not_equal(
            keras.random.dropout(ops.ones(shape, mask_dtype), rate, seed=seed_generator), 0
        )
    else:
        uniform = draw_uniform(shape, mask_dtype, seed_generator, rng_algorithm)
        threshold = (
            ops.cast(rate, mask_dtype) if not fixed else ops.convert_to_tensor(rate, mask_dtype)
        )
        keep = ops.greater_equal(uniform, threshold)
    # Step 3: shut the other units down.
    shut = ops.where(keep, inputs, ops.zeros_like(inputs))
    # Step 4: rescale by 1 / keep_prob, as this backend's keras.layers.Dropout does.
    if not fixed:
        # rate == 1 keeps no unit; divide_no_nan keeps its gradient finite.
        return shut * ops.cast(ops.divide_no_nan(ops.ones_like(rate), 1.0 - rate), dtype)
    if keras.backend.backend() == "tensorflow":
        return shut * ops.convert_to_tensor(1.0 / (1.0 - rate), dtype=dtype)
    return shut / ops.convert_to_tensor(1.0 - rate, dtype=dtype)


def _draws_like_keras_dropout() -> bool:
    # On TensorFlow, keras.random.uniform >= rate is already Dropout's draw (and a replica
    # under tf.distribute must fold its index into the seed, which draw_uniform does).
    return keras.backend.backend() != "tensorflow"


def _mask_shape(inputs, noise_shape):
    shape = ops.shape(inputs)
    if noise_shape is None:
        return shape
    return tuple(shape[i] if dim is None else dim for i, dim in enumerate(noise_shape))


def block_coverage(size: int, block_size: int) -> np.ndarray:
    """For each position along one axis, how many valid block starts cover it.

    A block of `block_size` starts at `0 .. size - block_size` (it must fit
    inside the map), so positions near an edge are covered by fewer blocks.
    """
    starts = np.arange(size - block_size + 1)
    positions = np.arange(size)[:, None]
    return ((positions >= starts) & (positions < starts + block_size)).sum(axis=1)


def _covers(height: int, width: int, block_size) -> tuple[np.ndarray, np.ndarray]:
    """How many possible blocks cover a unit (each distinct count), and the share of such units."""
    block_height, block_width = _pair(block_size)
    counts = np.outer(block_coverage(height, block_height), block_coverage(width, block_width))
    covers, units = np.unique(counts, return_counts=True)
    return covers.astype(np.float64), units / counts.size


def _pair(block_size) -> tuple[int, int]:
    if isinstance(block_size, (tuple, list)):
        return int(block_size[0]), int(block_size[1])
    return int(block_size), int(block_size)


def drop_fraction(gamma, height: int, width: int, block_size) -> float:
    """The expected fraction of units a DropBlock mask drops, for block-start probability gamma.

    A unit covered by `n` possible blocks survives when none of them starts:
    probability `(1 - gamma) ** n`. `block_size` is an int or `(height, width)`.
    """
    covers, share = _covers(height, width, block_size)
    return float(1 - np.sum(share * (1 - gamma) ** covers))


def solve_gamma(rate, height: int, width: int, block_size, iterations: int = 60):
    """The block-start probability whose expected drop fraction is exactly `rate`.

    Ghiasi et al. (2018) use `gamma = rate / block_size**2 * (h w) / ((h - b + 1)
    (w - b + 1))`, which ignores that blocks overlap, so fewer units than `rate`
    are dropped (0.093 instead of 0.1 for a 5x5 block on a 16x16 map). The
    expected fraction is increasing in gamma, so bisection finds the exact
    value. `rate` may be a Python float or a scalar tensor (a schedulable rate:
    the bisection then runs in the graph, as one loop, in float32 or float64).
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
    dtype = keras.backend.standardize_dtype(rate.dtype)
    covers, share = _covers(height, width, block_size)
    covers = ops.convert_to_tensor(covers, dtype=dtype)
    share = ops.convert_to_tensor(share, dtype=dtype)

    def halve(_, bounds):
        low, high = bounds
        middle = (low + high) / 2
        below = ops.less(1 - ops.sum(share * ops.power(1 - middle, covers)), rate)
        return ops.where(below, middle, low), ops.where(below, high, middle)

    zero = ops.zeros((), dtype)
    low, high = ops.fori_loop(0, iterations, halve, (zero, zero + 1))
    return (low + high) / 2


def dropblock_multiplier(inputs, gamma, block_size, seed_generator, data_format="channels_last"):
    """DropBlock's training multiplier: 0 on dropped blocks, the measured keep scale elsewhere.

    Block starts are drawn per example and channel with probability `gamma`
    among the positions where a whole `block_size` block (an int or
    `(height, width)`) fits; every unit of a started block is dropped; kept
    units are multiplied by `size / kept` over the batch (as in the paper). The
    uniforms are `kreg.counter_rng`'s, in float32 and channels last, so a seed
    gives the same blocks on every backend, in either data format and in mixed
    precision.
    """
    block_height, block_width = _pair(block_size)
    shape = ops.shape(inputs)
    if data_format == "channels_last":
        height, width, channels = inputs.shape[1], inputs.shape[2], shape[3]
    else:
        height, width, channels = inputs.shape[2], inputs.shape[3], shape[1]
    starts_shape = (shape[0], height - block_height + 1, width - block_width + 1, channels)
    uniform = draw_uniform(starts_shape, "float32", seed_generator, "counter_hash")
    starts = ops.cast(ops.less(uniform, ops.cast(gamma, "float32")), "float32")
    # A block starting at (i, j) covers rows i .. i + bh - 1: pad the starts so that a
    # "valid" max pool of window (bh, bw) marks every unit of every started block.
    rows = [block_height - 1, block_height - 1]
    columns = [block_width - 1, block_width - 1]
    if data_format == "channels_last":
        padded = ops.pad(starts, [[0, 0], rows, columns, [0, 0]])
    else:
        padded = ops.pad(ops.transpose(starts, (0, 3, 1, 2)), [[0, 0], [0, 0], rows, columns])
    dropped = ops.max_pool(
        padded,
        pool_size=(block_height, block_width),
        strides=1,
        padding="valid",
        data_format=data_format,
    )
    keep = 1.0 - dropped
    size = ops.cast(ops.size(keep), "float32")
    return keep * ops.divide_no_nan(size, ops.sum(keep))
