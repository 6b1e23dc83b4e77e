"""30 000 full-batch steps of the course's football model: kreg vs numpy vs Keras `fit`.

All in one process, on the same data (the course's when `$KREG_DATA_DIR` has
it, else the generated stand-in), float64, course initialization:

- numpy: a plain course loop: the course's forward pass, cost and backward
  pass and the update, nothing else (no cost history, no checks), with
  in-place updates and one `Generator` for the masks; and the same loop with
  every array preallocated (`out=`), 6-12 % faster here. The
  baseline is the faster of the two. `kreg.reference.train` is also timed,
  for reference (it keeps the course's bookkeeping);
- kreg: `kreg.lab.fullbatch.fit_full_batch`, with XLA (kreg's default) and without;
  its default engine for this model is the fused step (`kreg.lab.fullbatch.fused`), and the
  row "Keras engine" times the Keras model's own step (`engine="keras"`);
  dropout runs use `experiments/football.py`'s layer, `InvertedDropout` with
  `rng_algorithm="counter_hash"`, and once more with `keras.layers.Dropout`
  (which only the Keras engine trains) to show what the generator costs;
- keras fit: `model.fit` on a dataset of full batches with `steps_per_execution`;
- kreg (XLA, warm XLA cache): the same in a fresh process that loads the
  compiled loop from TensorFlow's persistent XLA cache
  (`TF_XLA_FLAGS=--tf_xla_persistent_cache_directory=DIR`), filled by a first
  process: what a second run of the same model costs;
- floor: the course's step written directly in TensorFlow ops in one XLA loop
  (no Keras), what XLA's per-op cost allows on this machine.

Prints seconds per run and the ratios to the faster numpy loop, and the
accuracies each engine reaches (without dropout both numpy loops end with the
reference's weights to rounding; tests/test_bench_football_speed.py checks them).

OpenBLAS's `OPENBLAS_CORETYPE` and `OPENBLAS_L2_SIZE`, where a machine sets
them, slow a current numpy's small matrix products: this benchmark restarts
itself without them (they are read when numpy loads), and prints which BLAS
numpy used (threadpoolctl).

    python bench/football_speed.py                 # all three models, 30 000 steps
    python bench/football_speed.py --steps 3000 --models none
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import kreg_cli

# The lab runs on Keras's TensorFlow backend: choose it, and import TensorFlow without its
# start-up log lines, before anything imports Keras.
kreg_cli.prepare_environment()

# isort: split
import keras
import numpy as np
import tensorflow as tf

from kreg import reference
from kreg.counter_rng import hash_uniform
from kreg.datasets import load_football, synthetic_football
from kreg.lab.fullbatch import fit_full_batch, floatx_scope
from kreg.lab.runners.course import COURSE
from kreg.models import football_classifier
from kreg.regularizers import l2_from_lambda, rate_from_keep_prob

MODELS = {"none": {}, "l2": {"lambd": 0.7}, "dropout": {"keep_prob": 0.86}}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=COURSE.iterations)
    parser.add_argument("--models", default="none,l2,dropout")
    parser.add_argument("--steps-per-execution", type=int, default=1000)
    parser.add_argument("--warm-cache-worker", choices=sorted(MODELS), help=argparse.SUPPRESS)
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


def plain_loop(x, y, steps, lambd=0.0, keep_prob=1.0, learning_rate=0.3, seed=0):
    """The course's three-layer network, trained with nothing but its math. Returns W, b."""
    params = reference.initialize_parameters([x.shape[0], *COURSE.hidden_units, 1])
    W1, b1, W2, b2, W3, b3 = (params[k] for k in ("W1", "b1", "W2", "b2", "W3", "b3"))
    m = x.shape[1]
    decay = 1 - learning_rate * lambd / m  # the L2 term of dW, folded into the update
    rng = np.random.default_rng(seed)
    dropout = keep_prob < 1
    for _ in range(steps):
        A1 = np.maximum(W1 @ x + b1, 0)
        if dropout:
            D1 = rng.random(A1.shape) < keep_prob
            A1 *= D1
            A1 /= keep_prob
        A2 = np.maximum(W2 @ A1 + b2, 0)
        if dropout:
            D2 = rng.random(A2.shape) < keep_prob
            A2 *= D2
            A2 /= keep_prob
        A3 = 1 / (1 + np.exp(-(W3 @ A2 + b3)))
        dZ3 = (A3 - y) / m
        dA2 = W3.T @ dZ3
        if dropout:
            dA2 *= D2
            dA2 /= keep_prob
        dZ2 = dA2 * (A2 > 0)
        dA1 = W2.T @ dZ2
        if dropout:
            dA1 *= D1
            dA1 /= keep_prob
        dZ1 = dA1 * (A1 > 0)
        dW3, db3 = dZ3 @ A2.T, dZ3.sum(axis=1, keepdims=True)
        dW2, db2 = dZ2 @ A1.T, dZ2.sum(axis=1, keepdims=True)
        dW1, db1 = dZ1 @ x.T, dZ1.sum(axis=1, keepdims=True)
        if lambd:
            W1 *= decay
            W2 *= decay
            W3 *= decay
        W1 -= learning_rate * dW1
        b1 -= learning_rate * db1
        W2 -= learning_rate * dW2
        b2 -= learning_rate * db2
        W3 -= learning_rate * dW3
        b3 -= learning_rate * db3
    return {"W1": W1, "b1": b1, "W2": W2, "b2": b2, "W3": W3, "b3": b3}


