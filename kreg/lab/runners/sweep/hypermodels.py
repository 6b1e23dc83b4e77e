"""KerasTuner hypermodels for kreg's two tasks, and how a search space is read from text."""

from __future__ import annotations

import dataclasses
import math

import keras
import keras_tuner as kt
import numpy as np

from kreg.lab.fullbatch import PRECISIONS, fit_full_batch, floatx_scope, precision_scope
from kreg.lab.fullbatch.stacked import STACK_FROM, fit_full_batch_stacked
from kreg.lab.pipeline import EpochSeededImages
from kreg.lab.runners.cifar import build_model
from kreg.lab.runners.course import COURSE, accuracy, build_football_model
from kreg.lab.runners.sweep.chief import is_worker

__all__ = [
    "STACKING",
    "OBJECTIVES",
    "SPACES",
    "CifarHyperModel",
    "FootballHyperModel",
    "parse_values",
]

# Default search spaces: the values a grid sweep tries when none are given.
SPACES = {
    "football": {"lambd": (0.0, 0.1, 0.3, 0.7), "keep_prob": (1.0, 0.86)},
    "cifar": {"l2": (0.0, 5e-4, 1e-3), "dropout": (0.0, 0.3), "dense_dropout": (0.5,)},
}
OBJECTIVES = ("val_accuracy", "val_loss")
STACKING = ("auto", "stacked", "sequential")


def parse_values(name: str, text: str) -> tuple[float, ...] | tuple[str, float, float]:
    """A search dimension from the command line: `"0,0.3,0.7"` or a range `"1e-4:1e-2"`.

    Returns a tuple of values, or `("range", low, high)` for a range (random
    search only; sampled log-uniformly when `low > 0`).
    """
    text = text.strip()
    try:
        if ":" in text:
            low, high = (float(part) for part in text.split(":"))
            if not (math.isfinite(low) and math.isfinite(high) and low < high):
                raise ValueError
            return ("range", low, high)
        values = tuple(float(part) for part in text.split(","))
        if not values or not all(math.isfinite(v) for v in values):
            raise ValueError
        return values
    except ValueError:
        raise ValueError(
            f"`{name}` must be a comma list of numbers (e.g. 0,0.3,0.7) or a range low:high "
            f"with low < high (e.g. 1e-4:1e-2). Received: {name}={text!r}"
        ) from None


def _check_space(space: dict, valid: dict) -> None:
    if not space:
        raise ValueError(f"The search space is empty; give values for any of {sorted(valid)}.")
    for name, values in space.items():
        if name not in valid:
            raise ValueError(f"Unknown hyperparameter {name!r}; expected one of {sorted(valid)}.")
        low, high, what = valid[name]
        numbers = values[1:] if values and values[0] == "range" else values
        if not numbers or any(not low <= v <= high for v in numbers):
            raise ValueError(f"`{name}` values must be {what}. Received: {name}={values}")


def _choice(hp, name: str, values):
    if values[0] == "range":
        _, low, high = values
        return hp.Float(name, low, high, sampling="log" if low > 0 else "linear")
    return hp.Choice(name, list(values), ordered=True)


class _SweepHyperModel(kt.HyperModel):
    VALID: dict = {}  # name -> (low, high, what the values must be)

    @classmethod
    def check_space(cls, space: dict) -> None:
        """Raise ValueError naming the first unknown name or out-of-range value of `space`."""
        _check_space(space, cls.VALID)


