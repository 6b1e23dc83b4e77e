import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from kreg import reference
from kreg.datasets import synthetic_football
from kreg.lab.fullbatch import fit_full_batch, floatx_scope
from kreg.models import football_classifier
from kreg.regularizers import l2_from_lambda

X_TRAIN, Y_TRAIN, X_TEST, Y_TEST = synthetic_football(seed=2)


@pytest.mark.parametrize("jit_compile, engine", [(True, "auto"), (True, "keras"), (False, "auto")])
def test_matches_reference_trajectory_in_float64(jit_compile, engine):
    lambd, steps = 0.3, 600
    with floatx_scope("float64"):
        model = football_classifier(l2=l2_from_lambda(lambd, len(X_TRAIN)).l2, dtype="float64")
        history = fit_full_batch(
            model,
            X_TRAIN,
            Y_TRAIN,
            steps=steps,
            learning_rate=0.3,
            log_every=100,
            jit_compile=jit_compile,
            engine=engine,
        )
    assert history.engine == ("fused" if jit_compile and engine == "auto" else "keras")
    expected = reference.train(
        X_TRAIN.T, Y_TRAIN.T, lambd=lambd, num_iterations=steps, cost_every=100
    )
    assert [step for step, _ in history.costs] == [step for step, _ in expected.costs]
    np.testing.assert_allclose(
        [c for _, c in history.costs], [c for _, c in expected.costs], rtol=1e-12
    )
    np.testing.assert_allclose(
        np.asarray(model.layers[0].kernel).T, expected.parameters["W1"], rtol=1e-9, atol=1e-12
    )


@pytest.mark.parametrize(
    "dropout_layer, jit_compile, rtol", [("keras", False, 1e-12), ("kreg-hash", True, 1e-9)]
)
def test_dropout_draws_fresh_masks_every_step_like_eager_training(
    dropout_layer, jit_compile, rtol
):
    steps = 7
    with floatx_scope("float64"):
        compiled = football_classifier(
            dropout=0.3, seed=11, dtype="float64", dropout_layer=dropout_layer
        )
        fit_full_batch(
            compiled, X_TRAIN, Y_TRAIN, steps=steps, log_every=steps, jit_compile=jit_compile
        )

        eager = football_classifier(
            dropout=0.3, seed=11, dtype="float64", dropout_layer=dropout_layer
        )
        optimizer = keras.optimizers.SGD(0.3)
        x = tf.constant(X_TRAIN)
        masks = []
        for _ in range(steps):
            with tf.GradientTape() as tape:
                hidden = eager.layers[1](eager.layers[0](x), training=True)
                masks.append(np.asarray(hidden) != 0)
                out = eager.layers[4](eager.layers[3](eager.layers[2](hidden), training=True))
                loss = keras.losses.BinaryCrossentropy()(Y_TRAIN, out)
            grads = tape.gradient(loss, eager.trainable_variables)
            optimizer.apply(grads, eager.trainable_variables)
    assert not np.array_equal(masks[0], masks[1]), "each step must draw a new mask"
    for a, b in zip(compiled.get_weights(), eager.get_weights()):
        np.testing.assert_allclose(a, b, rtol=rtol)


def test_seeded_dropout_runs_are_identical():
    def run():
        model = football_classifier(dropout=0.2, seed=5)
        fit_full_batch(model, X_TRAIN, Y_TRAIN, steps=200, log_every=50)
        return model.get_weights()

    for a, b in zip(run(), run()):
        np.testing.assert_array_equal(a, b)


