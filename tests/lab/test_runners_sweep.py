"""KerasTuner sweeps: local, distributed (chief + 2 workers on 127.0.0.1), a killed worker."""

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest

from kreg.datasets import split_validation, synthetic_football
from kreg.lab.cli import main as kreg_main
from kreg.lab.fullbatch import fit_full_batch, floatx_scope
from kreg.lab.fullbatch.stacked import fit_full_batch_stacked
from kreg.lab.runners.sweep import (
    CifarHyperModel,
    FootballHyperModel,
    parse_values,
    run_sweep,
)
from kreg.lab.runs import find_runs
from kreg.models import football_classifier
from kreg.regularizers import l2_from_lambda, rate_from_keep_prob

GRID = {"lambd": (0.0, 0.7), "keep_prob": (1.0, 0.86)}
STEPS, LOG_EVERY, SEED = 3000, 1000, 0
CLI_GRID = ["--synthetic", "--lambd", "0,0.7", "--keep-prob", "1,0.86", "--log-every", "1000"]


@pytest.fixture(autouse=True)
def no_kerastuner_environment(monkeypatch):
    for name in ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT"):
        monkeypatch.delenv(name, raising=False)


def football_splits():
    x, y, x_test, y_test = synthetic_football(seed=0)  # what `kreg sweep --synthetic` uses
    x_train, y_train, x_val, y_val = split_validation(x, y, 0.2, SEED)
    return (x_train, y_train), (x_val, y_val), (x_test, y_test)


@pytest.fixture(scope="module")
def sequential(tmp_path_factory):
    """The grid run in this process, the reference for the distributed runs."""
    for name in ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT"):
        assert name not in os.environ
    root = tmp_path_factory.mktemp("sequential")
    train, validation, test = football_splits()
    hypermodel = FootballHyperModel(
        GRID, train_examples=len(train[0]), steps=STEPS, log_every=LOG_EVERY, seed=SEED
    )
    evaluated = []
    evaluate = hypermodel.evaluate
    hypermodel.evaluate = lambda model, data, train=None: (
        evaluated.append(data) or evaluate(model, data, train)
    )
    result = run_sweep(
        hypermodel,
        train,
        validation,
        test,
        directory=root / "kt",
        project_name="football",
        logdir=root / "runs",
    )
    return result, root, evaluated


def trial_key(trial):
    return (trial["hparams"]["lambd"], trial["hparams"]["keep_prob"])


class TestSearchSpace:
    def test_parse_values(self):
        assert parse_values("lambd", "0, 0.3,0.7") == (0.0, 0.3, 0.7)
        assert parse_values("weight_decay", "1e-4:1e-2") == ("range", 1e-4, 1e-2)

    @pytest.mark.parametrize("text", ["", "a,b", "0.3:0.1", "1:2:3", "nan", "0,inf"])
    def test_parse_values_rejects(self, text):
        with pytest.raises(ValueError, match=f"Received: lambd={text!r}"):
            parse_values("lambd", text)

    def test_hypermodels_reject_out_of_range_values(self):
        with pytest.raises(ValueError, match="`keep_prob` values must be in"):
            FootballHyperModel({"keep_prob": (0.5, 1.5)}, train_examples=10)
        with pytest.raises(ValueError, match="Unknown hyperparameter 'lambd'"):
            CifarHyperModel({"lambd": (0.1,)}, profile=None)

    def test_validation_split_is_seeded_and_disjoint(self):
        x = np.arange(100.0)[:, None]
        y = np.arange(100)[:, None]
        a = split_validation(x, y, 0.2, seed=3)
        b = split_validation(x, y, 0.2, seed=3)
        for u, v in zip(a, b):
            np.testing.assert_array_equal(u, v)
        assert len(a[2]) == 20 and len(a[0]) == 80
        assert not set(a[0][:, 0]) & set(a[2][:, 0])
        with pytest.raises(ValueError, match="fraction=1.0"):
            split_validation(x, y, 1.0, seed=0)


