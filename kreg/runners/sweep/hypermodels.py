"""KerasTuner hypermodels for kreg's two tasks, and how a search space is read from text."""

from __future__ import annotations

import dataclasses
import math

import keras
import keras_tuner as kt
import numpy as np

from kreg.pipeline import EpochSeededImages
from kreg.runners.cifar import build_model
from kreg.runners.course import COURSE, accuracy, build_football_model
from kreg.training import PRECISIONS, fit_full_batch, floatx_scope, precision_scope

__all__ = ["OBJECTIVES", "SPACES", "CifarHyperModel", "FootballHyperModel", "parse_values"]

# Default search spaces: the values a grid sweep tries when none are given.
SPACES = {
    "football": {"lambd": (0.0, 0.1, 0.3, 0.7), "keep_prob": (1.0, 0.86)},
    "cifar": {"l2": (0.0, 5e-4, 1e-3), "dropout": (0.0, 0.3), "dense_dropout": (0.5,)},
}
OBJECTIVES = ("val_accuracy", "val_loss")


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
        seed: seed of the dropout masks (the initial weights are the course's).
        dropout_layer: see `kreg.models.football_classifier`.
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
    ):
        super().__init__(name="football")
        self.check_space(space)
        self.space = dict(space)
        self.train_examples = train_examples
        self.steps = steps
        self.learning_rate = learning_rate
        self.log_every = log_every
        self.seed = seed
        self.dropout_layer = dropout_layer

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
                verbose=kwargs.get("verbose", 0),
            )
        # KerasTuner reads a Keras History: the per-interval logs, without the step counter.
        history = keras.callbacks.History()
        history.epoch = list(range(len(run.logs)))
        history.history = {
            key: [logs[key] for logs in run.logs]
            for key in (run.logs[0] if run.logs else {})
            if key != "steps"
        }
        return history

    def evaluate(self, model, data, train=None) -> dict:
        """Accuracy and loss of `model` on `data = (x, y)`, in inference mode."""
        x, y = data
        prob = np.asarray(model(np.asarray(x, "float64"), training=False))
        loss = float(keras.losses.BinaryCrossentropy()(y, prob))
        return {"accuracy": accuracy(prob, np.asarray(y)), "loss": loss}


class CifarHyperModel(_SweepHyperModel):
    """The CIFAR-10 convnet of a `kreg.runners.cifar.Profile` over weight decay and dropout rates.

    Args:
        space: any of `"l2"` (the L2 factor on every kernel),
            `"dropout"` (the rate after every pooling) and `"dense_dropout"`.
        profile: a `kreg.runners.cifar.Profile` (network, epochs, batch size,
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
