"""Calling a user's schedule as `schedule(epoch)` or `schedule(epoch, value)`, as Keras does."""

from __future__ import annotations

import inspect
from collections.abc import Callable

__all__ = ["schedule_caller"]


def schedule_caller(
    schedule: Callable, name: str, value_name: str
) -> Callable[[int, float], float]:
    """Wrap `schedule` so that it is called with the arguments it takes.

    `keras.callbacks.LearningRateScheduler` accepts `schedule(epoch)` and
    `schedule(epoch, lr)`; kreg's schedules accept both forms too. The form
    is read from the signature once (a schedule whose signature cannot be read,
    such as a builtin, gets both arguments), so a `TypeError` raised inside the
    schedule is never mistaken for the wrong form.

    Args:
        schedule: the user's callable.
        name: the callback's name, for the error message.
        value_name: what the second argument is (`"rate"`, `"factor"`).
    """
    if not callable(schedule):
        raise ValueError(
            f"`schedule` must be callable as schedule(epoch) or schedule(epoch, {value_name}). "
            f"Received: schedule={schedule!r}"
        )
    try:
        parameters = inspect.signature(schedule).parameters.values()
    except (TypeError, ValueError):
        return schedule
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    variadic = any(p.kind == p.VAR_POSITIONAL for p in parameters)
    if variadic or len(positional) >= 2:
        return schedule
    if len(positional) == 1:
        return lambda epoch, _value: schedule(epoch)
    raise ValueError(
        f"{name}: `schedule` must take schedule(epoch) or schedule(epoch, {value_name}); "
        f"it takes no positional argument. Received: schedule={schedule!r}"
    )
