"""K football models trained together (kreg.lab.fullbatch.stacked) vs one alone, 30 000 steps.

All in one process, float64, course initialization, on the course's data when
`$KREG_DATA_DIR` has it (else the generated stand-in). For each setting (no
regularization, L2 lambd=0.7, dropout keep_prob=0.86, the models' dropout seeds
0..K-1):

- one model alone with `kreg.lab.fullbatch.fit_full_batch` (XLA; the fastest
  single-model path kreg has, about 0.4x the plain numpy loop here);
- the same model alone with `kreg.lab.fullbatch.stacked.fit_full_batch_stacked` (K = 1);
- K models with `fit_full_batch_stacked` in one call.

Every time includes tracing and XLA compilation, as a user's run does. The
ratios printed: K models' time over one model's (`fit_full_batch`), the issue's
target being at most 4x for K = 64, and the speed-up over training the K
models one after another with `fit_full_batch` (K times one model's time).

    python bench/football_stack.py                       # K = 64, 30 000 steps
    python bench/football_stack.py --models 16 --steps 3000 --settings none
"""

import argparse
import os
import time
from pathlib import Path

import kreg_cli

# The lab runs on Keras's TensorFlow backend: choose it, and import TensorFlow without its
# start-up log lines, before anything imports Keras.
kreg_cli.prepare_environment()

# isort: split
from kreg.datasets import load_football, synthetic_football
from kreg.lab.fullbatch import fit_full_batch, floatx_scope
from kreg.lab.fullbatch.stacked import fit_full_batch_stacked
from kreg.lab.runners.course import COURSE, build_football_model

SETTINGS = {"none": (0.0, 1.0), "l2": (0.7, 1.0), "dropout": (0.0, 0.86)}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=64, help="K (default: %(default)s)")
    parser.add_argument(
        "--steps", type=int, default=COURSE.iterations, help="steps (default: %(default)s)"
    )
    parser.add_argument("--settings", default="none,l2,dropout", help="(default: %(default)s)")
    return parser.parse_args()


def load():
    data_dir = os.environ.get("KREG_DATA_DIR")
    path = Path(data_dir, "football", "data.mat") if data_dir else None
    if path and path.is_file():
        return load_football(path), "course data"
    return synthetic_football(), "generated stand-in"


def build(x, lambd, keep_prob, seed):
    return build_football_model(lambd, keep_prob, num_examples=len(x), seed=seed)


def time_alone(data, steps, lambd, keep_prob):
    x, y = data[0], data[1]
    with floatx_scope("float64"):
        model = build(x, lambd, keep_prob, seed=0)
        start = time.perf_counter()
        fit_full_batch(model, x, y, steps=steps, optimizer=model.optimizer, verbose=0)
        return time.perf_counter() - start


def time_stacked(data, steps, lambd, keep_prob, num_models):
    x, y = data[0], data[1]
    with floatx_scope("float64"):
        models = [build(x, lambd, keep_prob, seed) for seed in range(num_models)]
        start = time.perf_counter()
        fit_full_batch_stacked(models, x, y, steps=steps, verbose=0)
        return time.perf_counter() - start


def main():
    args = parse_args()
    data, source = load()
    k = args.models
    print(
        f"{args.steps} full-batch steps per model on the {source} ({len(data[0])} examples), "
        f"float64, compilation included; K = {k}"
    )
    header = ("model", "alone", "stacked K=1", f"stacked K={k}", "K / alone", "vs one by one")
    print("{:<8} {:>8} {:>12} {:>13} {:>10} {:>14}".format(*header))
    for name in args.settings.split(","):
        lambd, keep_prob = SETTINGS[name]
        alone = time_alone(data, args.steps, lambd, keep_prob)
        single = time_stacked(data, args.steps, lambd, keep_prob, 1)
        many = time_stacked(data, args.steps, lambd, keep_prob, k)
        print(
            f"{name:<8} {alone:7.2f}s {single:11.2f}s {many:12.2f}s {many / alone:9.2f}x "
            f"{k * alone / many:13.2f}x"
        )
    print(
        "(K / alone: K models together over one model alone, target <= 4x for K = 64; "
        "vs one by one: K x alone over K together.)"
    )


if __name__ == "__main__":
    main()
