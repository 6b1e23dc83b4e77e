"""Training-step time of the VGG-style CIFAR net with each dropout layer, vs keras.layers.Dropout.

The same "keras-vgg" network (same seeds, same random CIFAR-shaped batches),
with each choice of `vgg_cifar10(dropout_layer=...)` after the pooling layers:
`keras` (keras.layers.Dropout, the baseline), `kreg` (InvertedDropout),
`spatial` (keras.layers.SpatialDropout2D), `kreg-spatial` (InvertedDropout
with a feature-map noise shape) and `dropblock` (DropBlock2D). Steps are timed
in turns in one process (A, B, C, ..., A, ...) so that machine noise hits all
equally; each repeat times `--steps` steps, and the medians are compared with
Keras's Dropout. Targets: InvertedDropout <= 1.03x, DropBlock <= 1.10x.

    python bench/dropout_overhead.py                  # prints each ratio to keras Dropout
    python bench/dropout_overhead.py --layers keras,dropblock --block-size 2
"""

import argparse

import kreg_cli

# The lab runs on Keras's TensorFlow backend: choose it, and import TensorFlow without its
# start-up log lines, before anything imports Keras.
kreg_cli.prepare_environment()

# isort: split
import keras
import numpy as np
import tensorflow as tf
from turns import print_ratios, time_in_turns

from kreg.models import vgg_cifar10


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layers", default="keras,kreg,spatial,kreg-spatial,dropblock")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--block-size", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20, help="steps per timed repeat")
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--jit-compile", action="store_true", help="compile steps with XLA")
    return parser.parse_args()


def build(dropout_layer, block_size, jit_compile):
    keras.utils.set_random_seed(0)
    model = vgg_cifar10("keras-vgg", dropout_layer=dropout_layer, block_size=block_size, seed=1)
    model.compile(
        keras.optimizers.SGD(0.01), "sparse_categorical_crossentropy", jit_compile=jit_compile
    )
    return model


def main():
    args = parse_args()
    layers = args.layers.split(",")
    if "keras" not in layers:
        layers.insert(0, "keras")  # the baseline of every ratio
    rng = np.random.RandomState(0)
    x = tf.constant(rng.rand(args.batch_size, 32, 32, 3).astype("float32"))
    y = tf.constant(rng.randint(0, 10, args.batch_size))
    models = {name: build(name, args.block_size, args.jit_compile) for name in layers}
    times = time_in_turns(models, x, y, args.steps, args.repeats)

    device = "GPU" if tf.config.list_logical_devices("GPU") else "CPU"
    print(
        f"VGG-style CIFAR net (keras-vgg), batch {args.batch_size}, block size "
        f"{args.block_size}, {device}, jit_compile={args.jit_compile}, median of "
        f"{args.repeats} x {args.steps} steps"
    )
    print_ratios(times, "keras", "keras Dropout")


if __name__ == "__main__":
    main()
