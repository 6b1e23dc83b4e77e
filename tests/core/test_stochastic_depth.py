"""StochasticDepth (DropPath), the linear depth rule, and He et al.'s CIFAR ResNet."""

import keras
import numpy as np
import pytest
from keras import ops

from kreg.callbacks import DropoutSchedule
from kreg.layers import StochasticDepth, linear_depth_rates
from kreg.models import resnet_cifar10
from kreg.regularizers import L2

BRANCH = np.random.RandomState(0).randn(400, 3, 2).astype("float32") + 2.0
SHORTCUT = np.random.RandomState(1).randn(400, 3, 2).astype("float32")


def dropped_examples(output, branch, rate):
    """Which examples lost their whole branch; asserts the others are exactly rescaled."""
    output = ops.convert_to_numpy(output)
    zero = np.all(output == 0, axis=(1, 2))
    np.testing.assert_allclose(output[~zero], branch[~zero] / (1 - rate), rtol=1e-6)
    return zero


@pytest.mark.parametrize("rate", [0.2, 0.5])
def test_drops_whole_examples_and_rescales_the_rest(rate):
    layer = StochasticDepth(rate, seed=3)
    zero = dropped_examples(layer(BRANCH, training=True), BRANCH, rate)
    # 400 Bernoulli draws: the dropped share within 4 standard deviations of the rate.
    assert abs(zero.mean() - rate) < 4 * np.sqrt(rate * (1 - rate) / 400)
    np.testing.assert_array_equal(ops.convert_to_numpy(layer(BRANCH)), BRANCH)


def test_the_list_form_adds_the_shortcut_as_tf_addons_layer_does():
    layer = StochasticDepth(0.5, seed=4)
    output = ops.convert_to_numpy(layer([SHORTCUT, BRANCH], training=True))
    zero = dropped_examples(output - SHORTCUT, BRANCH, 0.5)
    assert 0 < zero.sum() < len(zero)
    inference = ops.convert_to_numpy(layer([SHORTCUT, BRANCH], training=False))
    np.testing.assert_allclose(inference, SHORTCUT + BRANCH, rtol=1e-6)


def test_tf_addons_convention_one_draw_per_batch_scaled_at_inference():
    # tfa.layers.StochasticDepth(survival_probability=0.7): training gives shortcut + residual
    # or the shortcut alone, for the whole batch; inference shortcut + 0.7 * residual.
    layer = StochasticDepth(0.3, seed=8, per_example=False, scale="inference")
    outcomes = set()
    for _ in range(30):
        output = ops.convert_to_numpy(layer([SHORTCUT, BRANCH], training=True))
        if np.array_equal(output, SHORTCUT):
            outcomes.add("dropped")
        else:
            np.testing.assert_allclose(output, SHORTCUT + BRANCH, rtol=1e-6)
            outcomes.add("kept")
    assert outcomes == {"dropped", "kept"}
    inference = ops.convert_to_numpy(layer([SHORTCUT, BRANCH]))
    np.testing.assert_allclose(inference, SHORTCUT + 0.7 * BRANCH, rtol=1e-6)
    schedulable = StochasticDepth(0.3, schedulable=True, scale="inference")
    np.testing.assert_allclose(ops.convert_to_numpy(schedulable(BRANCH)), 0.7 * BRANCH, rtol=1e-6)
    with pytest.raises(ValueError, match="Received: scale='test'"):
        StochasticDepth(0.1, scale="test")


def test_a_seed_gives_the_same_examples_dropped():
    first = StochasticDepth(0.3, seed=9)(BRANCH, training=True)
    again = StochasticDepth(0.3, seed=9)(BRANCH, training=True)
    other = StochasticDepth(0.3, seed=10)(BRANCH, training=True)
    np.testing.assert_array_equal(ops.convert_to_numpy(first), ops.convert_to_numpy(again))
    assert not np.array_equal(ops.convert_to_numpy(first), ops.convert_to_numpy(other))


def test_rate_zero_and_one():
    np.testing.assert_array_equal(
        ops.convert_to_numpy(StochasticDepth(0.0)(BRANCH, training=True)), BRANCH
    )
    everything = StochasticDepth(1.0, schedulable=True, seed=0)(BRANCH, training=True)
    np.testing.assert_array_equal(ops.convert_to_numpy(everything), 0 * BRANCH)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(rate=1.5), "Received: rate=1.5"),
        (dict(rate=-0.1), "Received: rate=-0.1"),
        (dict(rate="0.2"), "Received: rate='0.2'"),
    ],
)
def test_bad_rates_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        StochasticDepth(**kwargs)


def test_inputs_are_checked():
    with pytest.raises(ValueError, match="same shape"):
        StochasticDepth(0.1)([np.zeros((2, 3)), np.zeros((2, 4))])
    with pytest.raises(ValueError, match="batch axis"):
        StochasticDepth(0.1).build((5,))


def test_config_round_trip_and_saved_model(tmp_path):
    layer = StochasticDepth(
        0.25, seed=5, schedulable=True, per_example=False, scale="inference", name="drop_path"
    )
    again = StochasticDepth.from_config(layer.get_config())
    assert (again.rate, again.seed, again.schedulable, again.name) == (
        0.25,
        5,
        True,
        "drop_path",
    )
    assert (again.per_example, again.scale) == (False, "inference")
    model = resnet_cifar10(8, stochastic_depth=0.3, input_shape=(8, 8, 3), seed=1)
    path = tmp_path / "resnet.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    x = np.random.RandomState(2).rand(4, 8, 8, 3).astype("float32")
    np.testing.assert_allclose(
        ops.convert_to_numpy(loaded(x)), ops.convert_to_numpy(model(x)), rtol=1e-6
    )
    rates = [layer.rate for layer in loaded.layers if isinstance(layer, StochasticDepth)]
    assert rates == pytest.approx([0.1, 0.2, 0.3])


