"""The layers' promises, asserted the same way on the TensorFlow, JAX and PyTorch backends."""

import keras
import numpy as np
import pytest
from keras import ops

from kreg.layers import DropBlock2D, InvertedDropout

BACKEND = keras.backend.backend()
X = np.random.RandomState(3).randn(8, 6, 5).astype("float32")


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.86])
@pytest.mark.parametrize("seed", [0, 7])
@pytest.mark.parametrize("noise_shape", [None, (None, 1, 5)])
def test_inverted_dropout_equals_keras_dropout_with_the_same_seed(rate, seed, noise_shape):
    ours = InvertedDropout(rate, noise_shape=noise_shape, seed=seed)
    theirs = keras.layers.Dropout(rate, noise_shape=noise_shape, seed=seed)
    for _ in range(3):  # successive calls advance both generators alike
        mine = ops.convert_to_numpy(ours(X, training=True))
        expected = ops.convert_to_numpy(theirs(X, training=True))
        np.testing.assert_array_equal(mine, expected)
    np.testing.assert_array_equal(ops.convert_to_numpy(ours(X)), X)


def test_inverted_dropout_gradients_equal_keras_dropouts():
    inputs = keras.Input((6, 5))
    weights = np.random.RandomState(0).randn(5, 3).astype("float32")

    def model(dropout):
        hidden = dropout(keras.layers.Dense(5, kernel_initializer="ones")(inputs))
        outputs = keras.layers.Dense(3, kernel_initializer=keras.initializers.Constant(weights))(
            hidden
        )
        built = keras.Model(inputs, outputs)
        built.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
        return built

    ours = model(InvertedDropout(0.4, seed=11))
    theirs = model(keras.layers.Dropout(0.4, seed=11))
    targets = np.zeros((8, 6, 3), "float32")
    ours.fit(X, targets, epochs=2, batch_size=4, shuffle=False, verbose=0)
    theirs.fit(X, targets, epochs=2, batch_size=4, shuffle=False, verbose=0)
    for mine, expected in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_array_equal(mine, expected)


def test_counter_hash_keeps_one_minus_rate_of_the_units():
    layer = InvertedDropout(0.3, seed=1, rng_algorithm="counter_hash")
    out = ops.convert_to_numpy(layer(np.ones((200, 500), "float32"), training=True))
    assert abs((out == 0).mean() - 0.3) < 0.005
    np.testing.assert_allclose(out[out != 0], 1 / 0.7, rtol=1e-6)


def test_schedulable_rate_takes_effect_on_the_next_call():
    layer = InvertedDropout(0.0, seed=0, schedulable=True)
    ones = np.ones((100, 100), "float32")
    assert (ops.convert_to_numpy(layer(ones, training=True)) == 0).mean() == 0
    layer.rate = 0.5
    assert abs((ops.convert_to_numpy(layer(ones, training=True)) == 0).mean() - 0.5) < 0.02


def _blocks_cover(dropped: np.ndarray, block: tuple[int, int]) -> bool:
    """True when every dropped unit lies in a fully dropped block of shape `block` (per map)."""
    bh, bw = block
    height, width = dropped.shape
    covered = np.zeros_like(dropped)
    for i in range(height - bh + 1):
        for j in range(width - bw + 1):
            if dropped[i : i + bh, j : j + bw].all():
                covered[i : i + bh, j : j + bw] = True
    return bool((covered == dropped).all())


@pytest.mark.parametrize("block_size", [3, (2, 4), (4, 1)])
def test_dropblock_drops_whole_blocks_at_the_rate(block_size):
    layer = DropBlock2D(0.2, block_size=block_size, seed=5)
    x = np.ones((16, 12, 10, 4), "float32")
    out = ops.convert_to_numpy(layer(x, training=True))
    dropped = out == 0
    block = block_size if isinstance(block_size, tuple) else (block_size, block_size)
    for example in range(dropped.shape[0]):
        for channel in range(dropped.shape[3]):
            assert _blocks_cover(dropped[example, :, :, channel], block)
    # The expected dropped fraction is the rate exactly; 7680 units, blocks of 3 to 9.
    assert abs(dropped.mean() - 0.2) < 0.03
    kept = out[~dropped]
    np.testing.assert_allclose(kept, dropped.size / (~dropped).sum(), rtol=1e-5)


def test_dropblock_channels_first_drops_the_same_blocks():
    x = np.random.RandomState(0).rand(2, 3, 9, 9).astype("float32") + 1
    first = DropBlock2D(0.25, block_size=(3, 2), seed=4, data_format="channels_first")
    last = DropBlock2D(0.25, block_size=(3, 2), seed=4, data_format="channels_last")
    out_first = ops.convert_to_numpy(first(x, training=True))
    out_last = ops.convert_to_numpy(last(np.transpose(x, (0, 2, 3, 1)), training=True))
    np.testing.assert_allclose(np.transpose(out_last, (0, 3, 1, 2)), out_first, rtol=1e-6)


def test_dropblock_refuses_a_block_larger_than_the_map():
    layer = DropBlock2D(0.1, block_size=(3, 6))
    with pytest.raises(ValueError, match=r"must not exceed the feature map \(5x5\)"):
        layer(np.ones((1, 5, 5, 2), "float32"), training=True)


@pytest.mark.parametrize("block_size", [0, (3,), (2, 0), "3", 2.5, True])
def test_dropblock_refuses_a_bad_block_size(block_size):
    with pytest.raises(ValueError, match="`block_size` must be a positive integer or a pair"):
        DropBlock2D(0.1, block_size=block_size)


@pytest.mark.parametrize(
    "layer",
    [
        InvertedDropout(0.3, noise_shape=(None, 1), seed=2, schedulable=True),
        InvertedDropout(0.2, rng_algorithm="counter_hash"),
        DropBlock2D(
            0.1, block_size=(2, 3), seed=1, schedulable=True, data_format="channels_first"
        ),
    ],
)
def test_config_round_trips(layer):
    config = layer.get_config()
    again = type(layer).from_config(config)
    assert again.get_config() == config


def test_every_layer_trains_in_a_compiled_fit():
    model = keras.Sequential(
        [
            keras.Input((8, 8, 2)),
            keras.layers.Conv2D(3, 3, padding="same"),
            DropBlock2D(0.2, block_size=(2, 3), seed=0, schedulable=True),
            DropBlock2D(0.1, block_size=2, seed=1),
            keras.layers.Flatten(),
            InvertedDropout(0.3, seed=2, rng_algorithm="counter_hash"),
            InvertedDropout(0.2, seed=3, schedulable=True, noise_shape=(None, 1)),
            InvertedDropout(0.1, seed=4),
            keras.layers.Dense(1),
        ]
    )
    model.compile("sgd", "mse", jit_compile="auto")
    x = np.random.RandomState(0).rand(16, 8, 8, 2).astype("float32")
    history = model.fit(x, np.ones((16, 1)), epochs=2, batch_size=8, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
