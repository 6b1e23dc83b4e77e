"""`GeneralizationGap`: the train-validation gap of a metric, logged, with a warning or a stop."""

from __future__ import annotations

import math
import warnings

import keras

from kreg.callbacks.ordering import warn_if_loggers_come_first

__all__ = ["GeneralizationGap"]


class GeneralizationGap(keras.callbacks.Callback):
    """Logs the train-validation gap of a metric and can warn or stop when it grows too large.

    `gap = train - validation` for metrics where higher is better (accuracy,
    `mode="max"`) and `validation - train` for those where lower is better
    (losses, `mode="min"`), logged as `gap/<metric>`: a positive gap always
    means the model does better on its training data. The
    training value is Keras's epoch mean in training mode (dropout on,
    weights moving during the epoch), so the gap is a running indicator, not
    a final evaluation.

    Args:
        metric: the metric's name in the logs (`"accuracy"`, `"loss"`, ...).
        warn_above: print a warning in an epoch whose gap exceeds this.
        stop_above: stop training once the gap has exceeded this for
            `patience + 1` consecutive epochs.
        patience: epochs over `stop_above` tolerated before stopping.
        mode: `"max"`, `"min"` or `"auto"`, as in
            `keras.callbacks.EarlyStopping`: `"auto"` takes `"min"` for
            names holding "loss" or "error" and `"max"` for accuracy, AUC,
            precision and recall, and asks for `mode` otherwise.

    Example:

    ```python
    gap = kreg.callbacks.GeneralizationGap("accuracy", warn_above=0.2, stop_above=0.35)
    model.fit(x, y, validation_data=(x_val, y_val), epochs=50, callbacks=[gap])
    ```
    """

    def __init__(
        self,
        metric: str = "accuracy",
        warn_above: float | None = None,
        stop_above: float | None = None,
        patience: int = 0,
        mode: str = "auto",
    ):
        super().__init__()
        self.mode = _resolve_mode(metric, mode)
        for name, value in (("warn_above", warn_above), ("stop_above", stop_above)):
            if value is not None and not math.isfinite(value):
                raise ValueError(f"`{name}` must be a finite number or None. Received: {value}")
        if not isinstance(patience, int) or patience < 0:
            raise ValueError(f"`patience` must be a non-negative integer. Received: {patience!r}")
        self.metric, self.warn_above, self.stop_above = metric, warn_above, stop_above
        self.patience = patience
        self.stopped_epoch = None
        self._over = 0

    def on_train_begin(self, logs=None):
        warn_if_loggers_come_first(self, f"gap/{self.metric}")
        self._over = 0
        self.stopped_epoch = None

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        key, val_key = self.metric, f"val_{self.metric}"
        if key not in logs or val_key not in logs:
            raise ValueError(
                f"GeneralizationGap needs {key!r} and {val_key!r} in the logs (pass "
                f"validation_data to fit); the logs have {sorted(logs)}."
            )
        train, val = float(logs[key]), float(logs[val_key])
        gap = val - train if self.mode == "min" else train - val
        logs[f"gap/{self.metric}"] = gap
        if self.warn_above is not None and gap > self.warn_above:
            warnings.warn(
                f"Epoch {epoch + 1}: the train-validation gap of {self.metric} is {gap:.4f}, "
                f"above {self.warn_above}: the model is overfitting.",
                stacklevel=2,
            )
        if self.stop_above is not None:
            self._over = self._over + 1 if gap > self.stop_above else 0
            if self._over > self.patience:
                self.stopped_epoch = epoch
                self.model.stop_training = True
                print(
                    f"\nEpoch {epoch + 1}: GeneralizationGap stops training: the {self.metric} "
                    f"gap {gap:.4f} has exceeded {self.stop_above} for {self._over} epoch(s)."
                )


_HIGHER_IS_BETTER = ("accuracy", "acc", "auc", "precision", "recall")
_LOWER_IS_BETTER = ("loss", "error", "mse", "mae", "crossentropy")


def _resolve_mode(metric: str, mode: str) -> str:
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"`mode` must be 'auto', 'min' or 'max'. Received: mode={mode!r}")
    if mode != "auto":
        return mode
    name = metric.lower()
    if any(word in name for word in _LOWER_IS_BETTER):
        return "min"
    if any(name.endswith(word) for word in _HIGHER_IS_BETTER):
        return "max"
    raise ValueError(
        f"GeneralizationGap cannot tell whether {metric!r} is better high or low; pass "
        f"mode='max' (higher is better) or mode='min'. Received: metric={metric!r}"
    )
