"""The course's football experiment: its setup, its published numbers, and one run of it.

One run trains the 3-layer classifier with full-batch gradient descent. Its
`engine` names the code that computed the steps, as in `kreg.lab.fullbatch`:
`"reference"` (the numpy course code, `kreg.reference.train`), `"keras"` or
`"fused"` (`fit_full_batch`'s two engines) or `"stacked"`
(`fit_full_batch_stacked`).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import keras
import numpy as np

from kreg import reference
from kreg.lab.fullbatch import fit_full_batch, floatx_scope
from kreg.lab.fullbatch.stacked import fit_full_batch_stacked
from kreg.models import football_classifier
from kreg.regularizers import l2_from_lambda, rate_from_keep_prob

__all__ = [
    "COURSE",
    "COURSE_RESULTS",
    "FootballRun",
    "accuracy",
    "build_football_model",
    "run_keras",
    "run_keras_stacked",
    "run_reference",
]


@dataclasses.dataclass(frozen=True)
class CourseSetup:
    hidden_units: tuple[int, int] = (20, 3)
    learning_rate: float = 0.3
    iterations: int = 30000
    init_seed: int = 3
    lambd: float = 0.7
    keep_prob: float = 0.86
    cost_every: int = 1000


COURSE = CourseSetup()

# (train accuracy, test accuracy) printed in the course notebook.
COURSE_RESULTS = {
    "no regularization": (0.9478672985781991, 0.915),
    "L2": (0.9383886255924171, 0.93),
    "dropout": (0.9289099526066351, 0.95),
}


@dataclasses.dataclass
class FootballRun:
    """One trained football model and what it scored."""

    name: str
    engine: str
    lambd: float
    keep_prob: float
    learning_rate: float
    iterations: int
    precision: str
    seed: int | None
    train_accuracy: float
    test_accuracy: float
    seconds: float
    costs: list[tuple[int, float]]
    predict: Callable[[np.ndarray], np.ndarray] = dataclasses.field(repr=False, default=None)
    extra: dict = dataclasses.field(default_factory=dict)

    def to_json(self) -> dict:
        """The run as a JSON-ready dict (SPEC's `runs` entry)."""
        return {
            "name": self.name,
            "train_accuracy": self.train_accuracy,
            "test_accuracy": self.test_accuracy,
            "seconds": round(self.seconds, 3),
            "engine": self.engine,
            "lambd": self.lambd,
            "keep_prob": self.keep_prob,
            "learning_rate": self.learning_rate,
            "iterations": self.iterations,
            "precision": self.precision,
            "seed": self.seed,
            "final_cost": self.costs[-1][1] if self.costs else None,
            **self.extra,
        }


def accuracy(predictions: np.ndarray, labels: np.ndarray) -> float:
    """Share of 0/1 labels matched by probabilities thresholded at 0.5."""
    return float(np.mean((predictions.reshape(-1) > 0.5) == (labels.reshape(-1) > 0.5)))


def build_football_model(
    lambd: float,
    keep_prob: float,
    *,
    num_examples: int,
    input_dim: int = 2,
    learning_rate: float = COURSE.learning_rate,
    precision: str = "float64",
    seed: int | None = None,
    dropout_layer="kreg-hash",
) -> keras.Model:
    """The course's classifier from its initial weights, compiled for full-batch descent.

    `lambd` becomes `kernel_regularizer=L2(lambd / (2 num_examples))` on every
    kernel and `keep_prob` a dropout rate of `1 - keep_prob` after each hidden
    layer. Call it inside `kreg.lab.fullbatch.floatx_scope(precision)` so that the
    optimizer's learning rate has the model's precision too.
    """
    factor = l2_from_lambda(lambd, num_examples).l2 if lambd > 0 else 0.0
    model = football_classifier(
        input_dim=input_dim,
        hidden_units=COURSE.hidden_units,
        l2=factor,
        dropout=rate_from_keep_prob(keep_prob),
        dropout_layer=dropout_layer,
        seed=seed,
        dtype=precision,
        kernel_initializer="course",
        init_seed=COURSE.init_seed,
    )
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=learning_rate),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    return model


