"""kreg against the implementations it replaces: tf-keras's SharpnessAwareMinimization (Keras
2's, which Keras 3 dropped) on the same model, data, rho and starting weights, and TF Addons'
StochasticDepth layer."""

import importlib.util
import json
import subprocess
import sys

import keras
import numpy as np
import pytest

import kreg
from tests.conftest import REPO

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


TF_ADDONS_STOCHASTIC_DEPTH = """
import importlib.util, json, os
os.environ["TF_USE_LEGACY_KERAS"] = "1"  # TF Addons' layers are Keras 2 (tf-keras) layers
import numpy as np
import tensorflow as tf

# TF Addons no longer imports with TensorFlow 2.21 (its package reaches into Keras 2
# internals), but its StochasticDepth module stands alone: load that file.
package = importlib.util.find_spec("tensorflow_addons").submodule_search_locations[0]
spec = importlib.util.spec_from_file_location(
    "tfa_stochastic_depth", os.path.join(package, "layers", "stochastic_depth.py")
)
tfa = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tfa)
import keras, kreg

rng = np.random.default_rng(0)
shortcut, residual = rng.normal(size=(2, 16, 4, 3)).astype("float32")
theirs = tfa.StochasticDepth(survival_probability=0.7)
ours = kreg.layers.StochasticDepth(0.3, seed=1, per_example=False, scale="inference")

def outcomes(layer):
    kept = []
    for _ in range(200):
        out = np.asarray(layer([shortcut, residual], training=True))
        if np.allclose(out, shortcut + residual, rtol=1e-6):
            kept.append(1)
        else:
            assert np.array_equal(out, shortcut), "neither the sum nor the shortcut"
            kept.append(0)
    return float(np.mean(kept))

print(json.dumps({
    "inference": float(np.max(np.abs(
        np.asarray(theirs([shortcut, residual], training=False))
        - keras.ops.convert_to_numpy(ours([shortcut, residual], training=False))
    ))),
    "kept_theirs": outcomes(theirs),
    "kept_ours": outcomes(ours),
}))
"""


def test_stochastic_depth_against_tf_addons_layer():
    if importlib.util.find_spec("tensorflow_addons") is None:
        pytest.skip("the comparison needs tensorflow-addons (kreg[peers])")
    done = subprocess.run(
        [sys.executable, "-c", TF_ADDONS_STOCHASTIC_DEPTH],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["inference"] < 1e-6
    # 200 whole-batch draws each, kept with probability 0.7: within 4 standard deviations.
    for share in (found["kept_theirs"], found["kept_ours"]):
        assert abs(share - 0.7) < 4 * (0.7 * 0.3 / 200) ** 0.5
