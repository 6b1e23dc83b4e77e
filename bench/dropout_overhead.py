"""Training-step time of the VGG-style CIFAR net: kreg's InvertedDropout vs keras.layers.Dropout.

Both models are the "keras-vgg" preset (three dropout layers), built with the
same seeds and trained on the same random CIFAR-shaped batches. Steps are
timed alternately in one process (A, B, A, B, ...) so that machine noise hits
both equally; each repeat times `--steps` steps, and the medians are compared.

    python bench/dropout_overhead.py                  # prints the ratio kreg / keras
"""

import argparse
import statistics
import time

import keras
import numpy as np
import tensorflow as tf

import kreg  # noqa: F401  (first: quiet TensorFlow start-up)
from kreg.models import vgg_cifar10

# isort: split


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20, help="steps per timed repeat")
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--jit-compile", action="store_true", help="compile steps with XLA")
    return parser.parse_args()


def build(dropout_layer, jit_compile):
    keras.utils.set_random_seed(0)
    model = vgg_cifar10("keras-vgg", dropout_layer=dropout_layer, seed=1)
    model.compile(
        keras.optimizers.SGD(0.01), "sparse_categorical_crossentropy", jit_compile=jit_compile
    )
    return model


def main():
    args = parse_args()
    rng = np.random.RandomState(0)
    x = tf.constant(rng.rand(args.batch_size, 32, 32, 3).astype("float32"))
    y = tf.constant(rng.randint(0, 10, args.batch_size))
    models = {"keras": build("keras", args.jit_compile), "kreg": build("kreg", args.jit_compile)}
    for model in models.values():  # trace and warm up
        for _ in range(3):
            model.train_on_batch(x, y)

    times = {name: [] for name in models}
    for _ in range(args.repeats):
        for name, model in models.items():
            start = time.perf_counter()
            for _ in range(args.steps):
                model.train_on_batch(x, y)
            times[name].append((time.perf_counter() - start) / args.steps)

    device = "GPU" if tf.config.list_logical_devices("GPU") else "CPU"
    print(
        f"VGG-style CIFAR net (keras-vgg), batch {args.batch_size}, {device}, "
        f"jit_compile={args.jit_compile}, median of {args.repeats} x {args.steps} steps"
    )
    for name, values in times.items():
        print(f"  {name:<6} {statistics.median(values) * 1e3:8.2f} ms/step")
    ratio = statistics.median(times["kreg"]) / statistics.median(times["keras"])
    print(f"step-time ratio kreg/keras: {ratio:.3f}")


if __name__ == "__main__":
    main()
