"""Keras callbacks that drive and report regularization during `model.fit`."""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Callable, Iterable

import keras
import numpy as np

from kreg.io import write_json
from kreg.layers import InvertedDropout, is_dropout_layer

__all__ = [
    "BackupAndRestore",
    "DecisionBoundaryLogger",
    "DropoutSchedule",
    "GeneralizationGap",
    "L2Schedule",
    "RegularizationMonitor",
    "iter_layers",
    "seed_generators",
]


def iter_layers(model) -> Iterable[keras.layers.Layer]:
    """Every layer of `model`, nested models and layers included, depth first."""
    for layer in getattr(model, "layers", []):
        yield layer
        if getattr(layer, "layers", None):
            yield from iter_layers(layer)


class DropoutSchedule(keras.callbacks.Callback):
    """Changes the rate of `InvertedDropout` layers at the start of every epoch.

    The layers must be built with `schedulable=True`: their rate lives in a
    variable, so the new value takes effect inside the compiled train
    function without retracing it. (Setting `rate` on `keras.layers.Dropout`
    after `compile` has no effect: the rate is frozen into the traced graph.)
    The rate in force is written to `logs["dropout_rate"]` (one value per
    layer, `dropout_rate/<layer name>`, when the layers differ), so it shows in
    `History`, `CSVLogger` and TensorBoard.

    Args:
        schedule: `schedule(epoch, rate) -> new_rate`, called with the 0-based
            epoch index and the layer's current rate.
        layers: the layers (or their names) to drive; None drives every
            `InvertedDropout` layer of the model.
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
        schedule: Callable[[int, float], float],
        layers: Iterable | None = None,
        verbose: int = 0,
    ):
        super().__init__()
        if not callable(schedule):
            raise ValueError(
                f"`schedule` must be callable as schedule(epoch, rate). Received: {schedule!r}"
            )
        self.schedule = schedule
        self.layers = list(layers) if layers is not None else None
        self.verbose = verbose
        self._targets: list[InvertedDropout] = []

    def _resolve_layers(self) -> list[InvertedDropout]:
        found = list(iter_layers(self.model))
        if self.layers is None:
            targets = [layer for layer in found if isinstance(layer, InvertedDropout)]
            if not targets:
                others = [layer.name for layer in found if is_dropout_layer(layer)]
                hint = (
                    f" (found keras Dropout layers {others}: use InvertedDropout)"
                    if others
                    else ""
                )
                raise ValueError(f"DropoutSchedule: the model has no InvertedDropout layer{hint}.")
        else:
            by_name = {layer.name: layer for layer in found}
            targets = []
            for item in self.layers:
                layer = by_name.get(item) if isinstance(item, str) else item
                if layer is None:
                    raise ValueError(f"DropoutSchedule: the model has no layer named {item!r}.")
                if not isinstance(layer, InvertedDropout):
                    raise ValueError(
                        f"DropoutSchedule can only drive InvertedDropout layers; "
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
        self._targets = self._resolve_layers()

    def on_epoch_begin(self, epoch, logs=None):
        for layer in self._targets:
            new_rate = self.schedule(epoch, layer.rate)
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


def seed_generators(model) -> list[tuple[str, keras.random.SeedGenerator]]:
    """Every `SeedGenerator` held by a layer of `model`, in layer order, with a readable label.

    The order is fixed by the architecture, so it identifies a generator
    across processes and across rebuilds of the same model (layer names do
    not: Keras numbers auto-named layers per process).
    """
    found = []
    for layer in iter_layers(model):
        for attribute, value in vars(layer).items():
            if isinstance(value, keras.random.SeedGenerator):
                found.append((f"{type(layer).__name__}:{layer.name}/{attribute}", value))
    return found


class BackupAndRestore(keras.callbacks.BackupAndRestore):
    """`keras.callbacks.BackupAndRestore` that also restores the dropout masks' RNG.

    Keras's callback saves the weights (optimizer state included) and the
    epoch, but not the state of the layers' seed generators, so a resumed
    run draws different dropout masks from the ones an uninterrupted run
    would have drawn. This subclass saves every seed generator's state with
    each backup (written atomically, tagged with the epoch it belongs to) and
    restores it with the weights, so that a resumed CPU run ends bit-identical
    to an uninterrupted one (given a seeded, resumable input pipeline such as
    `kreg.pipeline.EpochSeededImages`).

    With `stop_on_nan=True` a NaN or infinite loss stops training at once;
    the weights are not backed up and the backup directory is kept (Keras's
    callback would save the NaN weights at the end of the epoch and delete
    the backup when training ends). `nan_at` then holds `(epoch, batch)`.

    Args:
        backup_dir: where the backup lives.
        stop_on_nan: stop on a NaN/inf loss and keep the last good backup.
        **kwargs: the other arguments of `keras.callbacks.BackupAndRestore`.

    Example:

    ```python
    backup = kreg.callbacks.BackupAndRestore("runs/backup")
    model.fit(data, epochs=30, callbacks=[backup])   # rerun the same line after a crash
    ```
    """

    STATE_FILE = "kreg_rng_state.json"

    def __init__(self, backup_dir, stop_on_nan: bool = True, **kwargs):
        super().__init__(backup_dir, **kwargs)
        self.stop_on_nan = stop_on_nan
        self.nan_at: tuple[int, int] | None = None
        self._epoch = 0
        self._state_path = os.path.join(backup_dir, self.STATE_FILE)

    def on_train_begin(self, logs=None):
        self.nan_at = None
        super().on_train_begin(logs)
        self._restore_rng_state()

    def _restore_rng_state(self):
        if not os.path.exists(self._state_path):
            return
        with open(self._state_path, encoding="utf-8") as f:
            saved = json.load(f)
        restored_epoch = getattr(self.model, "_initial_epoch", None)
        if saved["epoch"] != restored_epoch:
            raise ValueError(
                f"{self._state_path} belongs to epoch {saved['epoch']} but the weights backup to "
                f"epoch {restored_epoch}; the backup in {self.backup_dir} is inconsistent "
                "(interrupted while being written). Delete it to start over."
            )
        generators = seed_generators(self.model)
        saved_kinds = [label.split(":")[0] for label, _ in saved["seed_generators"]]
        kinds = [label.split(":")[0] for label, _ in generators]
        if saved_kinds != kinds:
            raise ValueError(
                f"{self._state_path}: the backup holds seed generators of {saved_kinds} but the "
                f"model has {kinds}; the backup was made by another model."
            )
        for (_, generator), (_, state) in zip(generators, saved["seed_generators"]):
            generator.state.assign(np.asarray(state, dtype=generator.state.dtype))

    def _save_model(self):
        super()._save_model()
        states = [
            [label, np.asarray(generator.state).tolist()]
            for label, generator in seed_generators(self.model)
        ]
        write_json(self._state_path, {"epoch": self._current_epoch, "seed_generators": states})

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.stop_on_nan and logs is not None and "loss" in logs:
            loss = float(logs["loss"])
            if not math.isfinite(loss):
                self.nan_at = (self._epoch, batch)
                self.model.stop_training = True
                return
        super().on_train_batch_end(batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.nan_at is None:
            super().on_epoch_end(epoch, logs)

    def on_train_end(self, logs=None):
        if self.nan_at is None:
            super().on_train_end(logs)


def regularized_variables(model) -> list:
    """The model's variables that carry a regularizer, in order."""
    return [v for v in model.trainable_variables if getattr(v, "regularizer", None) is not None]