def run_reference(
    data,
    *,
    name: str,
    lambd: float = 0.0,
    keep_prob: float = 1.0,
    learning_rate: float = COURSE.learning_rate,
    iterations: int = COURSE.iterations,
    course_compatible_dropout: bool = True,
    seed: int | None = None,
) -> FootballRun:
    """Train with the numpy reference (float64, course layout).

    Args:
        data: `(x_train, y_train, x_test, y_test)` in Keras layout.
        course_compatible_dropout: re-seed the dropout masks every iteration
            as the course does (one fixed sub-network); False draws fresh
            masks from `RandomState(seed)`.
    """
    x_train, y_train, x_test, y_test = data
    start = time.perf_counter()
    result = reference.train(
        x_train.T,
        y_train.T,
        learning_rate=learning_rate,
        num_iterations=iterations,
        lambd=lambd,
        keep_prob=keep_prob,
        course_compatible_dropout=course_compatible_dropout,
        dropout_seed=seed,
        hidden_units=COURSE.hidden_units,
        init_seed=COURSE.init_seed,
        cost_every=COURSE.cost_every,
    )
    seconds = time.perf_counter() - start
    parameters = result.parameters

    def predict(points: np.ndarray) -> np.ndarray:
        return reference.predict(np.asarray(points).T, parameters)[0]

    if keep_prob == 1:
        masks = None
    else:
        masks = "fixed (course)" if course_compatible_dropout else "fresh"
    return FootballRun(
        name=name,
        engine="reference",
        lambd=lambd,
        keep_prob=keep_prob,
        learning_rate=learning_rate,
        iterations=iterations,
        precision="float64",
        seed=seed,
        train_accuracy=accuracy(predict(x_train), y_train),
        test_accuracy=accuracy(predict(x_test), y_test),
        seconds=seconds,
        costs=result.costs,
        predict=predict,
        extra={"dropout_masks": masks},
    )


def run_keras(
    data,
    *,
    name: str,
    lambd: float = 0.0,
    keep_prob: float = 1.0,
    learning_rate: float = COURSE.learning_rate,
    iterations: int = COURSE.iterations,
    precision: str = "float64",
    seed: int | None = None,
    dropout_layer="kreg-hash",
    callbacks=None,
    log_every: int = COURSE.cost_every,
    verbose=0,
) -> tuple[FootballRun, object]:
    """Train the Keras football model with full-batch gradient descent.

    The model starts from the course's initial weights; `lambd` becomes
    `kernel_regularizer=L2(lambd / (2 m))` on every kernel and `keep_prob`
    a dropout rate of `1 - keep_prob` after each hidden layer, with fresh
    masks every step. `dropout_layer` picks the layer (see
    `kreg.models.football_classifier`); the default, `"kreg-hash"`, is
    `InvertedDropout(rng_algorithm="counter_hash")`, whose masks XLA draws
    about 3x faster on CPU than Keras's generator. `verbose` is
    `fit_full_batch`'s.

    Returns:
        `(run, model)`.
    """
    if precision not in ("float32", "float64"):
        raise ValueError(
            f"`precision` must be 'float32' or 'float64'. Received: precision={precision!r}"
        )
    x_train, y_train, x_test, y_test = data
    if seed is not None:
        keras.utils.set_random_seed(seed)
    with floatx_scope(precision):
        model = build_football_model(
            lambd,
            keep_prob,
            num_examples=x_train.shape[0],
            input_dim=x_train.shape[1],
            learning_rate=learning_rate,
            precision=precision,
            seed=seed,
            dropout_layer=dropout_layer,
        )
        history = fit_full_batch(
            model,
            x_train,
            y_train,
            steps=iterations,
            optimizer=model.optimizer,
            log_every=log_every,
            validation_data=(x_test, y_test),
            callbacks=callbacks,
            verbose=verbose,
        )

    def predict(points: np.ndarray) -> np.ndarray:
        points = np.asarray(points, dtype=precision)
        return keras.ops.convert_to_numpy(model(points, training=False))[:, 0]

    factor = l2_from_lambda(lambd, x_train.shape[0]).l2 if lambd > 0 else 0.0
    run = FootballRun(
        name=name,
        engine=history.engine,
        lambd=lambd,
        keep_prob=keep_prob,
        learning_rate=learning_rate,
        iterations=iterations,
        precision=precision,
        seed=seed,
        train_accuracy=accuracy(predict(x_train), y_train),
        test_accuracy=accuracy(predict(x_test), y_test),
        seconds=history.seconds,
        costs=history.costs,
        predict=predict,
        extra={
            "l2_factor": factor,
            "dropout_rate": rate_from_keep_prob(keep_prob),
            "dropout_layer": dropout_layer if keep_prob < 1 else None,
        },
    )
    return run, model


