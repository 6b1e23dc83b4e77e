"""`StochasticWeightAveraging`: the running mean of the weights, swapped in when training ends."""

from __future__ import annotations

import keras
import numpy as np

from kreg.swa import update_batch_norm

__all__ = ["StochasticWeightAveraging"]


class StochasticWeightAveraging(keras.callbacks.Callback):
    """Stochastic weight averaging (Izmailov et al., 2018): train on, then average the weights.

    From epoch `start_epoch` on (0-based, as Keras counts epochs), the
    trainable weights are added to a running mean, at the end of every epoch
    (`frequency="epoch"`), or after the first batch and then every
    `frequency`-th batch. `start_step=m, frequency=k` instead starts at a
    batch: the weights after batch `m` (0-based, counted over the whole
    training), `m + k`, `m + 2k`, ... are averaged, the rule of TF Addons'
    `SWA(start_averaging=m, average_period=k)`. When training ends the mean replaces the
    weights (Keras's `SwapEMAWeights` does the same for an exponential moving
    average); `update_batch_norm` then recomputes the BatchNormalization
    statistics if `batch_norm_data` is given (see `kreg.swa.update_batch_norm`:
    the statistics collected while training belong to none of the averaged
    weights). The mean is the same as `torch.optim.swa_utils.AveragedModel`'s
    (`avg + (w - avg) / (n + 1)`), kept in float64. Non-trainable weights
    (BatchNormalization statistics) are not averaged, as in PyTorch.

    The paper trains the averaging phase with a constant or cyclical
    learning rate; any Keras schedule or `LearningRateScheduler` works
    alongside. `get_state`/`set_state` expose the running mean, so a backup
    (`kreg.lab.callbacks.BackupAndRestore(..., stateful_callbacks=[swa])`)
    resumes it; Keras's own `BackupAndRestore` keeps only the weights, and a
    `fit` that starts without the state starts a fresh mean.

    Args:
        start_epoch: the first epoch (0-based) whose weights are averaged.
        frequency: `"epoch"` (the weights at the end of each epoch) or an
            integer `N` (the weights after the first batch of `start_epoch`,
            then after every `N`-th batch).
        start_step: instead of `start_epoch`, the first batch (0-based, over
            all epochs) whose weights are averaged; needs an integer
            `frequency`.
        batch_norm_data: data for `update_batch_norm` after the swap (an
            array, a dataset or an iterable of batches), or None to keep
            the last statistics.
        swap_on_train_end: put the mean in the model when training ends. With
            False, `swap_weights()` does it when wanted.
        verbose: 1 prints when the average is swapped in.

    Example:

    ```python
    swa = kreg.callbacks.StochasticWeightAveraging(start_epoch=20, batch_norm_data=x_train)
    model.fit(x_train, y_train, epochs=30, callbacks=[swa])  # ends with the average
    ```
    """

    def __init__(
        self,
        start_epoch: int | None = None,
        frequency="epoch",
        batch_norm_data=None,
        swap_on_train_end: bool = True,
        verbose: int = 0,
        start_step: int | None = None,
    ):
        super().__init__()
        if (start_epoch is None) == (start_step is None):
            raise ValueError(
                "Give one of `start_epoch` and `start_step`. "
                f"Received: start_epoch={start_epoch!r}, start_step={start_step!r}"
            )
        for name, value in (("start_epoch", start_epoch), ("start_step", start_step)):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 0
            ):
                raise ValueError(
                    f"`{name}` must be a non-negative integer. Received: {name}={value!r}"
                )
        if frequency != "epoch" and (
            isinstance(frequency, bool) or not isinstance(frequency, int) or frequency < 1
        ):
            raise ValueError(
                "`frequency` must be 'epoch' or a positive integer. "
                f"Received: frequency={frequency!r}"
            )
        if start_step is not None and frequency == "epoch":
            raise ValueError(
                "`start_step` counts batches: give an integer `frequency` (batches between "
                "averaged weights). Received: frequency='epoch'"
            )
        self.start_epoch = start_epoch
        self.start_step = start_step
        self.frequency = frequency
        self.batch_norm_data = batch_norm_data
        self.swap_on_train_end = swap_on_train_end
        self.verbose = verbose
        self.averaged = 0  # how many weight sets the mean holds
        self._mean: list[np.ndarray] | None = None
        self._restored = False
        self._step = 0  # batches trained, over all epochs
        self._first = None  # the step averaging starts at, once known

    # --- Averaging ------------------------------------------------------------------------

    def on_train_begin(self, logs=None):
        if not self._restored:
            self.averaged, self._mean, self._step = 0, None, 0
            self._first = self.start_step
        self._restored = False

    def on_epoch_begin(self, epoch, logs=None):
        if self._first is None and self.start_epoch is not None and epoch >= self.start_epoch:
            self._first = self._step

    def on_train_batch_end(self, batch, logs=None):
        step, self._step = self._step, self._step + 1
        if self.frequency == "epoch" or self._first is None or step < self._first:
            return
        if (step - self._first) % self.frequency == 0:
            self._add(self.model.trainable_variables)

    def on_epoch_end(self, epoch, logs=None):
        if self.frequency == "epoch" and epoch >= self.start_epoch:
            self._add(self.model.trainable_variables)
        if logs is not None:
            logs["swa_averaged"] = float(self.averaged)

    def _add(self, variables) -> None:
        values = [keras.ops.convert_to_numpy(v.value).astype(np.float64) for v in variables]
        if self._mean is None:
            self._mean = values
        else:
            count = self.averaged
            for mean, value in zip(self._mean, values):
                mean += (value - mean) / (count + 1)
        self.averaged += 1

    @property
    def average(self) -> list[np.ndarray] | None:
        """The running mean of the trainable weights (float64), None before the first."""
        return None if self._mean is None else [array.copy() for array in self._mean]

    def on_train_end(self, logs=None):
        if self.swap_on_train_end:
            self.swap_weights()

    def swap_weights(self) -> bool:
        """Put the average in the model's trainable weights, then refresh BatchNormalization.

        Returns False (and changes nothing) when no weights were averaged yet.
        """
        if self._mean is None:
            if self.verbose:
                start = (
                    f"epoch {self.start_epoch + 1}"
                    if self.start_epoch is not None
                    else f"batch {self.start_step + 1}"
                )
                print(
                    f"StochasticWeightAveraging: no weights averaged (training ended before "
                    f"{start}); the model keeps its last weights."
                )
            return False
        for variable, mean in zip(self.model.trainable_variables, self._mean):
            variable.assign(mean.astype(keras.backend.standardize_dtype(variable.dtype)))
        if self.batch_norm_data is not None:
            update_batch_norm(self.model, self.batch_norm_data)
        if self.verbose:
            print(f"StochasticWeightAveraging: the mean of {self.averaged} weight sets is in.")
        return True

    # --- Backups --------------------------------------------------------------------------

    def get_state(self) -> dict[str, np.ndarray]:
        """The running mean and counters as named arrays, for a backup."""
        state = {
            "averaged": np.asarray(self.averaged, np.int64),
            "step": np.asarray(self._step, np.int64),
            "first": np.asarray(-1 if self._first is None else self._first, np.int64),
        }
        for index, mean in enumerate(self._mean or []):
            state[f"mean_{index}"] = mean
        return state

    def set_state(self, state: dict) -> None:
        """Restore `get_state()`'s arrays (before `fit` resumes)."""
        averaged = int(state["averaged"])
        count = sum(1 for key in state if key.startswith("mean_"))
        means = [np.asarray(state[f"mean_{i}"], np.float64) for i in range(count)]
        if averaged and not means:
            raise ValueError("StochasticWeightAveraging.set_state: the state holds no mean.")
        self.averaged, self._step = averaged, int(state["step"])
        self._first = None if int(state["first"]) < 0 else int(state["first"])
        self._mean = means or None
        self._restored = True
