"""Spread over seeds: mean and standard deviation, and paired differences with an interval."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

__all__ = ["PairedDifference", "mean_std", "paired_difference"]


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (n - 1); the deviation is nan for one value."""
    values = [float(v) for v in values]
    if not values:
        raise ValueError("`values` must not be empty.")
    mean = math.fsum(values) / len(values)
    if len(values) == 1:
        return mean, math.nan
    variance = math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1)
    return mean, math.sqrt(variance)


@dataclasses.dataclass(frozen=True)
class PairedDifference:
    """`mean` of `a - b` over paired seeds, and the half-width of its confidence interval."""

    mean: float
    half_width: float  # nan with one pair: no interval from one seed
    confidence: float
    pairs: int

    @property
    def interval(self) -> tuple[float, float]:
        return self.mean - self.half_width, self.mean + self.half_width

    def to_json(self) -> dict:
        low, high = self.interval
        return {
            "mean": self.mean,
            "ci_low": None if math.isnan(low) else low,
            "ci_high": None if math.isnan(high) else high,
            "confidence": self.confidence,
            "pairs": self.pairs,
        }


def paired_difference(
    a: Sequence[float], b: Sequence[float], confidence: float = 0.95
) -> PairedDifference:
    """The mean of `a[i] - b[i]` with Student's t interval (pairs: the same seed).

    Pairing by seed removes what a seed does to both (its data split, initial
    weights, data order), so the interval is about the difference itself.
    """
    from scipy import stats

    if len(a) != len(b) or not a:
        raise ValueError(f"`a` and `b` must pair up; got {len(a)} and {len(b)} values.")
    if not 0 < confidence < 1:
        raise ValueError(f"`confidence` must be in (0, 1). Received: confidence={confidence}")
    differences = [float(x) - float(y) for x, y in zip(a, b)]
    mean, std = mean_std(differences)
    n = len(differences)
    half = math.nan if n == 1 else stats.t.ppf((1 + confidence) / 2, n - 1) * std / math.sqrt(n)
    return PairedDifference(mean=mean, half_width=half, confidence=confidence, pairs=n)
