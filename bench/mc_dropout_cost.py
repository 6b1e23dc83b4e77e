"""What Monte Carlo dropout costs: `kreg.mc_predict` with 30 samples against one `predict`.

The keras-vgg network (with dropout) predicts 1017 CIFAR-sized images, once with
`model.predict` and once with `kreg.mc_predict(samples=30)`, which repeats each
image 30 times inside one batched forward pass instead of looping in Python;
both are timed in this process, alternating, median of `--repeats` runs after a
warm-up each. Target: at most 30x one predict (the arithmetic is 30x).

    python bench/mc_dropout_cost.py
"""

import argparse
import statistics
import time

import kreg_cli

# The lab runs on Keras's TensorFlow backend: choose it, and import TensorFlow without its
# start-up log lines, before anything imports Keras.
kreg_cli.prepare_environment()

# isort: split
import keras
import numpy as np

from kreg.mc_dropout import mc_predict
from kreg.models import vgg_cifar10


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=30, help="MC samples (default: 30)")
    parser.add_argument("--images", type=int, default=1017, help="images (default: 1017)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs (default: 3)")
    return parser.parse_args()


def main():
    args = parse_args()
    keras.utils.set_random_seed(0)
    model = vgg_cifar10("keras-vgg", l2=1e-3, dropout=(0.3, 0.4), dense_dropout=0.5, seed=1)
    x = np.random.RandomState(0).randn(args.images, 32, 32, 3).astype("float32")
    timings = {"predict": [], "mc": []}
    for repeat in range(args.repeats + 1):
        start = time.perf_counter()
        model.predict(x, batch_size=256, verbose=0)
        predict_seconds = time.perf_counter() - start
        start = time.perf_counter()
        mc_predict(model, x, samples=args.samples, seed=0)
        mc_seconds = time.perf_counter() - start
        if repeat:  # the first of each is the warm-up (tracing)
            timings["predict"].append(predict_seconds)
            timings["mc"].append(mc_seconds)
    predict, mc = statistics.median(timings["predict"]), statistics.median(timings["mc"])
    print(f"keras-vgg, {args.images} images, median of {args.repeats} runs after a warm-up")
    print(f"  model.predict            : {predict:7.3f} s")
    print(f"  mc_predict, {args.samples:3d} samples  : {mc:7.3f} s")
    print(f"ratio: {mc / predict:.1f}x one predict (target <= {args.samples}x)")


if __name__ == "__main__":
    main()