def preallocated_loop(x, y, steps, lambd=0.0, keep_prob=1.0, learning_rate=0.3, seed=0):
    """`plain_loop` with every array allocated once and written in place (`out=`).

    The same math, fewer temporaries: the 1/m of dZ3 is folded into the step size and
    the ReLU and dropout masks multiply the incoming gradients in place. Returns W, b.
    """
    params = reference.initialize_parameters([x.shape[0], *COURSE.hidden_units, 1])
    W1, b1, W2, b2, W3, b3 = (params[k] for k in ("W1", "b1", "W2", "b2", "W3", "b3"))
    m = x.shape[1]
    decay = 1 - learning_rate * lambd / m
    step = learning_rate / m
    rng = np.random.default_rng(seed)
    dropout = keep_prob < 1
    A1, A2, A3 = np.empty((W1.shape[0], m)), np.empty((W2.shape[0], m)), np.empty((1, m))
    U1, U2 = np.empty_like(A1), np.empty_like(A2)
    dA1, dA2, dZ3 = np.empty_like(A1), np.empty_like(A2), np.empty_like(A3)
    dW1, dW2, dW3 = np.empty_like(W1), np.empty_like(W2), np.empty_like(W3)
    for _ in range(steps):
        np.matmul(W1, x, out=A1)
        A1 += b1
        np.maximum(A1, 0, out=A1)
        if dropout:
            D1 = rng.random(out=U1) < keep_prob
            A1 *= D1
            A1 /= keep_prob
        np.matmul(W2, A1, out=A2)
        A2 += b2
        np.maximum(A2, 0, out=A2)
        if dropout:
            D2 = rng.random(out=U2) < keep_prob
            A2 *= D2
            A2 /= keep_prob
        np.matmul(W3, A2, out=A3)
        A3 += b3
        np.negative(A3, out=A3)
        np.exp(A3, out=A3)
        A3 += 1
        np.reciprocal(A3, out=A3)
        np.subtract(A3, y, out=dZ3)
        np.matmul(W3.T, dZ3, out=dA2)
        if dropout:
            dA2 *= D2
            dA2 /= keep_prob
        dA2 *= A2 > 0
        np.matmul(W2.T, dA2, out=dA1)
        if dropout:
            dA1 *= D1
            dA1 /= keep_prob
        dA1 *= A1 > 0
        np.matmul(dZ3, A2.T, out=dW3)
        np.matmul(dA2, A1.T, out=dW2)
        np.matmul(dA1, x.T, out=dW1)
        if lambd:
            W1 *= decay
            W2 *= decay
            W3 *= decay
        W1 -= step * dW1
        b1 -= step * dA1.sum(axis=1, keepdims=True)
        W2 -= step * dW2
        b2 -= step * dA2.sum(axis=1, keepdims=True)
        W3 -= step * dW3
        b3 -= step * dZ3.sum(axis=1, keepdims=True)
    return {"W1": W1, "b1": b1, "W2": W2, "b2": b2, "W3": W3, "b3": b3}