class TestLocalSweep:
    def test_every_grid_point_runs_once_and_best_is_the_validation_maximum(self, sequential):
        result, root, evaluated = sequential
        assert sorted(trial_key(t) for t in result.trials) == sorted(
            (lam, kp) for lam in GRID["lambd"] for kp in GRID["keep_prob"]
        )
        assert all(t["status"] == "COMPLETED" for t in result.trials)
        scores = [t["metrics"]["val_accuracy"] for t in result.trials]
        # The best is the highest validation accuracy; ties go to the earliest trial.
        first_best = min(
            t["trial_id"] for t in result.trials if t["metrics"]["val_accuracy"] == max(scores)
        )
        assert result.best_trial_id == first_best
        # The test set is used once, for the best trial only.
        assert len(evaluated) == 1
        np.testing.assert_array_equal(evaluated[0][0], football_splits()[2][0])
        assert 0.5 < result.test["accuracy"] <= 1

    def test_trial_metrics_equal_a_direct_training_run(self, sequential):
        result = sequential[0]
        trial = next(t for t in result.trials if trial_key(t) == (0.7, 0.86))
        (x, y), (x_val, y_val), _ = football_splits()
        with floatx_scope("float64"):
            model = football_classifier(
                l2=l2_from_lambda(0.7, len(x)).l2,
                dropout=rate_from_keep_prob(0.86),
                dropout_layer="kreg-hash",
                seed=SEED,
                dtype="float64",
            )
            run = fit_full_batch(
                model, x, y, steps=STEPS, log_every=LOG_EVERY, validation_data=(x_val, y_val)
            )
        values = [logs["val_accuracy"] for logs in run.logs]
        best = values.index(max(values))
        assert trial["metrics"]["val_accuracy"] == values[best]
        assert trial["metrics"]["loss"] == run.logs[best]["loss"]

    def test_tensorboard_hparams_and_inspect_marks_the_best(self, sequential, capsys):
        result, root, _ = sequential
        runs = {Path(r.path).parent.name: r for r in find_runs(root / "runs")}
        assert sorted(runs) == sorted(t["trial_id"] for t in result.trials)
        for trial in result.trials:
            record = runs[trial["trial_id"]]
            assert record.hparams == pytest.approx(trial["hparams"])
            assert record.metrics["val_accuracy"] == pytest.approx(
                trial["metrics"]["val_accuracy"]
            )
            assert record.curves["validation/epoch_accuracy"]
        assert kreg_main(["inspect", str(root / "runs")]) == 0
        lines = capsys.readouterr().out.splitlines()
        marked = [line for line in lines if line.lstrip().startswith("*")]
        assert len(marked) == 1 and f" {result.best_trial_id} " in marked[0]
        assert f"{result.test['accuracy']:.4f}" in marked[0]
        assert kreg_main(["inspect", str(root / "runs"), "--json"]) == 0
        rows = json.loads(capsys.readouterr().out)
        assert [row["run"] for row in rows if row["best"]] == [result.best_trial_id]

    def test_rerun_resumes_and_a_changed_sweep_is_refused(self, sequential):
        result, root, _ = sequential
        train, validation, test = football_splits()

        def again(**changes):
            settings = (
                dict(train_examples=len(train[0]), steps=STEPS, log_every=LOG_EVERY, seed=SEED)
                | changes
            )
            hypermodel = FootballHyperModel(GRID, **settings)
            return run_sweep(
                hypermodel,
                train,
                validation,
                test,
                directory=root / "kt",
                project_name="football",
                logdir=root / "runs",
            )

        started = time.monotonic()
        resumed = again()
        assert time.monotonic() - started < 10  # nothing retrained
        assert resumed.to_json() == result.to_json()
        with pytest.raises(
            ValueError,
            match=rf"differs in hypermodel.steps: {STEPS} -> {STEPS + 1}\); resume it with",
        ):
            again(steps=STEPS + 1)

    def test_seeds_train_the_whole_grid_in_one_call_and_score_their_mean(
        self, tmp_path, monkeypatch, capsys
    ):
        import kreg.lab.runners.sweep.hypermodels as hypermodels

        train, validation, test = football_splits()
        calls = []
        stacked = hypermodels.fit_full_batch_stacked
        monkeypatch.setattr(
            hypermodels,
            "fit_full_batch_stacked",
            lambda models, *a, **k: calls.append(len(models)) or stacked(models, *a, **k),
        )
        settings = dict(train_examples=len(train[0]), steps=400, log_every=100, seed=5)
        hypermodel = FootballHyperModel(GRID, seeds=2, stacking="stacked", **settings)
        result = run_sweep(
            hypermodel, train, validation, test, directory=tmp_path / "kt", logdir=tmp_path / "r"
        )
        assert calls == [8]  # 2 lambd x 2 keep_prob x 2 seeds, one compiled loop
        (x, y), (x_val, y_val) = train, validation
        # The same 8 models, stacked in another order in one call (a model's bits do not
        # depend on its stack: tests/test_stacked.py), give each trial's per-seed scores.
        plan = [(*trial_key(t), seed) for t in result.trials for seed in (5, 6)][::-1]
        with floatx_scope("float64"):
            models = [
                football_classifier(
                    l2=l2_from_lambda(lambd, len(x)).l2,
                    dropout=rate_from_keep_prob(keep_prob),
                    dropout_layer="kreg-hash",
                    seed=seed,
                    dtype="float64",
                )
                for lambd, keep_prob, seed in plan
            ]
            runs = fit_full_batch_stacked(
                models, x, y, steps=400, log_every=100, validation_data=(x_val, y_val)
            )
        best = {
            key: max(logs["val_accuracy"] for logs in run.logs) for key, run in zip(plan, runs)
        }
        for trial in result.trials:
            lambd, keep_prob = trial_key(trial)
            scores = [best[(lambd, keep_prob, seed)] for seed in (5, 6)]
            assert trial["seeds"]["scores"] == scores
            assert trial["score"] == pytest.approx(np.mean(scores), abs=1e-12)
            if keep_prob == 1.0:  # no dropout: both seeds train the same model
                assert trial["seeds"]["std"] == 0.0
        saved = json.loads((tmp_path / "r" / "sweep.json").read_text())
        assert all(len(t["seeds"]["scores"]) == 2 for t in saved["trials"])
        # kreg inspect: one row per trial, the other seeds' runs not listed as runs of their own.
        capsys.readouterr()
        assert kreg_main(["inspect", str(tmp_path / "r")]) == 0
        out = capsys.readouterr().out
        assert "(4 trials;" in out and "execution" not in out

        # Sequential stacking trains every model alone with fit_full_batch.
        calls.clear()
        hypermodel = FootballHyperModel(
            {"lambd": (0.7,), "keep_prob": (0.86,)}, stacking="sequential", **settings
        )
        result = run_sweep(
            hypermodel, train, validation, test, directory=tmp_path / "kt2", logdir=tmp_path / "s"
        )
        assert calls == []
        with floatx_scope("float64"):
            model = football_classifier(
                l2=l2_from_lambda(0.7, len(x)).l2,
                dropout=rate_from_keep_prob(0.86),
                dropout_layer="kreg-hash",
                seed=5,
                dtype="float64",
            )
            run = fit_full_batch(
                model, x, y, steps=400, log_every=100, validation_data=(x_val, y_val)
            )
        assert result.trials[0]["score"] == max(logs["val_accuracy"] for logs in run.logs)

    def test_stacked_trials_equal_whether_the_grid_or_one_trial_shares_the_loop(
        self, tmp_path, monkeypatch
    ):
        """What a worker does (stack one trial's seeds) gives the one-process grid's bits."""
        import kreg.lab.runners.sweep.hypermodels as hypermodels

        train, validation, test = football_splits()
        settings = dict(train_examples=len(train[0]), steps=200, log_every=100, stacking="stacked")

        space = {"lambd": (0.0, 0.7), "keep_prob": (0.86,)}

        def sweep(name):
            hypermodel = FootballHyperModel(space, **settings)
            return run_sweep(
                hypermodel,
                train,
                validation,
                test,
                directory=tmp_path,
                project_name=name,
                logdir=tmp_path / name,
            )

        calls = []
        stacked = hypermodels.fit_full_batch_stacked
        monkeypatch.setattr(
            hypermodels,
            "fit_full_batch_stacked",
            lambda models, *a, **k: calls.append(len(models)) or stacked(models, *a, **k),
        )
        whole_grid = sweep("grid")
        monkeypatch.setattr(hypermodels, "is_worker", lambda: True)
        one_by_one = sweep("trials")
        assert calls == [2, 1, 1]
        assert [t["metrics"] for t in one_by_one.trials] == [
            t["metrics"] for t in whole_grid.trials
        ]

    def test_auto_stacking_stacks_from_16_models_in_one_call(self):
        def engine(space, **kwargs):
            return FootballHyperModel(space, train_examples=10, **kwargs).stacking

        assert engine(GRID) == "sequential"  # 4 models
        assert engine(GRID, seeds=4) == "stacked"  # the grid's 16 models in one loop
        assert engine(GRID, seeds=4, search="random") == "sequential"  # 4 per trial
        assert engine(GRID, seeds=16, search="random") == "stacked"
        assert engine({"lambd": ("range", 0.0, 1.0)}, seeds=8) == "sequential"
        with pytest.raises(ValueError, match="kreg-hash"):
            engine(GRID, stacking="stacked", dropout_layer="keras")
        with pytest.raises(ValueError, match="seeds"):
            engine(GRID, seeds=0)

    def test_random_search_samples_a_range(self, tmp_path):
        train, validation, test = football_splits()
        hypermodel = FootballHyperModel(
            {"lambd": ("range", 0.01, 1.0), "keep_prob": (1.0,)},
            train_examples=len(train[0]),
            steps=200,
            log_every=100,
        )
        result = run_sweep(
            hypermodel,
            train,
            validation,
            test,
            search="random",
            max_trials=3,
            directory=tmp_path / "kt",
            logdir=tmp_path / "runs",
        )
        lambds = [t["hparams"]["lambd"] for t in result.trials]
        assert len(lambds) == 3 and len(set(lambds)) == 3
        assert all(0.01 <= v <= 1.0 for v in lambds)
        # The same seed samples the same values (seed 0 included).
        again = run_sweep(
            hypermodel,
            train,
            validation,
            test,
            search="random",
            max_trials=3,
            directory=tmp_path / "kt-again",
            logdir=tmp_path / "runs-again",
        )
        assert [t["hparams"]["lambd"] for t in again.trials] == lambds
        with pytest.raises(ValueError, match="Random search needs `max_trials`"):
            run_sweep(
                hypermodel,
                train,
                validation,
                test,
                search="random",
                directory=tmp_path / "kt2",
                logdir=tmp_path / "runs2",
            )

    def test_cifar_sweep_on_tiny_images(self, tmp_path):
        from kreg.lab.runners.cifar import PROFILES

        rng = np.random.RandomState(0)
        images = rng.randint(0, 256, size=(96, 32, 32, 3)).astype("uint8")
        labels = rng.randint(0, 10, size=(96, 1)).astype("uint8")
        profile = PROFILES["quick"]
        profile = type(profile)(
            **{
                **profile.__dict__,
                "epochs": 1,
                "batch_size": 32,
                "filters": (4, 8),
                "dense_units": (16,),
            }
        )
        hypermodel = CifarHyperModel({"l2": (0.0, 1e-3), "dropout": (0.3,)}, profile)
        result = run_sweep(
            hypermodel,
            (images[:64], labels[:64]),
            (images[64:80], labels[64:80]),
            (images[80:], labels[80:]),
            directory=tmp_path / "kt",
            logdir=tmp_path / "runs",
        )
        assert [t["hparams"]["l2"] for t in result.trials] == [0.0, 1e-3]
        assert all(t["status"] == "COMPLETED" for t in result.trials)
        assert 0 <= result.test["accuracy"] <= 1
        assert json.loads((tmp_path / "runs" / "sweep.json").read_text())["best_trial_id"] == (
            result.best_trial_id
        )


