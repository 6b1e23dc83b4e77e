"""A KerasTuner oracle that hands a silent worker's trial to another worker."""

from __future__ import annotations

import time
import traceback

import keras_tuner as kt
from keras_tuner.engine.trial import TrialStatus

from kreg.lab._compat import forget_finished_retries, rebuild_grid_order
from kreg.lab.runners.sweep.hypermodels import OBJECTIVES

__all__ = ["make_oracle"]


class _WorkerLiveness:
    """Oracle mixin: end the trial of a worker that has been silent for `worker_timeout` s.

    Every call a worker makes (asking for a trial, reporting, or the heartbeat
    `get_trial`) counts as a sign of life. A silent worker's trial is ended
    as INVALID, which KerasTuner's retry logic puts back in the queue
    (`max_retries_per_trial`) for the next worker that asks; the worker is
    forgotten, so the chief can finish without it.
    """

    worker_timeout: float | None = None

    def _seen(self, tuner_id) -> None:
        if not hasattr(self, "_last_seen"):
            self._last_seen = {}
        self._last_seen[tuner_id] = time.monotonic()

    def _owner(self, trial_id):
        for tuner_id, trial in self.ongoing_trials.items():
            if trial.trial_id == trial_id:
                return tuner_id
        return None

    def _reap_silent_workers(self) -> None:
        if not self.worker_timeout:
            return
        now = time.monotonic()
        for tuner_id, trial in list(self.ongoing_trials.items()):
            silent = now - self._last_seen.get(tuner_id, now)
            if silent > self.worker_timeout:
                print(
                    f"kreg sweep: worker {tuner_id!r} silent for {silent:.0f} s; "
                    f"trial {trial.trial_id} goes back to the queue."
                )
                trial.status = TrialStatus.INVALID
                trial.message = f"worker {tuner_id} silent for {silent:.0f} s"
                self.end_trial(trial)
                self.ongoing_trials.pop(tuner_id, None)
                self.tuner_ids.discard(tuner_id)

    def reload(self):
        # A chief restarted on its project: the trials it knew come back, and those it had
        # not seen end are run again (KerasTuner's retry queue).
        super().reload()
        forget_finished_retries(self)

    @kt.synchronized
    def create_trial(self, tuner_id):
        self._seen(tuner_id)
        try:
            self._reap_silent_workers()
            return super().create_trial(tuner_id)
        except Exception:  # gRPC would pass the worker only the exception's text
            traceback.print_exc()
            raise

    @kt.synchronized
    def update_trial(self, trial_id, metrics, step=0):
        self._seen(self._owner(trial_id))
        return super().update_trial(trial_id, metrics, step=step)

    @kt.synchronized
    def get_trial(self, trial_id):
        self._seen(self._owner(trial_id))
        return super().get_trial(trial_id)


class _GridOracle(_WorkerLiveness, kt.oracles.GridSearchOracle):
    def reload(self):
        super().reload()
        rebuild_grid_order(self)  # and its place in the grid, which KerasTuner does not save


class _RandomOracle(_WorkerLiveness, kt.oracles.RandomSearchOracle):
    pass


def make_oracle(
    search: str,
    *,
    objective: str = "val_accuracy",
    max_trials: int | None = None,
    seed: int = 0,
    worker_timeout: float | None = None,
    max_retries_per_trial: int = 1,
):
    """A KerasTuner grid or random-search oracle that re-queues a silent worker's trial."""
    if objective not in OBJECTIVES:
        raise ValueError(f"`objective` must be one of {OBJECTIVES}. Received: {objective!r}")
    direction = "max" if objective.endswith("accuracy") else "min"
    # KerasTuner reads seed 0 as "no seed" (`seed or random.randint(...)`): shift by one.
    kwargs = dict(
        objective=kt.Objective(objective, direction),
        seed=seed + 1,
        max_retries_per_trial=max_retries_per_trial,
    )
    if search == "grid":
        oracle = _GridOracle(max_trials=max_trials, **kwargs)
    elif search == "random":
        if not max_trials:
            raise ValueError("Random search needs `max_trials` (a positive integer).")
        oracle = _RandomOracle(max_trials=max_trials, **kwargs)
    else:
        raise ValueError(f"`search` must be 'grid' or 'random'. Received: search={search!r}")
    oracle.worker_timeout = worker_timeout
    return oracle
