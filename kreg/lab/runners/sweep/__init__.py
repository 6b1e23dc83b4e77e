"""Regularization sweeps on KerasTuner: hypermodels, a worker-aware oracle, and the sweep itself.

kreg does not schedule trials itself. `run_sweep` hands a search space to a
KerasTuner oracle (`GridSearch` or `RandomSearch`), so the same call runs

- in one process (no `KERASTUNER_*` variables set), or
- distributed with KerasTuner's chief/worker mode: the process with
  `KERASTUNER_TUNER_ID=chief` serves the oracle on
  `KERASTUNER_ORACLE_IP:KERASTUNER_ORACLE_PORT` and every other process (each
  with its own `KERASTUNER_TUNER_ID`) asks it for trials and runs them.

Every trial trains on the training split only; the objective (validation
accuracy by default) comes from a validation split held out of the training
data with the sweep's seed. Only the process that finishes the sweep (the chief,
or the single process) evaluates the best trial's model on the test set, once,
and writes `sweep.json` beside the trials' TensorBoard runs.

What kreg adds to KerasTuner:

- hypermodels for the football classifier (`lambd`, `keep_prob`) and the
  CIFAR-10 convnet (`weight_decay`, `dropout`, `dense_dropout`), seeded so that
  a trial gives the same numbers whichever process runs it;
- worker liveness: a worker sends a heartbeat while it trains, and the chief's
  oracle hands the trial of a worker silent for `worker_timeout` seconds to
  another worker (KerasTuner alone waits for it forever). A worker restarted
  with the same `KERASTUNER_TUNER_ID` gets its unfinished trial back, as in
  KerasTuner;
- per-trial HParams records (KerasTuner's TensorBoard integration) with the
  trial's final metrics, and a log of which worker ran which trial.
"""

from kreg.lab.runners.sweep.hypermodels import (
    OBJECTIVES,
    SPACES,
    CifarHyperModel,
    FootballHyperModel,
    parse_values,
)
from kreg.lab.runners.sweep.oracle import make_oracle
from kreg.lab.runners.sweep.run import SweepResult, run_sweep
from kreg.lab.runners.sweep.tuner import SweepTuner

__all__ = [
    "OBJECTIVES",
    "SPACES",
    "CifarHyperModel",
    "FootballHyperModel",
    "SweepResult",
    "SweepTuner",
    "make_oracle",
    "parse_values",
    "run_sweep",
]
