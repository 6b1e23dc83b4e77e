"""Data-parallel training: MirroredStrategy on 2 logical CPUs and 2 MultiWorkerMirroredStrategy
workers on 127.0.0.1, each against a single-device run with the same global batch and seed."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from kreg.lab.distribute import make_strategy
from tests.conftest import REPO
from tests.lab.cifar_fixtures import write_batch

SCRIPT = REPO / "experiments" / "cifar_l2.py"
MASKS = REPO / "tests" / "lab" / "replica_masks.py"
NET = [
    "--quick",
    "--filters",
    "8,16",
    "--dense-units",
    "32",
    "--batch-size",
    "32",
    "--verbose",
    "0",
    "--mc-samples",
    "2",
]
# L2 without dropout: 20 steps. Float rounding differs with the replicas' summation order,
# and Adam's normalized steps amplify it over a long run; 20 steps stay at ~1e-7.
L2_RUN = [*NET, "--variants", "l2", "--epochs", "2"]
# Dropout: trained to convergence on an easy task (the class is where a bright block is),
# so the accuracies of runs with different masks can be compared.
DROPOUT_RUN = [
    *NET,
    "--variants",
    "dropout",
    "--epochs",
    "6",
    "--learning-rate",
    "3e-3",
    "--dropout",
    "0.2,0.2",
    "--dense-dropout",
    "0.2",
]


def easy_cifar(folder: Path, per_batch: int = 64) -> Path:
    """Noise images whose class is a bright 8x8 block at one of ten places."""
    rng = np.random.RandomState(1)
    batches = folder / "cifar-10-batches-py"
    batches.mkdir(parents=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        labels = rng.randint(0, 10, per_batch)
        images = rng.randint(0, 100, (per_batch, 32, 32, 3)).astype(np.uint8)
        for image, label in zip(images, labels):
            row, col = 8 * (label // 4), 8 * (label % 4)
            image[row : row + 8, col : col + 8] = 255
        write_batch(batches / name, images, labels)
    return folder


def free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def tf_config(ports, index):
    return json.dumps(
        {
            "cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
            "task": {"type": "worker", "index": index},
        }
    )


def run_all(commands, timeout=300):
    """Start every `(argv, env)` at once; all must end by themselves with exit code 0."""
    processes = [
        subprocess.Popen(
            argv,
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for argv, env in commands
    ]
    outputs = []
    try:
        for process in processes:
            outputs.append(process.communicate(timeout=timeout)[0])
    except subprocess.TimeoutExpired:
        for process in processes:
            process.kill()
        pytest.fail(f"a process did not end within {timeout} s")
    for process, output in zip(processes, outputs):
        assert process.returncode == 0, output[-3000:]
    return outputs


def load_weights(path: Path) -> dict:
    weights = {}
    with h5py.File(path, "r") as f:
        f.visititems(
            lambda name, node: (
                weights.__setitem__(name, node[()]) if isinstance(node, h5py.Dataset) else None
            )
        )
    return weights


def results(logdir: Path) -> dict:
    runs = json.loads((logdir / "results.json").read_text())["runs"]
    return {run["name"]: run for run in runs}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The same two variants trained on one device, on 2 mirrored CPUs, and on 2 workers."""
    root = tmp_path_factory.mktemp("distribute")
    data = easy_cifar(root / "data")

    def argv(name, run, *extra):
        out = root / name
        return [
            sys.executable,
            str(SCRIPT),
            *run,
            "--data-dir",
            str(data),
            "--logdir",
            str(out),
            "--weights-dir",
            str(out / "weights"),
            "--json",
            str(out / "results.json"),
            *extra,
        ]

    outputs = []
    for run, tag in ((L2_RUN, "l2"), (DROPOUT_RUN, "dropout")):
        run_all(
            [
                (argv(f"single-{tag}", run, "--dropout-layer", "kreg"), {}),
                (
                    argv(f"mirrored-{tag}", run, "--strategy", "mirrored", "--cpu-replicas", "2"),
                    {},
                ),
            ]
        )
        ports = free_ports(2)
        outputs += run_all(
            [
                (
                    argv(f"multiworker-{tag}", run, "--strategy", "multiworker"),
                    {"TF_CONFIG": tf_config(ports, i)},
                )
                for i in range(2)
            ]
        )
    return root, outputs


@pytest.mark.parametrize("strategy", ["mirrored", "multiworker"])
def test_l2_without_dropout_matches_one_device(runs, strategy):
    root, _ = runs
    single = load_weights(root / "single-l2" / "weights" / "l2.weights.h5")
    other = load_weights(root / f"{strategy}-l2" / "weights" / "l2.weights.h5")
    assert single.keys() == other.keys()
    kernels = [name for name in single if "kernel" in name or name.endswith("/0")]
    assert kernels
    for name in single:
        np.testing.assert_allclose(other[name], single[name], rtol=1e-5, atol=1e-6, err_msg=name)
    a, b = results(root / "single-l2")["l2"], results(root / f"{strategy}-l2")["l2"]
    assert b["replicas"] == 2 and b["strategy"] == strategy
    assert abs(a["test_accuracy"] - b["test_accuracy"]) < 1e-9


