"""Losses Keras 3 lacks: sparse categorical cross-entropy with label smoothing."""

from __future__ import annotations

import keras
from keras import ops

__all__ = ["SparseCategoricalCrossentropy", "sparse_categorical_crossentropy"]


def sparse_categorical_crossentropy(
    y_true,
    y_pred,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    ignore_class: int | None = None,
    axis: int = -1,
):
    """Cross-entropy between integer labels and predictions, with optional label smoothing.

    With `label_smoothing=0` this is `keras.losses.sparse_categorical_crossentropy`.
    Otherwise the labels are one-hot encoded and smoothed as
    `keras.losses.categorical_crossentropy` smooths them (`y * (1 -
    label_smoothing) + label_smoothing / num_classes`), so the loss equals
    that function on the one-hot labels. Labels equal to `ignore_class` get
    a loss of 0 (the `SparseCategoricalCrossentropy` class also leaves them
    out of the mean).

    Args:
        y_true: integer class indices, shape `y_pred`'s without `axis` (or
            with a size-1 `axis`).
        y_pred: probabilities, or logits with `from_logits=True`.
        from_logits: whether `y_pred` holds logits.
        label_smoothing: float in [0, 1].
        ignore_class: a label value whose entries get no loss, or None.
        axis: the class axis of `y_pred`.

    Returns:
        The per-entry loss, `y_pred`'s shape without `axis`.
    """
    _validate_smoothing(label_smoothing)
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.convert_to_tensor(y_true)
    if label_smoothing == 0:
        return keras.losses.sparse_categorical_crossentropy(
            y_true, y_pred, from_logits=from_logits, ignore_class=ignore_class, axis=axis
        )
    if len(y_true.shape) == len(y_pred.shape) and y_true.shape[axis] == 1:
        y_true = ops.squeeze(y_true, axis=axis)
    labels = ops.cast(y_true, "int32")
    valid = None
    if ignore_class is not None:
        valid = ops.not_equal(labels, ignore_class)
        labels = ops.where(valid, labels, 0)
    num_classes = y_pred.shape[axis]
    one_hot = ops.one_hot(labels, num_classes, axis=axis, dtype=y_pred.dtype)
    loss = keras.losses.categorical_crossentropy(
        one_hot, y_pred, from_logits=from_logits, label_smoothing=label_smoothing, axis=axis
    )
    if valid is not None:
        loss = ops.where(valid, loss, ops.zeros_like(loss))
    return loss


def _validate_smoothing(label_smoothing) -> None:
    if isinstance(label_smoothing, bool) or not (
        isinstance(label_smoothing, (int, float)) and 0 <= label_smoothing <= 1
    ):
        raise ValueError(
            "`label_smoothing` must be a float in [0, 1]. "
            f"Received: label_smoothing={label_smoothing!r}"
        )


@keras.saving.register_keras_serializable(package="kreg")
class SparseCategoricalCrossentropy(keras.losses.Loss):
    """`keras.losses.SparseCategoricalCrossentropy` with `label_smoothing`.

    Keras 3's sparse cross-entropy has no `label_smoothing` (its
    `CategoricalCrossentropy` has); this loss takes integer labels and
    smooths them exactly as `CategoricalCrossentropy(label_smoothing=...)`
    smooths one-hot labels: the target of the true class becomes `1 -
    label_smoothing + label_smoothing / num_classes` and every other class
    gets `label_smoothing / num_classes`. The value equals that loss on the
    one-hot labels; with `label_smoothing=0` it is Keras's sparse loss.
    Entries whose label is `ignore_class` are left out of the loss and of
    the mean, as in Keras's sparse loss.

    Args:
        from_logits: whether `y_pred` holds logits (else probabilities).
        label_smoothing: float in [0, 1]; 0 is no smoothing.
        ignore_class: a label value to ignore (for example a segmentation
            map's "void" class), or None.
        reduction: as for every Keras loss: `"sum_over_batch_size"`,
            `"sum"`, `"mean"`, `"mean_with_sample_weight"` or None.
        axis: the class axis of `y_pred`.
        name: the loss's name.
        dtype: the dtype of the loss's computations.

    Call arguments:
        y_true: integer class indices.
        y_pred: probabilities or logits, with a class axis.
        sample_weight: optional per-example weights.

    Example:

    ```python
    model.compile(
        optimizer="adam",
        loss=kreg.losses.SparseCategoricalCrossentropy(label_smoothing=0.1),
        metrics=["accuracy"],
    )
    ```
    """

    def __init__(
        self,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        ignore_class: int | None = None,
        reduction="sum_over_batch_size",
        axis: int = -1,
        name: str = "sparse_categorical_crossentropy",
        dtype=None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        _validate_smoothing(label_smoothing)
        if ignore_class is not None and (
            isinstance(ignore_class, bool) or not isinstance(ignore_class, int)
        ):
            raise ValueError(
                "`ignore_class` must be an integer or None. "
                f"Received: ignore_class={ignore_class!r}"
            )
        self.from_logits = bool(from_logits)
        self.label_smoothing = float(label_smoothing)
        self.ignore_class = ignore_class
        self.axis = axis

    def __call__(self, y_true, y_pred, sample_weight=None):
        if self.ignore_class is not None and self.label_smoothing > 0:
            sample_weight = self._ignored_weights(y_true, y_pred, sample_weight)
        return super().__call__(y_true, y_pred, sample_weight=sample_weight)

    def _ignored_weights(self, y_true, y_pred, sample_weight):
        # What Keras does with the mask its sparse loss attaches: ignored entries weigh 0 and,
        # for the mean reductions, valid ones total / valid, so the mean is over valid entries.
        y_true = ops.convert_to_tensor(y_true)
        if len(y_true.shape) == len(ops.shape(y_pred)) and y_true.shape[self.axis] == 1:
            y_true = ops.squeeze(y_true, axis=self.axis)
        valid = ops.not_equal(ops.cast(y_true, "int32"), self.ignore_class)
        dtype = self.dtype
        if self.reduction in ("mean", "sum_over_batch_size"):
            total = ops.cast(ops.prod(ops.convert_to_tensor(ops.shape(valid), "int32")), dtype)
            count = ops.sum(ops.cast(valid, dtype))
            weights = ops.where(valid, ops.divide_no_nan(total, count), 0)
        else:
            weights = ops.cast(valid, dtype)
        weights = ops.cast(weights, dtype)
        if sample_weight is None:
            return weights
        sample_weight = ops.cast(sample_weight, dtype)
        while len(sample_weight.shape) < len(weights.shape):
            sample_weight = ops.expand_dims(sample_weight, -1)
        return weights * sample_weight

    def call(self, y_true, y_pred):
        return sparse_categorical_crossentropy(
            y_true,
            y_pred,
            from_logits=self.from_logits,
            label_smoothing=self.label_smoothing,
            ignore_class=self.ignore_class,
            axis=self.axis,
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing,
                "ignore_class": self.ignore_class,
                "axis": self.axis,
            }
        )
        return config