def test_dropout_schedule_drives_the_rate_inside_compiled_training():
    inputs = keras.Input((3, 2))
    branch = keras.layers.Dense(2, kernel_initializer="ones", use_bias=False)(inputs)
    layer = StochasticDepth(0.0, schedulable=True, seed=0, name="path")
    outputs = keras.layers.Add()([inputs, layer(branch)])
    model = keras.Model(inputs, keras.layers.Flatten()(outputs))
    model.compile(keras.optimizers.SGD(0.0), "mse")
    target = np.zeros((400, 6), "float32")
    history = model.fit(
        BRANCH,
        target,
        epochs=2,
        batch_size=400,
        verbose=0,
        callbacks=[DropoutSchedule(lambda epoch: [0.0, 1.0][epoch])],
    )
    # Epoch 2 drops every branch: the loss is the shortcut's alone.
    shortcut_only = np.mean(BRANCH.reshape(400, 6) ** 2)
    with_branch = np.mean((BRANCH + BRANCH.sum(-1, keepdims=True)).reshape(400, 6) ** 2)
    assert history.history["loss"] == pytest.approx([with_branch, shortcut_only], rel=1e-5)
    assert history.history["dropout_rate"] == [0.0, 1.0]


@pytest.mark.parametrize("rate, moves", [(1.0, False), (0.0, True)])
def test_a_dropped_branch_gets_no_gradient(rate, moves):
    inputs = keras.Input((3, 2))
    dense = keras.layers.Dense(2, kernel_initializer="ones", use_bias=False)
    dropped = StochasticDepth(rate, schedulable=True, seed=0)(dense(inputs))
    model = keras.Model(inputs, keras.layers.Add()([inputs, dropped]))
    model.compile(keras.optimizers.SGD(0.1), "mse")
    model.fit(BRANCH, np.zeros_like(BRANCH), epochs=1, batch_size=100, verbose=0)
    kernel = ops.convert_to_numpy(dense.kernel)
    assert np.array_equal(kernel, np.ones((2, 2), "float32")) is not moves


def test_linear_depth_rates_follow_the_paper():
    assert linear_depth_rates(4, 0.5) == [0.125, 0.25, 0.375, 0.5]
    # Survival 1 - l / L * (1 - p_L), Huang et al. eq. (4), with p_L = 0.5 for 54 blocks.
    rates = linear_depth_rates(54, 0.5)
    assert [1 - r for r in rates] == pytest.approx([1 - k / 54 * 0.5 for k in range(1, 55)])
    for bad in (dict(num_blocks=0), dict(num_blocks=2.0), dict(num_blocks=3, final_rate=1.0)):
        with pytest.raises(ValueError, match="Received"):
            linear_depth_rates(**{"final_rate": 0.5, **bad})


def test_resnet20_is_he_et_als_network():
    model = resnet_cifar10(20)
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    # 1 stem + 2 per block x 9 blocks + 2 projection shortcuts; with the Dense layer, 20 + 2.
    assert len(convs) == 21
    assert [layer.filters for layer in convs if "conv1" in layer.name] == [16] * 3 + [32] * 3 + [
        64
    ] * 3
    assert model.output_shape == (None, 10)
    assert 0.26e6 < model.count_params() < 0.28e6
    kernels = [layer for layer in model.layers if hasattr(layer, "kernel_regularizer")]
    assert all(isinstance(layer.kernel_regularizer, L2) for layer in kernels)
    assert {layer.kernel_regularizer.l2 for layer in kernels} == {5e-5}
    assert not [layer for layer in model.layers if isinstance(layer, StochasticDepth)]


def test_resnet_with_stochastic_depth_uses_the_linear_rule():
    model = resnet_cifar10(32, "huang", l2=0.0, input_shape=(16, 16, 3), seed=7, schedulable=True)
    layers = [layer for layer in model.layers if isinstance(layer, StochasticDepth)]
    assert [layer.rate for layer in layers] == pytest.approx(linear_depth_rates(15, 0.5))
    assert [layer.seed for layer in layers] == list(range(7, 22))
    assert all(layer.schedulable for layer in layers)
    assert not model.losses  # l2=0.0 overrides the preset's


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(depth=21), "depth=21"),
        (dict(depth=2), "depth=2"),
        (dict(preset="nope"), "preset='nope'"),
        (dict(preset=None, l2=0.0), "missing"),
        (dict(l2=-1.0), "l2=-1.0"),
        (dict(stochastic_depth=1.0), "stochastic_depth=1.0"),
        (dict(filters=(16, 32)), "filters=\\(16, 32\\)"),
    ],
)
def test_resnet_arguments_are_checked(kwargs, message):
    with pytest.raises(ValueError, match=message):
        resnet_cifar10(**kwargs)


def test_resnet_trains():
    x = np.random.RandomState(0).rand(32, 8, 8, 3).astype("float32")
    y = np.arange(32) % 10
    model = resnet_cifar10(8, stochastic_depth=0.2, input_shape=(8, 8, 3), seed=0)
    model.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy")
    history = model.fit(x, y, epochs=8, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < 0.7 * history.history["loss"][0]
