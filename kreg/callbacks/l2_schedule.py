"""`L2Schedule`: change a model's L2 factor between epochs without a retrace."""

from __future__ import annotations

from collections.abc import Callable

import keras

from kreg.callbacks.ordering import warn_if_loggers_come_first
from kreg.callbacks.schedule_call import schedule_caller
from kreg.regularizers import L2
from kreg.walk import regularized_variables

__all__ = ["L2Schedule"]


class L2Schedule(keras.callbacks.Callback):
    """Changes the L2 factor of a model's regularized kernels at the start of every epoch.

    The kernels must carry a schedulable `kreg.regularizers.L2` (build with
    `L2(f, schedulable=True)`, or call
    `kreg.regularizers.apply_l2(model, f, schedulable=True)`): its factor
    lives in a variable that the compiled train function reads at every
    step, so a new value takes effect without a retrace. With
    `DropoutSchedule` it lets a user warm up or anneal regularization. The
    factor in force is logged as `l2_factor` (`l2_factor/min` and
    `l2_factor/max` when the kernels' factors differ).

    Args:
        schedule: `schedule(epoch) -> factor` or `schedule(epoch, factor) ->
            new_factor`, as `keras.callbacks.LearningRateScheduler`.
        verbose: 1 prints each change.

    Example:

    ```python
    kreg.regularizers.apply_l2(model, 0.0, schedulable=True)
    warm_up = kreg.callbacks.L2Schedule(lambda epoch, f: min(1e-3, 1e-4 * epoch))
    model.fit(x, y, epochs=20, callbacks=[warm_up])
    ```
    """

    def __init__(self, schedule: Callable[..., float], verbose: int = 0):
        super().__init__()
        self._call_schedule = schedule_caller(schedule, "L2Schedule", "factor")
        self.schedule, self.verbose = schedule, verbose
        self._regularizers = []

    def on_train_begin(self, logs=None):
        warn_if_loggers_come_first(self, "l2_factor")
        variables = regularized_variables(self.model)
        fixed = [
            v.path
            for v in variables
            if not (isinstance(v.regularizer, L2) and v.regularizer.schedulable)
        ]
        if not variables or fixed:
            problem = f"these are not: {fixed}" if fixed else "the model has no regularized kernel"
            raise ValueError(
                "L2Schedule needs kernels regularized with kreg.regularizers.L2(f, "
                f"schedulable=True); {problem}. "
                "Use kreg.regularizers.apply_l2(model, f, schedulable=True)."
            )
        unique = {}
        for variable in variables:
            unique[id(variable.regularizer)] = variable.regularizer
        self._regularizers = list(unique.values())

    def on_epoch_begin(self, epoch, logs=None):
        for regularizer in self._regularizers:
            new = self._call_schedule(epoch, float(regularizer.l2))
            if self.verbose and new != regularizer.l2:
                print(f"\nEpoch {epoch + 1}: L2Schedule sets the L2 factor to {new}.")
            regularizer.l2 = new

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None and self._regularizers:
            factors = {float(r.l2) for r in self._regularizers}
            if len(factors) == 1:
                logs["l2_factor"] = factors.pop()
            else:  # kernels with different factors: their range
                logs["l2_factor/min"], logs["l2_factor/max"] = min(factors), max(factors)
