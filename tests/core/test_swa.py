"""Stochastic weight averaging: the callback's running mean, BatchNorm's recomputed statistics,
and both checked against PyTorch's `torch.optim.swa_utils` fed the same weights and data."""

import importlib.util

import keras
import numpy as np
import pytest
from keras import ops

from kreg.callbacks import StochasticWeightAveraging
from kreg.swa import batch_norm_layers, update_batch_norm

RNG = np.random.RandomState(0)
X = RNG.randn(96, 4).astype("float32")
Y = (X[:, 0] + X[:, 1] > 0).astype("int32")


def mlp(batch_norm=False, seed=0):
    keras.utils.set_random_seed(seed)
    layers = [keras.Input((4,)), keras.layers.Dense(6, activation="tanh", name="hidden")]
    if batch_norm:
        layers.append(keras.layers.BatchNormalization(name="bn"))
    layers.append(keras.layers.Dense(2, activation="softmax", name="out"))
    model = keras.Sequential(layers)
    model.compile(keras.optimizers.SGD(0.2), "sparse_categorical_crossentropy")
    return model


class Recorder(keras.callbacks.Callback):
    """The trainable weights after every batch and at every epoch's end, as arrays."""

    def __init__(self):
        super().__init__()
        self.batches, self.epochs = [], []

    def weights(self):
        # A copy: on PyTorch the array can share the variable's memory.
        return [np.array(ops.convert_to_numpy(v)) for v in self.model.trainable_variables]

    def on_train_batch_end(self, batch, logs=None):
        self.batches.append(self.weights())

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append(self.weights())


def mean_of(snapshots):
    return [np.mean(np.stack(group).astype(np.float64), axis=0) for group in zip(*snapshots)]


def assert_weights(model, expected, rtol=1e-6):
    for variable, array in zip(model.trainable_variables, expected):
        np.testing.assert_allclose(ops.convert_to_numpy(variable), array, rtol=rtol, atol=1e-7)


def test_the_mean_of_the_epoch_end_weights_is_swapped_in():
    model, recorder = mlp(), Recorder()
    swa = StochasticWeightAveraging(start_epoch=2)
    history = model.fit(X, Y, epochs=6, batch_size=32, verbose=0, callbacks=[recorder, swa])
    assert swa.averaged == 4 and history.history["swa_averaged"] == [0, 0, 1, 2, 3, 4]
    assert_weights(model, mean_of(recorder.epochs[2:]))
    assert not np.allclose(
        ops.convert_to_numpy(model.trainable_variables[0]), recorder.epochs[-1][0]
    )


def test_every_n_batches_as_tf_addons_average_period():
    model, recorder = mlp(), Recorder()
    swa = StochasticWeightAveraging(start_epoch=1, frequency=2)
    model.fit(X, Y, epochs=3, batch_size=32, verbose=0, callbacks=[recorder, swa])
    # 3 batches an epoch: the first of epoch 2 (0-based 1), then every second one.
    assert swa.averaged == 3
    assert_weights(model, mean_of(recorder.batches[3:][0::2]))


