"""The callbacks' logged numbers against a hand computation, on every backend."""

import keras
import numpy as np
import pytest

from kreg.callbacks import DropoutSchedule, GeneralizationGap, L2Schedule, RegularizationMonitor
from kreg.layers import InvertedDropout
from kreg.regularizers import L2

RNG = np.random.RandomState(0)
X = RNG.randn(32, 3).astype("float32")
Y = (X[:, :1] > 0).astype("float32")


def frozen_model(factor=0.01, schedulable=False):
    """A model trained with a zero learning rate: its weights, so its penalty, never move."""
    kernel = np.arange(12, dtype="float32").reshape(3, 4) / 10
    model = keras.Sequential(
        [
            keras.Input((3,)),
            keras.layers.Dense(
                4,
                kernel_initializer=keras.initializers.Constant(kernel),
                kernel_regularizer=L2(factor, schedulable=schedulable),
            ),
            keras.layers.Dense(1, activation="sigmoid", kernel_initializer="ones"),
        ]
    )
    model.compile(keras.optimizers.SGD(0.0), "binary_crossentropy", metrics=["accuracy"])
    return model, kernel


def test_regularization_monitor_splits_the_loss_as_computed_by_hand():
    model, kernel = frozen_model(0.01)
    history = model.fit(
        X,
        Y,
        epochs=2,
        batch_size=8,
        verbose=0,
        validation_data=(X, Y),
        callbacks=[RegularizationMonitor()],
    )
    penalty = 0.01 * float(np.sum(kernel.astype(np.float64) ** 2))  # 0.01 * sum(W**2)
    logs = history.history
    for epoch in range(2):
        assert logs["penalty"][epoch] == pytest.approx(penalty, rel=1e-6)
        assert logs["kernel_penalty"][epoch] == pytest.approx(penalty, rel=1e-6)
        assert logs["data_loss"][epoch] == pytest.approx(logs["loss"][epoch] - penalty, rel=1e-6)
        assert logs["penalty_share"][epoch] == pytest.approx(penalty / logs["loss"][epoch])
        assert logs["val_penalty"][epoch] == pytest.approx(penalty, rel=1e-6)
        norm = float(np.sqrt(np.sum(kernel.astype(np.float64) ** 2)))
        assert logs["kernel_norm/" + model.layers[0].name][epoch] == pytest.approx(norm, rel=1e-6)


def test_generalization_gap_is_train_minus_validation():
    model, _ = frozen_model()
    flipped = 1 - Y
    history = model.fit(
        X,
        Y,
        epochs=1,
        verbose=0,
        validation_data=(X, flipped),
        callbacks=[GeneralizationGap("accuracy"), GeneralizationGap("loss")],
    )
    logs = {k: v[0] for k, v in history.history.items()}
    assert logs["gap/accuracy"] == pytest.approx(logs["accuracy"] - logs["val_accuracy"])
    assert logs["gap/loss"] == pytest.approx(logs["val_loss"] - logs["loss"])


@pytest.mark.parametrize("schedule", [lambda epoch: 0.1 * epoch, lambda epoch, rate: 0.1 * epoch])
def test_dropout_schedule_takes_either_form_as_learning_rate_scheduler_does(schedule):
    model = keras.Sequential(
        [keras.Input((3,)), InvertedDropout(0.0, schedulable=True), keras.layers.Dense(1)]
    )
    model.compile("sgd", "mse")
    history = model.fit(X, Y, epochs=3, verbose=0, callbacks=[DropoutSchedule(schedule)])
    assert history.history["dropout_rate"] == pytest.approx([0.0, 0.1, 0.2])


@pytest.mark.parametrize("schedule", [lambda epoch: 1e-3 * epoch, lambda e, f: 1e-3 * e])
def test_l2_schedule_sets_the_penalty_by_hand(schedule):
    model, kernel = frozen_model(0.0, schedulable=True)
    history = model.fit(
        X, Y, epochs=3, verbose=0, callbacks=[L2Schedule(schedule), RegularizationMonitor()]
    )
    squares = float(np.sum(kernel.astype(np.float64) ** 2))
    assert history.history["l2_factor"] == pytest.approx([0.0, 1e-3, 2e-3])
    assert history.history["penalty"] == pytest.approx([0.0, 1e-3 * squares, 2e-3 * squares])


def test_a_schedule_without_an_epoch_argument_is_refused():
    with pytest.raises(ValueError, match="it takes no positional argument"):
        DropoutSchedule(lambda: 0.1)
