"""fit_full_batch's fused engine: the Keras engine's training, written out as matrix products."""

import keras
import numpy as np
import pytest

from kreg.datasets import synthetic_football
from kreg.lab.fullbatch import fit_full_batch, floatx_scope, precision_scope
from kreg.lab.fullbatch.fused import fused_problem
from kreg.lab.runners.course import build_football_model
from kreg.layers import InvertedDropout
from kreg.models import football_classifier

STEPS, LOG_EVERY = 240, 80
X, Y, X_VAL, Y_VAL = synthetic_football(seed=0)


def weights(model):
    return [keras.ops.convert_to_numpy(v) for v in model.trainable_variables]


def seed_states(model):
    return [
        keras.ops.convert_to_numpy(layer.seed_generator.state).tolist()
        for layer in model.layers
        if hasattr(layer, "seed_generator")
    ]


def train(engine, lambd=0.0, keep_prob=1.0, *, precision="float64", steps=STEPS, **kwargs):
    with floatx_scope(precision):
        model = build_football_model(
            lambd, keep_prob, num_examples=len(X), seed=3, precision=precision
        )
        history = fit_full_batch(
            model,
            X,
            Y,
            steps=steps,
            optimizer=model.optimizer,
            validation_data=(X_VAL, Y_VAL),
            verbose=0,
            engine=engine,
            **{"log_every": LOG_EVERY, **kwargs},
        )
    return model, history


# Without regularization and with L2 alone the fused engine is also checked against the
# numpy course code (tests/test_training.py::test_matches_reference_trajectory_in_float64).
@pytest.mark.parametrize("lambd, keep_prob", [(0.0, 0.86), (0.3, 0.7)], ids=str)
def test_fused_engine_trains_what_the_keras_engine_trains(lambd, keep_prob):
    fused_model, fused = train("fused", lambd, keep_prob)
    keras_model, reference = train("keras", lambd, keep_prob)
    assert fused.engine == "fused" and reference.engine == "keras"
    # The same masks: another mask at any step would move the weights by ~1e-2.
    for ours, theirs in zip(weights(fused_model), weights(keras_model)):
        np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12)
    assert [s for s, _ in fused.costs] == [s for s, _ in reference.costs]
    np.testing.assert_allclose(
        [c for _, c in fused.costs], [c for _, c in reference.costs], rtol=1e-12
    )
    for ours, theirs in zip(fused.logs, reference.logs):
        assert set(ours) == set(theirs)
        for name in ("loss", "penalty", "val_loss"):
            assert ours[name] == pytest.approx(theirs[name], rel=1e-9, abs=1e-15)
        # The same counts of correct examples (XLA's mean can be 1 ulp off count / m).
        for name in ("accuracy", "val_accuracy"):
            assert ours[name] == pytest.approx(theirs[name], rel=0, abs=1e-12)
        assert ours["steps"] == theirs["steps"]
    # The dropout generators and the optimizer's step counter advance as in Keras.
    assert seed_states(fused_model) == seed_states(keras_model)
    assert int(fused_model.optimizer.iterations) == int(keras_model.optimizer.iterations) == STEPS


def test_float32_models_train_alike_in_both_engines():
    fused_model, fused = train("fused", 0.7, 0.86, precision="float32")
    keras_model, reference = train("keras", 0.7, 0.86, precision="float32")
    assert {w.dtype for w in weights(fused_model)} == {np.dtype("float32")}
    for ours, theirs in zip(weights(fused_model), weights(keras_model)):
        np.testing.assert_allclose(ours, theirs, rtol=2e-4, atol=1e-5)
    assert fused.logs[-1]["accuracy"] == pytest.approx(reference.logs[-1]["accuracy"], abs=1e-12)


def test_intervals_and_calls_continue_one_another_bit_for_bit():
    """Weights and dropout counters carry over between intervals and between calls."""
    whole, _ = train("fused", 0.3, 0.7, steps=STEPS, log_every=STEPS)
    with floatx_scope("float64"):
        model = build_football_model(0.3, 0.7, num_examples=len(X), seed=3)
        for steps in (100, 140):
            fit_full_batch(
                model, X, Y, steps=steps, optimizer=model.optimizer, log_every=30, verbose=0
            )
    for ours, theirs in zip(weights(whole), weights(model)):
        np.testing.assert_array_equal(ours, theirs, strict=True)
    assert seed_states(whole) == seed_states(model)


def test_callbacks_see_the_weights_of_their_interval_and_can_stop():
    seen = []

    class Record(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(weights(self.model))
            self.model.stop_training = epoch == 1

    model, history = train("fused", 0.0, 0.86, callbacks=[Record()])
    assert history.logs[-1]["steps"] == 2 * LOG_EVERY
    first_interval, _ = train("fused", 0.0, 0.86, steps=LOG_EVERY)
    for ours, theirs in zip(seen[0], weights(first_interval)):
        np.testing.assert_array_equal(ours, theirs, strict=True)
    for ours, theirs in zip(seen[1], weights(model)):
        np.testing.assert_array_equal(ours, theirs, strict=True)


def test_without_xla_the_same_arithmetic_runs_as_a_graph():
    compiled, _ = train("fused", 0.3, 0.7)
    graph, history = train("fused", 0.3, 0.7, jit_compile=False)
    assert history.engine == "fused"
    for ours, theirs in zip(weights(graph), weights(compiled)):
        np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12)