def run_keras_stacked(
    data,
    plan,
    *,
    learning_rate: float = COURSE.learning_rate,
    iterations: int = COURSE.iterations,
    precision: str = "float64",
    callbacks=None,
    log_every: int = COURSE.cost_every,
    verbose=0,
) -> list[tuple[FootballRun, object]]:
    """Train several Keras football models at once with `fullbatch.fit_full_batch_stacked`.

    Args:
        data: `(x_train, y_train, x_test, y_test)`.
        plan: `(name, {"lambd": ..., "keep_prob": ..., "seed": ...})` per model
            (missing settings: no L2, no dropout, no seed); dropout is
            `InvertedDropout(rng_algorithm="counter_hash")`, as `run_keras`'s default.
        callbacks: None, or one list of callbacks per model.

    Returns:
        `(run, model)` per entry of `plan`; every run's `seconds` is the
        whole stack's time.
    """
    if precision not in ("float32", "float64"):
        raise ValueError(
            f"`precision` must be 'float32' or 'float64'. Received: precision={precision!r}"
        )
    x_train, y_train, x_test, y_test = data
    settings = [{"lambd": 0.0, "keep_prob": 1.0, "seed": None, **dict(entry)} for _, entry in plan]
    with floatx_scope(precision):
        models = [
            build_football_model(
                setting["lambd"],
                setting["keep_prob"],
                num_examples=x_train.shape[0],
                input_dim=x_train.shape[1],
                learning_rate=learning_rate,
                precision=precision,
                seed=setting["seed"],
                dropout_layer="kreg-hash",
            )
            for setting in settings
        ]
        histories = fit_full_batch_stacked(
            models,
            x_train,
            y_train,
            steps=iterations,
            learning_rate=learning_rate,
            log_every=log_every,
            validation_data=(x_test, y_test),
            callbacks=callbacks,
            verbose=verbose,
        )
    results = []
    for (name, _), setting, model, history in zip(plan, settings, models, histories):

        def predict(points: np.ndarray, model=model) -> np.ndarray:
            points = np.asarray(points, dtype=precision)
            return keras.ops.convert_to_numpy(model(points, training=False))[:, 0]

        lambd, keep_prob = setting["lambd"], setting["keep_prob"]
        run = FootballRun(
            name=name,
            engine="stacked",
            lambd=lambd,
            keep_prob=keep_prob,
            learning_rate=learning_rate,
            iterations=iterations,
            precision=precision,
            seed=setting["seed"],
            train_accuracy=accuracy(predict(x_train), y_train),
            test_accuracy=accuracy(predict(x_test), y_test),
            seconds=history.seconds,
            costs=history.costs,
            predict=predict,
            extra={
                "l2_factor": l2_from_lambda(lambd, x_train.shape[0]).l2 if lambd > 0 else 0.0,
                "dropout_rate": rate_from_keep_prob(keep_prob),
                "dropout_layer": "kreg-hash" if keep_prob < 1 else None,
                "stacked_models": len(plan),
            },
        )
        results.append((run, model))
    return results
