"""Training throughput on CIFAR-10: kreg's pipeline and model vs the same model in plain Keras.

- kreg: `kreg.lab.pipeline.EpochSeededImages` (seeded tf.data, standardization in the
  pipeline) feeding `vgg_cifar10(..., dropout_layer="kreg")`;
- plain Keras: the same architecture with `keras.layers.Dropout`, `model.fit` on
  standardized NumPy arrays with `shuffle=True`.

Epochs alternate between the two (after one warm-up epoch each) in one process.
Throughput is the batch size over the median training step, timed inside each
epoch by a callback: whole-epoch times on this 2-core machine carry stalls of
several seconds at epoch boundaries (a previous `fit`'s input pipeline winding
down), which would swamp the comparison. The achieved GFLOP/s of kreg's run
(3x the forward FLOPs per image: forward, input gradient, weight gradient) is
set against a matrix-product ceiling measured on the same machine in the same run.

    python bench/cifar_throughput.py                 # the real subset if $KREG_DATA_DIR has it
"""

import argparse
import os
import statistics
import time

import kreg_cli

# The lab runs on Keras's TensorFlow backend: choose it, and import TensorFlow without its
# start-up log lines, before anything imports Keras.
kreg_cli.prepare_environment()

# isort: split
import keras
import numpy as np
import tensorflow as tf

from kreg.datasets import load_cifar10
from kreg.lab.pipeline import EpochSeededImages
from kreg.models import vgg_cifar10


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="keras-vgg", choices=("keras-vgg", "book"))
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs per side")
    parser.add_argument("--images", type=int, default=5085, help="training images used")
    return parser.parse_args()


def forward_flops(model) -> int:
    """Multiply-adds x 2 of the Conv2D and Dense layers for one image."""
    flops = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            _, height, width, out_channels = layer.output.shape
            in_channels = layer.input.shape[-1]
            kh, kw = layer.kernel_size
            flops += 2 * height * width * kh * kw * in_channels * out_channels
        elif isinstance(layer, keras.layers.Dense):
            flops += 2 * layer.input.shape[-1] * layer.units
    return flops


def matmul_ceiling(n=1024, repeats=20) -> float:
    a = tf.random.stateless_uniform((n, n), seed=(1, 2))
    b = tf.random.stateless_uniform((n, n), seed=(3, 4))
    product = tf.function(lambda x, y: tf.matmul(x, y))
    product(a, b).numpy()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        product(a, b).numpy()
        times.append(time.perf_counter() - start)
    return 2 * n**3 / min(times) / 1e9


def load(limit):
    data_dir = os.environ.get("KREG_DATA_DIR")
    try:
        (x, y), _ = load_cifar10(
            os.path.join(data_dir, "cifar10-subset") if data_dir else None, download=False
        )
        return x[:limit], y[:limit], "real CIFAR-10"
    except (FileNotFoundError, ValueError):
        rng = np.random.RandomState(0)
        x = rng.randint(0, 256, (limit, 32, 32, 3)).astype(np.uint8)
        return x, rng.randint(0, 10, (limit, 1)).astype(np.uint8), "random images (no data found)"


class StepTimer(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.ends = [time.perf_counter()]

    def on_train_batch_end(self, batch, logs=None):
        self.ends.append(time.perf_counter())

    def median_step(self) -> float:
        return float(np.median(np.diff(self.ends[1:])))  # the first step includes start-up


def compiled(model):
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
    return model


def main():
    args = parse_args()
    x, y, source = load(args.images)
    keras.utils.set_random_seed(0)
    images = EpochSeededImages(x, y, args.batch_size, seed=0)
    kreg_model = compiled(vgg_cifar10(args.preset, dropout_layer="kreg", seed=1))
    plain_model = compiled(vgg_cifar10(args.preset, dropout_layer="keras", seed=1))
    x_standard = np.asarray(images.standardize(x))
    train = images.train_dataset()

    timer = StepTimer()

    def kreg_epoch(epoch):
        images.epoch.assign(epoch)
        kreg_model.fit(train, epochs=1, verbose=0, shuffle=False, callbacks=[timer])

    def plain_epoch(epoch):
        plain_model.fit(
            x_standard,
            y,
            batch_size=args.batch_size,
            epochs=1,
            shuffle=True,
            verbose=0,
            callbacks=[timer],
        )

    rates = {"kreg": [], "plain": []}
    for epoch in range(args.epochs + 1):
        for name, run in (("kreg", kreg_epoch), ("plain", plain_epoch)):
            run(epoch)
            if epoch > 0:  # epoch 0 traces and warms up
                rates[name].append(args.batch_size / timer.median_step())

    kreg_rate = statistics.median(rates["kreg"])
    plain_rate = statistics.median(rates["plain"])
    achieved = 3 * forward_flops(kreg_model) * kreg_rate / 1e9
    ceiling = matmul_ceiling()
    print(f"{args.preset}, {len(x)} {source}, batch {args.batch_size}, {args.epochs} epochs")
    print(f"  kreg pipeline + model : {kreg_rate:8.1f} images/s")
    print(f"  plain Keras fit(numpy): {plain_rate:8.1f} images/s")
    print(f"throughput ratio kreg/plain: {kreg_rate / plain_rate:.3f}")
    print(
        f"achieved {achieved:.1f} GFLOP/s of a {ceiling:.1f} GFLOP/s matmul ceiling "
        f"({100 * achieved / ceiling:.0f} %)"
    )


if __name__ == "__main__":
    main()