@pytest.mark.parametrize(
    "argv, message",
    [
        (["football", "--weight-decay", "0.1"], "--weight-decay do not apply to the football"),
        (["football", "--lambd", "0:1"], "Grid search needs listed values"),
        (["cifar", "--dropout", "1.5"], "`dropout` values must be in [0, 1)"),
    ],
)
def test_cli_errors_name_the_input(argv, message, capsys, tmp_path):
    code = kreg_main(
        ["sweep", *argv, "--directory", str(tmp_path / "kt"), "--logdir", str(tmp_path / "runs")]
    )
    assert code == 2
    assert message in capsys.readouterr().err


def test_random_search_without_max_trials_is_refused_before_loading_data(capsys, tmp_path):
    with pytest.raises(SystemExit) as info:
        kreg_main(["sweep", "football", "--search", "random", "--data", str(tmp_path / "none")])
    assert info.value.code == 2
    assert "--search random needs --max-trials" in capsys.readouterr().err


# Distributed: separate processes talking over 127.0.0.1 only.


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(tuner_id, port, root, *extra):
    env = {
        **os.environ,
        "KERASTUNER_TUNER_ID": tuner_id,
        "KERASTUNER_ORACLE_IP": "127.0.0.1",
        "KERASTUNER_ORACLE_PORT": str(port),
    }
    folders = ["--directory", str(root / "kt"), "--logdir", str(root / "runs")]
    command = [sys.executable, "-m", "kreg_cli", "sweep", "football", *CLI_GRID, *folders, *extra]
    log = open(root / f"{tuner_id}.log", "w")
    return subprocess.Popen(command, env=env, cwd=root, stdout=log, stderr=subprocess.STDOUT)


