"""Warning when a logger is listed before a kreg callback whose values it should record."""

from __future__ import annotations

import inspect
import warnings

import keras

__all__ = ["calling_callback_list", "warn_if_loggers_come_first"]

# Loggers that read the logs in their own `on_epoch_end` and miss what later callbacks add.
LOGGERS = (keras.callbacks.CSVLogger, keras.callbacks.TensorBoard)


def calling_callback_list(max_depth: int = 4):
    """The `keras.callbacks.CallbackList` whose hook is running, or None.

    A callback is not told which other callbacks run beside it, so this looks
    for the list among its callers' frames (`inspect.currentframe`). It is a
    best effort for a warning: if a Keras release calls hooks another way, it
    finds nothing and no warning is given; nothing else depends on it.
    """
    frame = inspect.currentframe()
    try:
        for _ in range(max_depth + 1):
            frame = frame.f_back if frame is not None else None
            if frame is None:
                return None
            owner = frame.f_locals.get("self")
            if isinstance(owner, keras.callbacks.CallbackList):
                return owner
        return None
    finally:
        del frame


def warn_if_loggers_come_first(callback: keras.callbacks.Callback, keys: str) -> None:
    """Call from `on_train_begin`: warn, naming both, if a logger runs before `callback`.

    `keys` says which values the logger would miss (e.g. "penalty, data_loss").
    """
    callback_list = calling_callback_list(max_depth=5)
    if callback_list is None:
        return
    order = list(callback_list.callbacks)
    if callback not in order:
        return
    mine = order.index(callback)
    early = [type(c).__name__ for c in order[:mine] if isinstance(c, LOGGERS)]
    if early:
        warnings.warn(
            f"{type(callback).__name__} is listed after {', '.join(early)}, which will not "
            f"record its values ({keys}): list {type(callback).__name__} before "
            f"{' and '.join(early)} in `callbacks`.",
            stacklevel=3,
        )
