"""Helper process for tests/test_distribute.py: each replica's dropout mask, saved to a file.

    python tests/lab/replica_masks.py mirrored OUT_DIR      # 2 logical CPUs in this process
    TF_CONFIG=... python tests/lab/replica_masks.py multiworker OUT_DIR

Writes OUT_DIR/<worker>.npz with, for `keras` and `kreg`, the masks this
process's replicas drew for the same input in one training step. The mirrored
run also writes OUT_DIR/batch_norm.json: how far a BatchNormalization convnet
trained on the 2 replicas ends from the same net trained on one device, with
synchronized statistics and with Keras's default per-replica ones.
"""

import json
import sys
from pathlib import Path

import kreg_cli

# The lab runs on Keras's TensorFlow backend: choose it, and import TensorFlow without its
# start-up log lines, before anything imports Keras.
kreg_cli.prepare_environment()

# isort: split
import keras
import numpy as np
import tensorflow as tf

from kreg.lab.distribute import make_strategy, split_cpu, worker_index
from kreg.layers import InvertedDropout
from kreg.models import vgg_cifar10


def batch_norm_check(strategy) -> dict:
    rng = np.random.RandomState(0)
    x = rng.randn(64, 32, 32, 3).astype("float32")
    y = rng.randint(0, 10, (64, 1))

    def train(scope, sync):
        keras.utils.set_random_seed(0)
        with scope:
            model = vgg_cifar10("book", filters=(4,), l2=0.0, dropout=0.0, sync_batch_norm=sync)
            model.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
        model.fit(tf.data.Dataset.from_tensor_slices((x, y)).batch(32), epochs=1, verbose=0)
        return model.get_weights()

    one_device = tf.distribute.get_strategy()
    return {
        f"sync={sync}": max(
            float(np.max(np.abs(a - b)))
            for a, b in zip(train(one_device.scope(), sync), train(strategy.scope(), sync))
        )
        for sync in (True, False)
    }


def main(name: str, out: Path) -> None:
    devices = split_cpu(2) if name == "mirrored" else None
    strategy = make_strategy(name, devices)
    masks = {}
    for kind, cls in (("keras", keras.layers.Dropout), ("kreg", InvertedDropout)):
        with strategy.scope():
            layer = cls(0.5, seed=7)
        step = tf.function(lambda layer=layer: layer(tf.ones((4, 64)), training=True))
        drawn = strategy.experimental_local_results(strategy.run(step))
        masks[kind] = np.stack([np.asarray(d) == 0 for d in drawn])
    out.mkdir(parents=True, exist_ok=True)
    np.savez(out / f"worker{worker_index(strategy)}.npz", **masks)
    if name == "mirrored":
        (out / "batch_norm.json").write_text(json.dumps(batch_norm_check(strategy)))


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
