"""KerasTuner's `Tuner` with worker heartbeats, per-trial records and a patient worker loop."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from pathlib import Path

import keras
import keras_tuner as kt
from keras_tuner.engine.trial import TrialStatus

from kreg.lab._compat import wait_when_idle
from kreg.lab.hparams import log_metrics
from kreg.lab.io import write_json
from kreg.lab.runners.sweep.chief import is_chief, is_worker, serve_oracle

__all__ = ["SweepTuner"]


class SweepTuner(kt.Tuner):
    """KerasTuner's `Tuner` with a heartbeat, trial records and a patient worker loop.

    Args:
        oracle: from `make_oracle`.
        hypermodel: `FootballHyperModel` or `CifarHyperModel`.
        logdir: TensorBoard root; trial `T` logs to `logdir/T/execution0`.
        heartbeat: seconds between a worker's signs of life while it trains.
        **kwargs: passed to `keras_tuner.Tuner` (`directory`, `project_name`,
            `overwrite`).
    """

    def __init__(self, oracle, hypermodel, *, logdir, heartbeat: float = 10.0, **kwargs):
        super().__init__(oracle=oracle, hypermodel=hypermodel, **kwargs)
        self.logdir = Path(logdir)
        self.heartbeat = heartbeat
        if is_worker():
            wait_when_idle(self.oracle)

    def search(self, *fit_args, **fit_kwargs):
        if is_chief():
            self.oracle.verbose = fit_kwargs.get("verbose", self.oracle.verbose)
            self.save()
            serve_oracle(self.oracle)
            return
        super().search(*fit_args, **fit_kwargs)

    def _record(self, event: str, trial, **extra) -> None:
        # One file per worker: appends from several machines never interleave.
        path = Path(self.project_dir) / "kreg_runs" / f"{self.tuner_id}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        line = {
            "event": event,
            "trial_id": trial.trial_id,
            "tuner_id": self.tuner_id,
            "pid": os.getpid(),
            "time": time.time(),
            **extra,
        }
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(line) + "\n")

    def run_trial(self, trial, *args, **kwargs):
        # A re-run (after a worker died) replaces the first attempt's TensorBoard run.
        shutil.rmtree(self.logdir / trial.trial_id, ignore_errors=True)
        kwargs["callbacks"] = [
            *kwargs.get("callbacks", []),
            keras.callbacks.TensorBoard(log_dir=str(self.logdir)),
        ]
        self._record("start", trial, hparams=trial.hyperparameters.values)
        stop = threading.Event()
        if is_worker():
            beat = threading.Thread(target=self._beat, args=(trial.trial_id, stop), daemon=True)
            beat.start()
        try:
            histories = super().run_trial(trial, *args, **kwargs)
        finally:
            stop.set()
        self._save_executions(trial, histories)
        return histories

    def _save_executions(self, trial, histories) -> None:
        """Each execution's (seed's) best objective value, for the sweep's mean ± std."""
        name = self.oracle.objective.name
        best = max if self.oracle.objective.direction == "max" else min
        scores = [float(best(h.history[name])) for h in histories if h.history.get(name)]
        path = Path(self.project_dir) / "kreg_runs" / f"{trial.trial_id}.executions.json"
        write_json(path, {"objective": name, "scores": scores})

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        if trial.status != TrialStatus.COMPLETED:
            return
        # The oracle scored the trial at its best epoch (KerasTuner's rule); read it back.
        scored = self.oracle.get_trial(trial.trial_id)
        metrics = {name: scored.metrics.get_last_value(name) for name in scored.metrics.metrics}
        metrics["best_epoch"] = scored.best_step
        log_metrics(self.logdir / trial.trial_id / "execution0", metrics)
        self._record("end", trial, metrics=metrics)

    def _beat(self, trial_id, stop: threading.Event) -> None:
        while not stop.wait(self.heartbeat):
            try:
                self.oracle.get_trial(trial_id)
            except Exception:  # the chief may be busy or restarting: try again next beat
                pass
