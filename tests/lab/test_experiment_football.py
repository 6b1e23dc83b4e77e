import importlib.util
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from kreg import reference
from kreg.datasets import synthetic_football
from kreg.lab.runners.football import slug
from tests.conftest import REPO

spec = importlib.util.spec_from_file_location(
    "football_experiment", REPO / "experiments" / "football.py"
)
football = importlib.util.module_from_spec(spec)
spec.loader.exec_module(football)


def run(capsys, *argv):
    code = football.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    "lambd, train, test",
    [(0, 0.9478672985781991, 0.915), (0.7, 0.9383886255924171, 0.93)],
)
def test_course_rows_reproduced_exactly(capsys, tmp_path, football_file, lambd, train, test):
    code, out, _ = run(
        capsys,
        "--data",
        football_file,
        "--precision",
        "float64",
        "--lambd",
        lambd,
        "--keep-prob",
        1,
        "--json",
        tmp_path / "r.json",
    )
    assert code == 0
    result = json.loads((tmp_path / "r.json").read_text())["runs"][0]
    assert result["train_accuracy"] == train
    assert result["test_accuracy"] == test
    assert repr(train) in out


def test_other_settings_match_numpy_reference(capsys, tmp_path, football_data_or_synthetic):
    # The synthetic stand-in keeps this check running without the course's data.
    data = synthetic_football(seed=0)
    code, _, _ = run(
        capsys,
        "--synthetic",
        "--lambd",
        0.25,
        "--iterations",
        4000,
        "--learning-rate",
        0.2,
        "--json",
        tmp_path / "r.json",
    )
    assert code == 0
    result = json.loads((tmp_path / "r.json").read_text())["runs"][0]
    expected = reference.train(
        data[0].T, data[1].T, lambd=0.25, num_iterations=4000, learning_rate=0.2
    )
    assert result["train_accuracy"] == reference.accuracy(
        data[0].T, data[1].T, expected.parameters
    )
    assert result["test_accuracy"] == reference.accuracy(data[2].T, data[3].T, expected.parameters)
    assert result["final_cost"] == pytest.approx(expected.costs[-1][1], rel=1e-11)


