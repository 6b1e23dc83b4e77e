"""A `tf.data` image pipeline whose every random choice is a function of (seed, epoch, position).

Shuffling and augmentation use stateless random ops keyed on the seed, the
epoch and the example's position in the epoch, never on how many times the
dataset was iterated. An epoch therefore sees the same order and the same
augmented images whether the run is fresh, repeated, or resumed from a
backup at that epoch; `EpochSeededImages.callback` tells the dataset which
epoch `model.fit` is in (Keras builds each epoch's iterator after
`on_epoch_begin`, so the value is in place when the epoch's data is made).
"""

from __future__ import annotations

import math

import keras
import numpy as np

__all__ = ["AUGMENTATIONS", "ChannelStandardizer", "EpochSeededImages"]

AUGMENTATIONS = ("none", "crop-flip", "book")


class ChannelStandardizer:
    """Per-channel standardization with training-set statistics, as a Keras layer.

    `layer` is a `keras.layers.Normalization` adapted on the raw training
    images (values 0-255): it computes `(x - mean) / std` per channel. The
    input pipeline applies it, and `export_model` puts the same layer in
    front of the trained network, so a saved model takes raw images and
    computes exactly what training and evaluation saw.

    Args:
        images: the training images, `(n, height, width, channels)`, 0-255.
    """

    def __init__(self, images: np.ndarray):
        images = np.asarray(images)
        if images.ndim != 4:
            raise ValueError(
                f"`images` must have shape (n, height, width, channels). "
                f"Received: images.shape={images.shape}"
            )
        self.layer = keras.layers.Normalization(axis=-1, name="standardize")
        # numpy computes the statistics in float64 (then stored as float32).
        self.layer.adapt(images.astype(np.float64))
        if not np.all(self.std > 0):
            raise ValueError(f"A channel of the training images is constant; std={self.std}.")

    @property
    def mean(self) -> np.ndarray:
        return keras.ops.convert_to_numpy(self.layer.mean).reshape(-1)

    @property
    def std(self) -> np.ndarray:
        return np.sqrt(keras.ops.convert_to_numpy(self.layer.variance).reshape(-1))

    def __call__(self, images):
        import tensorflow as tf

        return self.layer(tf.cast(images, tf.float32))


def _crop_flip(image, seed, pad=4):
    import tensorflow as tf

    height, width, channels = image.shape
    padded = tf.pad(image, [[pad, pad], [pad, pad], [0, 0]])
    seeds = tf.random.experimental.stateless_split(seed, 2)
    image = tf.image.stateless_random_crop(padded, (height, width, channels), seed=seeds[0])
    return tf.image.stateless_random_flip_left_right(image, seed=seeds[1])


def _rotate_shift_flip(image, seed, degrees=15.0, shift=0.1):
    """The book's ImageDataGenerator: rotation +-15 degrees, shifts +-10 %, horizontal flip."""
    import tensorflow as tf

    height, width, _ = image.shape
    seeds = tf.random.experimental.stateless_split(seed, 3)
    angle = tf.random.stateless_uniform([], seeds[0], -degrees, degrees) * math.pi / 180
    offsets = tf.random.stateless_uniform([2], seeds[1], -shift, shift) * [width, height]
    cos, sin = tf.cos(angle), tf.sin(angle)
    cx, cy = (width - 1) / 2, (height - 1) / 2
    # Output pixel (x, y) samples the input at A (x, y) + b: rotation about the centre, then shift.
    transform = tf.stack(
        [
            cos,
            -sin,
            cx - cos * cx + sin * cy - offsets[0],
            sin,
            cos,
            cy - sin * cx - cos * cy - offsets[1],
            0.0,
            0.0,
        ]
    )
    image = keras.ops.image.affine_transform(
        image[None], transform[None], interpolation="bilinear", fill_mode="nearest"
    )[0]
    return tf.image.stateless_random_flip_left_right(image, seed=seeds[2])