class FootballHyperModel(_SweepHyperModel):
    """The course's football classifier, trained full batch in float64, over `lambd` x `keep_prob`.

    Args:
        space: `{"lambd": values, "keep_prob": values}` (see `parse_values`).
        train_examples: `m`, the number of training examples (L2's factor is
            `lambd / (2 m)`).
        steps: full-batch gradient steps per trial.
        learning_rate: gradient-descent learning rate.
        log_every: steps per logged interval (an "epoch" for the callbacks).
        seed: seed of the dropout masks (the initial weights are the course's);
            with `seeds` N the trial's models use seeds `seed` ... `seed + N - 1`.
        dropout_layer: see `kreg.models.football_classifier`.
        seeds: models trained per trial, one per dropout seed (KerasTuner's
            executions: the trial's score is their mean).
        stacking: `"stacked"` trains with `kreg.lab.fullbatch.stacked.fit_full_batch_stacked`:
            in a grid search run by one process, every grid point and seed in
            one call at the first trial (each trial then replays its models'
            logged intervals through KerasTuner's callbacks); on a worker, or
            in a random search, a trial's seeds in one call. `"sequential"`
            trains each model alone with `fit_full_batch`. `"auto"` stacks when
            one call would train at least `kreg.lab.fullbatch.stacked.STACK_FROM` (16) models,
            where it pays on a 2-core CPU. A model's numbers depend on
            the engine (its sums run in another order), not on the process or
            the other models in its stack, so a distributed sweep still equals
            a one-process one.
    """

    VALID = {"lambd": (0.0, math.inf, ">= 0"), "keep_prob": (1e-9, 1.0, "in (0, 1]")}

    def __init__(
        self,
        space: dict,
        *,
        train_examples: int,
        steps: int = COURSE.iterations,
        learning_rate: float = COURSE.learning_rate,
        log_every: int = COURSE.cost_every,
        seed: int = 0,
        dropout_layer: str = "kreg-hash",
        seeds: int = 1,
        stacking: str = "auto",
        search: str = "grid",
    ):
        super().__init__(name="football")
        self.check_space(space)
        if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
            raise ValueError(f"`seeds` must be a positive integer. Received: seeds={seeds!r}")
        if stacking not in STACKING:
            raise ValueError(
                f"`stacking` must be one of {STACKING}. Received: stacking={stacking!r}"
            )
        grid = search == "grid" and all(values[0] != "range" for values in space.values())
        if stacking == "auto":
            # The models one stacked call would train: the whole grid, or a trial's seeds.
            together = seeds * (math.prod(len(v) for v in space.values()) if grid else 1)
            stacking = "stacked" if together >= STACK_FROM else "sequential"
        if stacking == "stacked" and dropout_layer != "kreg-hash":
            raise ValueError(
                "The stacked engine draws InvertedDropout's counter_hash masks: it needs "
                f"dropout_layer='kreg-hash'. Received: dropout_layer={dropout_layer!r}"
            )
        self.space = dict(space)
        self.train_examples = train_examples
        self.steps = steps
        self.learning_rate = learning_rate
        self.log_every = log_every
        self.seed = seed
        self.dropout_layer = dropout_layer
        self.seeds = seeds
        self.stacking = stacking
        self.grid = grid
        self._results = {}  # (lambd, keep_prob, seed) -> (weights per interval, logs)
        self._executions = {}  # (lambd, keep_prob) -> fits so far in this process

    def config(self) -> dict:
        """What defines this hypermodel's trials (to check that a resumed sweep is the same)."""
        return {
            "task": "football",
            "space": {k: list(v) for k, v in self.space.items()},
            "steps": self.steps,
            "learning_rate": self.learning_rate,
            "log_every": self.log_every,
            "seed": self.seed,
            "dropout_layer": self.dropout_layer,
            "seeds": self.seeds,
            "stacking": self.stacking,
        }

    def build(self, hp):
        lambd = _choice(hp, "lambd", self.space.get("lambd", (0.0,)))
        keep_prob = _choice(hp, "keep_prob", self.space.get("keep_prob", (1.0,)))
        keras.utils.set_random_seed(self.seed)
        with floatx_scope("float64"):
            return build_football_model(
                lambd,
                keep_prob,
                num_examples=self.train_examples,
                learning_rate=self.learning_rate,
                precision="float64",
                seed=self.seed,
                dropout_layer=self.dropout_layer,
            )

    def fit(self, hp, model, x, y, validation_data=None, callbacks=None, **kwargs):
        setting = (hp.get("lambd"), hp.get("keep_prob"))
        # KerasTuner fits a trial once per execution; execution i uses dropout seed seed + i.
        execution = self._executions.get(setting, 0)
        self._executions[setting] = execution + 1
        seed = self.seed + execution % self.seeds
        _reseed_dropout(model, seed)
        verbose = kwargs.get("verbose", 0)
        if self.stacking == "sequential":
            with floatx_scope("float64"):
                run = fit_full_batch(
                    model,
                    x,
                    y,
                    steps=self.steps,
                    optimizer=model.optimizer,
                    log_every=self.log_every,
                    validation_data=validation_data,
                    callbacks=callbacks,
                    verbose=verbose,
                )
            logs = run.logs
        else:
            key = (*setting, seed)
            if key not in self._results:
                everything = self.grid and not is_worker()
                settings = self._grid() if everything else [setting]
                self._train_stacked(settings, x, y, validation_data, verbose)
            logs = self._replay(model, key, callbacks)
        # KerasTuner reads a Keras History: the per-interval logs, without the step counter.
        history = keras.callbacks.History()
        history.epoch = list(range(len(logs)))
        history.history = {
            name: [entry[name] for entry in logs]
            for name in (logs[0] if logs else {})
            if name != "steps"
        }
        return history

    def _grid(self):
        lambds = self.space.get("lambd", (0.0,))
        keep_probs = self.space.get("keep_prob", (1.0,))
        return [(lambd, keep_prob) for lambd in lambds for keep_prob in keep_probs]

    def _train_stacked(self, settings, x, y, validation_data, verbose) -> None:
        """Train every setting x seed in one stacked call; keep each model's intervals."""
        plan = [
            (lambd, keep_prob, self.seed + i)
            for lambd, keep_prob in settings
            for i in range(self.seeds)
        ]
        if verbose:
            print(
                f"Training {len(plan)} models ({len(settings)} settings x {self.seeds} seeds) "
                "together in one compiled loop",
                flush=True,
            )
        recorders = [_IntervalWeights() for _ in plan]
        with floatx_scope("float64"):
            models = [
                build_football_model(
                    lambd,
                    keep_prob,
                    num_examples=self.train_examples,
                    learning_rate=self.learning_rate,
                    precision="float64",
                    seed=seed,
                    dropout_layer="kreg-hash",
                )
                for lambd, keep_prob, seed in plan
            ]
            histories = fit_full_batch_stacked(
                models,
                x,
                y,
                steps=self.steps,
                learning_rate=self.learning_rate,
                log_every=self.log_every,
                validation_data=validation_data,
                callbacks=[[recorder] for recorder in recorders],
                verbose=verbose,
            )
        for key, recorder, history in zip(plan, recorders, histories):
            self._results[key] = (recorder.weights, history.logs)

    def _replay(self, model, key, callbacks):
        """Put each interval's weights in `model` and show its logs to KerasTuner's callbacks."""
        weights, logs = self._results.pop(key)
        callback_list = keras.callbacks.CallbackList(
            callbacks,
            add_history=False,
            add_progbar=False,
            model=model,
            epochs=len(logs),
            steps=self.log_every,
            verbose=0,
        )
        callback_list.on_train_begin()
        for epoch, (interval_weights, interval_logs) in enumerate(zip(weights, logs)):
            callback_list.on_epoch_begin(epoch)
            model.set_weights(interval_weights)
            callback_list.on_epoch_end(epoch, dict(interval_logs))
        callback_list.on_train_end(dict(logs[-1]) if logs else None)
        return logs

    def evaluate(self, model, data, train=None) -> dict:
        """Accuracy and loss of `model` on `data = (x, y)`, in inference mode."""
        x, y = data
        prob = np.asarray(model(np.asarray(x, "float64"), training=False))
        loss = float(keras.losses.BinaryCrossentropy()(y, prob))
        return {"accuracy": accuracy(prob, np.asarray(y)), "loss": loss}