def test_course_table_on_stand_in_writes_json_plots_and_logs(capsys, tmp_path):
    code, out, _ = run(
        capsys,
        "--synthetic",
        "--iterations",
        300,
        "--seeds",
        2,
        "--json",
        tmp_path / "r.json",
        "--plots",
        tmp_path / "plots",
        "--logdir",
        tmp_path / "runs",
    )
    assert code == 0
    assert "GENERATED stand-in" in out
    # Nothing about the course's numbers: they were not measured on this data.
    assert "Why the two dropout rows differ" not in out and "course train" not in out
    assert "No comparison with the course's table" in out
    assert "true dropout over 2 seeds (mean ± sample std)" in out
    payload = json.loads((tmp_path / "r.json").read_text())
    names = [r["name"] for r in payload["runs"]]
    assert names[:3] == [
        "no regularization",
        "L2 lambd=0.7",
        "dropout keep_prob=0.86 (course, fixed masks)",
    ]
    assert len(names) == 5 and payload["summary"]["true_dropout_seeds"] == 2
    for r in payload["runs"]:
        assert {"name", "train_accuracy", "test_accuracy", "seconds", "lambd", "keep_prob"} <= set(
            r
        )
    pngs = sorted(p.name for p in (tmp_path / "plots").glob("*.png"))
    assert "costs.png" in pngs and len(pngs) == 6
    assert (tmp_path / "plots" / "costs.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    run_dirs = sorted(p.name for p in (tmp_path / "runs").iterdir() if p.is_dir())
    assert "no_regularization" in run_dirs and len(run_dirs) == 5  # 4 Keras runs + the numpy one
    assert list((tmp_path / "runs").glob("events.out.tfevents.*")), "the HParams config"
    assert list((tmp_path / "runs" / "no_regularization" / "train").glob("events.out.tfevents.*"))


def test_true_dropout_is_seeded(capsys, tmp_path):
    args = ["--synthetic", "--keep-prob", 0.8, "--iterations", 500, "--seed", 3]
    run(capsys, *args, "--json", tmp_path / "a.json")
    run(capsys, *args, "--json", tmp_path / "b.json")
    a = json.loads((tmp_path / "a.json").read_text())["runs"][0]
    b = json.loads((tmp_path / "b.json").read_text())["runs"][0]
    assert a["final_cost"] == b["final_cost"]


def test_course_dropout_flag_uses_fixed_masks(capsys, tmp_path):
    data = synthetic_football(seed=0)
    run(
        capsys,
        "--synthetic",
        "--keep-prob",
        0.86,
        "--course-dropout",
        "--iterations",
        200,
        "--json",
        tmp_path / "r.json",
    )
    result = json.loads((tmp_path / "r.json").read_text())["runs"][0]
    expected = reference.train(
        data[0].T, data[1].T, keep_prob=0.86, course_compatible_dropout=True, num_iterations=200
    )
    assert result["engine"] == "reference"
    assert result["final_cost"] == expected.costs[-1][1]


def test_missing_data_file_is_a_clear_error(capsys, tmp_path):
    code, _, err = run(capsys, "--data", tmp_path / "absent.mat")
    assert code == 2
    assert f"Football data file not found: {tmp_path / 'absent.mat'}" in err
    assert "--synthetic" in err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--keep-prob", "0"], "--keep-prob must be in (0, 1]"),
        (["--lambd", "-1"], "--lambd must be a finite number >= 0, got -1.0"),
        (["--stacking", "stacked", "--dropout-layer", "keras"], "needs --dropout-layer kreg-hash"),
        (["--lambd", "inf"], "--lambd must be a finite number >= 0, got inf"),
        (["--learning-rate", "0"], "--learning-rate must be a finite number > 0, got 0.0"),
        (["--learning-rate", "-0.3"], "--learning-rate must be a finite number > 0, got -0.3"),
        (["--course-dropout"], "--course-dropout needs --keep-prob"),
        (["--json", "/"], "--json / is a directory"),
        (["--plots", __file__], f"--plots {__file__} is an existing file"),
        (["--json", f"{__file__}/r.json"], "is a file; nothing can be written below it"),
    ],
)
def test_bad_flags(capsys, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        football.main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_second_run_into_the_same_logdir_is_refused_then_replaced(capsys, tmp_path):
    args = ["--synthetic", "--lambd", 0.7, "--iterations", 2000, "--logdir", tmp_path / "runs"]
    assert run(capsys, *args)[0] == 0
    code, _, err = run(capsys, *args)
    assert code == 2 and "already hold(s) TensorBoard runs" in err and "--overwrite" in err
    code, _, _ = run(capsys, *args, "--overwrite")
    assert code == 0
    from kreg.lab.runs import read_run

    run_dir = tmp_path / "runs" / slug("lambd=0.7 keep_prob=1.0")
    steps = [step for step, _ in read_run(run_dir).curves["train/epoch_loss"]]
    assert steps == [0, 1], "one run's events, not two runs' appended"


def test_json_write_is_atomic(tmp_path, monkeypatch):
    from kreg.lab import io

    target = tmp_path / "r.json"
    target.write_text('{"old": true}')

    def fail(_obj, _file, **_kw):
        raise RuntimeError("disk full")

    monkeypatch.setattr(io.json, "dump", fail)
    with pytest.raises(RuntimeError):
        io.write_json(target, {"new": np.float64(1.0)})
    assert json.loads(target.read_text()) == {"old": True}
    assert list(tmp_path.iterdir()) == [target]


def run_script(*argv, timeout=300):
    """football.py as a user runs it, its output piped (not a terminal)."""
    command = [sys.executable, str(REPO / "experiments" / "football.py"), *map(str, argv)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)


def test_piped_output_has_a_line_per_model_and_no_progress_bars():
    done = run_script("--synthetic", "--iterations", 300, "--seeds", 1)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "\r" not in out and "\x1b" not in out
    lines = out.splitlines()
    start = lines.index("Training 4 model(s), 300 full-batch steps each:")
    per_model = lines[start + 1 : start + 5]
    names = ["no regularization", "L2 lambd=0.7", "dropout keep_prob=0.86 (course, fixed masks)"]
    names.append("dropout keep_prob=0.86 (true, seed 0)")
    for line, name in zip(per_model, names):
        assert line.startswith(f"  {name}: train accuracy "), line
        assert line.endswith(" s)") and "test accuracy" in line
    # One seed: its numbers, no spread and no "(1 seeds)".
    assert "true dropout, one seed (0): train" in out and "no spread from one seed" in out
    assert "seeds)" not in out and "±" not in out


def test_a_progress_bar_only_on_a_terminal(capsys, monkeypatch):
    import keras

    from kreg.lab.fullbatch import fit_full_batch
    from kreg.lab.runners.course import build_football_model

    data = synthetic_football(seed=0)
    model = build_football_model(0.0, 1.0, num_examples=len(data[0]))
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    fit_full_batch(model, data[0], data[1], steps=200, log_every=100, optimizer=model.optimizer)
    bar = capsys.readouterr().out
    assert "200/200" in bar and "loss:" in bar and "accuracy:" in bar
    monkeypatch.setattr(sys.stdout, "isatty", lambda: False)
    fit_full_batch(model, data[0], data[1], steps=200, log_every=100, optimizer=model.optimizer)
    assert capsys.readouterr().out == ""
    fit_full_batch(
        model, *data[:2], steps=200, log_every=100, optimizer=model.optimizer, verbose=2
    )
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" - ")[0] for line in lines] == ["Steps 100/200", "Steps 200/200"]
    with pytest.raises(
        ValueError, match="`verbose` must be 'auto', 0, 1 or 2. Received: verbose=3"
    ):
        fit_full_batch(model, *data[:2], steps=1, optimizer=keras.optimizers.SGD(), verbose=3)