class RegularizationMonitor(keras.callbacks.Callback):
    """Splits Keras's `loss` into the data loss and the regularization penalty, per epoch.

    Keras's reported `loss` silently includes every `kernel_regularizer`
    penalty. This callback adds to the epoch's logs (so they reach `History`,
    the progress bar, `CSVLogger` and `keras.callbacks.TensorBoard`; list it
    before those two):

    - `penalty`: the mean over the epoch's batches of the penalty
      `sum(model.losses)` each batch was trained with (evaluated at the weights
      the batch started from, which are the weights its loss saw);
    - `data_loss`: `loss - penalty`, the loss of the data alone;
    - `penalty_share`: `penalty / loss`;
    - `val_data_loss`: `val_loss` minus the penalty at the epoch-end weights
      (what `val_loss` includes), when there is validation data;
    - `kernel_norm/<layer>`: the Frobenius (L2) norm of every layer's kernel
      (regularized or not) at the end of the epoch, to watch weight decay
      shrink them and to compare runs with and without it.

    The per-batch penalty is one compiled sum of squares (well under 2 % of a
    training step for the networks kreg builds). With `steps_per_execution >
    1` Keras calls batch hooks once per execution, and the mean is over those.

    Args:
        kernel_norms: log `kernel_norm/<layer>` values.

    Example:

    ```python
    model.fit(x, y, epochs=5, callbacks=[kreg.callbacks.RegularizationMonitor()])
    # History gains data_loss, penalty, penalty_share and kernel_norm/<layer>
    ```
    """

    def __init__(self, kernel_norms: bool = True):
        super().__init__()
        self.kernel_norms = kernel_norms
        self._penalty_fn = None
        self._penalties = []

    def on_train_begin(self, logs=None):
        import tensorflow as tf

        variables = regularized_variables(self.model)
        self._kernels = [
            (layer.name, layer.kernel)
            for layer in iter_layers(self.model)
            if not getattr(layer, "layers", None) and getattr(layer, "kernel", None) is not None
        ]

        @tf.function(autograph=False)
        def penalty():
            terms = [tf.cast(v.regularizer(v.value), tf.float64) for v in variables]
            return tf.add_n(terms) if terms else tf.constant(0.0, tf.float64)

        self._penalty_fn = penalty

    def on_epoch_begin(self, epoch, logs=None):
        self._penalties = []

    def on_train_batch_begin(self, batch, logs=None):
        self._penalties.append(self._penalty_fn())

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        if self._penalties:
            penalty = float(np.mean([float(p) for p in self._penalties]))
        elif "penalty" in logs:  # kreg.training.fit_full_batch reports its last step's penalty
            penalty = float(logs["penalty"])
        else:
            penalty = float(self._penalty_fn())
        logs["penalty"] = penalty
        if "loss" in logs:
            loss = float(logs["loss"])
            logs["data_loss"] = loss - penalty
            logs["penalty_share"] = penalty / loss if loss else 0.0
        if "val_loss" in logs:
            logs["val_data_loss"] = float(logs["val_loss"]) - float(self._penalty_fn())
        if self.kernel_norms:
            for name, kernel in self._kernels:
                norm = float(np.linalg.norm(np.asarray(kernel.value, dtype=np.float64)))
                logs[f"kernel_norm/{name}"] = norm