def tf_addons_average(snapshots, start_averaging, average_period):
    """TF Addons' SWA rule (its average_op), step by step: at iteration t (0-based, the
    weights after that step) with t >= m and (t - m) % k == 0, avg = (avg * n + w) / (n + 1),
    n = (t - m) // k."""
    average = None
    for t, weights in enumerate(snapshots):
        n = max(0, (t - start_averaging) // average_period)
        if t >= start_averaging and start_averaging + n * average_period == t:
            weights = [w.astype(np.float64) for w in weights]
            average = (
                weights
                if average is None
                else [(a * n + w) / (n + 1) for a, w in zip(average, weights)]
            )
    return average


@pytest.mark.parametrize("start, period", [(0, 1), (0, 10), (4, 3), (7, 2)])
def test_start_step_follows_tf_addons_swa(start, period):
    model, recorder = mlp(), Recorder()
    swa = StochasticWeightAveraging(start_step=start, frequency=period)
    model.fit(X, Y, epochs=4, batch_size=32, verbose=0, callbacks=[recorder, swa])  # 12 steps
    assert swa.averaged == len(range(start, 12, period))
    assert_weights(model, tf_addons_average(recorder.batches, start, period))


def test_training_that_ends_before_the_start_keeps_its_weights():
    model, recorder = mlp(), Recorder()
    swa = StochasticWeightAveraging(start_epoch=5, verbose=1)
    model.fit(X, Y, epochs=2, batch_size=32, verbose=0, callbacks=[recorder, swa])
    assert swa.average is None and swa.averaged == 0
    assert_weights(model, recorder.epochs[-1], rtol=0)


@pytest.mark.parametrize(
    "settings, epochs, stop, averaged",
    [
        (dict(start_epoch=1), 5, 3, 4),
        (dict(start_step=4, frequency=3), 4, 2, 3),  # batches 4, 7 and 10
    ],
)
def test_state_resumes_the_average_bit_for_bit(settings, epochs, stop, averaged):
    def fit(model, callback, **kwargs):
        model.fit(X, Y, batch_size=32, verbose=0, shuffle=False, callbacks=[callback], **kwargs)

    whole, full = mlp(), StochasticWeightAveraging(**settings)
    fit(whole, full, epochs=epochs)
    split = mlp()
    first = StochasticWeightAveraging(**settings, swap_on_train_end=False)
    fit(split, first, epochs=stop)
    second = StochasticWeightAveraging(**settings)
    second.set_state({key: np.array(value) for key, value in first.get_state().items()})
    fit(split, second, epochs=epochs, initial_epoch=stop)
    assert second.averaged == full.averaged == averaged
    for a, b in zip(whole.get_weights(), split.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(start_epoch=-1), "start_epoch=-1"),
        (dict(start_epoch=1.5), "start_epoch=1.5"),
        (dict(start_epoch=0, frequency=0), "frequency=0"),
        (dict(start_epoch=0, frequency="batch"), "frequency='batch'"),
        (dict(), "Give one of `start_epoch` and `start_step`"),
        (dict(start_epoch=1, start_step=3, frequency=2), "Give one of"),
        (dict(start_step=-2, frequency=2), "start_step=-2"),
        (dict(start_step=3), "give an integer `frequency`"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        StochasticWeightAveraging(**kwargs)


def batch_norm_input(model, x):
    """The activations that reach the BatchNormalization layer."""
    return ops.convert_to_numpy(model.get_layer("hidden")(ops.convert_to_tensor(x)))


def test_update_batch_norm_averages_the_batch_statistics():
    model = mlp(batch_norm=True)
    model.fit(X, Y, epochs=2, batch_size=32, verbose=0)
    bn = model.get_layer("bn")
    momentum = bn.momentum
    batches = update_batch_norm(model, X, batch_size=40)  # 40, 40 and 16 rows
    assert batches == 3 and bn.momentum == momentum
    hidden = batch_norm_input(model, X).astype(np.float64)
    parts = [hidden[:40], hidden[40:80], hidden[80:]]
    np.testing.assert_allclose(
        ops.convert_to_numpy(bn.moving_mean), np.mean([p.mean(0) for p in parts], 0), rtol=1e-5
    )
    np.testing.assert_allclose(
        ops.convert_to_numpy(bn.moving_variance),
        np.mean([p.var(0) for p in parts], 0),
        rtol=1e-5,
    )


def test_update_batch_norm_takes_datasets_and_generators():
    model = mlp(batch_norm=True)
    update_batch_norm(model, X, batch_size=32)
    expected = ops.convert_to_numpy(model.get_layer("bn").moving_mean)
    other = mlp(batch_norm=True)
    assert (
        update_batch_norm(other, ((X[i : i + 32], Y[i : i + 32]) for i in range(0, 96, 32))) == 3
    )
    np.testing.assert_allclose(ops.convert_to_numpy(other.get_layer("bn").moving_mean), expected)
    assert update_batch_norm(mlp(), X) == 0  # no BatchNormalization layer: nothing to do
    with pytest.raises(ValueError, match="no batch"):
        update_batch_norm(other, iter([]))
    with pytest.raises(TypeError, match="`data` must be"):
        update_batch_norm(other, 3)
    assert [layer.name for layer in batch_norm_layers(other)] == ["bn"]


def test_the_callback_refreshes_batch_norm_for_the_averaged_weights():
    model = mlp(batch_norm=True)
    swa = StochasticWeightAveraging(start_epoch=1, batch_norm_data=X)
    model.fit(X, Y, epochs=3, batch_size=32, verbose=0, callbacks=[swa])
    hidden = batch_norm_input(model, X).astype(np.float64)  # with the averaged weights
    parts = [hidden[i : i + 32] for i in range(0, 96, 32)]
    np.testing.assert_allclose(
        ops.convert_to_numpy(model.get_layer("bn").moving_mean),
        np.mean([p.mean(0) for p in parts], 0),
        rtol=1e-5,
    )


@pytest.mark.skipif(
    importlib.util.find_spec("torch") is None, reason="the PyTorch comparison needs torch"
)
def test_the_same_averages_and_statistics_as_torch_swa_utils():
    import torch
    from torch.optim.swa_utils import AveragedModel, update_bn

    model = mlp(batch_norm=True)
    recorder = Recorder()
    swa = StochasticWeightAveraging(start_epoch=1, batch_norm_data=X)
    model.fit(X, Y, epochs=5, batch_size=32, verbose=0, callbacks=[recorder, swa])

    # The same network in PyTorch, given each epoch's Keras weights in turn.
    net = torch.nn.Sequential(
        torch.nn.Linear(4, 6), torch.nn.Tanh(), torch.nn.BatchNorm1d(6), torch.nn.Linear(6, 2)
    )
    averaged = AveragedModel(net)
    for weights in recorder.epochs[1:]:
        kernel, bias, gamma, beta, out_kernel, out_bias = (torch.from_numpy(w) for w in weights)
        with torch.no_grad():
            net[0].weight.copy_(kernel.T)
            net[0].bias.copy_(bias)
            net[2].weight.copy_(gamma)
            net[2].bias.copy_(beta)
            net[3].weight.copy_(out_kernel.T)
            net[3].bias.copy_(out_bias)
        averaged.update_parameters(net)
    loader = [torch.from_numpy(X[i : i + 32]) for i in range(0, 96, 32)]
    update_bn(loader, averaged)

    theirs = averaged.module
    ours = [ops.convert_to_numpy(v) for v in model.trainable_variables]
    expected = [
        theirs[0].weight.T,
        theirs[0].bias,
        theirs[2].weight,
        theirs[2].bias,
        theirs[3].weight.T,
        theirs[3].bias,
    ]
    for mine, reference in zip(ours, expected):
        np.testing.assert_allclose(mine, reference.detach().numpy(), rtol=1e-6, atol=1e-7)
    bn = model.get_layer("bn")
    np.testing.assert_allclose(
        ops.convert_to_numpy(bn.moving_mean), theirs[2].running_mean.numpy(), rtol=1e-5, atol=1e-7
    )
    # PyTorch keeps the unbiased batch variance: n / (n - 1) times Keras's, n = 32.
    np.testing.assert_allclose(
        ops.convert_to_numpy(bn.moving_variance) * 32 / 31,
        theirs[2].running_var.numpy(),
        rtol=1e-5,
    )
