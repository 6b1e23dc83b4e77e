"""kreg.metrics: calibration error, NLL, Brier score and entropy, as functions and metrics."""

import re

import keras
import numpy as np
import pytest

from kreg.metrics import (
    BrierScore,
    ExpectedCalibrationError,
    NegativeLogLikelihood,
    PredictiveEntropy,
    brier_score,
    calibration_bins,
    expected_calibration_error,
    negative_log_likelihood,
    predictive_entropy,
)

RNG = np.random.RandomState(0)
PROBS = RNG.dirichlet(np.full(10, 0.3), size=500)
LABELS = np.array([RNG.choice(10, p=p) if i % 3 else RNG.randint(10) for i, p in enumerate(PROBS)])


def direct_ece(labels, probs, num_bins):
    """ECE written out bin by bin, the textbook way."""
    confidence, predicted = probs.max(axis=1), probs.argmax(axis=1)
    total = 0.0
    for b in range(num_bins):
        lo, hi = b / num_bins, (b + 1) / num_bins
        inside = (confidence > lo) & (confidence <= hi) if b else (confidence <= hi)
        if inside.any():
            accuracy = np.mean(predicted[inside] == labels[inside])
            total += inside.mean() * abs(accuracy - confidence[inside].mean())
    return total


def test_perfectly_calibrated_predictions_have_zero_ece():
    probs = np.tile([0.8, 0.2], (10, 1))
    labels = np.array([0] * 8 + [1] * 2)  # right 8 times in 10 at confidence 0.8
    assert expected_calibration_error(labels, probs) == pytest.approx(0.0, abs=1e-12)


def test_always_over_confident_predictions():
    probs = np.tile([1.0, 0.0], (10, 1))
    labels = np.array([0, 1] * 5)  # certain, and right half the time
    assert expected_calibration_error(labels, probs) == pytest.approx(0.5)


def test_one_bin_is_the_gap_between_mean_confidence_and_accuracy():
    confidence = PROBS.max(axis=1).mean()
    accuracy = np.mean(PROBS.argmax(axis=1) == LABELS)
    one_bin = expected_calibration_error(LABELS, PROBS, num_bins=1)
    assert one_bin == pytest.approx(abs(accuracy - confidence), rel=1e-12)


@pytest.mark.parametrize("num_bins", [5, 15, 20])
def test_ece_matches_a_direct_computation(num_bins):
    expected = direct_ece(LABELS, PROBS, num_bins)
    assert expected_calibration_error(LABELS, PROBS, num_bins) == pytest.approx(
        expected, rel=1e-12
    )
    bins = calibration_bins(LABELS, PROBS, num_bins)
    assert bins["counts"].sum() == len(LABELS) and len(bins["edges"]) == num_bins + 1


def test_nll_brier_and_entropy_match_their_formulas():
    picked = PROBS[np.arange(len(LABELS)), LABELS]
    assert negative_log_likelihood(LABELS, PROBS) == pytest.approx(-np.mean(np.log(picked)))
    onehot = np.eye(10)[LABELS]
    assert brier_score(LABELS, PROBS) == pytest.approx(np.mean(np.sum((PROBS - onehot) ** 2, 1)))
    entropy = np.mean(-np.sum(PROBS * np.log(np.clip(PROBS, 1e-12, 1)), axis=1))
    assert predictive_entropy(PROBS) == pytest.approx(entropy)
    assert predictive_entropy(np.eye(3)) == 0.0


@pytest.mark.parametrize(
    "labels, probs, message",
    [
        (np.array([0, 1]), np.array([[0.5, 0.6], [0.5, 0.5]]), "row 0 sums to 1.1"),
        (
            np.array([0, 2]),
            np.array([[0.5, 0.5], [0.5, 0.5]]),
            "indices in 0..1. Received values such as [2]",
        ),
        (np.array([0, -1]), np.array([[0.5, 0.5], [0.5, 0.5]]), "Received values such as [-1]"),
        (np.array([0]), np.array([[0.5, 0.5], [0.5, 0.5]]), "has 1 labels for 2 rows"),
        (np.array([0]), np.array([0.5, 0.5]), "must be a (examples, classes) array"),
    ],
)
def test_bad_input_is_named(labels, probs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        expected_calibration_error(labels, probs)


def test_num_bins_is_validated():
    with pytest.raises(ValueError, match=re.escape("Received: num_bins=0")):
        ExpectedCalibrationError(num_bins=0)


def test_keras_metrics_accumulate_to_the_functions_values():
    metrics = [
        ExpectedCalibrationError(),
        NegativeLogLikelihood(),
        BrierScore(),
        PredictiveEntropy(),
    ]
    for start in range(0, len(LABELS), 128):  # batches, as in fit
        for metric in metrics:
            metric.update_state(LABELS[start : start + 128, None], PROBS[start : start + 128])
    values = [float(metric.result()) for metric in metrics]
    expected = [
        expected_calibration_error(LABELS, PROBS),
        negative_log_likelihood(LABELS, PROBS),
        brier_score(LABELS, PROBS),
        predictive_entropy(PROBS),
    ]
    assert values == pytest.approx(expected, rel=1e-5)


def test_metrics_in_compile_fit_and_reload(tmp_path):
    x = RNG.rand(64, 4).astype("float32")
    y = RNG.randint(0, 3, (64, 1))
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    model.compile(
        "adam",
        "sparse_categorical_crossentropy",
        metrics=[ExpectedCalibrationError(num_bins=10), NegativeLogLikelihood()],
    )
    history = model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    probs = model.predict(x, verbose=0)
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert logs["ece"] == pytest.approx(expected_calibration_error(y, probs, 10), abs=1e-5)
    assert logs["nll"] == pytest.approx(negative_log_likelihood(y, probs), rel=1e-5)
    assert {"ece", "nll"} <= set(history.history)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    again = loaded.evaluate(x, y, verbose=0, return_dict=True)
    assert again["ece"] == pytest.approx(logs["ece"], abs=1e-6)


def test_temperature_scaling_fixes_over_confidence_and_keeps_predictions():
    from kreg.calibration import apply_temperature, fit_temperature

    rng = np.random.RandomState(1)
    logits = rng.randn(2000, 5) * 2
    labels = np.array([rng.choice(5, p=np.exp(z) / np.exp(z).sum()) for z in logits])
    calibrated = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    over_confident = apply_temperature(calibrated, 0.5)  # logits doubled
    temperature = fit_temperature(labels, over_confident)
    assert temperature == pytest.approx(2.0, rel=0.15)
    fixed = apply_temperature(over_confident, temperature)
    assert (fixed.argmax(axis=1) == over_confident.argmax(axis=1)).all()
    assert negative_log_likelihood(labels, fixed) < negative_log_likelihood(labels, over_confident)
    assert expected_calibration_error(labels, fixed) < expected_calibration_error(
        labels, over_confident
    )
    with pytest.raises(ValueError, match="Received: temperature=0"):
        apply_temperature(calibrated, 0)