def wait_all(processes, root, timeout=240):
    deadline = time.monotonic() + timeout
    try:
        for process in processes.values():
            process.wait(timeout=max(1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        for process in processes.values():
            process.kill()
        logs = {n: (root / f"{n}.log").read_text()[-2000:] for n in processes}
        pytest.fail(f"the sweep did not finish in {timeout} s: {logs}")
    return {name: process.returncode for name, process in processes.items()}


def run_log(root):
    events = []
    for path in (root / "kt" / "football-grid" / "kreg_runs").glob("*.jsonl"):
        events += [json.loads(line) for line in path.read_text().splitlines()]
    return events


def assert_same_results(distributed, sequential):
    by_key = {trial_key(t): t for t in sequential.trials}
    assert len(distributed["trials"]) == len(by_key)
    for trial in distributed["trials"]:
        reference = by_key[trial_key(trial)]
        assert trial["status"] == "COMPLETED"
        assert trial["metrics"] == reference["metrics"]  # bit-identical, float64
    assert distributed["best_hparams"] == sequential.best_hparams
    assert distributed["test"] == sequential.test


def test_chief_and_two_workers_equal_the_sequential_run(sequential, tmp_path):
    port = free_port()
    steps = ["--steps", str(STEPS)]
    processes = {
        name: start(name, port, tmp_path, *steps) for name in ("chief", "worker0", "worker1")
    }
    codes = wait_all(processes, tmp_path)
    assert codes == {"chief": 0, "worker0": 0, "worker1": 0}, codes
    summary = json.loads((tmp_path / "runs" / "sweep.json").read_text())
    assert_same_results(summary, sequential[0])
    events = run_log(tmp_path)
    for kind in ("start", "end"):
        ids = sorted(e["trial_id"] for e in events if e["event"] == kind)
        assert ids == sorted(t["trial_id"] for t in summary["trials"]), (kind, events)
    assert {e["tuner_id"] for e in events} <= {"worker0", "worker1"}
    chief_log = (tmp_path / "chief.log").read_text()
    assert "test accuracy" in chief_log and "* = best" in chief_log  # kreg inspect's table
    assert "test accuracy" not in (tmp_path / "worker0.log").read_text()


def test_a_killed_worker_does_not_lose_the_sweep(sequential, tmp_path):
    port = free_port()
    chief = start("chief", port, tmp_path, "--steps", str(STEPS), "--worker-timeout", "4")
    workers = {
        name: start(name, port, tmp_path, "--steps", str(STEPS), "--heartbeat", "0.5")
        for name in ("worker0", "worker1")
    }
    victim_log = tmp_path / "kt" / "football-grid" / "kreg_runs" / "worker0.jsonl"
    deadline = time.monotonic() + 120
    while not (victim_log.exists() and "start" in victim_log.read_text()):
        assert time.monotonic() < deadline, "worker0 never started a trial"
        time.sleep(0.1)
    workers["worker0"].send_signal(signal.SIGKILL)  # mid-trial: building or training
    codes = wait_all({"chief": chief, "worker1": workers["worker1"]}, tmp_path)
    workers["worker0"].wait()
    assert codes == {"chief": 0, "worker1": 0}, codes
    summary = json.loads((tmp_path / "runs" / "sweep.json").read_text())
    assert_same_results(summary, sequential[0])
    events = run_log(tmp_path)
    killed = next(e["trial_id"] for e in events if e["tuner_id"] == "worker0")
    assert not [e for e in events if e["tuner_id"] == "worker0" and e["event"] == "end"]
    finished = [e for e in events if e["event"] == "end"]
    assert sorted(e["trial_id"] for e in finished) == sorted(
        t["trial_id"] for t in summary["trials"]
    )
    assert [e["tuner_id"] for e in finished if e["trial_id"] == killed] == ["worker1"]


def completed_by_chief(root) -> set[str]:
    """The trials the chief's saved oracle state records as completed."""
    done = set()
    for path in (root / "kt" / "football-grid").glob("trial_*/trial.json"):
        try:
            trial = json.loads(path.read_text())
        except ValueError:  # being written
            continue
        if trial["status"] == "COMPLETED":
            done.add(trial["trial_id"])
    return done


def test_a_killed_chief_restarted_resumes_without_training_a_completed_trial_again(
    sequential, tmp_path
):
    port = free_port()
    extra = ["--steps", str(STEPS), "--worker-timeout", "4"]
    chief = start("chief", port, tmp_path, *extra)
    workers = {
        name: start(name, port, tmp_path, "--steps", str(STEPS), "--heartbeat", "0.5")
        for name in ("worker0", "worker1")
    }
    deadline = time.monotonic() + 180
    while not completed_by_chief(tmp_path):
        assert time.monotonic() < deadline, "no trial completed"
        time.sleep(0.1)
    chief.send_signal(signal.SIGKILL)
    chief.wait()
    # KerasTuner's workers wait for their chief without a deadline: they are restarted too.
    for process in workers.values():
        process.send_signal(signal.SIGKILL)
        process.wait()
    # What the chief had recorded as completed (a trial a worker finished, but whose end
    # never reached the chief, is run again: the chief's record is what counts).
    completed_before = completed_by_chief(tmp_path)
    (tmp_path / "chief.log").rename(tmp_path / "chief-killed.log")
    processes = {"chief": start("chief", port, tmp_path, *extra)}
    for name in ("worker0", "worker1"):
        (tmp_path / f"{name}.log").rename(tmp_path / f"{name}-first.log")
        processes[name] = start(name, port, tmp_path, "--steps", str(STEPS), "--heartbeat", "0.5")
    codes = wait_all(processes, tmp_path)
    assert codes == {"chief": 0, "worker0": 0, "worker1": 0}, codes
    summary = json.loads((tmp_path / "runs" / "sweep.json").read_text())
    assert_same_results(summary, sequential[0])
    events = run_log(tmp_path)
    for trial_id in completed_before:  # never started again after it completed
        starts = [e for e in events if e["trial_id"] == trial_id and e["event"] == "start"]
        assert len(starts) == 1, (trial_id, events)
    ends = sorted(e["trial_id"] for e in events if e["event"] == "end")
    assert sorted(set(ends)) == sorted(t["trial_id"] for t in summary["trials"])


def test_cli_shows_keras_tuner_progress_unless_quiet(tmp_path, capsys):
    grid = ["--synthetic", "--lambd", "0,0.7", "--keep-prob", "1", "--steps", "1000"]
    grid += ["--log-every", "500", "--directory", str(tmp_path / "kt")]
    command = [sys.executable, "-m", "kreg_cli", "sweep", "football", *grid]
    done = subprocess.run(
        [*command, "--logdir", str(tmp_path / "a")], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Search: Running Trial #1" in out and "Trial 2 Complete" in out
    assert "Best val_accuracy So Far" in out
    # Piped: one line per interval, as model.fit(verbose=2), no carriage returns.
    assert out.count("Steps 500/1000 - ") == 2 and "\r" not in out
    assert "WARNING" not in done.stderr and "retracing" not in done.stderr, done.stderr
    quiet = [*grid, "--project-name", "q", "--logdir", str(tmp_path / "b"), "--quiet"]
    assert kreg_main(["sweep", "football", *quiet]) == 0
    out = capsys.readouterr().out
    assert "Trial" not in out and "Steps" not in out and "best by val_accuracy" in out


def test_cifar_hypermodel_builds_under_its_precision():
    import keras_tuner as kt

    from kreg.lab.runners.cifar import PROFILES

    profile = dataclasses.replace(PROFILES["quick"], filters=(4, 8), dense_units=(8,))
    hypermodel = CifarHyperModel({"l2": (1e-3,)}, profile, precision="mixed_bfloat16")
    model = hypermodel.build(kt.HyperParameters())
    assert model.get_layer("block1_conv1").compute_dtype == "bfloat16"
    assert model.get_layer("predictions").compute_dtype == "float32"
    assert keras.config.dtype_policy().name == "float32", "the policy is restored"
    assert hypermodel.config()["precision"] == "mixed_bfloat16"
    with pytest.raises(ValueError, match="`precision` must be one of"):
        CifarHyperModel({"l2": (1e-3,)}, profile, precision="float64")


def test_an_unreadable_sweep_record_is_named(tmp_path, capsys):
    folders = ["--directory", str(tmp_path / "kt"), "--logdir", str(tmp_path / "runs")]
    grid = ["--synthetic", "--lambd", "0", "--keep-prob", "1", "--steps", "200"]
    assert kreg_main(["sweep", "football", *grid, *folders, "--quiet"]) == 0
    record = tmp_path / "kt" / "football-grid" / "kreg_sweep.json"
    record.write_text(record.read_text()[:15])
    capsys.readouterr()
    assert kreg_main(["sweep", "football", *grid, *folders, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"{record} is unreadable" in err and "--overwrite" in err
    assert kreg_main(["sweep", "football", *grid, *folders, "--quiet", "--overwrite"]) == 0
