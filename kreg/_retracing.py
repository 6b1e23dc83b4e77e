"""Silencing TensorFlow's "frequent retracing" warning for functions that trace once per model."""

from __future__ import annotations

__all__ = ["ignore_retracing_warning"]


class _RetracingFilter:
    def __init__(self, function_name: str):
        self.function_name = function_name

    def filter(self, record) -> bool:
        message = record.getMessage()
        return not ("triggered tf.function retracing" in message and self.function_name in message)


def ignore_retracing_warning(function_name: str) -> None:
    """Drop TensorFlow's "frequent retracing" warning about one function, once per process.

    TensorFlow counts traces per Python function, so the same function
    compiled for several models (kreg's full-batch loop, Keras's predict step
    of each variant) reads to it as retracing, and it warns about a cost that
    is the normal one-trace-per-model.
    """
    import tensorflow as tf

    logger = tf.get_logger()
    if not any(getattr(f, "function_name", None) == function_name for f in logger.filters):
        logger.addFilter(_RetracingFilter(function_name))
