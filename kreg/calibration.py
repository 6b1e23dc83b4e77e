"""Temperature scaling: the one-parameter recalibration any uncertainty method must beat.

Guo et al. (2017), "On Calibration of Modern Neural Networks": divide the
logits by a scalar `T > 0` fitted on held-out data by negative log-likelihood.
It changes no prediction (the arg-max is the same), only how confident the
probabilities are. kreg works from probabilities, so the logits are their
logarithms: `softmax(log(p) / T)`.
"""

from __future__ import annotations

import numpy as np

from kreg.metrics import EPSILON, negative_log_likelihood

__all__ = ["apply_temperature", "fit_temperature"]


def apply_temperature(probs, temperature: float) -> np.ndarray:
    """`softmax(log(probs) / temperature)`, row by row, in float64."""
    if not np.isfinite(temperature) or temperature <= 0:
        raise ValueError(
            f"`temperature` must be a finite number > 0. Received: temperature={temperature}"
        )
    logits = np.log(np.clip(np.asarray(probs, dtype=np.float64), EPSILON, 1)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    scaled = np.exp(logits)
    return scaled / scaled.sum(axis=1, keepdims=True)


def fit_temperature(y_true, probs, bounds: tuple[float, float] = (0.05, 20.0)) -> float:
    """The temperature that minimises the NLL of `probs` on `y_true` (a validation split).

    Searched on `log T` within `bounds` by golden-section search to 1e-7 in
    `log T`: the NLL of temperature-scaled probabilities is convex in `1 / T`
    (a log-sum-exp of linear functions of it), so it has one minimum there.
    """
    low, high = (float(b) for b in bounds)
    if not 0 < low < high or not np.isfinite(high):
        raise ValueError(f"`bounds` must be (low, high) with 0 < low < high. Received: {bounds}")
    negative_log_likelihood(y_true, probs)  # validates both before any search

    def nll(log_t: float) -> float:
        return negative_log_likelihood(y_true, apply_temperature(probs, float(np.exp(log_t))))

    return float(np.exp(golden_section_minimum(nll, np.log(low), np.log(high), tolerance=1e-7)))


def golden_section_minimum(function, low: float, high: float, tolerance: float) -> float:
    """The minimum of a unimodal `function` on `[low, high]`, to within `tolerance`."""
    ratio = (np.sqrt(5.0) - 1) / 2
    left, right = high - ratio * (high - low), low + ratio * (high - low)
    f_left, f_right = function(left), function(right)
    while high - low > tolerance:
        if f_left <= f_right:
            high, right, f_right = right, left, f_left
            left = high - ratio * (high - low)
            f_left = function(left)
        else:
            low, left, f_left = left, right, f_right
            right = low + ratio * (high - low)
            f_right = function(right)
    return (low + high) / 2