def test_callbacks_get_epoch_logs_and_can_stop():
    seen = []

    class Stop(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append((epoch, dict(logs)))
            if epoch == 2:
                self.model.stop_training = True

    model = football_classifier()
    history = fit_full_batch(
        model,
        X_TRAIN,
        Y_TRAIN,
        steps=1000,
        log_every=100,
        validation_data=(X_TEST, Y_TEST),
        callbacks=[Stop()],
    )
    assert [epoch for epoch, _ in seen] == [0, 1, 2]
    assert set(seen[0][1]) == {"loss", "penalty", "accuracy", "val_loss", "val_accuracy", "steps"}
    assert seen[-1][1]["steps"] == 300
    assert len(history.costs) == 3 and history.costs[1][0] == 100
    assert 0.5 < seen[-1][1]["accuracy"] <= 1.0


def test_keras_history_and_csv_logger(tmp_path):
    model = football_classifier()
    keras_history = keras.callbacks.History()
    csv = tmp_path / "log.csv"
    fit_full_batch(
        model,
        X_TRAIN,
        Y_TRAIN,
        steps=300,
        log_every=100,
        callbacks=[keras_history, keras.callbacks.CSVLogger(str(csv))],
    )
    assert len(keras_history.history["loss"]) == 3
    assert csv.read_text().splitlines()[0].startswith("epoch,accuracy,loss,penalty,steps")


def test_last_interval_may_be_short():
    history = fit_full_batch(football_classifier(), X_TRAIN, Y_TRAIN, steps=250, log_every=100)
    assert [step for step, _ in history.costs] == [0, 100, 200]
    assert history.logs[-1]["steps"] == 250


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(steps=-1), "`steps` must be a non-negative integer. Received: steps=-1"),
        (
            dict(steps=10, log_every=0),
            "`log_every` must be a positive integer. Received: log_every=0",
        ),
    ],
)
def test_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        fit_full_batch(football_classifier(), X_TRAIN, Y_TRAIN, **kwargs)


def test_mismatched_examples():
    with pytest.raises(ValueError, match="same number of examples"):
        fit_full_batch(football_classifier(), X_TRAIN, Y_TRAIN[:10], steps=1)


def test_floatx_scope_leaves_no_float64_behind():
    # In a fresh process: Keras caches its global dtype policy on first read, so the
    # first layer built inside the scope used to make every later layer float64.
    code = (
        "import kreg, keras\n"
        "from kreg.lab.fullbatch import floatx_scope\n"
        "with floatx_scope('float64'):\n"
        "    inside = keras.layers.Dense(2)\n"
        "    inside.build((None, 3))\n"
        "after = keras.layers.Dense(2)\n"
        "after.build((None, 3))\n"
        "print(inside.kernel.dtype, after.kernel.dtype, keras.config.floatx())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["float64", "float32", "float32"]


_CACHED_RUN = """
import kreg
from kreg.datasets import synthetic_football
from kreg.lab.runners.course import build_football_model
from kreg.lab.fullbatch import fit_full_batch, floatx_scope
from kreg.walk import weights_digest

x, y = synthetic_football()[:2]
with floatx_scope("float64"):
    model = build_football_model(0.7, 0.86, num_examples=len(x), seed=3)
    fit_full_batch(model, x, y, steps=300, log_every=100, verbose=0)
print(weights_digest(model))
"""


def test_tensorflow_xla_cache_gives_the_same_bits_in_a_new_process(tmp_path):
    # The README suggests TensorFlow's persistent XLA cache for repeated runs (the
    # compiled loop loaded instead of compiled): a run that fills it and one that
    # loads from it, each a fresh process, must train the model this process trains.
    from kreg.lab.runners.course import build_football_model
    from kreg.walk import weights_digest

    cache = tmp_path / "xla-cache"
    env = {**os.environ, "TF_XLA_FLAGS": f"--tf_xla_persistent_cache_directory={cache}"}
    digests, entries = [], []
    for _ in range(2):
        out = subprocess.run(
            [sys.executable, "-c", _CACHED_RUN], env=env, capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr[-2000:]
        digests.append(out.stdout.split()[-1])
        entries.append(sorted(p.name for p in cache.iterdir()))

    x, y = synthetic_football()[:2]
    with floatx_scope("float64"):
        model = build_football_model(0.7, 0.86, num_examples=len(x), seed=3)
        fit_full_batch(model, x, y, steps=300, log_every=100, verbose=0)
    assert entries[0], "the first run wrote no compiled loop to the cache"
    assert entries[1] == entries[0], "the second run compiled again instead of loading"
    assert digests == [weights_digest(model)] * 2
