"""Holding a validation set out of the training data: one seeded split for every caller."""

from __future__ import annotations

import numpy as np

__all__ = ["split_validation"]


def split_validation(x, y, fraction: float, seed: int):
    """Hold out a seeded random `fraction` of `(x, y)` as a validation set.

    Both parts keep the original order of their examples, so the split is the
    same whatever reads it (the CIFAR experiment, a sweep, a test).

    Args:
        x: the training inputs.
        y: their labels (same length).
        fraction: the share held out, in (0, 1).
        seed: seed of the choice.

    Returns:
        `(x_train, y_train, x_val, y_val)`.
    """
    if not 0 < fraction < 1:
        raise ValueError(f"`fraction` must be in (0, 1). Received: fraction={fraction}")
    n = len(x)
    if len(y) != n:
        raise ValueError(f"`x` has {n} examples but `y` has {len(y)}; they must match.")
    n_val = max(1, int(round(n * fraction)))
    if n_val >= n:
        raise ValueError(f"Too few examples ({n}) for a validation split of {fraction}.")
    order = np.random.RandomState(seed).permutation(n)
    train, val = np.sort(order[n_val:]), np.sort(order[:n_val])
    return x[train], y[train], x[val], y[val]
