"""How much a classifier's probabilities mean: calibration error, NLL, Brier score, entropy.

Each measure is a plain function on NumPy arrays (`y_true` integer labels of
shape `(n,)` or `(n, 1)`, `probs` of shape `(n, classes)` whose rows sum to 1)
and a Keras metric of the same name for `model.compile(metrics=[...])`:

- expected calibration error (Naeini et al., 2015; Guo et al., 2017):
  `ECE = sum_b |B_b| / n * |accuracy(B_b) - confidence(B_b)|` over `num_bins`
  equal-width bins of the top-class probability (15 by default, as in the
  calibration literature); a bin is `(lo, hi]`, the first `[0, hi]`, with the
  edges `numpy.linspace(0, 1, num_bins + 1)` in float64: a confidence equal
  to an edge (as a float64 number) falls in the bin it closes. The function
  and the Keras metric follow this one rule on the same inputs, edges
  included (the metric compares a float32 confidence with each float64 edge
  exactly);
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
    "bin_edges",
    "bin_index",
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


def bin_edges(num_bins: int = 15) -> np.ndarray:
    """The `num_bins + 1` float64 edges of the calibration bins, `numpy.linspace(0, 1, ...)`."""
    return np.linspace(0.0, 1.0, _validate_bins(num_bins) + 1)


def bin_index(confidence, num_bins: int = 15) -> np.ndarray:
    """The bin of each confidence: `b` where `edges[b] < confidence <= edges[b + 1]` (0 for 0)."""
    edges = bin_edges(num_bins)
    return np.searchsorted(edges[1:-1], np.asarray(confidence, dtype=np.float64), side="left")


def calibration_bins(y_true, probs, num_bins: int = 15) -> dict:
    """Per-bin counts, mean confidence and accuracy of the top-class prediction.

    Bin `b` holds the confidences `c` with `edges[b] < c <= edges[b + 1]`
    (the first also 0), `edges` being the returned edges (see `bin_edges`).

    Returns:
        A dict of NumPy arrays of length `num_bins`: `edges` (the `num_bins +
        1` bin edges), `counts`, `confidence` and `accuracy` (NaN for empty
        bins).
    """
    labels, probs = _validate(y_true, probs)
    num_bins = _validate_bins(num_bins)
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    edges = bin_edges(num_bins)
    index = bin_index(confidence, num_bins)
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
    `sum_b |correct_b - confidence_b| / n`, the value of
    `kreg.metrics.expected_calibration_error` on all the data at once (to
    the accumulators' float32 rounding), with the same bins: a confidence on
    an edge falls where the function puts it. `sample_weight` weighs each
    example (a weight of 2 counts it twice).

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
        interior = bin_edges(self.num_bins)[1:-1]
        # A float32 c is > a float64 edge e exactly when c > e rounded down to float32.
        below = interior.astype(np.float32)
        too_high = below.astype(np.float64) > interior
        below[too_high] = np.nextafter(below[too_high], np.float32(-np.inf))
        self._edges = {"float32": below, "float64": interior}

    def update_state(self, y_true, y_pred, sample_weight=None):
        dtype = keras.backend.standardize_dtype(getattr(y_pred, "dtype", "float32"))
        dtype = "float64" if dtype == "float64" else "float32"
        probs = ops.cast(y_pred, dtype)
        labels = ops.cast(ops.reshape(y_true, (-1,)), "int32")
        confidence = ops.max(probs, axis=-1)
        correct = ops.cast(ops.equal(ops.argmax(probs, axis=-1), labels), "float32")
        if self.num_bins == 1:
            index = ops.zeros_like(labels)
        else:
            edges = ops.convert_to_tensor(self._edges[dtype], dtype=dtype)
            above = ops.greater(ops.expand_dims(confidence, -1), ops.expand_dims(edges, 0))
            index = ops.sum(ops.cast(above, "int32"), axis=-1)
        onehot = ops.one_hot(index, self.num_bins, dtype="float32")
        if sample_weight is not None:
            weights = ops.cast(ops.reshape(sample_weight, (-1,)), "float32")
            onehot = onehot * ops.expand_dims(weights, -1)
        confidence = ops.cast(confidence, "float32")
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
