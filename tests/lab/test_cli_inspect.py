"""`kreg inspect` and the real TensorBoard server, on logs written by the football experiment."""

import importlib.util
import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from kreg.lab.cli import main as kreg_main
from tests.conftest import REPO


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    spec = importlib.util.spec_from_file_location("fb", REPO / "experiments" / "football.py")
    football = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(football)
    root = tmp_path_factory.mktemp("runs")
    argv = ["--synthetic", "--iterations", "2000", "--seeds", "1", "--logdir", str(root)]
    code = football.main([*argv, "--json", str(root / "results.json")])
    assert code == 0
    return root


def test_inspect_prints_one_row_per_run(logdir, capsys):
    assert kreg_main(["inspect", str(logdir)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:7] == ["run", "train", "acc", "val", "acc", "test", "acc"]
    rows = {line.split()[0]: line for line in lines[1:]}
    course_dropout = "dropout_keep_prob_0.86__course__fixed_masks"
    expected = {"no_regularization", "L2_lambd_0.7", course_dropout}
    assert set(rows) == expected | {"dropout_keep_prob_0.86__true__seed_0"}
    assert "lambd=0.7" in rows["L2_lambd_0.7"]
    assert "engine=reference" in rows[course_dropout]


def test_inspect_json_matches_the_experiment(logdir, capsys):
    assert kreg_main(["inspect", str(logdir), "--json"]) == 0
    runs = {r["run"]: r for r in json.loads(capsys.readouterr().out)}
    results = json.loads((logdir / "results.json").read_text())["runs"]
    l2 = next(r for r in results if r["name"] == "L2 lambd=0.7")
    assert runs["L2_lambd_0.7"]["train_accuracy"] == pytest.approx(l2["train_accuracy"])
    assert runs["L2_lambd_0.7"]["test_accuracy"] == pytest.approx(l2["test_accuracy"])
    assert runs["L2_lambd_0.7"]["penalty_share"] > 0
    assert runs["no_regularization"]["penalty_share"] == 0
    # Integers come back as integers (TensorBoard stores doubles; the config says int).
    hparams = runs["L2_lambd_0.7"]["hparams"]
    assert hparams["iterations"] == 2000 and type(hparams["iterations"]) is int
    assert type(hparams["lambd"]) is float and type(hparams["engine"]) is str


def test_inspect_plot(logdir, tmp_path, capsys):
    assert kreg_main(["inspect", str(logdir), "--plot", str(tmp_path / "c.png")]) == 0
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"


def test_inspect_empty_and_missing_folders(tmp_path, capsys):
    assert kreg_main(["inspect", str(tmp_path)]) == 1
    assert f"no runs under {tmp_path}" in capsys.readouterr().err
    assert kreg_main(["inspect", str(tmp_path / "absent")]) == 2
    assert "No such log directory" in capsys.readouterr().err


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url, data=None):
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_tensorboard_server_serves_scalars_and_hparams(logdir):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    tensorboard = Path(sys.executable).parent / "tensorboard"
    server = subprocess.Popen(
        [
            str(tensorboard),
            "--logdir",
            str(logdir),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--load_fast",
            "false",
            "--reload_interval",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 90
        tags = {}
        while time.monotonic() < deadline:
            try:
                tags = get(f"{base}/data/plugin/scalars/tags")
                if "L2_lambd_0.7/train" in tags:
                    break
            except OSError:
                pass
            time.sleep(0.5)
        assert "L2_lambd_0.7/train" in tags, f"TensorBoard did not serve the runs: {sorted(tags)}"
        train_tags = tags["L2_lambd_0.7/train"]
        for tag in (
            "epoch_penalty",
            "epoch_data_loss",
            "epoch_accuracy",
            "epoch_kernel_norm/dense_1",
        ):
            assert tag in train_tags
        points = get(
            f"{base}/data/plugin/scalars/scalars?run=L2_lambd_0.7/train&tag=epoch_penalty"
        )
        assert len(points) == 2 and all(value > 0 for _, _, value in points)

        experiment = get(
            f"{base}/data/plugin/hparams/experiment", json.dumps({"experimentName": ""}).encode()
        )
        infos = {info["name"]: info for info in experiment["hparamInfos"]}
        assert {"lambd", "keep_prob", "learning_rate"} <= set(infos)
        # Domains: the values the runs took (strings and integers), ranges for floats.
        engines = infos["engine"]["domainDiscrete"]
        assert sorted(engines) == ["fused", "reference"]
        assert infos["iterations"]["domainDiscrete"] == [2000]
        assert infos["lambd"]["domainInterval"] == {"minValue": 0, "maxValue": 0.7}
        metrics = {m["name"]["tag"] for m in experiment["metricInfos"]}
        assert "hparams/test_accuracy" in metrics
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_plain_keras_tensorboard_runs_are_listed(tmp_path, capsys):
    import keras
    import numpy as np

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile("sgd", "binary_crossentropy", metrics=["accuracy"])
    x, y = np.ones((8, 2)), np.ones((8, 1))
    board = keras.callbacks.TensorBoard(str(tmp_path / "plain"))
    model.fit(x, y, validation_data=(x, y), epochs=2, verbose=0, callbacks=[board])
    assert kreg_main(["inspect", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    header, row = out.splitlines()[:2]
    assert "val acc" in header and "test acc" in header
    assert row.startswith("plain") and row.split()[3] == "-", "no test result was recorded"
