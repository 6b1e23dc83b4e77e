"""Floating-point scopes for the lab's training: float64 end to end, or mixed precision."""

from __future__ import annotations

import contextlib

import keras

__all__ = ["PRECISIONS", "floatx_scope", "precision_scope"]

# Keras dtype policies for convnet training: float32, or mixed precision (float32 variables).
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")


@contextlib.contextmanager
def floatx_scope(dtype: str):
    """Set `keras.config.floatx()` to `dtype` inside the block, then restore it.

    A float64 model is not enough for float64 arithmetic in Keras: Python
    floats such as an `L2` factor become `floatx()` tensors before they are
    cast (0.7 / 422 loses 2e-8 of its value as float32), and an optimizer's
    learning rate is a `floatx()` variable (0.3 becomes 0.30000001192...).
    Build the model and the optimizer, and train, inside this scope.
    """
    previous, previous_policy = keras.config.floatx(), keras.config.dtype_policy()
    keras.config.set_floatx(dtype)
    # Keras caches its global dtype policy the first time it is read: set and restore it
    # too, or a layer built after the block could still get `dtype`.
    keras.config.set_dtype_policy(dtype)
    try:
        yield
    finally:
        keras.config.set_floatx(previous)
        keras.config.set_dtype_policy(previous_policy)


@contextlib.contextmanager
def precision_scope(precision: str):
    """Build models inside the block under the Keras dtype policy `precision`, then restore it.

    `"mixed_bfloat16"` computes in bfloat16 with float32 variables (fast on
    CPUs with `avx512_bf16` and on recent GPUs); `"mixed_float16"` is for
    GPUs, and Keras's `compile` then scales the loss. kreg keeps what
    regularization needs in float32: the L2 penalty (computed from the float32
    kernels), dropout masks (drawn from float32 uniforms, so the same as in a
    float32 run), and `vgg_cifar10`'s softmax and so the loss.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"`precision` must be one of {PRECISIONS}. Received: {precision!r}")
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