@pytest.mark.parametrize("strategy", ["mirrored", "multiworker"])
def test_dropout_accuracy_within_one_point_of_one_device(runs, strategy):
    root, _ = runs
    single = load_weights(root / "single-dropout" / "weights" / "dropout.weights.h5")
    other = load_weights(root / f"{strategy}-dropout" / "weights" / "dropout.weights.h5")
    # The replicas drew other masks than the single device, so the weights differ...
    assert any(not np.allclose(single[n], other[n]) for n in single)
    a = results(root / "single-dropout")["dropout"]
    b = results(root / f"{strategy}-dropout")["dropout"]
    # ...but the model is as good.
    assert a["test_accuracy"] > 0.9
    assert abs(a["test_accuracy"] - b["test_accuracy"]) <= 0.01
    assert abs(a["train_accuracy"] - b["train_accuracy"]) <= 0.01


def test_only_the_chief_writes_results(runs):
    root, outputs = runs
    assert "worker done; the chief reports the results." in outputs[1]
    assert (root / "multiworker-l2" / "results.json").exists()
    assert sorted(p.name for p in (root / "multiworker-l2" / "backup").iterdir()) == [
        "worker0",
        "worker1",
    ]


@pytest.fixture(scope="module")
def replica_runs(tmp_path_factory):
    """tests/replica_masks.py on 2 mirrored CPUs and on 2 workers."""
    tmp_path = tmp_path_factory.mktemp("replicas")
    ports = free_ports(2)
    run_all(
        [
            ([sys.executable, str(MASKS), "mirrored", str(tmp_path / "mirrored")], {}),
        ]
    )
    run_all(
        [
            (
                [sys.executable, str(MASKS), "multiworker", str(tmp_path / "multiworker")],
                {"TF_CONFIG": tf_config(ports, i)},
            )
            for i in range(2)
        ]
    )
    return tmp_path


def test_replicas_draw_different_masks(replica_runs):
    tmp_path = replica_runs
    mirrored = np.load(tmp_path / "mirrored" / "worker0.npz")
    workers = [np.load(tmp_path / "multiworker" / f"worker{i}.npz") for i in range(2)]
    for kind in ("keras", "kreg"):
        cases = {
            "mirrored": list(mirrored[kind]),
            "multiworker": [m for w in workers for m in w[kind]],
        }
        for name, masks in cases.items():
            assert len(masks) == 2, name
            assert 0.3 < masks[0].mean() < 0.7
            same = np.array_equal(masks[0], masks[1])
            # Keras's Dropout draws one mask for all replicas; kreg's a mask per replica.
            assert same == (kind == "keras"), (kind, name)


def test_synchronized_batch_norm_matches_one_device(replica_runs):
    gaps = json.loads((replica_runs / "mirrored" / "batch_norm.json").read_text())
    # Per-replica statistics (Keras's default) train another model than one device does;
    # the global batch's statistics (what run_variant asks for) train the same one.
    # (Keras computes synchronized and plain batch norm differently: ~2e-3 relative apart
    # after 2 steps on one device. The comparison is between like and like.)
    assert gaps["sync=True"] < 1e-5
    assert gaps["sync=False"] > 1e-4


def test_make_strategy_errors(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="`multiworker` needs the TF_CONFIG"):
        make_strategy("multiworker")
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ValueError, match="Received: TF_CONFIG='{not json'"):
        make_strategy("multiworker")
    with pytest.raises(ValueError, match="Received: strategy='horovod'"):
        make_strategy("horovod")


SAM_ON_TWO_REPLICAS = """
import kreg_cli
kreg_cli.prepare_environment()
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras, numpy as np, kreg

rng = np.random.default_rng(0)
x, y = rng.normal(size=(32, 6)).astype("float32"), rng.integers(0, 3, 32)
start = [rng.normal(size=(6, 3)).astype("float32"), np.zeros(3, "float32")]

def train(strategy, splits):
    with strategy.scope():
        model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(3, activation="softmax")])
        model.set_weights(start)
        sam = kreg.SAM(model, rho=0.5, num_batch_splits=splits)
        sam.compile(optimizer=keras.optimizers.SGD(0.5), loss="sparse_categorical_crossentropy")
    sam.fit(x, y, batch_size=32, epochs=3, verbose=0, shuffle=False)
    return model.get_weights()

mirrored = train(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]), None)
split = train(tf.distribute.get_strategy(), 2)
whole = train(tf.distribute.get_strategy(), None)
print(max(np.abs(a - b).max() for a, b in zip(mirrored, split)))
print(max(np.abs(a - b).max() for a, b in zip(mirrored, whole)))
"""


def test_sam_on_two_replicas_perturbs_each_replicas_half():
    # Each replica ascends along its own gradient: one device with num_batch_splits=2.
    done = subprocess.run(
        [sys.executable, "-c", SAM_ON_TWO_REPLICAS],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    to_split, to_whole = (float(line) for line in done.stdout.split()[-2:])
    assert to_split < 1e-6 and to_whole > 1e-3
