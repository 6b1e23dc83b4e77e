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
    bin_edges,
    bin_index,
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


def rows_on_every_edge(num_bins: int, dtype) -> tuple[np.ndarray, np.ndarray]:
    """101-class rows whose top probability is each edge k / num_bins (k >= 1) in `dtype`."""
    top = (np.arange(1, num_bins + 1) / num_bins).astype(dtype)
    probs = np.repeat(((1 - top) / 100)[:, None], 101, axis=1).astype(dtype)
    probs[np.arange(num_bins), np.arange(num_bins) % 101] = top
    labels = (np.arange(num_bins) * 7) % 101  # right now and then
    return labels, probs


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_metric_bins_every_edge_as_the_function_does(dtype):
    if dtype == "float64" and keras.backend.backend() == "jax":
        pytest.skip("JAX without x64 has no float64 predictions")
    # JAX compiles every op for each new shape (about 0.8 s a bin count): a sample there.
    counts = range(1, 101) if keras.backend.backend() != "jax" else [1, 2, 3, 7, 10, 15, 64, 100]
    for num_bins in counts:
        labels, probs = rows_on_every_edge(num_bins, dtype)
        bins = calibration_bins(labels, probs, num_bins)
        metric = ExpectedCalibrationError(num_bins=num_bins)
        metric.update_state(labels, keras.ops.convert_to_tensor(probs, dtype=dtype))
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(metric.counts), bins["counts"], err_msg=f"{num_bins} bins"
        )
        assert float(metric.result()) == pytest.approx(
            expected_calibration_error(labels, probs, num_bins), abs=1e-6
        ), f"{num_bins} bins"


def test_binary_probabilities_on_the_tenths():
    # The case that differed by 0.1: binary probabilities 0.5, 0.6, ..., 1.0.
    p = np.linspace(0.5, 1.0, 6).astype("float32")
    probs = np.stack([p, 1 - p], axis=1)
    labels = np.array([0, 1, 0, 0, 1, 0])
    metric = ExpectedCalibrationError(num_bins=10)
    metric.update_state(labels, probs)
    assert float(metric.result()) == pytest.approx(
        expected_calibration_error(labels, probs, 10), abs=1e-7
    )


@pytest.mark.parametrize("num_bins", [1, 3, 7, 10, 15, 100])
def test_calibration_bins_edges_agree_with_its_binning(num_bins):
    edges = bin_edges(num_bins)
    # Every edge exactly (as float64), its neighbours, and random confidences.
    exact = edges[1:]
    near = np.concatenate([np.nextafter(exact, 0), np.nextafter(exact, 2)[:-1]])
    confidence = np.concatenate([exact, near, np.random.RandomState(num_bins).rand(200) * 0.99])
    confidence = confidence[confidence >= 0.5]
    probs = np.stack([confidence, 1 - confidence], axis=1)
    labels = np.zeros(len(confidence), dtype=np.int64)
    bins = calibration_bins(labels, probs, num_bins)
    np.testing.assert_array_equal(bins["edges"], edges)
    index = bin_index(confidence, num_bins)
    assert np.all((edges[index] < confidence) & (confidence <= edges[index + 1]))
    by_edges = [np.sum((confidence > lo) & (confidence <= hi)) for lo, hi in zip(edges, edges[1:])]
    np.testing.assert_array_equal(bins["counts"], by_edges)
    filled = bins["counts"] > 0
    assert np.all(bins["confidence"][filled] > edges[:-1][filled])
    assert np.all(bins["confidence"][filled] <= edges[1:][filled])


def test_sample_weight_counts_an_example_that_many_times():
    weights = np.arange(len(LABELS)) % 3
    metric = ExpectedCalibrationError()
    metric.update_state(LABELS, PROBS, sample_weight=weights)
    repeated = np.repeat(np.arange(len(LABELS)), weights)
    assert float(metric.result()) == pytest.approx(
        expected_calibration_error(LABELS[repeated], PROBS[repeated]), rel=1e-5
    )
