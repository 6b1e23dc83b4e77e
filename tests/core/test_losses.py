"""kreg.losses.SparseCategoricalCrossentropy: label smoothing for integer labels."""

import keras
import numpy as np
import pytest
from keras import ops

from kreg.losses import SparseCategoricalCrossentropy, sparse_categorical_crossentropy

RNG = np.random.RandomState(0)
LOGITS = (RNG.randn(64, 7) * 3).astype("float32")
PROBS = ops.convert_to_numpy(ops.softmax(LOGITS))
LABELS = RNG.randint(0, 7, 64)
ONE_HOT = np.eye(7, dtype="float32")[LABELS]


def value(loss, *args, **kwargs):
    return float(ops.convert_to_numpy(loss(*args, **kwargs)))


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.3, 1.0])
@pytest.mark.parametrize("from_logits", [False, True])
def test_equals_categorical_crossentropy_on_one_hot_labels(smoothing, from_logits):
    predictions = LOGITS if from_logits else PROBS
    ours = SparseCategoricalCrossentropy(from_logits=from_logits, label_smoothing=smoothing)
    theirs = keras.losses.CategoricalCrossentropy(
        from_logits=from_logits, label_smoothing=smoothing
    )
    assert value(ours, LABELS, predictions) == pytest.approx(
        value(theirs, ONE_HOT, predictions), rel=1e-5
    )
    # Labels shaped (batch, 1), as Keras datasets give them, and per-example values.
    assert value(ours, LABELS[:, None], predictions) == pytest.approx(
        value(theirs, ONE_HOT, predictions), rel=1e-5
    )
    per_example = sparse_categorical_crossentropy(
        LABELS, predictions, from_logits=from_logits, label_smoothing=smoothing
    )
    expected = keras.losses.categorical_crossentropy(
        ONE_HOT, predictions, from_logits=from_logits, label_smoothing=smoothing
    )
    np.testing.assert_allclose(
        ops.convert_to_numpy(per_example), ops.convert_to_numpy(expected), rtol=1e-5, atol=1e-6
    )


def test_smoothing_is_the_formula():
    eps = 0.2
    target = ONE_HOT * (1 - eps) + eps / 7
    expected = np.mean(-np.sum(target * np.log(PROBS.astype(np.float64)), axis=1))
    loss = SparseCategoricalCrossentropy(label_smoothing=eps)
    assert value(loss, LABELS, PROBS) == pytest.approx(expected, rel=1e-5)


def test_without_smoothing_it_is_keras_sparse_loss():
    ours = SparseCategoricalCrossentropy(from_logits=True)
    theirs = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    assert value(ours, LABELS, LOGITS) == value(theirs, LABELS, LOGITS)


@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum"])
def test_ignore_class_leaves_entries_out_of_loss_and_mean(reduction):
    labels = LABELS.copy()
    labels[::4] = -1
    keep = labels != -1
    ours = SparseCategoricalCrossentropy(label_smoothing=0.1, ignore_class=-1, reduction=reduction)
    plain = keras.losses.CategoricalCrossentropy(label_smoothing=0.1, reduction=reduction)
    assert value(ours, labels, PROBS) == pytest.approx(
        value(plain, ONE_HOT[keep], PROBS[keep]), rel=1e-6
    )
    # Without smoothing, as Keras's own sparse loss ignores the class.
    keras_sparse = keras.losses.SparseCategoricalCrossentropy(ignore_class=-1, reduction=reduction)
    unsmoothed = SparseCategoricalCrossentropy(ignore_class=-1, reduction=reduction)
    assert value(unsmoothed, labels, PROBS) == pytest.approx(
        value(keras_sparse, labels, PROBS), rel=1e-6
    )


def test_sample_weight_as_keras_weighs_it():
    weights = RNG.rand(64).astype("float32")
    ours = SparseCategoricalCrossentropy(label_smoothing=0.1)
    theirs = keras.losses.CategoricalCrossentropy(label_smoothing=0.1)
    assert value(ours, LABELS, PROBS, sample_weight=weights) == pytest.approx(
        value(theirs, ONE_HOT, PROBS, sample_weight=weights), rel=1e-6
    )


@pytest.mark.parametrize("bad", [-0.1, 1.5, "0.1", True])
def test_bad_smoothing_is_named(bad):
    with pytest.raises(ValueError, match="label_smoothing"):
        SparseCategoricalCrossentropy(label_smoothing=bad)


def test_config_round_trip_and_training_with_it(tmp_path):
    loss = SparseCategoricalCrossentropy(from_logits=True, label_smoothing=0.15, ignore_class=3)
    again = SparseCategoricalCrossentropy.from_config(loss.get_config())
    assert (again.from_logits, again.label_smoothing, again.ignore_class) == (True, 0.15, 3)
    model = keras.Sequential([keras.Input((7,)), keras.layers.Dense(7)])
    model.compile(
        "adam", loss=SparseCategoricalCrossentropy(from_logits=True, label_smoothing=0.1)
    )
    history = model.fit(LOGITS, LABELS, epochs=3, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    model.save(tmp_path / "smoothed.keras")
    loaded = keras.models.load_model(tmp_path / "smoothed.keras", safe_mode=True)
    assert loaded.loss.label_smoothing == 0.1
    assert loaded.evaluate(LOGITS, LABELS, verbose=0) == pytest.approx(
        model.evaluate(LOGITS, LABELS, verbose=0), rel=1e-6
    )
