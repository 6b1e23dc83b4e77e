"""`run_sweep`: a whole sweep on KerasTuner, and its table."""

from __future__ import annotations

import dataclasses
import json
import os
import warnings
from pathlib import Path

from kreg.lab.hparams import log_hparams_config, log_metrics
from kreg.lab.io import write_json
from kreg.lab.runners.settings import differences
from kreg.lab.runners.sweep.chief import is_worker
from kreg.lab.runners.sweep.oracle import make_oracle
from kreg.lab.runners.sweep.tuner import SweepTuner
from kreg.lab.spread import mean_std
from kreg.walk import weights_digest

__all__ = ["SweepResult", "run_sweep"]


@dataclasses.dataclass
class SweepResult:
    """What a finished sweep found; `to_json` is what `sweep.json` holds."""

    objective: str
    trials: list
    best_trial_id: str
    best_hparams: dict
    test: dict

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


def run_sweep(
    hypermodel,
    train,
    validation,
    test,
    *,
    search: str = "grid",
    objective: str = "val_accuracy",
    max_trials: int | None = None,
    seed: int = 0,
    directory: str | os.PathLike = "sweeps",
    project_name: str = "sweep",
    logdir: str | os.PathLike = "runs/sweep",
    overwrite: bool = False,
    worker_timeout: float | None = 600.0,
    heartbeat: float = 10.0,
    verbose=0,
) -> SweepResult | None:
    """Run (or join) a sweep; the finishing process evaluates the best trial on `test`, once.

    Args:
        hypermodel: `FootballHyperModel` or `CifarHyperModel`.
        train: `(x, y)`, the data every trial trains on.
        validation: `(x, y)`, held out of the training data; the objective.
        test: `(x, y)`; touched once, by the chief (or the single process),
            for the best trial only. Workers may pass None.
        search: `"grid"` or `"random"`.
        objective: `"val_accuracy"` (maximized) or `"val_loss"` (minimized).
        max_trials: limit on trials (required for random search).
        seed: seed of the random search.
        directory, project_name: KerasTuner's project folder (trials, oracle
            state, checkpoints). Shared by chief and workers: on several
            machines it must be on a shared filesystem.
        logdir: TensorBoard root of the trials; `sweep.json` goes here.
        overwrite: start afresh instead of resuming the project. Only the
            chief (or the single process) may delete it.
        worker_timeout: seconds of silence after which the chief re-queues a
            worker's trial; None waits forever (KerasTuner's behaviour).
        heartbeat: seconds between a worker's signs of life.
        verbose: as in KerasTuner's `search`: 0 is silent; 1 and 2 print
            each trial's hyperparameters and "Trial N Complete ... Best ...
            So Far", and the training's own lines (`model.fit`'s progress
            bars with 1, a line per epoch with 2).

    Returns:
        The `SweepResult` on the chief or single process; None on a worker.
    """
    worker = is_worker()
    config = {
        "hypermodel": hypermodel.config(),
        "search": search,
        "objective": objective,
        "max_trials": max_trials,
        "seed": seed,
        "train_sha256": weights_digest(train),
        "validation_sha256": weights_digest(validation),
    }
    config = json.loads(json.dumps(config))  # as it reads back: tuples become lists
    config_path = Path(directory) / project_name / "kreg_sweep.json"
    if config_path.exists() and not (overwrite and not worker):
        try:
            saved = json.loads(config_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise ValueError(
                f"{config_path} is unreadable ({type(error).__name__}: {error}); pass "
                "--overwrite to start the sweep afresh, or another --project-name."
            ) from None
        changed = differences(saved, config)
        if changed:
            raise ValueError(
                f"{config_path.parent} holds a different sweep (it differs in "
                f"{', '.join(changed)}); resume it with the same arguments, or pass another "
                "--project-name, or --overwrite to replace it."
            )
    oracle = make_oracle(
        search,
        objective=objective,
        max_trials=max_trials,
        seed=seed,
        worker_timeout=worker_timeout,
    )
    tuner = SweepTuner(
        oracle,
        hypermodel,
        # Several seeds per trial are KerasTuner's executions: the trial's score is their mean.
        executions_per_trial=getattr(hypermodel, "seeds", 1),
        logdir=logdir,
        heartbeat=heartbeat,
        directory=str(directory),
        project_name=project_name,
        overwrite=overwrite and not worker,
    )
    if not worker:
        write_json(config_path, config)
        Path(logdir).mkdir(parents=True, exist_ok=True)
        # A Choice's values, or a Float range's ends: the domains of the HParams tab.
        taken = {
            h.name: getattr(h, "values", None) or [h.min_value, h.max_value]
            for h in tuner.oracle.get_space().space
        }
        log_hparams_config(logdir, taken, ("val_accuracy", "accuracy", "test_accuracy"))
    tuner.search(*train, validation_data=tuple(validation), verbose=verbose)
    if worker:
        return None

    trials = []
    for trial_id, trial in sorted(tuner.oracle.trials.items()):
        metrics = {name: trial.metrics.get_last_value(name) for name in trial.metrics.metrics}
        entry = {
            "trial_id": trial_id,
            "hparams": dict(trial.hyperparameters.values),
            "status": trial.status,
            "score": trial.score,
            "metrics": metrics,
        }
        executions = Path(tuner.project_dir) / "kreg_runs" / f"{trial_id}.executions.json"
        if executions.is_file():
            try:
                scores = json.loads(executions.read_text(encoding="utf-8"))["scores"]
            except (OSError, ValueError, KeyError) as error:
                raise ValueError(
                    f"{executions} is unreadable ({type(error).__name__}: {error}); pass "
                    "--overwrite to run the sweep afresh."
                ) from None
            mean, std = mean_std(scores)
            std = std if len(scores) > 1 else None  # JSON has no NaN
            entry["seeds"] = {"scores": scores, "mean": mean, "std": std}
        trials.append(entry)
    done = [t for t in tuner.oracle.trials.values() if t.status == "COMPLETED"]
    if not done:
        raise RuntimeError(f"No trial of the sweep completed; see {tuner.project_dir}.")
    # Ties go to the earliest trial, whatever order the trials were reloaded in.
    sign = -1 if tuner.oracle.objective.direction == "max" else 1
    best = min(done, key=lambda t: (sign * t.score, t.trial_id))
    with warnings.catch_warnings():
        # The checkpoint holds the optimizer's slots too; the rebuilt model needs only weights.
        warnings.filterwarnings("ignore", "Skipping variable loading for optimizer")
        try:
            model = tuner.load_model(best)
        except FileNotFoundError as error:
            raise FileNotFoundError(
                f"The best trial's weights are not in {tuner.get_trial_dir(best.trial_id)} "
                f"({error}). In a distributed sweep the KerasTuner directory must be shared "
                "by the chief and every worker."
            ) from None
    test_metrics = hypermodel.evaluate(model, test, train=train)
    log_metrics(
        Path(logdir) / best.trial_id / "execution0", {"test_accuracy": test_metrics["accuracy"]}
    )
    result = SweepResult(
        objective=objective,
        trials=trials,
        best_trial_id=best.trial_id,
        best_hparams=dict(best.hyperparameters.values),
        test=test_metrics,
    )
    write_json(Path(logdir) / "sweep.json", result.to_json())
    return result
