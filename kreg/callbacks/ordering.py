"""Warning when a logger is listed before a kreg callback whose values it should record."""

from __future__ import annotations

import warnings

import keras

from kreg._compat import calling_callback_list

__all__ = ["warn_if_loggers_come_first"]

# Loggers that read the logs in their own `on_epoch_end` and miss what later callbacks add.
LOGGERS = (keras.callbacks.CSVLogger, keras.callbacks.TensorBoard)


def warn_if_loggers_come_first(callback: keras.callbacks.Callback, keys: str) -> None:
    """Call from `on_train_begin`: warn, naming both, if a logger runs before `callback`.

    `keys` says which values the logger would miss (e.g. "penalty, data_loss").
    """
    callback_list = calling_callback_list()
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
