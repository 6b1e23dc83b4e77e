"""Sharpness-aware minimization: the same steps as the paper's update written in NumPy, on
every backend; the loss and state it reports and keeps; saving. (tf-keras's own SAM is compared
in tests/lab/test_peers.py.)"""

import keras
import numpy as np
import pytest
from keras import ops

from kreg import SAM, SharpnessAwareMinimization

RNG = np.random.RandomState(0)
X = RNG.randn(64, 5).astype("float32")
Y = RNG.randint(0, 3, 64)
W1 = (RNG.randn(5, 4) * 0.5).astype("float32")
B1 = (RNG.randn(4) * 0.1).astype("float32")
W2 = (RNG.randn(4, 3) * 0.5).astype("float32")
B2 = (RNG.randn(3) * 0.1).astype("float32")
L2 = 0.01


def network():
    model = keras.Sequential(
        [
            keras.Input((5,)),
            keras.layers.Dense(4, activation="tanh", kernel_regularizer=keras.regularizers.L2(L2)),
            keras.layers.Dense(
                3, activation="softmax", kernel_regularizer=keras.regularizers.L2(L2)
            ),
        ]
    )
    model.set_weights([W1, B1, W2, B2])
    return model


def gradients(weights, x, y):
    """The gradient of mean cross-entropy + L2 (Keras's penalty) for the tanh-softmax network."""
    w1, b1, w2, b2 = weights
    hidden = np.tanh(x @ w1 + b1)
    logits = hidden @ w2 + b2
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    dz2 = (probs - np.eye(3)[y]) / len(x)
    dz1 = dz2 @ w2.T * (1 - hidden**2)
    return [x.T @ dz1 + 2 * L2 * w1, dz1.sum(0), hidden.T @ dz2 + 2 * L2 * w2, dz2.sum(0)]


def numpy_sam(steps, batch_size, rho, lr, splits=1):
    """Foret et al.'s update with SGD, in float64: ascend to w + rho g / ||g||, descend from w."""
    weights = [w.astype(np.float64) for w in (W1, B1, W2, B2)]
    step = 0
    while step < steps:
        for start in range(0, len(X), batch_size):
            xs = np.split(X[start : start + batch_size].astype(np.float64), splits)
            ys = np.split(Y[start : start + batch_size], splits)
            total = [np.zeros_like(w) for w in weights]
            for x, y in zip(xs, ys):
                g = gradients(weights, x, y)
                norm = np.sqrt(sum(np.sum(part**2) for part in g))
                perturbed = [w + rho * part / (norm + 1e-12) for w, part in zip(weights, g)]
                total = [t + part / splits for t, part in zip(total, gradients(perturbed, x, y))]
            weights = [w - lr * t for w, t in zip(weights, total)]
            step += 1
            if step == steps:
                break
    return weights


@pytest.mark.parametrize("splits", [None, 2])
def test_twenty_steps_equal_the_update_written_out(splits):
    model = network()
    sam = SAM(model, rho=0.1, num_batch_splits=splits)
    sam.compile(optimizer=keras.optimizers.SGD(0.5), loss="sparse_categorical_crossentropy")
    sam.fit(X, Y, batch_size=16, epochs=5, shuffle=False, verbose=0)  # 4 steps an epoch
    expected = numpy_sam(20, 16, rho=0.1, lr=0.5, splits=splits or 1)
    moved = max(np.max(np.abs(w - e)) for w, e in zip((W1, B1, W2, B2), expected))
    assert moved > 0.1  # the steps went somewhere
    for actual, reference in zip(model.get_weights(), expected):
        np.testing.assert_allclose(actual, reference, rtol=1e-4, atol=1e-5)


def test_sam_is_not_plain_sgd():
    model = network()
    sam = SAM(model, rho=0.1)
    sam.compile(optimizer=keras.optimizers.SGD(0.5), loss="sparse_categorical_crossentropy")
    sam.fit(X, Y, batch_size=16, epochs=5, shuffle=False, verbose=0)
    plain = numpy_sam(20, 16, rho=1e-12, lr=0.5)
    assert max(np.max(np.abs(w - p)) for w, p in zip(model.get_weights(), plain)) > 1e-3


