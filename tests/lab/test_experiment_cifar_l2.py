import functools
import importlib.util
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest

from tests.conftest import REPO
from tests.lab.cifar_fixtures import make_cifar

SCRIPT = REPO / "experiments" / "cifar_l2.py"
TINY = [
    "--quick",
    "--filters",
    "4,8",
    "--dense-units",
    "16",
    "--batch-size",
    "16",
    "--verbose",
    "0",
]

spec = importlib.util.spec_from_file_location("cifar_experiment", SCRIPT)
cifar = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cifar)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("cifar")
    make_cifar(root, per_batch=64)
    return root


def command(data_dir, logdir, *extra):
    return [
        sys.executable,
        str(SCRIPT),
        *TINY,
        "--data-dir",
        str(data_dir),
        "--logdir",
        str(logdir),
        *extra,
    ]


def test_four_variants_table_json_logs_and_curves(data_dir, tmp_path, capsys):
    code = cifar.main(
        [
            *TINY,
            "--epochs",
            "2",
            "--data-dir",
            str(data_dir),
            "--logdir",
            str(tmp_path / "runs"),
            "--json",
            str(tmp_path / "r.json"),
            "--mc-samples",
            "4",
            "--reliability",
            str(tmp_path / "reliability.png"),
            "--curves",
            str(tmp_path / "curves.png"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "model" in out and "gap" in out and "l2+dropout vs baseline" in out
    runs = json.loads((tmp_path / "r.json").read_text())["runs"]
    assert [r["name"] for r in runs] == ["baseline", "l2", "dropout", "l2+dropout"]
    for r in runs:
        assert {"train_accuracy", "val_accuracy", "test_accuracy", "seconds", "gap", "l2"} <= set(
            r
        )
        # A seeded tenth of the 320 training images is the validation set; the test set
        # (64 images) is used once.
        assert (r["train_images"], r["val_images"], r["test_images"]) == (288, 32, 64)
        assert r["history"]["val_accuracy"][-1] == pytest.approx(r["val_accuracy"])
        assert r["epochs_run"] == 2 and len(r["history"]["val_accuracy"]) == 2
    assert runs[0]["l2"] == 0 and runs[1]["l2"] > 0
    assert runs[2]["dropout"] == [0.3, 0.4] and runs[0]["dropout"] == [0.0, 0.0]
    for name in ("baseline", "l2", "dropout", "l2_dropout"):
        run_dir = tmp_path / "runs" / name
        assert len((run_dir / "log.csv").read_text().splitlines()) == 3
        assert list((run_dir / "train").glob("events.out.tfevents.*"))
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "reliability.png").read_bytes()[:4] == b"\x89PNG"
    assert "calibration" in out and "MC ECE" in out
    for r in runs:
        report = r["calibration"]
        assert report["deterministic"]["accuracy"] == pytest.approx(r["test_accuracy"])
        assert report["temperature"]["temperature"] > 0
        # Temperature scaling never changes a prediction, only its confidence.
        assert report["temperature"]["accuracy"] == report["deterministic"]["accuracy"]
        assert sum(report["deterministic"]["bins"]["counts"]) == 64
        assert ("mc_dropout" in report) == ("dropout" in r["name"])
        if "mc_dropout" in report:
            assert report["mc_dropout"]["samples"] == 4
            assert 0 <= report["mc_dropout"]["ece"] <= 1
    # ... and in TensorBoard, beside the accuracies (the HParams tab's metrics).
    from kreg.lab.runs import read_run

    metrics = read_run(tmp_path / "runs" / "dropout").metrics
    assert metrics["mc_nll"] == pytest.approx(runs[2]["calibration"]["mc_dropout"]["nll"])
    assert metrics["temp_ece"] == pytest.approx(runs[2]["calibration"]["temperature"]["ece"])
    assert "mc_nll" not in read_run(tmp_path / "runs" / "baseline").metrics
    # Finished variants are not trained again by the same command.
    code = cifar.main(
        [
            *TINY,
            "--epochs",
            "2",
            "--data-dir",
            str(data_dir),
            "--logdir",
            str(tmp_path / "runs"),
            "--variants",
            "baseline",
        ]
    )
    assert "finished earlier with the same settings" in capsys.readouterr().out


def test_seed_makes_runs_bit_identical(data_dir, tmp_path):
    digests = []
    for name in ("a", "b"):
        code = cifar.main(
            [
                *TINY,
                "--epochs",
                "2",
                "--variants",
                "l2+dropout",
                "--data-dir",
                str(data_dir),
                "--logdir",
                str(tmp_path / name),
                "--json",
                str(tmp_path / f"{name}.json"),
            ]
        )
        assert code == 0
        digests.append(json.loads((tmp_path / f"{name}.json").read_text())["runs"][0])
    assert digests[0]["weights_sha256"] == digests[1]["weights_sha256"]
    assert digests[0]["history"] == digests[1]["history"]


def test_interrupted_run_resumes_bit_identical(data_dir, tmp_path):
    epochs = "6"
    args = ["--epochs", epochs, "--variants", "dropout", "--augment", "crop-flip"]
    reference = tmp_path / "reference"
    subprocess.run(
        command(data_dir, reference, *args, "--json", str(tmp_path / "ref.json")),
        check=True,
        capture_output=True,
        timeout=300,
    )

    resumed = tmp_path / "resumed"
    second_backup = resumed / "backup" / "dropout" / "checkpoint-000002"
    process = subprocess.Popen(
        command(data_dir, resumed, *args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and process.poll() is None:
        if second_backup.is_dir():  # renamed into place only once complete
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    assert process.wait(timeout=60) == -signal.SIGKILL, "the run was not interrupted"
    completed = subprocess.run(
        command(data_dir, resumed, *args, "--json", str(tmp_path / "resumed.json")),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr
    before = json.loads((tmp_path / "ref.json").read_text())["runs"][0]
    after = json.loads((tmp_path / "resumed.json").read_text())["runs"][0]
    assert after["epochs_run"] == int(epochs)
    assert after["weights_sha256"] == before["weights_sha256"]
    assert after["test_accuracy"] == before["test_accuracy"]
    assert not (resumed / "backup" / "dropout").exists(), "a finished run removes its backup"


class Poison(keras.callbacks.Callback):
    """At (epoch, batch), make the run non-finite on purpose, the same way on every CPU.

    `where="output"` sets the output layer's bias to NaN before the batch, so its loss is
    NaN (no ReLU or pooling after it could hide the NaN); `where="kernel"` puts a NaN into
    the first kernel after the batch's step, so the loss of that batch is finite.
    """

    def __init__(self, epoch, batch, where):
        super().__init__()
        self.at, self.where, self.epoch = (epoch, batch), where, 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def poison(self, variable):
        value = np.asarray(variable).copy()
        value.flat[0] = np.nan
        variable.assign(value)

    def on_train_batch_begin(self, batch, logs=None):
        if (self.epoch, batch) == self.at and self.where == "output":
            self.poison(self.model.layers[-1].bias)

    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == self.at and self.where == "kernel":
            assert np.isfinite(logs["loss"])
            self.poison(self.model.layers[0].kernel)


@pytest.mark.parametrize(
    "where, reason", [("output", "non-finite loss = nan"), ("kernel", "non-finite weights")]
)
def test_non_finite_run_stops_with_a_clear_message(where, reason, data_dir, tmp_path, capsys):
    from kreg.lab.runners.cifar import study

    poisoned = functools.partial(
        study.run_variant, callbacks=[Poison(epoch=1, batch=2, where=where)]
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(study, "run_variant", poisoned)
        code = cifar.main(
            [
                *TINY,
                "--epochs",
                "3",
                "--variants",
                "baseline",
                "--data-dir",
                str(data_dir),
                "--logdir",
                str(tmp_path),
            ]
        )
    err = capsys.readouterr().err
    assert code == 3
    assert f"variant baseline: training stopped at epoch 2, batch 3: {reason}" in err
    assert "lower --learning-rate" in err
    newest = tmp_path / "backup" / "baseline" / "checkpoint-000001"
    state = json.loads((newest / "kreg_state.json").read_text())
    assert state["epoch"] == 1, "the backup of the last good epoch is kept"
    assert not (tmp_path / "backup" / "baseline.done.json").exists()


def test_changed_settings_are_refused_then_overwritten(data_dir, tmp_path):
    base = command(data_dir, tmp_path / "runs", "--epochs", "1", "--variants", "l2")
    assert cifar.main([*base[2:], "--json", str(tmp_path / "a.json")]) == 0  # the first run
    events = sorted((tmp_path / "runs" / "l2").rglob("events.out.tfevents.*"))
    changed = subprocess.run(
        [*base, "--weight-decay", "0.05", "--json", str(tmp_path / "b.json")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert changed.returncode == 2
    assert "holds a finished run of l2 with other settings" in changed.stderr
    assert "profile.l2: 0.001 -> 0.05" in changed.stderr and "--overwrite" in changed.stderr
    assert not (tmp_path / "b.json").exists(), "nothing is reported for a refused run"
    assert sorted((tmp_path / "runs" / "l2").rglob("events.out.tfevents.*")) == events
    again = subprocess.run(
        [*base, "--weight-decay", "0.05", "--overwrite", "--json", str(tmp_path / "b.json")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 0, again.stderr
    run = json.loads((tmp_path / "b.json").read_text())["runs"][0]
    assert run["l2"] == 0.05
    # The TensorBoard run was replaced, not appended to: one epoch, steps 0 only.
    from kreg.lab.runs import read_run

    curve = read_run(tmp_path / "runs" / "l2").curves["train/epoch_loss"]
    assert [step for step, _ in curve] == [0]


def test_logs_of_another_run_are_not_appended_to(data_dir, tmp_path, capsys):
    (tmp_path / "runs" / "baseline" / "train").mkdir(parents=True)
    (tmp_path / "runs" / "baseline" / "train" / "events.out.tfevents.1").write_bytes(b"x")
    code = cifar.main(
        [
            *TINY,
            "--epochs",
            "1",
            "--variants",
            "baseline",
            "--data-dir",
            str(data_dir),
            "--logdir",
            str(tmp_path / "runs"),
        ]
    )
    assert code == 2
    assert "already holds the logs of a run of baseline" in capsys.readouterr().err


def test_missing_data_is_a_clear_error(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("KREG_DATA_DIR", raising=False)
    code = cifar.main([*TINY, "--data-dir", str(tmp_path / "absent")])
    assert code == 2
    assert "data_dir does not exist" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--variants", "baseline,huge"], "--variants takes a comma list"),
        (["--dropout", "1.5,0.1"], "dropout rates must be in [0, 1)"),
        (
            ["--dropout", "0.1,0.2,0.3"],
            "--dropout takes one rate per block: the keras-vgg network has 2 blocks, got 3 rates",
        ),
        (["--weight-decay", "nan"], "--weight-decay must be a finite number >= 0, got nan"),
        (["--weight-decay", "inf"], "--weight-decay must be a finite number >= 0, got inf"),
        (["--learning-rate", "0"], "--learning-rate must be a finite number > 0, got 0.0"),
        (["--val-fraction", "1"], "--val-fraction must be in (0, 1), got 1.0"),
        (["--mc-samples", "0"], "--mc-samples must be an integer >= 2, got 0"),
        (["--json", "/"], "--json / is a directory"),
        (["--json", __file__ + "/r.json"], "is a file; nothing can be written below it"),
        (["--curves", "/tmp"], "--curves /tmp is a directory"),
        (["--epochs", "0"], "--epochs and --batch-size must be positive"),
        (["--cpu-replicas", "2"], "--cpu-replicas takes a positive integer and needs --strategy"),
        (["--strategy", "ring"], "argument --strategy: invalid choice: 'ring'"),
        (["--seeds", "0"], "--seeds must be a positive integer, got 0"),
        (["--precision", "float64"], "argument --precision: invalid choice: 'float64'"),
        (["--block-size", "0"], "--block-size must be a positive integer, got 0"),
        (
            ["--dropout-layer", "dropblock", "--block-size", "6"],
            "--block-size 6: `block_size` must not exceed the feature map (5x5)",
        ),
        (["--dropout-layer", "blocks"], "argument --dropout-layer: invalid choice: 'blocks'"),
        (["--variants", "adamx"], "--variants takes a comma list of baseline, l2, dropout"),
        (["--adamw-decay", "-1"], "--adamw-decay must be a finite number >= 0, got -1.0"),
        (
            ["--variants", "adamw", "--optimizer", "sgd"],
            "the adamw variants need --optimizer adam, got sgd",
        ),
    ],
)
def test_bad_flags(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        cifar.parse_args([*TINY, *argv])
    assert info.value.code == 2 and message in capsys.readouterr().err


def test_strategy_defaults_to_per_replica_dropout_and_warns_for_keras(capsys):
    args, _, _ = cifar.parse_args([*TINY, "--strategy", "mirrored"])
    assert args.dropout_layer == "kreg"
    assert cifar.parse_args(TINY)[0].dropout_layer == "keras"
    cifar.parse_args([*TINY, "--strategy", "mirrored", "--dropout-layer", "keras"])
    assert "draws the same mask on every replica" in capsys.readouterr().err


def test_multiworker_without_tf_config_is_a_clear_error(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    code = cifar.main([*TINY, "--strategy", "multiworker", "--data-dir", str(tmp_path)])
    assert code == 2
    assert "`multiworker` needs the TF_CONFIG environment variable" in capsys.readouterr().err


def test_piped_output_is_one_line_per_epoch_without_layer_norms(data_dir, tmp_path, capsys):
    argv = [a for a in command(data_dir, tmp_path / "runs", "--epochs", "2") if a != "0"]
    argv.remove("--verbose")  # the default, auto
    models, results = tmp_path / "models", tmp_path / "r.json"
    extra = ["--variants", "l2", "--models-dir", str(models), "--json", str(results)]
    completed = subprocess.run([*argv, *extra], capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr
    assert f"kreg predict {models / 'l2.keras'} IMAGES" in completed.stdout
    check_exported_model(data_dir, tmp_path, models / "l2.keras", results, capsys)
    epochs = [line for line in completed.stdout.splitlines() if " - loss: " in line]
    assert len(epochs) == 2, completed.stdout
    assert "\r" not in completed.stdout and "\x1b[" not in completed.stdout
    assert all("kernel_norm" not in line and len(line) < 400 for line in epochs)
    rows = (tmp_path / "runs" / "l2" / "log.csv").read_text().splitlines()
    assert "kernel_norm/block1_conv1" in rows[0], "the CSV keeps the per-layer norms"


LOAD_AND_SCORE = """
import sys, json, keras, numpy as np
import kreg
from kreg.datasets import load_cifar10
model = keras.models.load_model(sys.argv[1])  # safe_mode on, Keras's default
_, _, (x_test, y_test) = load_cifar10(sys.argv[2], validation_split=0.1, seed=0)
probs = model.predict(x_test.astype('float32'), batch_size=16, verbose=0)
print(json.dumps({
    "accuracy": float(np.mean(probs.argmax(1) == y_test.reshape(-1))),
    "first_layer": model.layers[1].__class__.__name__,
    "compiled": model.compiled,
}))
"""


def check_exported_model(data_dir, tmp_path, path, results, capsys):
    """The .keras file in a new process: raw uint8-range images in, the same test accuracy."""
    done = subprocess.run(
        [sys.executable, "-c", LOAD_AND_SCORE, str(path), str(data_dir)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    scored = json.loads(done.stdout.splitlines()[-1])
    expected = json.loads(results.read_text())["runs"][0]["test_accuracy"]
    assert scored == {"accuracy": expected, "first_layer": "Normalization", "compiled": False}

    # kreg predict on a .npy of raw images and on a folder of PNGs (two of them 64x64).
    from kreg.datasets import load_cifar10

    _, _, (x_test, _) = load_cifar10(data_dir, validation_split=0.1, seed=0)
    np.save(tmp_path / "three.npy", x_test[:3])
    pngs = tmp_path / "pngs"
    pngs.mkdir()
    keras.utils.save_img(pngs / "a.png", x_test[0], scale=False)
    keras.utils.save_img(pngs / "b.png", np.repeat(np.repeat(x_test[1], 2, 0), 2, 1), scale=False)
    (pngs / "notes.txt").write_text("not an image")
    # The command in this process (its parser and output; the load is what was checked above).
    import kreg_cli

    def predict(*argv):
        code = kreg_cli.main(["predict", str(path), *map(str, argv)])
        out, err = capsys.readouterr()
        return code, out, err

    code, out, err = predict(tmp_path / "three.npy", "--top", 2)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["image", "top", "2", "classes", "(probability)"]
    assert [line.split()[0] for line in lines[1:]] == [f"three.npy[{i}]" for i in range(3)]
    assert all(line.count(",") == 1 for line in lines[1:])
    code, out, err = predict(pngs)
    assert code == 0, err
    assert [line.split()[0] for line in out.splitlines()[1:]] == ["a.png", "b.png"]
    np.save(tmp_path / "wrong.npy", x_test[:2, :16])
    code, _, err = predict(tmp_path / "wrong.npy")
    assert code == 2
    assert "wrong.npy must hold numbers of shape (n, 32, 32, 3)" in err
    assert "(2, 16, 32, 3)" in err


def test_seeds_adamw_and_dropblock_report_spread_and_resume(data_dir, tmp_path, capsys):
    argv = [
        *TINY,
        "--epochs",
        "1",
        "--data-dir",
        str(data_dir),
        "--logdir",
        str(tmp_path / "runs"),
    ]
    argv += ["--variants", "baseline,adamw+dropout", "--dropout-layer", "dropblock"]
    argv += ["--block-size", "2", "--mc-samples", "2"]
    spread = tmp_path / "spread.png"
    code = cifar.main(
        [*argv, "--seeds", "2", "--json", str(tmp_path / "r.json"), "--spread", str(spread)]
    )
    out = capsys.readouterr().out
    assert code == 0
    payload = json.loads((tmp_path / "r.json").read_text())
    runs = {(r["name"], r["seed"]): r for r in payload["runs"]}
    assert sorted(runs) == [
        ("adamw+dropout", 0),
        ("adamw+dropout", 1),
        ("baseline", 0),
        ("baseline", 1),
    ]
    adamw = runs["adamw+dropout", 0]
    quick_l2 = 1e-3
    assert (adamw["optimizer"], adamw["l2"], adamw["weight_decay"]) == ("adamw", 0.0, 2 * quick_l2)
    assert (adamw["dropout_layer"], adamw["block_size"]) == ("dropblock", 2)
    assert runs["baseline", 0]["optimizer"] == "adam" and runs["baseline", 0]["weight_decay"] == 0
    # Each seed holds out its own validation split, trains its own weights.
    assert runs["baseline", 0]["weights_sha256"] != runs["baseline", 1]["weights_sha256"]
    from kreg.lab.spread import mean_std, paired_difference

    summary = payload["summary"]
    tests = [runs["adamw+dropout", s]["test_accuracy"] for s in (0, 1)]
    base = [runs["baseline", s]["test_accuracy"] for s in (0, 1)]
    mean, std = mean_std(tests)
    assert summary["adamw+dropout"]["test_accuracy"] == pytest.approx({"mean": mean, "std": std})
    expected = paired_difference(tests, base).to_json()
    assert summary["adamw+dropout"]["vs_baseline"]["test_accuracy"] == pytest.approx(expected)
    assert "vs_baseline" not in summary["baseline"]
    assert "Over 2 seeds (0, 1): mean ± sample std" in out
    assert spread.read_bytes()[:4] == b"\x89PNG"
    row = next(line for line in out.splitlines() if line.startswith("adamw+dropout "))
    assert f"{mean:.4f} ± {std:.4f}" in row and "adamw, decay 0.002" in row
    # TensorBoard: one run per seed, grouped under the variant.
    from kreg.lab.runs import find_runs

    names = sorted(
        str(Path(r.path).relative_to(tmp_path / "runs")) for r in find_runs(tmp_path / "runs")
    )
    assert names == [
        "adamw_dropout/seed_0",
        "adamw_dropout/seed_1",
        "baseline/seed_0",
        "baseline/seed_1",
    ]
    # A third seed (of one variant, to keep the test short): the first two are read back,
    # only seed 2 trains.
    resumed = [*argv[: argv.index("--variants")], "--variants", "baseline"]
    resumed += argv[argv.index("--dropout-layer") :]
    assert cifar.main([*resumed, "--seeds", "3"]) == 0
    out = capsys.readouterr().out
    assert out.count("finished earlier with the same settings") == 2
    assert "== baseline, seed 2" in out and "Over 3 seeds (0, 1, 2)" in out
    assert "== adamw+dropout" not in out


def test_mixed_bfloat16_run_is_recorded_and_is_another_setting(data_dir, tmp_path, capsys):
    argv = [
        *TINY,
        "--epochs",
        "1",
        "--data-dir",
        str(data_dir),
        "--logdir",
        str(tmp_path / "runs"),
    ]
    argv += ["--variants", "l2", "--mc-samples", "2"]
    code = cifar.main([*argv, "--precision", "mixed_bfloat16", "--json", str(tmp_path / "r.json")])
    assert code == 0
    (run,) = json.loads((tmp_path / "r.json").read_text())["runs"]
    assert run["precision"] == "mixed_bfloat16" and 0 <= run["test_accuracy"] <= 1
    capsys.readouterr()
    assert cifar.main(argv) == 2  # float32 into the same folder: refused, naming the change
    assert "precision: mixed_bfloat16 -> float32" in capsys.readouterr().err


def test_swa_sam_smoothing_and_stochastic_depth_variants(data_dir, tmp_path, capsys):
    variants = "baseline,swa,sam,smooth,resnet20,resnet20+sd"
    argv = [*TINY, "--epochs", "2", "--data-dir", str(data_dir)]
    argv += ["--logdir", str(tmp_path / "runs"), "--variants", variants, "--seeds", "2"]
    argv += ["--swa-start", "0", "--sam-rho", "0.1", "--label-smoothing", "0.2"]
    assert cifar.main([*argv, "--json", str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out
    payload = json.loads((tmp_path / "r.json").read_text())
    runs = {(r["name"], r["seed"]): r for r in payload["runs"]}
    for seed in (0, 1):
        swa, base = runs["swa", seed], runs["baseline", seed]
        # Averaging does not change the training path: the same losses, other final weights.
        assert swa["history"]["loss"] == base["history"]["loss"]
        assert swa["history"]["swa_averaged"] == [1.0, 2.0]
        assert swa["weights_sha256"] != base["weights_sha256"]
        assert runs["sam", seed]["history"]["loss"] != base["history"]["loss"]
    settings = {
        name: (run["architecture"], run["swa_start"], run["sam_rho"], run["label_smoothing"])
        for (name, seed), run in runs.items()
        if seed == 0
    }
    assert settings == {
        "baseline": ("vgg", -1, 0.0, 0.0),
        "swa": ("vgg", 0, 0.0, 0.0),
        "sam": ("vgg", -1, 0.1, 0.0),
        "smooth": ("vgg", -1, 0.0, 0.2),
        "resnet20": ("resnet20", -1, 0.0, 0.0),
        "resnet20+sd": ("resnet20", -1, 0.0, 0.0),
    }
    assert [runs[v, 0]["stochastic_depth"] for v in ("resnet20", "resnet20+sd")] == [0.0, 0.5]
    summary = payload["summary"]
    assert summary["resnet20+sd"]["baseline"] == "resnet20"
    assert "vs_baseline" not in summary["resnet20"]
    assert {summary[v]["baseline"] for v in ("swa", "sam", "smooth")} == {"baseline"}
    assert set(summary["sam"]["vs_baseline"]) == {"test_accuracy", "gap", "nll", "ece"}
    nll = [runs["smooth", s]["calibration"]["deterministic"]["nll"] for s in (0, 1)]
    assert summary["smooth"]["nll"]["mean"] == pytest.approx(np.mean(nll))
    # Its rows: accuracies, then calibration and time against its baseline, then seed 0's.
    rows = [line for line in out.splitlines() if line.startswith("resnet20+sd ")]
    assert rows[1].rstrip().endswith("resnet20")
    assert "test NLL" in out and "NLL vs baseline" in out


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--swa-start", "3"], "--swa-start must be an epoch in 0..1, got 3"),
        (["--sam-rho", "0"], "--sam-rho must be a finite number > 0, got 0.0"),
        (["--label-smoothing", "1.5"], "--label-smoothing must be in (0, 1], got 1.5"),
        (["--stochastic-depth", "1"], "--stochastic-depth must be in (0, 1), got 1.0"),
    ],
)
def test_regularizer_flags_are_checked(data_dir, tmp_path, capsys, flags, message):
    argv = [*TINY, "--epochs", "2", "--data-dir", str(data_dir), "--logdir", str(tmp_path)]
    with pytest.raises(SystemExit) as exit_info:
        cifar.main([*argv, *flags])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