@pytest.mark.slow
def test_course_comparison_only_with_the_course_settings(football_file):
    done = run_script("--data", football_file, "--seeds", 2)
    assert done.returncode == 0, done.stderr
    assert "The course's table beside kreg's:" in done.stdout
    assert "Why the two dropout rows differ" in done.stdout
    other = run_script("--data", football_file, "--seeds", 2, "--iterations", 1000)
    assert other.returncode == 0, other.stderr
    assert "course train" not in other.stdout and "Why the two" not in other.stdout
    assert "No comparison with the course's table" in other.stdout


def test_seeds_train_one_model_each_for_any_setting(capsys, tmp_path):
    args = ["--synthetic", "--keep-prob", 0.8, "--iterations", 300, "--seed", 4, "--seeds", 3]
    code, out, _ = run(capsys, *args, "--stacking", "stacked", "--json", tmp_path / "r.json")
    assert code == 0
    payload = json.loads((tmp_path / "r.json").read_text())
    assert [r["seed"] for r in payload["runs"]] == [4, 5, 6]
    assert len({r["final_cost"] for r in payload["runs"]}) == 3, "fresh masks per seed"
    assert payload["summary"]["seeds"] == [4, 5, 6]
    assert "over 3 seeds (mean ± sample std)" in out
    # The seeds trained together in one compiled loop; sequential trains them one by one
    # with fit_full_batch: the same masks, so the same models up to rounding.
    assert {r["engine"] for r in payload["runs"]} == {"stacked"}
    assert {r["stacked_models"] for r in payload["runs"]} == {3}
    assert "3 models together in one compiled loop" in out
    assert re.search(r"^\S.* stacked +0\.", out, re.M), "the table names the stacked engine"
    code, out, _ = run(capsys, *args, "--stacking", "sequential", "--json", tmp_path / "s.json")
    assert code == 0
    assert re.search(r"^\S.* fused +0\.", out, re.M), "the table names the fused engine"
    code, out, _ = run(capsys, *args[:-2], "--seeds", 1, "--dropout-layer", "keras")
    assert code == 0
    assert re.search(r"^\S.* keras +0\.", out, re.M), "Keras Dropout: the Keras engine"
    sequential = json.loads((tmp_path / "s.json").read_text())["runs"]
    assert {r["engine"] for r in sequential} == {"fused"}  # fit_full_batch's fused engine
    for together, alone in zip(payload["runs"], sequential):
        assert together["final_cost"] == pytest.approx(alone["final_cost"], rel=1e-10)
        assert together["test_accuracy"] == alone["test_accuracy"]
    code, out, _ = run(capsys, "--synthetic", "--lambd", 0.7, "--iterations", 300, "--seeds", 2)
    assert code == 0 and "every seed trains the same model" in out
