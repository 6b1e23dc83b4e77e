"""Comparing two runs' settings: what differs, named, for refusing to mix their results."""

from __future__ import annotations

__all__ = ["differences", "flatten"]


def flatten(settings: dict, prefix: str = "") -> dict:
    """Nested dicts as one level, keys joined with dots: `{"a": {"b": 1}}` -> `{"a.b": 1}`."""
    flat = {}
    for key, value in settings.items():
        if isinstance(value, dict):
            flat |= flatten(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def differences(old: dict | None, new: dict) -> list[str]:
    """`"name: old -> new"` for every setting that differs, in name order."""
    old, new = flatten(old or {}), flatten(new)
    return [
        f"{key}: {old.get(key, '(none)')} -> {new.get(key, '(none)')}"
        for key in sorted(set(old) | set(new))
        if old.get(key) != new.get(key)
    ]
