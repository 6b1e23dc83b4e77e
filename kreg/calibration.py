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

    Searched on `log T` within `bounds` by bounded scalar minimisation (SciPy).
    """
    from scipy.optimize import minimize_scalar

    negative_log_likelihood(y_true, probs)  # validates both before any search

    def nll(log_t: float) -> float:
        return negative_log_likelihood(y_true, apply_temperature(probs, float(np.exp(log_t))))

    found = minimize_scalar(
        nll,
        bounds=(np.log(bounds[0]), np.log(bounds[1])),
        method="bounded",
        options={"xatol": 1e-6},
    )
    return float(np.exp(found.x))
