"""Cost of kreg's monitoring callbacks per training epoch on the CIFAR subset.

Two identical `l2+dropout` keras-vgg models train on the same data, one with
`RegularizationMonitor`, `GeneralizationGap` and kreg's `BackupAndRestore`
(which also checks every batch's loss and weights for NaN/inf), the other with
Keras's own `BackupAndRestore` only. Epochs alternate (after a warm-up epoch
each) in one process, and the median epoch times are compared. Target: under
2 % overhead.

    python bench/callbacks_overhead.py
"""

import argparse
import os
import statistics
import tempfile
import time

import kreg_cli

# The lab runs on Keras's TensorFlow backend: choose it, and import TensorFlow without its
# start-up log lines, before anything imports Keras.
kreg_cli.prepare_environment()

# isort: split
import keras
import numpy as np

from kreg.callbacks import GeneralizationGap, RegularizationMonitor
from kreg.datasets import load_cifar10
from kreg.lab.callbacks import BackupAndRestore
from kreg.lab.pipeline import EpochSeededImages
from kreg.models import vgg_cifar10


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=4, help="timed epochs per side")
    parser.add_argument("--batch-size", type=int, default=64)
    return parser.parse_args()


def load():
    data_dir = os.environ.get("KREG_DATA_DIR")
    try:
        root = os.path.join(data_dir, "cifar10-subset") if data_dir else None
        return load_cifar10(root, download=False), "real CIFAR-10 subset"
    except (FileNotFoundError, ValueError):
        rng = np.random.RandomState(0)
        x = rng.randint(0, 256, (5085, 32, 32, 3)).astype(np.uint8)
        y = rng.randint(0, 10, (5085, 1)).astype(np.uint8)
        return ((x, y), (x[:1017], y[:1017])), "random images (no data found)"


def main():
    args = parse_args()
    ((x, y), (x_test, y_test)), source = load()
    images = EpochSeededImages(x, y, args.batch_size, seed=0)
    test = images.eval_dataset(x_test, y_test)
    models = {}
    for name in ("without", "with"):
        keras.utils.set_random_seed(0)
        model = vgg_cifar10("keras-vgg", l2=5e-4, seed=1)
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        models[name] = model
    backups = tempfile.mkdtemp(prefix="kreg-bench-")
    callbacks = {
        "without": [keras.callbacks.BackupAndRestore(f"{backups}/keras", delete_checkpoint=False)],
        "with": [
            RegularizationMonitor(),
            GeneralizationGap("accuracy"),
            BackupAndRestore(f"{backups}/kreg", delete_checkpoint=False),
        ],
    }
    times = {"without": [], "with": []}
    for epoch in range(args.epochs + 1):
        for name, model in models.items():
            images.epoch.assign(epoch)
            start = time.perf_counter()
            model.fit(
                images.train_dataset(),
                validation_data=test,
                initial_epoch=epoch,
                epochs=epoch + 1,
                verbose=0,
                shuffle=False,
                callbacks=callbacks[name],
            )
            if epoch > 0:
                times[name].append(time.perf_counter() - start)
    without, with_ = statistics.median(times["without"]), statistics.median(times["with"])
    print(
        f"keras-vgg l2+dropout on the {source}, batch {args.batch_size}, "
        f"median of {args.epochs} epochs"
    )
    print(f"  Keras BackupAndRestore only        : {without:7.3f} s/epoch")
    print(f"  kreg monitors + kreg BackupAndRestore: {with_:7.3f} s/epoch")
    print(f"overhead: {100 * (with_ / without - 1):+.2f} % per epoch (target < 2 %)")


if __name__ == "__main__":
    main()
