"""What the model builders share: a preset merged with explicit arguments, and their checks."""

from __future__ import annotations

import math


def resolve_preset(presets: dict, preset: str | None, given: dict) -> dict:
    """The preset's architecture arguments, overridden by the `given` ones that are not None.

    With `preset=None` every argument must be given.
    """
    if preset is not None and preset not in presets:
        raise ValueError(
            f"`preset` must be one of {sorted(presets)} or None. Received: preset={preset!r}"
        )
    config = dict(presets[preset]) if preset is not None else {}
    config.update({key: value for key, value in given.items() if value is not None})
    missing = sorted(set(given) - set(config))
    if missing:
        raise ValueError(f"With preset=None, give every architecture argument; missing {missing}.")
    return config


def check_l2(factor) -> float:
    """The L2 factor, if finite and non-negative."""
    if not math.isfinite(factor) or factor < 0:
        raise ValueError(f"`l2` must be finite and non-negative. Received: l2={factor}")
    return factor