def test_logged_loss_and_metrics_are_those_at_the_weights():
    model = network()
    sam = SAM(model, rho=0.5)
    sam.compile(
        optimizer=keras.optimizers.SGD(0.0),  # nothing moves: the loss of every batch at w
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = sam.fit(X, Y, batch_size=24, epochs=1, shuffle=False, verbose=0)  # 24, 24, 16
    plain = network()
    plain.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    expected = plain.evaluate(X, Y, batch_size=64, verbose=0, return_dict=True)
    assert history.history["loss"][0] == pytest.approx(expected["loss"], rel=1e-5)
    assert history.history["accuracy"][0] == pytest.approx(expected["accuracy"])


def _with_state():
    keras.utils.set_random_seed(1)
    return keras.Sequential(
        [
            keras.Input((5,)),
            keras.layers.Dense(4),
            keras.layers.BatchNormalization(momentum=0.5),
            keras.layers.Dropout(0.3, seed=2),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )


@pytest.mark.parametrize("splits", [None, 2])
def test_state_updates_once_a_step_or_part_as_in_a_plain_step(splits):
    model = _with_state()
    sam = SAM(model, rho=1e-6, num_batch_splits=splits)
    sam.compile(optimizer=keras.optimizers.SGD(0.0), loss="sparse_categorical_crossentropy")
    sam.fit(X, Y, batch_size=64, epochs=1, verbose=0, shuffle=False)
    hidden = X @ model.layers[0].get_weights()[0] + model.layers[0].get_weights()[1]
    # Momentum 0.5 from 0: one update per part (two per part would give 0.75 of its mean).
    if splits is None:
        expected = 0.5 * hidden.mean(0)
    else:
        expected = 0.25 * hidden[:32].mean(0) + 0.5 * hidden[32:].mean(0)
    np.testing.assert_allclose(
        ops.convert_to_numpy(model.layers[1].moving_mean), expected, rtol=1e-4
    )
    # One dropout draw per part: a plain model's after as many steps.
    plain = _with_state()
    plain.compile(optimizer=keras.optimizers.SGD(0.0), loss="sparse_categorical_crossentropy")
    plain.fit(X, Y, batch_size=64 // (splits or 1), epochs=1, verbose=0)
    np.testing.assert_array_equal(
        ops.convert_to_numpy(model.layers[2].seed_generator.state),
        ops.convert_to_numpy(plain.layers[2].seed_generator.state),
    )


def test_save_and_load_in_safe_mode(tmp_path):
    sam = SAM(network(), rho=0.07, num_batch_splits=2, name="sam")
    sam.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    sam.fit(X, Y, batch_size=16, epochs=1, verbose=0)
    sam.save(tmp_path / "sam.keras")
    loaded = keras.models.load_model(tmp_path / "sam.keras", safe_mode=True)
    assert isinstance(loaded, SharpnessAwareMinimization)
    assert (loaded.rho, loaded.num_batch_splits) == (0.07, 2)
    np.testing.assert_allclose(
        loaded.predict(X, verbose=0), sam.model.predict(X, verbose=0), rtol=1e-6
    )
    loaded.fit(X, Y, batch_size=16, epochs=1, verbose=0)  # and trains on


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(rho=0.0), "rho=0.0"),
        (dict(rho=float("nan")), "rho=nan"),
        (dict(rho="0.05"), "rho='0.05'"),
        (dict(num_batch_splits=0), "num_batch_splits=0"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SAM(network(), **kwargs)
    with pytest.raises(ValueError, match="must be a keras.Model"):
        SAM(keras.layers.Dense(2))


def test_mixed_precision_scales_the_loss_for_the_optimizer():
    keras.config.set_dtype_policy("mixed_float16")
    try:
        model = keras.Sequential(
            [
                keras.Input((5,)),
                keras.layers.Dense(4, activation="tanh"),
                keras.layers.Dense(3, activation="softmax", dtype="float32"),
            ]
        )
        sam = SAM(model, rho=0.05)
        sam.compile(optimizer=keras.optimizers.SGD(0.5), loss="sparse_categorical_crossentropy")
        assert type(sam.optimizer).__name__ == "LossScaleOptimizer"
        losses = sam.fit(X, Y, batch_size=16, epochs=6, verbose=0).history["loss"]
    finally:
        keras.config.set_dtype_policy("float32")
    assert np.all(np.isfinite(losses)) and losses[-1] < 0.95 * losses[0]


def test_weights_the_loss_does_not_reach_stay_put():
    inputs = keras.Input((5,))
    used = keras.layers.Dense(3, activation="softmax")
    unused = keras.layers.Dense(2, name="unused")
    model = keras.Model(inputs, [used(inputs), unused(inputs)])
    before = [np.array(w) for w in unused.get_weights()]
    sam = SAM(model, rho=0.05)
    sam.compile(optimizer="sgd", loss=["sparse_categorical_crossentropy", None])
    sam.fit(X, Y, batch_size=16, epochs=1, verbose=0)
    for a, b in zip(unused.get_weights(), before):
        np.testing.assert_array_equal(a, b)


def test_kregs_callbacks_see_through_the_wrapper():
    from kreg.callbacks import DropoutSchedule, GeneralizationGap, RegularizationMonitor
    from kreg.layers import InvertedDropout

    inner = keras.Sequential(
        [
            keras.Input((5,)),
            keras.layers.Dense(8, activation="relu", kernel_regularizer=keras.regularizers.L2(L2)),
            InvertedDropout(0.0, seed=1, schedulable=True),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    sam = SAM(inner, rho=0.05)
    sam.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = sam.fit(
        X,
        Y,
        validation_data=(X, Y),
        batch_size=16,
        epochs=2,
        verbose=0,
        callbacks=[
            RegularizationMonitor(),
            GeneralizationGap("accuracy"),
            DropoutSchedule(lambda epoch: 0.1 * epoch),
        ],
    )
    logs = history.history
    assert logs["dropout_rate"] == [0.0, 0.1]
    assert all(p > 0 for p in logs["penalty"]) and "gap/accuracy" in logs
    # The penalty is the L2 term of the logged loss: loss = data loss + penalty.
    np.testing.assert_allclose(np.add(logs["data_loss"], logs["penalty"]), logs["loss"], rtol=1e-5)
