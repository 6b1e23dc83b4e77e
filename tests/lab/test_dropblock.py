"""DropBlock2D: the drop fraction, whole blocks, gradients, seeds, and its validation."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy import ndimage

from kreg.layers import DropBlock2D, InvertedDropout
from kreg.layers.dropblock import drop_fraction, solve_gamma

X = np.random.RandomState(0).rand(8, 16, 16, 6).astype("float32") + 0.5  # no zeros


def dropped(layer, x=X):
    return np.asarray(layer(x, training=True)) == 0


def test_gamma_makes_the_expected_drop_fraction_the_rate():
    for rate, b in [(0.1, 3), (0.25, 5), (0.4, 2)]:
        gamma = solve_gamma(rate, 16, 12, b)
        assert drop_fraction(gamma, 16, 12, b) == pytest.approx(rate, abs=1e-12)
    # The paper's closed form ignores overlapping blocks: it drops less than the rate.
    paper = 0.1 / 25 * 256 / 144
    assert (
        drop_fraction(paper, 16, 16, 5)
        < 0.095
        < drop_fraction(solve_gamma(0.1, 16, 16, 5), 16, 16, 5)
    )
    # The in-graph solve (a schedulable rate) agrees with the Python one.
    # (in the rate's dtype: float64, as a schedulable layer's rate variable on TensorFlow).
    in_graph = float(solve_gamma(tf.constant(0.25, tf.float64), 16, 12, 5))
    assert in_graph == pytest.approx(solve_gamma(0.25, 16, 12, 5), rel=1e-9)
    in_float32 = float(solve_gamma(tf.constant(0.25), 16, 12, 5))
    assert in_float32 == pytest.approx(solve_gamma(0.25, 16, 12, 5), rel=1e-6)


@pytest.mark.parametrize("rate, block_size", [(0.1, 3), (0.3, 5), (0.2, 2)])
def test_drop_fraction_over_many_draws_is_the_rate(rate, block_size):
    layer = DropBlock2D(rate, block_size=block_size, seed=1)
    fractions = [dropped(layer).mean() for _ in range(40)]
    # 40 draws of 12 288 units in correlated blocks: the mean is within 0.01 of the rate.
    assert np.mean(fractions) == pytest.approx(rate, abs=0.01)


@pytest.mark.parametrize("block_size", [2, 3, 5])
def test_every_dropped_region_is_made_of_whole_blocks(block_size):
    layer = DropBlock2D(0.3, block_size=block_size, seed=2)
    mask = dropped(layer)
    square = np.ones((block_size, block_size), bool)
    for example in range(mask.shape[0]):
        for channel in range(mask.shape[-1]):
            region = mask[example, :, :, channel]
            # A set is a union of b x b squares exactly when opening it with a b x b square
            # (erode, then dilate) gives it back.
            opened = ndimage.binary_opening(region, structure=square)
            np.testing.assert_array_equal(opened, region)
            labels, count = ndimage.label(region)
            for rows, cols in ndimage.find_objects(labels):
                assert rows.stop - rows.start >= block_size
                assert cols.stop - cols.start >= block_size


def test_kept_units_scaled_by_the_measured_keep_fraction():
    layer = DropBlock2D(0.25, block_size=3, seed=4)
    out = np.asarray(layer(X, training=True))
    kept = out != 0
    scale = np.float32(kept.size / kept.sum())
    np.testing.assert_allclose(out[kept], X[kept] * scale, rtol=1e-6)


def test_block_size_one_is_plain_dropout():
    assert solve_gamma(0.3, 16, 16, 1) == pytest.approx(0.3, abs=1e-15)
    layer = DropBlock2D(0.3, block_size=1, seed=5)
    ones = np.ones((16, 32, 32, 4), "float32")
    fraction = np.mean([dropped(layer, ones).mean() for _ in range(10)])
    keras_fraction = np.asarray(keras.layers.Dropout(0.3, seed=5)(ones, training=True)) == 0
    # 655 360 units: both within 0.003 of the rate (binomial sd 0.0006).
    assert fraction == pytest.approx(0.3, abs=0.003)
    assert keras_fraction.mean() == pytest.approx(fraction, abs=0.003)


def test_gradient_is_zero_exactly_where_the_mask_is_zero():
    layer = DropBlock2D(0.3, block_size=3, seed=6)
    x = tf.constant(X)
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = layer(x, training=True)
    grad = tape.gradient(out, x).numpy()
    mask = out.numpy() == 0
    assert (grad[mask] == 0).all()
    # Elsewhere the gradient is the keep scale: the mask is a constant of the step.
    np.testing.assert_allclose(grad[~mask], mask.size / (~mask).sum(), rtol=1e-6)


def test_bit_identical_under_a_seed_in_eager_graph_and_xla():
    layers = [DropBlock2D(0.2, block_size=3, seed=7) for _ in range(3)]
    eager = lambda v: layers[0](v, training=True)  # noqa: E731
    graph = tf.function(lambda v: layers[1](v, training=True))
    xla = tf.function(lambda v: layers[2](v, training=True), jit_compile=True)
    draws = []
    for _ in range(3):
        outs = [np.asarray(f(X)) for f in (eager, graph, xla)]
        np.testing.assert_array_equal(outs[0], outs[1])
        np.testing.assert_array_equal(outs[0], outs[2])
        draws.append(outs[0])
    assert not np.array_equal(draws[0], draws[1]), "fresh blocks every step"
    other = DropBlock2D(0.2, block_size=3, seed=8)
    assert not np.array_equal(dropped(other), draws[0] == 0)


def test_identity_at_inference_and_rate_zero():
    np.testing.assert_array_equal(DropBlock2D(0.5, seed=1)(X, training=False), X)
    layer = DropBlock2D(0.0)
    np.testing.assert_array_equal(layer(X, training=True), X)
    assert not layer.weights


def test_channels_first_drops_the_same_blocks():
    last = np.asarray(DropBlock2D(0.3, block_size=3, seed=9)(X, training=True))
    first = DropBlock2D(0.3, block_size=3, seed=9, data_format="channels_first")
    out = np.asarray(first(X.transpose(0, 3, 1, 2), training=True))
    np.testing.assert_array_equal(out.transpose(0, 2, 3, 1), last)


def test_schedulable_rate_changes_inside_compiled_code():
    layer = DropBlock2D(0.0, block_size=3, seed=3, schedulable=True)
    step = tf.function(lambda v: layer(v, training=True), jit_compile=True)
    ones = np.ones((16, 16, 16, 8), "float32")
    assert (np.asarray(step(ones)) == 0).mean() == 0
    layer.rate = 0.3
    assert (np.asarray(step(ones)) == 0).mean() == pytest.approx(0.3, abs=0.02)
    assert step.experimental_get_tracing_count() == 1


def test_dropout_schedule_drives_dropblock():
    from kreg.callbacks import DropoutSchedule

    model = keras.Sequential(
        [
            keras.Input((8, 8, 2)),
            keras.layers.Conv2D(4, 3, padding="same"),
            DropBlock2D(0.0, block_size=3, seed=0, schedulable=True, name="blocks"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(2, activation="softmax"),
        ]
    )
    model.compile("sgd", "sparse_categorical_crossentropy")
    x, y = np.random.rand(16, 8, 8, 2), np.random.randint(0, 2, 16)
    history = model.fit(
        x, y, epochs=3, verbose=0, callbacks=[DropoutSchedule(lambda e, r: 0.1 * e)]
    )
    assert history.history["dropout_rate"] == pytest.approx([0.0, 0.1, 0.2])
    assert model.get_layer("blocks").rate == pytest.approx(0.2)


def test_serialization_round_trip_and_registration(tmp_path):
    layer = DropBlock2D(0.25, block_size=4, seed=3, schedulable=True, name="db")
    config = layer.get_config()
    assert keras.saving.get_registered_name(DropBlock2D) == "kreg>DropBlock2D"
    clone = DropBlock2D.from_config(config)
    assert clone.get_config() == config
    model = keras.Sequential([keras.Input((8, 8, 3)), layer])
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert loaded.layers[0].get_config() == config


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"rate": 1.0}, "Expected a float value in [0, 1). Received: rate=1.0"),
        ({"rate": -0.1}, "Received: rate=-0.1"),
        (
            {"rate": 0.1, "block_size": 0},
            "`block_size` must be a positive integer or a pair (height, width) of positive "
            "integers. Received: block_size=0",
        ),
        ({"rate": 0.1, "block_size": 2.5}, "Received: block_size=2.5"),
        ({"rate": 0.1, "data_format": "nhwc"}, "Received: data_format='nhwc'"),
    ],
)
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError) as info:
        DropBlock2D(**kwargs)
    assert message in str(info.value)


def test_a_block_larger_than_the_feature_map_is_refused_when_built():
    with pytest.raises(ValueError, match=r"must not exceed the feature map \(4x5\).*block_size=6"):
        keras.Sequential([keras.Input((4, 5, 3)), DropBlock2D(0.1, block_size=6, name="db")])


def test_kreg_spatial_drops_the_same_maps_as_keras_spatial_dropout():
    spatial = keras.layers.SpatialDropout2D(0.3, seed=11)
    inverted = InvertedDropout(0.3, noise_shape=(None, 1, 1, None), seed=11)
    for _ in range(3):
        a = np.asarray(spatial(X, training=True))
        b = np.asarray(inverted(X, training=True))
        np.testing.assert_array_equal(a, b)
        maps = (a == 0).all(axis=(1, 2))
        assert maps.any() and ((a == 0).any(axis=(1, 2)) == maps).all(), "whole maps"
