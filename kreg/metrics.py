"""How much a classifier's probabilities mean: calibration error, NLL, Brier score, entropy.

Each measure is a plain function on NumPy arrays (`y_true` integer labels of
shape `(n,)` or `(n, 1)`, `probs` of shape `(n, classes)` whose rows sum to 1)
and a Keras metric of the same name for `model.compile(metrics=[...])`:

- expected calibration error (Naeini et al., 2015; Guo et al., 2017):
  `ECE = sum_b |B_b| / n * |accuracy(B_b) - confidence(B_b)|` over `num_bins`
  equal-width bins of the top-class probability (15 by default, as in the
  calibration literature); a bin is `(lo, hi]`, the first `[0, hi]`;
- negative log-likelihood: `-mean(log p[y])`, probabilities clipped at `eps`;
- Brier score: `mean(sum_k (p_k - onehot(y)_k) ** 2)` (0 is perfect, 2 worst);
- predictive entropy: `mean(-sum_k p_k log p_k)` (in nats).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

__all__ = [
    "BrierScore",
    "ExpectedCalibrationError",
    "NegativeLogLikelihood",
    "PredictiveEntropy",
    "brier_score",
    "calibration_bins",
    "expected_calibration_error",
    "negative_log_likelihood",
    "predictive_entropy",
]

EPSILON = 1e-12  # log(0) guard for NLL and entropy


def _validate(y_true, probs, tolerance: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[1] < 2:
        raise ValueError(
            f"`probs` must be a (examples, classes) array with at least 2 classes. "
            f"Received shape {probs.shape}."
        )
    if not np.all(np.isfinite(probs)) or probs.min() < 0 or probs.max() > 1:
        raise ValueError("`probs` must hold finite probabilities in [0, 1].")
    sums = probs.sum(axis=1)
    worst = int(np.argmax(np.abs(sums - 1)))
    if abs(sums[worst] - 1) > tolerance:
        raise ValueError(
            f"Each row of `probs` must sum to 1 (within {tolerance}); row {worst} sums to "
            f"{sums[worst]:.6g}. Pass softmax outputs, not logits."
        )
    labels = np.asarray(y_true).reshape(-1)
    if labels.shape[0] != probs.shape[0]:
        raise ValueError(
            f"`y_true` has {labels.shape[0]} labels for {probs.shape[0]} rows of `probs`."
        )
    integral = np.all(np.mod(labels, 1) == 0) if labels.size else True
    if labels.size and (not integral or labels.min() < 0 or labels.max() >= probs.shape[1]):
        bad = labels[(labels < 0) | (labels >= probs.shape[1]) | (np.mod(labels, 1) != 0)][:5]
        raise ValueError(
            f"`y_true` must hold integer class indices in 0..{probs.shape[1] - 1}. "
            f"Received values such as {bad.tolist()}."
        )
    return labels.astype(np.int64), probs


def _validate_bins(num_bins) -> int:
    if isinstance(num_bins, bool) or not isinstance(num_bins, (int, np.integer)) or num_bins < 1:
        raise ValueError(f"`num_bins` must be a positive integer. Received: num_bins={num_bins!r}")
    return int(num_bins)


def calibration_bins(y_true, probs, num_bins: int = 15) -> dict:
    """Per-bin counts, mean confidence and accuracy of the top-class prediction.

    Returns:
        A dict of NumPy arrays of length `num_bins`: `edges` (the `num_bins +
        1` bin edges), `counts`, `confidence` and `accuracy` (NaN for empty
        bins).
    """
    labels, probs = _validate(y_true, probs)
    num_bins = _validate_bins(num_bins)
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, num_bins + 1)
    # (lo, hi] bins; a confidence of exactly 0 (impossible for a top class) joins bin 0.
    index = np.clip(np.ceil(confidence * num_bins).astype(np.int64) - 1, 0, num_bins - 1)
    counts = np.bincount(index, minlength=num_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.bincount(index, confidence, num_bins) / counts
        accuracy = np.bincount(index, correct.astype(np.float64), num_bins) / counts
    return {"edges": edges, "counts": counts, "confidence": mean_confidence, "accuracy": accuracy}


def expected_calibration_error(y_true, probs, num_bins: int = 15) -> float:
    """ECE: the count-weighted mean |accuracy - confidence| over equal-width confidence bins."""
    bins = calibration_bins(y_true, probs, num_bins)
    filled = bins["counts"] > 0
    weights = bins["counts"][filled] / bins["counts"].sum()
    gaps = np.abs(bins["accuracy"][filled] - bins["confidence"][filled])
    return float(np.sum(weights * gaps))


def negative_log_likelihood(y_true, probs) -> float:
    """`-mean(log p[y])`, the probabilities clipped at 1e-12."""
    labels, probs = _validate(y_true, probs)
    return float(-np.mean(np.log(np.clip(probs[np.arange(len(labels)), labels], EPSILON, 1))))


def brier_score(y_true, probs) -> float:
    """`mean(sum_k (p_k - onehot(y)_k) ** 2)`."""
    labels, probs = _validate(y_true, probs)
    onehot = np.eye(probs.shape[1])[labels]
    return float(np.mean(np.sum((probs - onehot) ** 2, axis=1)))


def predictive_entropy(probs) -> float:
    """`mean(-sum_k p_k log p_k)` in nats: 0 for one-hot predictions, log(classes) at most."""
    _, probs = _validate(np.zeros(len(np.asarray(probs)), dtype=np.int64), probs)
    return float(np.mean(-np.sum(probs * np.log(np.clip(probs, EPSILON, 1)), axis=1)))


# Keras metrics: the same measures, accumulated over batches inside compiled training.


def _labels_and_probs(y_true, y_pred):
    probs = ops.cast(y_pred, "float32")
    labels = ops.cast(ops.reshape(y_true, (-1,)), "int32")
    return labels, probs


@keras.saving.register_keras_serializable(package="kreg")
class ExpectedCalibrationError(keras.metrics.Metric):
    """Expected calibration error over `num_bins` equal-width confidence bins.

    Accumulates each bin's count, summed confidence and number of correct
    top-class predictions over the batches; `result()` is
    `sum_b |correct_b - confidence_b| / n`, the same value as
    `kreg.metrics.expected_calibration_error` on all the data at once.

    Args:
        num_bins: number of bins, 15 by default.
        name: metric name.
        dtype: dtype of the accumulators.
    """

    def __init__(self, num_bins: int = 15, name: str = "ece", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.num_bins = _validate_bins(num_bins)
        shape = (self.num_bins,)
        self.counts = self.add_variable(shape=shape, initializer="zeros", name="counts")
        self.confidence = self.add_variable(shape=shape, initializer="zeros", name="confidence")
        self.correct = self.add_variable(shape=shape, initializer="zeros", name="correct")

    def update_state(self, y_true, y_pred, sample_weight=None):
        labels, probs = _labels_and_probs(y_true, y_pred)
        confidence = ops.max(probs, axis=-1)
        correct = ops.cast(ops.equal(ops.argmax(probs, axis=-1), labels), "float32")
        index = ops.clip(
            ops.cast(ops.ceil(confidence * self.num_bins), "int32") - 1, 0, self.num_bins - 1
        )
        onehot = ops.one_hot(index, self.num_bins, dtype="float32")
        self.counts.assign_add(ops.cast(ops.sum(onehot, axis=0), self.dtype))
        self.confidence.assign_add(ops.cast(ops.sum(onehot * confidence[:, None], 0), self.dtype))
        self.correct.assign_add(ops.cast(ops.sum(onehot * correct[:, None], 0), self.dtype))

    def result(self):
        total = ops.maximum(ops.sum(self.counts), 1.0)
        return ops.sum(ops.abs(self.correct - self.confidence)) / total

    def reset_state(self):
        for variable in (self.counts, self.confidence, self.correct):
            variable.assign(ops.zeros(variable.shape, variable.dtype))

    def get_config(self):
        return {**super().get_config(), "num_bins": self.num_bins}


@keras.saving.register_keras_serializable(package="kreg")
class NegativeLogLikelihood(keras.metrics.MeanMetricWrapper):
    """Mean negative log-likelihood of the true class (`-log p[y]`, clipped at 1e-12)."""

    def __init__(self, name: str = "nll", dtype=None):
        super().__init__(fn=_nll, name=name, dtype=dtype)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


@keras.saving.register_keras_serializable(package="kreg")
class BrierScore(keras.metrics.MeanMetricWrapper):
    """Mean Brier score `sum_k (p_k - onehot(y)_k) ** 2`."""

    def __init__(self, name: str = "brier", dtype=None):
        super().__init__(fn=_brier, name=name, dtype=dtype)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


@keras.saving.register_keras_serializable(package="kreg")
class PredictiveEntropy(keras.metrics.MeanMetricWrapper):
    """Mean entropy of the predicted distribution, in nats (labels are not used)."""

    def __init__(self, name: str = "entropy", dtype=None):
        super().__init__(fn=_entropy, name=name, dtype=dtype)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


def _nll(y_true, y_pred):
    labels, probs = _labels_and_probs(y_true, y_pred)
    picked = ops.take_along_axis(probs, labels[:, None], axis=-1)[:, 0]
    return -ops.log(ops.clip(picked, EPSILON, 1.0))


def _brier(y_true, y_pred):
    labels, probs = _labels_and_probs(y_true, y_pred)
    onehot = ops.one_hot(labels, ops.shape(probs)[-1], dtype=probs.dtype)
    return ops.sum(ops.square(probs - onehot), axis=-1)


def _entropy(y_true, y_pred):
    probs = ops.cast(y_pred, "float32")
    return -ops.sum(probs * ops.log(ops.clip(probs, EPSILON, 1.0)), axis=-1)
