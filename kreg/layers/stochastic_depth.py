"""`StochasticDepth`: drops a residual branch per example (DropPath); the depth rule."""

from __future__ import annotations

import math

import keras
from keras import ops

from kreg.layers.base import SchedulableDropout
from kreg.layers.masks import draw_uniform, inverted_dropout

__all__ = ["StochasticDepth", "linear_depth_rates"]


def linear_depth_rates(num_blocks: int, final_rate: float = 0.5) -> list[float]:
    """The linear decay rule of Huang et al. (2016): block `l` of `L` drops with `l / L * final`.

    The paper writes it for survival probabilities, `p_l = 1 - l / L * (1 -
    p_L)`, with `p_L = 0.5` on CIFAR; these are the matching drop rates, from
    `final_rate / num_blocks` for the first residual block to `final_rate`
    for the last. The input block itself is never dropped.

    Args:
        num_blocks: the number of residual blocks `L`.
        final_rate: the last block's drop rate, `1 - p_L`, in [0, 1).

    Returns:
        `num_blocks` rates, one per block, first to last.
    """
    if isinstance(num_blocks, bool) or not isinstance(num_blocks, int) or num_blocks < 1:
        raise ValueError(
            f"`num_blocks` must be a positive integer. Received: num_blocks={num_blocks!r}"
        )
    if not (isinstance(final_rate, (int, float)) and 0 <= final_rate < 1):
        raise ValueError(
            f"`final_rate` must be a float in [0, 1). Received: final_rate={final_rate!r}"
        )
    return [final_rate * block / num_blocks for block in range(1, num_blocks + 1)]


@keras.saving.register_keras_serializable(package="kreg")
class StochasticDepth(SchedulableDropout):
    """Stochastic depth: drops a whole residual branch, independently for each example.

    In a residual block `y = x + f(x)`, training with stochastic depth
    (Huang et al., 2016, "Deep Networks with Stochastic Depth"; "DropPath" in
    timm and KerasHub) skips `f` for a random subset of the examples: each
    example's branch is dropped with probability `rate` and kept branches are
    divided by the keep probability `1 - rate`, so the expected output is
    unchanged and the layer is the identity at inference. Whole examples
    are dropped, not units: the mask has shape `(batch, 1, ..., 1)`.

    Called on one tensor, the layer returns the dropped branch, to be added
    to the shortcut (`keras.layers.Add()([x, StochasticDepth(0.1)(f_x)])`).
    Called on a list `[shortcut, branch]`, as TF Addons'
    `tfa.layers.StochasticDepth` is, it returns `shortcut + dropped branch`.

    TF Addons' layer (and KerasCV's `StochasticDepth`) follows the paper's
    letter instead: one draw keeps or drops the branch for the whole batch,
    kept branches are not rescaled, and at inference the branch is multiplied
    by the survival probability. `per_example=False, scale="inference"`
    reproduces that, so a model trained with TF Addons' layer
    (`survival_probability` p is `rate = 1 - p` here) predicts the same with
    this one.

    With `schedulable=True` the rate is a variable that
    `kreg.callbacks.DropoutSchedule` can change between epochs; the rate of
    each block of a network usually follows `linear_depth_rates`.

    Args:
        rate: Float in [0, 1]. The probability of dropping the branch.
        seed: a Python integer to use as random seed.
        schedulable: keep the rate in a variable that
            `kreg.callbacks.DropoutSchedule` can drive.
        per_example: draw for each example (True, DropPath) or once for the
            whole batch (False, TF Addons).
        scale: `"training"`: kept branches are divided by `1 - rate` in
            training and the layer is the identity at inference;
            `"inference"`: the branch is kept as it is in training and
            multiplied by `1 - rate` at inference (TF Addons).
        **kwargs: base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: the residual branch, a tensor whose first axis is the batch
            (at least 2-D), or a list `[shortcut, branch]` of two tensors of
            the same shape.
        training: Python boolean: drop in training mode; otherwise the
            identity (with `scale="inference"`, the branch times `1 - rate`).
    """

    def __init__(
        self,
        rate,
        seed=None,
        schedulable=False,
        per_example: bool = True,
        scale: str = "training",
        **kwargs,
    ):
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or math.isnan(rate):
            raise ValueError(f"`rate` must be a float between 0 and 1. Received: rate={rate!r}")
        if scale not in ("training", "inference"):
            raise ValueError(
                f"`scale` must be 'training' or 'inference'. Received: scale={scale!r}"
            )
        super().__init__(rate, seed=seed, schedulable=schedulable, **kwargs)
        self.per_example = bool(per_example)
        self.scale = scale

    def build(self, input_shape):
        if isinstance(input_shape, (list, tuple)) and input_shape and _is_shape(input_shape[0]):
            if len(input_shape) != 2:
                raise ValueError(
                    "StochasticDepth takes one tensor (the residual branch) or a list "
                    f"[shortcut, branch]. Received: {len(input_shape)} inputs"
                )
            shortcut, branch = (tuple(shape) for shape in input_shape)
            if shortcut != branch:
                raise ValueError(
                    "StochasticDepth's shortcut and branch must have the same shape. "
                    f"Received: shortcut={shortcut}, branch={branch}"
                )
            input_shape = branch
        if len(input_shape) < 2:
            raise ValueError(
                "StochasticDepth drops whole examples: its input needs a batch axis and at "
                f"least one more. Received: input_shape={tuple(input_shape)}"
            )
        self.built = True

    def call(self, inputs, training=False):
        if isinstance(inputs, (list, tuple)):
            shortcut, branch = inputs
            return ops.add(shortcut, self.call(branch, training=training))
        if not training and self.scale == "inference":
            rate = self._rate_variable.value if self.schedulable else self.rate
            return inputs * ops.cast(1.0 - rate, inputs.dtype)
        return super().call(inputs, training=training)

    def drop(self, inputs, seed_generator=None):
        if isinstance(inputs, (list, tuple)):
            shortcut, branch = inputs
            return ops.add(shortcut, super().drop(branch, seed_generator))
        return super().drop(inputs, seed_generator)

    def _drop(self, inputs, rate, seed_generator):
        rest = (1,) * (len(inputs.shape) - 1)
        noise_shape = ((None,) if self.per_example else (1,)) + rest
        if self.scale == "training":
            return inverted_dropout(inputs, rate, seed_generator, noise_shape=noise_shape)
        dtype = keras.backend.standardize_dtype(inputs.dtype)
        mask_dtype = "float32" if dtype in ("float16", "bfloat16") else dtype
        shape = tuple(ops.shape(inputs)[0] if dim is None else dim for dim in noise_shape)
        uniform = draw_uniform(shape, mask_dtype, seed_generator)
        keep = ops.greater_equal(uniform, ops.cast(rate, mask_dtype))
        return ops.where(keep, inputs, ops.zeros_like(inputs))

    def get_config(self):
        return {**super().get_config(), "per_example": self.per_example, "scale": self.scale}

    def compute_output_shape(self, input_shape):
        if isinstance(input_shape, (list, tuple)) and input_shape and _is_shape(input_shape[0]):
            return tuple(input_shape[1])
        return input_shape


def _is_shape(value) -> bool:
    return isinstance(value, (list, tuple)) and all(
        dim is None or isinstance(dim, int) for dim in value
    )