def run_plain(data, steps, lambd=0.0, keep_prob=1.0, loop=plain_loop):
    x, y = np.ascontiguousarray(data[0].T), np.ascontiguousarray(data[1].T)
    start = time.perf_counter()
    parameters = loop(x, y, steps, lambd, keep_prob)
    seconds = time.perf_counter() - start
    return seconds, reference.accuracy(x, y, parameters)


def run_numpy(data, steps, lambd=0.0, keep_prob=1.0):
    x, y = data[0], data[1]
    start = time.perf_counter()
    result = reference.train(
        x.T, y.T, num_iterations=steps, lambd=lambd, keep_prob=keep_prob, dropout_seed=0
    )
    seconds = time.perf_counter() - start
    return seconds, reference.accuracy(x.T, y.T, result.parameters)


def handwritten_xla_loop(x, y, steps, lambd=0.0, keep_prob=1.0, learning_rate=0.3, seed=0):
    """The floor: the course's step written directly in TensorFlow ops, one XLA loop.

    No Keras layers, loss or optimizer: what XLA's loop costs per op on this
    machine, to compare kreg's Keras-model step with. Not a kreg engine (it trains
    only this network); masks from kreg's counter hash, the generator of the
    `kreg (XLA)` dropout row (Philox would cost more than the step). Returns W, b.
    """
    x, y = tf.constant(x), tf.constant(y)
    m = x.shape[1]
    decay = 1 - learning_rate * lambd / m
    params = reference.initialize_parameters([x.shape[0], *COURSE.hidden_units, 1])
    names = ("W1", "b1", "W2", "b2", "W3", "b3")

    def drop(a, i, layer):
        if keep_prob == 1:
            return a, None
        keep = hash_uniform(a.shape, tf.stack([seed, 2 * i + layer]), dtype=a.dtype)
        mask = tf.cast(keep < keep_prob, a.dtype) / keep_prob
        return a * mask, mask

    def body(i, W1, b1, W2, b2, W3, b3):
        A1, D1 = drop(tf.nn.relu(W1 @ x + b1), i, 0)
        A2, D2 = drop(tf.nn.relu(W2 @ A1 + b2), i, 1)
        dZ3 = (tf.sigmoid(W3 @ A2 + b3) - y) / m
        dA2 = tf.transpose(W3) @ dZ3
        dZ2 = tf.where(A2 > 0, dA2 if D2 is None else dA2 * D2, 0.0)
        dA1 = tf.transpose(W2) @ dZ2
        dZ1 = tf.where(A1 > 0, dA1 if D1 is None else dA1 * D1, 0.0)
        new = []
        for W, b, dZ, A in ((W1, b1, dZ1, x), (W2, b2, dZ2, A1), (W3, b3, dZ3, A2)):
            new.append(decay * W - learning_rate * tf.matmul(dZ, A, transpose_b=True))
            new.append(b - learning_rate * tf.reduce_sum(dZ, axis=1, keepdims=True))
        return (i + 1, *new)

    @tf.function(jit_compile=True, autograph=False)
    def train(num_steps):
        start = (tf.constant(0), *(tf.constant(params[k]) for k in names))
        return tf.while_loop(lambda i, *_: i < num_steps, body, start)[1:]

    return dict(zip(names, (w.numpy() for w in train(tf.constant(steps)))))