def test_default_optimizer_and_learning_rate():
    with floatx_scope("float64"):
        fused = football_classifier(l2=0.01, dtype="float64")
        history = fit_full_batch(fused, X, Y, steps=50, learning_rate=0.1, log_every=50)
        reference = football_classifier(l2=0.01, dtype="float64")
        fit_full_batch(reference, X, Y, steps=50, learning_rate=0.1, engine="keras")
    assert history.engine == "fused"
    for ours, theirs in zip(weights(fused), weights(reference)):
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-14)


def hash_model(**kwargs):
    return football_classifier(dropout=0.2, seed=0, dropout_layer="kreg-hash", **kwargs)


def frozen():
    model = hash_model()
    model.layers[2].trainable = False
    return model


def constrained():
    model = keras.Sequential(
        [
            keras.Input((2,)),
            keras.layers.Dense(4, "relu", kernel_constraint=keras.constraints.MaxNorm(1.0)),
            keras.layers.Dense(1, "sigmoid"),
        ]
    )
    return model


def small(schedulable=False):
    # No dtype given: the layers take the global dtype policy.
    return keras.Sequential(
        [
            keras.Input((2,)),
            keras.layers.Dense(4, "relu"),
            InvertedDropout(0.2, rng_algorithm="counter_hash", schedulable=schedulable),
            keras.layers.Dense(1, "sigmoid"),
        ]
    )


def scheduled():
    return small(schedulable=True)


@pytest.mark.parametrize(
    "make_model, optimizer, loss, reason",
    [
        (lambda: football_classifier(dropout=0.2, seed=0), None, "bce", "counter_hash"),
        (lambda: football_classifier(dropout=0.2, dropout_layer="kreg"), None, "bce", "hash"),
        (scheduled, None, "bce", "schedulable=True"),
        (frozen, None, "bce", "trainable=False"),
        (constrained, None, "bce", "weight constraint"),
        (hash_model, lambda: keras.optimizers.SGD(0.1, momentum=0.9), "bce", "plain gradient"),
        (hash_model, lambda: keras.optimizers.Adam(), "bce", "plain gradient"),
        (hash_model, lambda: keras.optimizers.SGD(0.1, clipnorm=1.0), "bce", "plain gradient"),
        (hash_model, None, "mse", "binary cross-entropy"),
        (
            hash_model,
            None,
            keras.losses.BinaryCrossentropy(label_smoothing=0.1),
            "binary cross-entropy",
        ),
    ],
)
def test_models_the_fused_engine_cannot_train_go_to_keras(make_model, optimizer, loss, reason):
    loss = "binary_crossentropy" if loss == "bce" else loss
    model = make_model()
    optimizer = optimizer() if optimizer else None
    assert reason in fused_problem(model, optimizer, loss)
    with pytest.raises(ValueError, match="engine='fused' cannot train this model: .*" + reason):
        fit_full_batch(model, X, Y, steps=2, loss=loss, optimizer=optimizer, engine="fused")


@pytest.mark.parametrize(
    "model, optimizer", [(football_classifier(dropout=0.2, seed=0), None), (hash_model(), "adam")]
)
def test_auto_trains_what_the_fused_engine_cannot_with_the_keras_engine(model, optimizer):
    history = fit_full_batch(model, X, Y, steps=2, optimizer=optimizer, verbose=0)
    assert history.engine == "keras"
    assert np.isfinite(history.logs[-1]["loss"])


def test_mixed_precision_layers_go_to_keras():
    assert fused_problem(small(), None, "binary_crossentropy") is None
    with precision_scope("mixed_bfloat16"):
        model = small()
    assert "mixed_bfloat16" in fused_problem(model, None, "binary_crossentropy")


def test_what_the_fused_engine_takes():
    assert fused_problem(hash_model(), None, "binary_crossentropy") is None
    assert fused_problem(hash_model(), None, keras.losses.BinaryCrossentropy()) is None
    assert fused_problem(hash_model(), None, keras.losses.binary_crossentropy) is None
    assert fused_problem(hash_model(), keras.optimizers.SGD(0.05), "binary_crossentropy") is None


def test_bad_engine_and_inputs_are_refused():
    with pytest.raises(ValueError, match=r"`engine` must be one of .*Received: engine='xla'"):
        fit_full_batch(hash_model(), X, Y, steps=1, engine="xla")
    with pytest.raises(ValueError, match=r"`x` must be \(examples, 2\) for this model"):
        fit_full_batch(hash_model(), np.ones((5, 3)), np.ones(5), steps=1, engine="fused")