class GeneralizationGap(keras.callbacks.Callback):
    """Logs the train-validation gap of a metric and can warn or stop when it grows too large.

    `gap = train - validation` for metrics where higher is better (accuracy)
    and `validation - train` for losses, logged as `gap/<metric>`. The
    training value is Keras's epoch mean in training mode (dropout on,
    weights moving during the epoch), so the gap is a running indicator, not
    a final evaluation.

    Args:
        metric: the metric's name in the logs (`"accuracy"`, `"loss"`, ...).
        warn_above: print a warning in an epoch whose gap exceeds this.
        stop_above: stop training once the gap has exceeded this for
            `patience + 1` consecutive epochs.
        patience: epochs over `stop_above` tolerated before stopping.

    Example:

    ```python
    gap = kreg.callbacks.GeneralizationGap("accuracy", warn_above=0.2, stop_above=0.35)
    model.fit(x, y, validation_data=(x_val, y_val), epochs=50, callbacks=[gap])
    ```
    """

    def __init__(self, metric: str = "accuracy", warn_above: float | None = None,
                 stop_above: float | None = None, patience: int = 0):  # fmt: skip
        super().__init__()
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
        gap = val - train if "loss" in self.metric else train - val
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


class DecisionBoundaryLogger(keras.callbacks.Callback):
    """Draws a 2-D classifier's decision boundary over its data every N epochs, as the course does.

    The picture goes to TensorBoard as an image (tag `decision_boundary`, in
    `<logdir>/boundary`) and, optionally, to PNG files
    `<png_dir>/epoch_<n>.png`.

    Args:
        x: `(examples, 2)` points to draw.
        y: their 0/1 labels.
        logdir: TensorBoard run directory (None for no image summary).
        every: draw every this many epochs (and after the last).
        png_dir: also write PNG files here.
        xlim, ylim: the window; defaults to the course's football field.
        title: figure title prefix.
    """

    def __init__(self, x, y, logdir=None, every: int = 1, png_dir=None,
                 xlim=(-0.75, 0.40), ylim=(-0.75, 0.65), title: str = ""):  # fmt: skip
        super().__init__()
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != 2:
            raise ValueError(
                f"DecisionBoundaryLogger draws 2-D inputs; `x` must be (examples, 2). "
                f"Received shape {x.shape}."
            )
        if not isinstance(every, int) or every < 1:
            raise ValueError(f"`every` must be a positive integer. Received: every={every!r}")
        if logdir is None and png_dir is None:
            raise ValueError("DecisionBoundaryLogger needs `logdir`, `png_dir` or both.")
        self.x, self.y = x, np.asarray(y)
        self.logdir, self.png_dir, self.every = logdir, png_dir, every
        self.xlim, self.ylim, self.title = xlim, ylim, title
        self._writer = None
        self._last_drawn = None
        self._last_epoch = None

    def _predict(self, points):
        dtype = self.model.inputs[0].dtype if getattr(self.model, "inputs", None) else "float32"
        return keras.ops.convert_to_numpy(self.model(np.asarray(points, dtype=dtype)))

    def _draw(self, epoch):
        from kreg.plots import _pyplot, decision_boundary_figure

        title = f"{self.title} epoch {epoch + 1}".strip()
        fig = decision_boundary_figure(self._predict, self.x, self.y, title=title,
                                       xlim=self.xlim, ylim=self.ylim)  # fmt: skip
        try:
            fig.canvas.draw()
            image = np.asarray(fig.canvas.buffer_rgba())[..., :3]
            if self.png_dir is not None:
                from kreg.io import atomic_write

                path = os.path.join(self.png_dir, f"epoch_{epoch + 1:05d}.png")
                atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))
        finally:
            _pyplot().close(fig)
        if self.logdir is not None:
            import tensorflow as tf

            if self._writer is None:
                self._writer = tf.summary.create_file_writer(os.path.join(self.logdir, "boundary"))
            with self._writer.as_default():
                tf.summary.image("decision_boundary", image[None], step=epoch)
            self._writer.flush()
        self._last_drawn = epoch

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every == 0:
            self._draw(epoch)

    def on_train_end(self, logs=None):
        if self._last_epoch is not None and self._last_drawn != self._last_epoch:
            self._draw(self._last_epoch)
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def on_epoch_begin(self, epoch, logs=None):
        self._last_epoch = epoch


