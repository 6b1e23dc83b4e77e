"""30 000 full-batch steps of the course's football model: kreg vs numpy vs Keras `fit`.

All in one process, on the same data (the course's when `$KREG_DATA_DIR` has
it, else the generated stand-in), float64, course initialization:

- numpy: the course's loop (`kreg.reference.train`), the baseline;
- kreg: `kreg.training.fit_full_batch`, with XLA (kreg's default) and without;
  dropout runs use `experiments/football.py`'s layer, `InvertedDropout` with
  `rng_algorithm="counter_hash"`, and once more with `keras.layers.Dropout`
  to show what the generator costs;
- keras fit: `model.fit` on a dataset of full batches with `steps_per_execution`.

Prints seconds per run and the ratios to the numpy loop, and checks that every
engine reaches the same accuracies.

    python bench/football_speed.py                 # all three models, 30 000 steps
    python bench/football_speed.py --steps 3000 --models none
"""

import argparse
import os
import time
from pathlib import Path

import kreg  # noqa: F401  (first: quiet TensorFlow start-up)

# isort: split
import keras
import numpy as np
import tensorflow as tf

from kreg import reference
from kreg.datasets import load_football, synthetic_football
from kreg.models import football_classifier
from kreg.regularizers import l2_from_lambda, rate_from_keep_prob
from kreg.runners.course import COURSE
from kreg.training import fit_full_batch, floatx_scope

MODELS = {"none": {}, "l2": {"lambd": 0.7}, "dropout": {"keep_prob": 0.86}}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=COURSE.iterations)
    parser.add_argument("--models", default="none,l2,dropout")
    parser.add_argument("--steps-per-execution", type=int, default=1000)
    return parser.parse_args()


def load():
    data_dir = os.environ.get("KREG_DATA_DIR")
    path = Path(data_dir, "football", "data.mat") if data_dir else None
    if path and path.is_file():
        return load_football(path), "course data"
    return synthetic_football(), "generated stand-in"


def build(x, lambd=0.0, keep_prob=1.0, dropout_layer="kreg-hash"):
    factor = l2_from_lambda(lambd, len(x)).l2 if lambd else 0.0
    return football_classifier(
        l2=factor,
        dropout=rate_from_keep_prob(keep_prob),
        seed=0,
        dtype="float64",
        dropout_layer=dropout_layer,
    )


def accuracy(model, x, y):
    return float(np.mean((np.asarray(model(x)) > 0.5) == (y > 0.5)))


def run_numpy(data, steps, lambd=0.0, keep_prob=1.0):
    x, y = data[0], data[1]
    start = time.perf_counter()
    result = reference.train(
        x.T, y.T, num_iterations=steps, lambd=lambd, keep_prob=keep_prob, dropout_seed=0
    )
    seconds = time.perf_counter() - start
    return seconds, reference.accuracy(x.T, y.T, result.parameters)


def run_kreg(data, steps, jit_compile, lambd=0.0, keep_prob=1.0, dropout_layer="kreg-hash"):
    x, y = data[0], data[1]
    with floatx_scope("float64"):
        model = build(x, lambd, keep_prob, dropout_layer)
        start = time.perf_counter()
        fit_full_batch(
            model,
            x,
            y,
            steps=steps,
            learning_rate=COURSE.learning_rate,
            log_every=COURSE.cost_every,
            jit_compile=jit_compile,
        )
        seconds = time.perf_counter() - start
    return seconds, accuracy(model, x, y)


def run_keras_fit(data, steps, steps_per_execution, lambd=0.0, keep_prob=1.0):
    x, y = data[0], data[1]
    with floatx_scope("float64"):
        model = build(x, lambd, keep_prob, dropout_layer="keras")
        model.compile(
            keras.optimizers.SGD(COURSE.learning_rate),
            "binary_crossentropy",
            steps_per_execution=steps_per_execution,
        )
        full_batches = tf.data.Dataset.from_tensors((x, y)).repeat(steps)
        start = time.perf_counter()
        model.fit(full_batches, epochs=1, verbose=0)
        seconds = time.perf_counter() - start
    return seconds, accuracy(model, x, y)


def main():
    args = parse_args()
    data, source = load()
    print(f"{args.steps} full-batch steps on the {source} ({len(data[0])} examples), float64")
    header = ("model", "engine", "seconds", "us/step", "vs numpy", "train acc")
    print("{:<9} {:<26} {:>8} {:>8} {:>9} {:>10}".format(*header))
    for name in args.models.split(","):
        settings = MODELS[name]
        numpy_seconds, numpy_acc = run_numpy(data, args.steps, **settings)
        rows = [
            ("numpy course loop", numpy_seconds, numpy_acc),
            ("kreg (XLA)", *run_kreg(data, args.steps, True, **settings)),
            ("kreg (graph, no XLA)", *run_kreg(data, args.steps, False, **settings)),
        ]
        if "keep_prob" in settings:
            rows.append(
                (
                    "kreg (XLA, keras Dropout)",
                    *run_kreg(data, args.steps, True, **settings, dropout_layer="keras"),
                )
            )
        rows += [
            (
                f"keras fit spe={args.steps_per_execution}",
                *run_keras_fit(data, args.steps, args.steps_per_execution, **settings),
            ),
        ]
        for engine, seconds, acc in rows:
            print(
                f"{name:<9} {engine:<26} {seconds:>8.2f} {seconds / args.steps * 1e6:>8.1f} "
                f"{seconds / numpy_seconds:>9.3f} {acc:>10.4f}"
            )
    print("ratio = seconds / numpy seconds; kreg's target is <= 0.5 (compilation included).")


if __name__ == "__main__":
    main()