def run_kreg(
    data, steps, jit_compile, lambd=0.0, keep_prob=1.0, dropout_layer="kreg-hash", engine="auto"
):
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
            engine=engine,
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


def run_kreg_warm_cache(name, steps):
    """kreg (XLA) in a fresh process whose compiled loop comes from TensorFlow's XLA cache.

    TensorFlow reads `--tf_xla_persistent_cache_directory` when it loads, so the
    run happens in subprocesses: the first fills an empty cache, the second (timed,
    compilation included as in the other rows, imports excluded) loads from it.
    """
    with tempfile.TemporaryDirectory(prefix="kreg-xla-cache-") as cache:
        flags = os.environ.get("TF_XLA_FLAGS", "")
        env = {
            **os.environ,
            "TF_XLA_FLAGS": f"{flags} --tf_xla_persistent_cache_directory={cache}".strip(),
        }
        command = [sys.executable, __file__, "--warm-cache-worker", name, "--steps", str(steps)]
        for _ in range(2):
            done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
        if not os.listdir(cache):
            raise RuntimeError("TensorFlow wrote nothing to the XLA cache")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return result["seconds"], result["accuracy"]


def main():
    args = parse_args()
    data, source = load()
    if args.warm_cache_worker:
        seconds, acc = run_kreg(data, args.steps, True, **MODELS[args.warm_cache_worker])
        print(json.dumps({"seconds": seconds, "accuracy": float(acc)}))
        return
    print(f"{args.steps} full-batch steps on the {source} ({len(data[0])} examples), float64")
    print(f"numpy {np.__version__}, BLAS: {blas_report()}")
    header = ("model", "engine", "seconds", "us/step", "vs numpy", "train acc")
    print("{:<9} {:<26} {:>8} {:>8} {:>9} {:>10}".format(*header))
    for name in args.models.split(","):
        settings = MODELS[name]
        plain = run_plain(data, args.steps, **settings)
        preallocated = run_plain(data, args.steps, **settings, loop=preallocated_loop)
        numpy_seconds = min(plain[0], preallocated[0])
        rows = [
            ("numpy plain loop", *plain),
            ("numpy preallocated loop", *preallocated),
            ("kreg.reference.train", *run_numpy(data, args.steps, **settings)),
            ("kreg (XLA)", *run_kreg(data, args.steps, True, **settings)),
            (
                "kreg (XLA, Keras engine)",
                *run_kreg(data, args.steps, True, **settings, engine="keras"),
            ),
            ("kreg (XLA, warm XLA cache)", *run_kreg_warm_cache(name, args.steps)),
            ("kreg (graph, no XLA)", *run_kreg(data, args.steps, False, **settings)),
            (
                "floor: hand-written XLA",
                *run_plain(data, args.steps, **settings, loop=handwritten_xla_loop),
            ),
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
    print(
        "ratio = seconds / the faster of the two numpy loops; kreg's target is <= 0.5 "
        "(compilation included)."
    )


def blas_report() -> str:
    """Which BLAS library and kernel numpy's matrix products use."""
    from threadpoolctl import threadpool_info

    found = [
        f"{info.get('internal_api')} {info.get('version')} "
        f"(kernel {info.get('architecture')}, {info.get('num_threads')} threads)"
        for info in threadpool_info()
        if info.get("user_api") == "blas"
    ]
    return "; ".join(found) or "none found"


def without_openblas_overrides() -> None:
    """Restart this benchmark without OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE, if set."""
    set_here = [name for name in OPENBLAS_OVERRIDES if name in os.environ]
    if set_here:
        print(f"unsetting {', '.join(set_here)} for this benchmark (read when numpy loads)")
        env = {k: v for k, v in os.environ.items() if k not in OPENBLAS_OVERRIDES}
        os.execve(sys.executable, [sys.executable, *sys.argv], env)


OPENBLAS_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")

if __name__ == "__main__":
    without_openblas_overrides()
    main()