class L2Schedule(keras.callbacks.Callback):
    """Changes the L2 factor of a model's regularized kernels at the start of every epoch.

    The kernels must carry a schedulable `kreg.regularizers.L2` (build with
    `L2(f, schedulable=True)`, or call
    `kreg.regularizers.apply_l2(model, f, schedulable=True)`): its factor
    lives in a variable that the compiled train function reads at every
    step, so a new value takes effect without a retrace. With
    `DropoutSchedule` it lets a user warm up or anneal regularization. The
    factor in force is logged as `l2_factor`.

    Args:
        schedule: `schedule(epoch, factor) -> new_factor`.
        verbose: 1 prints each change.

    Example:

    ```python
    kreg.regularizers.apply_l2(model, 0.0, schedulable=True)
    warm_up = kreg.callbacks.L2Schedule(lambda epoch, f: min(1e-3, 1e-4 * epoch))
    model.fit(x, y, epochs=20, callbacks=[warm_up])
    ```
    """

    def __init__(self, schedule: Callable[[int, float], float], verbose: int = 0):
        super().__init__()
        if not callable(schedule):
            raise ValueError(
                f"`schedule` must be callable as schedule(epoch, factor). Received: {schedule!r}"
            )
        self.schedule, self.verbose = schedule, verbose
        self._regularizers = []

    def on_train_begin(self, logs=None):
        from kreg.regularizers import L2

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
            new = self.schedule(epoch, float(regularizer.l2))
            if self.verbose and new != regularizer.l2:
                print(f"\nEpoch {epoch + 1}: L2Schedule sets the L2 factor to {new}.")
            regularizer.l2 = new

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None and self._regularizers:
            factors = {float(r.l2) for r in self._regularizers}
            logs["l2_factor"] = factors.pop() if len(factors) == 1 else float("nan")
