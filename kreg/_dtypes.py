"""The widest float the backend computes in: float64, or float32 on JAX without x64."""

from __future__ import annotations

import keras

__all__ = ["widest_float"]


def widest_float() -> str:
    """`"float64"`, or `"float32"` on JAX with `jax_enable_x64` off (which truncates float64)."""
    if keras.backend.backend() == "jax":
        import jax  # the backend is JAX: already imported by Keras

        if not jax.config.jax_enable_x64:
            return "float32"
    return "float64"
