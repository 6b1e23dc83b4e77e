"""How honest a variant's probabilities are: NLL, ECE and Brier, three ways to predict."""

from __future__ import annotations

import numpy as np

from kreg._retracing import ignore_retracing_warning
from kreg.calibration import apply_temperature, fit_temperature
from kreg.mc_dropout import mc_predict
from kreg.metrics import (
    brier_score,
    calibration_bins,
    expected_calibration_error,
    negative_log_likelihood,
)

__all__ = ["evaluate_calibration"]


def _scores(labels, probs, num_bins: int = 15) -> dict:
    bins = calibration_bins(labels, probs, num_bins)
    return {
        "accuracy": float(np.mean(probs.argmax(axis=1) == labels.reshape(-1))),
        "nll": negative_log_likelihood(labels, probs),
        "ece": expected_calibration_error(labels, probs, num_bins),
        "brier": brier_score(labels, probs),
        "bins": {
            "counts": bins["counts"].tolist(),
            # JSON has no NaN: empty bins are None
            "confidence": [None if np.isnan(v) else float(v) for v in bins["confidence"]],
            "accuracy": [None if np.isnan(v) else float(v) for v in bins["accuracy"]],
        },
    }


def evaluate_calibration(
    model, standardize, validation, test, *, mc_samples: int, seed: int, batch_size: int = 256
) -> dict:
    """Test-set accuracy, NLL, ECE and Brier score of three ways to predict.

    `deterministic` is `model.predict`; `temperature` rescales those
    probabilities with a temperature fitted on `validation` by NLL (the
    baseline any uncertainty method must beat); `mc_dropout`, when
    `mc_samples > 0`, averages that many dropout samples (`kreg.mc_predict`).
    Each entry also holds the reliability diagram's 15 bins.
    """
    (x_val, y_val), (x_test, y_test) = validation, test
    # Each variant's model compiles its own predict step from Keras's one function.
    ignore_retracing_warning("make_predict_function")

    def predict(images):
        return model.predict(np.asarray(standardize(images)), batch_size=batch_size, verbose=0)

    val_probs, test_probs = predict(x_val).astype(np.float64), predict(x_test).astype(np.float64)
    temperature = fit_temperature(y_val, val_probs)
    report = {
        "deterministic": _scores(y_test, test_probs),
        "temperature": {
            **_scores(y_test, apply_temperature(test_probs, temperature)),
            "temperature": temperature,
        },
    }
    if mc_samples:
        mean, _ = mc_predict(model, np.asarray(standardize(x_test)), samples=mc_samples, seed=seed)
        mean = np.asarray(mean, np.float64)
        report["mc_dropout"] = {
            **_scores(y_test, mean / mean.sum(1, keepdims=True)),
            "samples": mc_samples,
        }
    return report
