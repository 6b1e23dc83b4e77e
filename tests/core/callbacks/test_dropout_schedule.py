import keras
import numpy as np
import pytest

from kreg.callbacks import DropoutSchedule
from kreg.layers import InvertedDropout


class ZeroFraction(keras.layers.Layer):
    """Identity that records, in a variable, the fraction of zeros it saw in training."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.fraction = self.add_weight(shape=(), initializer="zeros", trainable=False)
        self.traces = 0  # Python runs only while TensorFlow traces the train function

    def call(self, x, training=False):
        if training:
            self.traces += 1
            self.fraction.assign(keras.ops.mean(keras.ops.cast(keras.ops.equal(x, 0), "float32")))
        return x


class RecordFraction(keras.callbacks.Callback):
    def __init__(self, probe):
        super().__init__()
        self.probe, self.seen = probe, []

    def on_epoch_end(self, epoch, logs=None):
        self.seen.append(float(self.probe.fraction))


def build(dropout):
    probe = ZeroFraction()
    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(
                256, activation="relu", kernel_initializer="ones", bias_initializer="ones"
            ),
            dropout,
            probe,
            keras.layers.Dense(1),
        ]
    )
    model.compile(keras.optimizers.SGD(0.0), "mse")  # the probe network must not change
    return model, probe


DATA = (np.abs(np.random.RandomState(0).rand(32, 64)).astype("float32"), np.zeros((32, 1)))


def test_schedule_changes_the_realised_drop_fraction_without_retracing():
    model, probe = build(InvertedDropout(0.1, seed=0, schedulable=True))
    record = RecordFraction(probe)
    schedule = DropoutSchedule(lambda epoch, rate: 0.1 if epoch < 2 else 0.6)
    history = model.fit(*DATA, epochs=4, batch_size=32, verbose=0, callbacks=[schedule, record])
    assert record.seen[0] == pytest.approx(0.1, abs=0.02)
    assert record.seen[1] == pytest.approx(0.1, abs=0.02)
    assert record.seen[2] == pytest.approx(0.6, abs=0.02)
    assert record.seen[3] == pytest.approx(0.6, abs=0.02)
    assert history.history["dropout_rate"] == [0.1, 0.1, 0.6, 0.6]
    if keras.backend.backend() != "torch":  # PyTorch runs the step eagerly: nothing traced
        assert probe.traces == 1


def test_per_layer_rates_logged_when_they_differ():
    first = InvertedDropout(0.0, schedulable=True, name="first")
    second = InvertedDropout(0.5, schedulable=True, name="second")
    model = keras.Sequential([keras.Input((4,)), first, second, keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    schedule = DropoutSchedule(lambda epoch, rate: rate, layers=["first", second])
    history = model.fit(
        np.ones((8, 4)), np.ones((8, 1)), epochs=1, verbose=0, callbacks=[schedule]
    )
    assert history.history["dropout_rate/first"] == [0.0]
    assert history.history["dropout_rate/second"] == [0.5]


def _fit_with(model, schedule):
    model.compile("sgd", "mse")
    model.fit(np.ones((4, 4)), np.ones((4, 1)), epochs=1, verbose=0, callbacks=[schedule])


def test_rejects_layers_built_without_schedulable():
    model = keras.Sequential(
        [keras.Input((4,)), InvertedDropout(0.2, name="fixed"), keras.layers.Dense(1)]
    )
    with pytest.raises(ValueError, match=r"layers \['fixed'\] were built with schedulable=False"):
        _fit_with(model, DropoutSchedule(lambda e, r: r))


def test_rejects_models_with_only_keras_dropout():
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dropout(0.2, name="kd"), keras.layers.Dense(1)]
    )
    with pytest.raises(
        ValueError,
        match=r"no InvertedDropout or DropBlock2D layer \(found keras Dropout layers \['kd'\]",
    ):
        _fit_with(model, DropoutSchedule(lambda e, r: r))


def test_rejects_bad_schedule_output():
    model = keras.Sequential(
        [keras.Input((4,)), InvertedDropout(0.2, schedulable=True), keras.layers.Dense(1)]
    )
    with pytest.raises(ValueError, match="Received: rate=1.5"):
        _fit_with(model, DropoutSchedule(lambda e, r: 1.5))
    with pytest.raises(ValueError, match="must return a float between 0 and 1. Received: 'high'"):
        _fit_with(model, DropoutSchedule(lambda e, r: "high"))


def test_rejects_unknown_layer_name():
    model = keras.Sequential(
        [keras.Input((4,)), InvertedDropout(0.2, schedulable=True), keras.layers.Dense(1)]
    )
    with pytest.raises(ValueError, match="no layer named 'nope'"):
        _fit_with(model, DropoutSchedule(lambda e, r: r, layers=["nope"]))
