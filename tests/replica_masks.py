"""Helper process for tests/test_distribute.py: each replica's dropout mask, saved to a file.

    python tests/replica_masks.py mirrored OUT_DIR      # 2 logical CPUs in this process
    TF_CONFIG=... python tests/replica_masks.py multiworker OUT_DIR

Writes OUT_DIR/<worker>.npz with, for `keras` and `kreg`, the masks this
process's replicas drew for the same input in one training step.
"""

import sys
from pathlib import Path

import kreg  # noqa: F401

# isort: split
import keras
import numpy as np
import tensorflow as tf

from kreg.distribute import make_strategy, split_cpu, worker_index
from kreg.layers import InvertedDropout


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


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
