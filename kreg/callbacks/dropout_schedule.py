"""`DropoutSchedule`: change dropout rates between epochs without a retrace."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import keras

from kreg.callbacks.ordering import warn_if_loggers_come_first
from kreg.callbacks.schedule_call import schedule_caller
from kreg.layers import SchedulableDropout, is_dropout_layer
from kreg.walk import iter_layers

# The layers whose rate can live in a variable (`schedulable=True`).
SCHEDULABLE = SchedulableDropout

__all__ = ["DropoutSchedule"]


class DropoutSchedule(keras.callbacks.Callback):
    """Changes the rate of `InvertedDropout` and `DropBlock2D` layers at every epoch's start.

    The layers must be built with `schedulable=True`: their rate lives in a
    variable, so the new value takes effect inside the compiled train
    function without retracing it. (Setting `rate` on `keras.layers.Dropout`
    after `compile` has no effect: the rate is frozen into the traced graph.)
    The rate in force is written to `logs["dropout_rate"]` (one value per
    layer, `dropout_rate/<layer name>`, when the layers differ), so it shows in
    `History`, `CSVLogger` and TensorBoard.

    Args:
        schedule: `schedule(epoch) -> rate` or `schedule(epoch, rate) ->
            new_rate`, called with the 0-based epoch index (and the layer's
            current rate), as `keras.callbacks.LearningRateScheduler` calls
            its schedule.
        layers: the layers (or their names) to drive; None drives every
            `InvertedDropout` and `DropBlock2D` layer of the model (DropBlock's
            paper ramps its rate up linearly from 0).
        verbose: 1 prints each change.

    Example:

    ```python
    model = keras.Sequential([
        keras.Input((20,)),
        keras.layers.Dense(64, activation="relu"),
        kreg.layers.InvertedDropout(0.0, schedulable=True),
        keras.layers.Dense(1, activation="sigmoid"),
    ])
    model.compile("adam", "binary_crossentropy")
    warm_up = kreg.callbacks.DropoutSchedule(lambda epoch, rate: min(0.5, 0.1 * epoch))
    model.fit(x, y, epochs=10, callbacks=[warm_up])
    ```
    """

    def __init__(
        self,
        schedule: Callable[..., float],
        layers: Iterable | None = None,
        verbose: int = 0,
    ):
        super().__init__()
        self._call_schedule = schedule_caller(schedule, "DropoutSchedule", "rate")
        self.schedule = schedule
        self.layers = list(layers) if layers is not None else None
        self.verbose = verbose
        self._targets: list[SchedulableDropout] = []

    def _resolve_layers(self) -> list[SchedulableDropout]:
        found = list(iter_layers(self.model))
        if self.layers is None:
            targets = [layer for layer in found if isinstance(layer, SCHEDULABLE)]
            if not targets:
                others = [layer.name for layer in found if is_dropout_layer(layer)]
                hint = (
                    f" (found keras Dropout layers {others}: use InvertedDropout)"
                    if others
                    else ""
                )
                raise ValueError(
                    "DropoutSchedule: the model has no InvertedDropout or DropBlock2D "
                    f"layer{hint}."
                )
        else:
            by_name = {layer.name: layer for layer in found}
            targets = []
            for item in self.layers:
                layer = by_name.get(item) if isinstance(item, str) else item
                if layer is None:
                    raise ValueError(f"DropoutSchedule: the model has no layer named {item!r}.")
                if not isinstance(layer, SCHEDULABLE):
                    raise ValueError(
                        f"DropoutSchedule can only drive InvertedDropout and DropBlock2D layers; "
                        f"{layer.name!r} is a {type(layer).__name__}."
                    )
                targets.append(layer)
        fixed = [layer.name for layer in targets if not layer.schedulable]
        if fixed:
            raise ValueError(
                f"DropoutSchedule: layers {fixed} were built with schedulable=False, so a new "
                "rate would not reach the compiled train function. Build them with "
                "InvertedDropout(rate, schedulable=True)."
            )
        return targets

    def on_train_begin(self, logs=None):
        warn_if_loggers_come_first(self, "dropout_rate")
        self._targets = self._resolve_layers()

    def on_epoch_begin(self, epoch, logs=None):
        for layer in self._targets:
            new_rate = self._call_schedule(epoch, layer.rate)
            try:
                new_rate = float(new_rate)
            except (TypeError, ValueError):
                raise ValueError(
                    f"DropoutSchedule: schedule({epoch}, {layer.rate}) must return a float "
                    f"between 0 and 1. Received: {new_rate!r}"
                ) from None
            if new_rate != layer.rate and self.verbose:
                print(
                    f"\nEpoch {epoch + 1}: DropoutSchedule sets {layer.name} rate to {new_rate}."
                )
            layer.rate = new_rate

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        rates = {layer.name: float(layer.rate) for layer in self._targets}
        if len(set(rates.values())) == 1:
            logs["dropout_rate"] = next(iter(rates.values()))
        else:
            for name, rate in rates.items():
                logs[f"dropout_rate/{name}"] = rate