class EpochSeededImages:
    """Training and evaluation datasets for images with seeded, resumable randomness.

    Args:
        x_train: uint8 training images.
        y_train: their labels.
        batch_size: examples per batch (the last batch of an epoch may be
            smaller).
        seed: seed of the shuffle and of the augmentation.
        augment: `"none"`, `"crop-flip"` (pad 4, random 32x32 crop,
            horizontal flip) or `"book"` (rotation +-15 degrees, shifts +-10 %,
            horizontal flip, as the seed book's ImageDataGenerator).
        shuffle: shuffle the training examples every epoch.

    Attributes:
        standardize: the `ChannelStandardizer` fitted on `x_train`.
        epoch: a variable holding the epoch the training dataset serves.
        callback: a Keras callback that keeps `epoch` in step with `fit`.
    """

    def __init__(
        self,
        x_train,
        y_train,
        batch_size: int,
        seed: int = 0,
        augment="none",
        shuffle: bool = True,
    ):
        import tensorflow as tf

        if augment not in AUGMENTATIONS:
            raise ValueError(
                f"`augment` must be one of {AUGMENTATIONS}. Received: augment={augment!r}"
            )
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"`batch_size` must be a positive integer. Received: {batch_size!r}")
        if len(x_train) != len(y_train):
            raise ValueError(
                f"{len(x_train)} training images but {len(y_train)} labels; they must match."
            )
        self.x_train, self.y_train = np.asarray(x_train), np.asarray(y_train)
        self.batch_size, self.seed, self.augment, self.shuffle = batch_size, seed, augment, shuffle
        self.standardize = ChannelStandardizer(self.x_train)
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="pipeline_epoch")
        self.callback = _SetEpoch(self.epoch)

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(len(self.x_train) / self.batch_size)

    def train_dataset(self):
        """Shuffled, augmented, standardized batches for the epoch in `self.epoch`."""
        import tensorflow as tf

        n = len(self.x_train)
        images = tf.constant(self.x_train)
        labels = tf.constant(self.y_train)
        seed = tf.constant(self.seed, tf.int64)
        augment = {"none": None, "crop-flip": _crop_flip, "book": _rotate_shift_flip}[self.augment]
        standardize = self.standardize

        def epoch_order(_):
            epoch = self.epoch.read_value()
            positions = tf.range(n, dtype=tf.int64)
            if self.shuffle:
                order = tf.random.experimental.stateless_shuffle(
                    positions, seed=tf.stack([seed, epoch])
                )
            else:
                order = positions
            return tf.data.Dataset.from_tensor_slices((order, positions + epoch * n))

        def load_batch(index, position):
            # One gather and one standardization per batch: per-example tf.data work costs
            # about 30 % of the training throughput on a 2-core CPU.
            batch = standardize(tf.gather(images, index))
            if augment is not None:
                seeds = tf.stack([tf.fill(tf.shape(position), seed), position], axis=1)
                batch = tf.map_fn(
                    lambda args: augment(args[0], args[1]),
                    (batch, seeds),
                    fn_output_signature=tf.TensorSpec(batch.shape[1:], batch.dtype),
                )
            return batch, tf.gather(labels, index)

        dataset = tf.data.Dataset.range(1).flat_map(epoch_order)
        # flat_map hides the size from Keras; state it so that fit builds one iterator per epoch.
        dataset = dataset.apply(tf.data.experimental.assert_cardinality(n))
        dataset = dataset.batch(self.batch_size)
        dataset = dataset.map(load_batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        return _shard_by_data(dataset.prefetch(tf.data.AUTOTUNE))

    def eval_dataset(self, x, y, batch_size: int | None = None):
        """Standardized (never augmented) batches of `(x, y)` in order."""
        import tensorflow as tf

        dataset = tf.data.Dataset.from_tensor_slices((np.asarray(x), np.asarray(y)))
        dataset = dataset.batch(batch_size or self.batch_size)
        dataset = dataset.map(lambda images, labels: (self.standardize(images), labels))
        return _shard_by_data(dataset.prefetch(tf.data.AUTOTUNE))


def _shard_by_data(dataset):
    # Under MultiWorkerMirroredStrategy every worker builds the same global batches and
    # keeps its replicas' share of each, so the steps are those of one device. (The
    # default, AUTO, would try to shard by file, find none, and fall back to this.)
    import tensorflow as tf

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


class _SetEpoch(keras.callbacks.Callback):
    def __init__(self, variable):
        super().__init__()
        self.variable = variable

    def on_epoch_begin(self, epoch, logs=None):
        self.variable.assign(epoch)
