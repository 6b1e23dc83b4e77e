"""Training-step time of the VGG-style CIFAR net under each Keras dtype policy, vs float32.

The same network (same seeds, same random CIFAR-shaped batches) built under
`float32`, `mixed_bfloat16` and, with `--policies`, `mixed_float16` (for GPUs:
loss scaling), kreg's L2 on every kernel and dropout after every pooling, as
the l2+dropout variant of `experiments/cifar_l2.py --precision`. Steps are
timed in turns in one process so that machine noise hits all equally; each
repeat times `--steps` steps, and the medians are compared with float32.
bfloat16 pays off only where the hardware has bfloat16 arithmetic
(`avx512_bf16` or AMX on x86 CPUs, recent GPUs); elsewhere it is emulated and
slower. The CPU's flags are printed.

    python bench/precision_speed.py                   # keras-vgg, batch 64
    python bench/precision_speed.py --preset book --policies float32,mixed_bfloat16
"""

import argparse
from pathlib import Path

import kreg_cli

# The lab runs on Keras's TensorFlow backend: choose it, and import TensorFlow without its
# start-up log lines, before anything imports Keras.
kreg_cli.prepare_environment()

# isort: split
import keras
import numpy as np
import tensorflow as tf
from turns import print_ratios, time_in_turns

from kreg.lab.fullbatch import precision_scope
from kreg.models import vgg_cifar10


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", choices=("keras-vgg", "book"), default="keras-vgg")
    parser.add_argument("--policies", default="float32,mixed_bfloat16")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20, help="steps per timed repeat")
    parser.add_argument("--repeats", type=int, default=9)
    return parser.parse_args()


def build(preset, policy):
    keras.utils.set_random_seed(0)
    with precision_scope(policy):
        model = vgg_cifar10(preset, l2=1e-3, dropout_layer="kreg", seed=1)
        model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
    return model


def bf16_flags() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.exists():
        return "unknown"
    flags = set(cpuinfo.read_text().split())
    found = sorted(flags & {"avx512_bf16", "amx_bf16", "avx512f", "avx2"})
    return ", ".join(found) or "none of avx512_bf16, amx_bf16, avx512f, avx2"


def main():
    args = parse_args()
    policies = args.policies.split(",")
    if "float32" not in policies:
        policies.insert(0, "float32")
    rng = np.random.RandomState(0)
    x = tf.constant(rng.rand(args.batch_size, 32, 32, 3).astype("float32"))
    y = tf.constant(rng.randint(0, 10, args.batch_size))
    models = {policy: build(args.preset, policy) for policy in policies}
    times = time_in_turns(models, x, y, args.steps, args.repeats)

    device = "GPU" if tf.config.list_logical_devices("GPU") else "CPU"
    print(
        f"VGG-style CIFAR net ({args.preset}), l2+dropout, batch {args.batch_size}, {device} "
        f"(CPU flags: {bf16_flags()}), median of {args.repeats} x {args.steps} steps"
    )
    print_ratios(times, "float32", "float32")


if __name__ == "__main__":
    main()
