"""kreg.SAM against the implementation it replaces: tf-keras's SharpnessAwareMinimization
(Keras 2's, which Keras 3 dropped), on the same model, data, rho and starting weights."""

import keras
import numpy as np
import pytest

import kreg

tf_keras = pytest.importorskip("tf_keras", reason="the comparison needs tf-keras (kreg[peers])")


RNG = np.random.default_rng(0)
X = RNG.normal(size=(80, 6)).astype("float32")
Y = RNG.integers(0, 3, 80)
WEIGHTS = [
    (RNG.normal(size=(6, 8)) * 0.5).astype("float32"),
    np.zeros(8, "float32"),
    (RNG.normal(size=(8, 3)) * 0.5).astype("float32"),
    np.zeros(3, "float32"),
]
STEPS = 20  # 5 batches of 16, 4 epochs


def train_tf_keras(optimizer, lr, splits, l2=0.0):
    regularizer = tf_keras.regularizers.L2(l2) if l2 else None
    inner = tf_keras.Sequential(
        [
            tf_keras.layers.Dense(
                8, activation="tanh", input_shape=(6,), kernel_regularizer=regularizer
            ),
            tf_keras.layers.Dense(3, activation="softmax"),
        ]
    )
    inner.set_weights(WEIGHTS)
    sam = tf_keras.models.experimental.SharpnessAwareMinimization(
        inner, rho=0.05, num_batch_splits=splits
    )
    chosen = tf_keras.optimizers.SGD(lr) if optimizer == "sgd" else tf_keras.optimizers.Adam(lr)
    sam.compile(optimizer=chosen, loss="sparse_categorical_crossentropy")
    sam.fit(X, Y, batch_size=16, epochs=STEPS // 5, shuffle=False, verbose=0)
    return inner.get_weights()


def train_kreg(optimizer, lr, splits, l2=0.0):
    regularizer = keras.regularizers.L2(l2) if l2 else None
    model = keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(8, activation="tanh", kernel_regularizer=regularizer),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    model.set_weights(WEIGHTS)
    sam = kreg.SAM(model, rho=0.05, num_batch_splits=splits)
    chosen = keras.optimizers.SGD(lr) if optimizer == "sgd" else keras.optimizers.Adam(lr)
    sam.compile(optimizer=chosen, loss="sparse_categorical_crossentropy")
    sam.fit(X, Y, batch_size=16, epochs=STEPS // 5, shuffle=False, verbose=0)
    return model.get_weights()


def largest_difference(a, b):
    return max(float(np.max(np.abs(x - y))) for x, y in zip(a, b))


@pytest.mark.parametrize(
    "optimizer, lr, splits", [("sgd", 0.1, None), ("adam", 0.01, None), ("sgd", 0.1, 2)]
)
def test_the_same_weights_after_twenty_steps(optimizer, lr, splits):
    theirs = train_tf_keras(optimizer, lr, splits)
    # tf-keras sums the parts' gradients where kreg averages them: its SGD rate times the parts.
    ours = train_kreg(optimizer, lr * (splits or 1), splits)
    assert largest_difference(theirs, WEIGHTS) > 0.1  # both moved
    assert largest_difference(ours, theirs) < 1e-6


def test_tf_keras_leaves_the_regularization_losses_out():
    # tf-keras's SAM calls compiled_loss without the model's losses: its L2 run equals an
    # unregularized one, where kreg's includes the penalty (documented in kreg.SAM).
    theirs = train_tf_keras("sgd", 0.1, None, l2=0.05)
    assert largest_difference(theirs, train_tf_keras("sgd", 0.1, None)) < 1e-6
    ours = train_kreg("sgd", 0.1, None, l2=0.05)
    assert largest_difference(ours, theirs) > 1e-3