def _reseed_dropout(model, seed: int) -> None:
    """Set the dropout layers' generators as `football_classifier(seed=seed)` creates them."""
    layers = [layer for layer in model.layers if getattr(layer, "seed_generator", None)]
    for index, layer in enumerate(layers):
        layer.seed_generator.state.assign(np.array([seed + index, 0]))


class _IntervalWeights(keras.callbacks.Callback):
    """Keeps the model's weights at the end of every interval (epoch)."""

    def __init__(self):
        super().__init__()
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(self.model.get_weights())


class CifarHyperModel(_SweepHyperModel):
    """The CIFAR-10 convnet of a `kreg.lab.runners.cifar.Profile` over weight decay and dropout.

    Args:
        space: any of `"l2"` (the L2 factor on every kernel),
            `"dropout"` (the rate after every pooling) and `"dense_dropout"`.
        profile: a `kreg.lab.runners.cifar.Profile` (network, epochs, batch size,
            optimizer, augmentation); dimensions not in `space` take its values.
        seed: seed of the initial weights, the dropout masks and the data order.
        dropout_layer: see `kreg.models.vgg_cifar10`.
    """

    VALID = {
        "l2": (0.0, math.inf, ">= 0"),
        "dropout": (0.0, 0.999, "in [0, 1)"),
        "dense_dropout": (0.0, 0.999, "in [0, 1)"),
    }

    def __init__(
        self,
        space: dict,
        profile,
        *,
        seed: int = 0,
        dropout_layer: str = "kreg",
        precision: str = "float32",
    ):
        super().__init__(name="cifar")
        self.check_space(space)
        if precision not in PRECISIONS:
            raise ValueError(f"`precision` must be one of {PRECISIONS}. Received: {precision!r}")
        self.space = dict(space)
        self.profile = profile
        self.seed = seed
        self.dropout_layer = dropout_layer
        self.precision = precision

    def config(self) -> dict:
        """What defines this hypermodel's trials (to check that a resumed sweep is the same)."""
        return {
            "task": "cifar",
            "space": {k: list(v) for k, v in self.space.items()},
            "profile": dataclasses.asdict(self.profile),
            "seed": self.seed,
            "dropout_layer": self.dropout_layer,
            "precision": self.precision,
        }

    def build(self, hp):
        profile = self.profile
        l2 = _choice(hp, "l2", self.space.get("l2", (profile.l2,)))
        dropout = _choice(hp, "dropout", self.space.get("dropout", (profile.dropout[0],)))
        dense = self.space.get("dense_dropout", (profile.dense_dropout,))
        dense_dropout = _choice(hp, "dense_dropout", dense)
        keras.utils.set_random_seed(self.seed)
        with precision_scope(self.precision):
            return build_model(
                profile,
                l2=l2,
                dropout=dropout,
                dense_dropout=dense_dropout,
                dropout_layer=self.dropout_layer,
                seed=self.seed,
            )

    def fit(self, hp, model, x, y, validation_data=None, callbacks=None, **kwargs):
        images = self._images(x, y)
        return model.fit(
            images.train_dataset(),
            epochs=self.profile.epochs,
            validation_data=images.eval_dataset(*validation_data),
            callbacks=[images.callback, *(callbacks or [])],
            verbose=kwargs.get("verbose", 0),
            shuffle=False,
        )

    def _images(self, x, y):
        return EpochSeededImages(
            x, y, self.profile.batch_size, seed=self.seed, augment=self.profile.augment
        )

    def evaluate(self, model, data, train=None) -> dict:
        """Accuracy and loss on `data = (x, y)`, standardized with the `train` images' stats."""
        loss, accuracy = model.evaluate(self._images(*train).eval_dataset(*data), verbose=0)[:2]
        return {"accuracy": float(accuracy), "loss": float(loss)}
