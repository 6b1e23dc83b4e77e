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

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import shutil
import threading
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import keras
import keras_tuner as kt
import numpy as np
from keras_tuner.src.distribute import utils as dist_utils
from keras_tuner.src.engine import trial as trial_module
from keras_tuner.src.engine import tuner_utils

from kreg.course import COURSE
from kreg.io import write_json
from kreg.models import football_classifier, vgg_cifar10
from kreg.regularizers import l2_from_lambda, rate_from_keep_prob
from kreg.tensorboard import log_hparams_config, log_metrics
from kreg.training import fit_full_batch, floatx_scope

__all__ = [
    "SPACES",
    "CifarHyperModel",
    "FootballHyperModel",
    "SweepResult",
    "SweepTuner",
    "make_oracle",
    "parse_values",
    "run_sweep",
    "split_validation",
]

# Default search spaces: the values a grid sweep tries when none are given.
SPACES = {
    "football": {"lambd": (0.0, 0.1, 0.3, 0.7), "keep_prob": (1.0, 0.86)},
    "cifar": {"weight_decay": (0.0, 5e-4, 1e-3), "dropout": (0.0, 0.3), "dense_dropout": (0.5,)},
}
OBJECTIVES = ("val_accuracy", "val_loss")


def parse_values(name: str, text: str) -> tuple[float, ...] | tuple[str, float, float]:
    """A search dimension from the command line: `"0,0.3,0.7"` or a range `"1e-4:1e-2"`.

    Returns a tuple of values, or `("range", low, high)` for a range (random
    search only; sampled log-uniformly when `low > 0`).
    """
    text = text.strip()
    try:
        if ":" in text:
            low, high = (float(part) for part in text.split(":"))
            if not (math.isfinite(low) and math.isfinite(high) and low < high):
                raise ValueError
            return ("range", low, high)
        values = tuple(float(part) for part in text.split(","))
        if not values or not all(math.isfinite(v) for v in values):
            raise ValueError
        return values
    except ValueError:
        raise ValueError(
            f"`{name}` must be a comma list of numbers (e.g. 0,0.3,0.7) or a range low:high "
            f"with low < high (e.g. 1e-4:1e-2). Received: {name}={text!r}"
        ) from None


def _check_space(space: dict, valid: dict) -> None:
    if not space:
        raise ValueError(f"The search space is empty; give values for any of {sorted(valid)}.")
    for name, values in space.items():
        if name not in valid:
            raise ValueError(f"Unknown hyperparameter {name!r}; expected one of {sorted(valid)}.")
        low, high, what = valid[name]
        numbers = values[1:] if values and values[0] == "range" else values
        if not numbers or any(not low <= v <= high for v in numbers):
            raise ValueError(f"`{name}` values must be {what}. Received: {name}={values}")


def _choice(hp, name: str, values):
    if values[0] == "range":
        _, low, high = values
        return hp.Float(name, low, high, sampling="log" if low > 0 else "linear")
    return hp.Choice(name, list(values), ordered=True)


def split_validation(x, y, fraction: float, seed: int):
    """Hold out a seeded random `fraction` of `(x, y)`: `(x_train, y_train, x_val, y_val)`."""
    if not 0 < fraction < 1:
        raise ValueError(f"`fraction` must be in (0, 1). Received: fraction={fraction}")
    n = len(x)
    n_val = max(1, int(round(n * fraction)))
    if n_val >= n:
        raise ValueError(f"Too few examples ({n}) for a validation split of {fraction}.")
    order = np.random.RandomState(seed).permutation(n)
    train, val = np.sort(order[n_val:]), np.sort(order[:n_val])
    return x[train], y[train], x[val], y[val]


class _SweepHyperModel(kt.HyperModel):
    VALID: dict = {}  # name -> (low, high, what the values must be)

    @classmethod
    def check_space(cls, space: dict) -> None:
        """Raise ValueError naming the first unknown name or out-of-range value of `space`."""
        _check_space(space, cls.VALID)


class FootballHyperModel(_SweepHyperModel):
    """The course's football classifier, trained full batch in float64, over `lambd` x `keep_prob`.

    Args:
        space: `{"lambd": values, "keep_prob": values}` (see `parse_values`).
        train_examples: `m`, the number of training examples (L2's factor is
            `lambd / (2 m)`).
        steps: full-batch gradient steps per trial.
        learning_rate: gradient-descent learning rate.
        log_every: steps per logged interval (an "epoch" for the callbacks).
        seed: seed of the dropout masks (the initial weights are the course's).
        dropout_layer: see `kreg.models.football_classifier`.
    """

    VALID = {"lambd": (0.0, math.inf, ">= 0"), "keep_prob": (1e-9, 1.0, "in (0, 1]")}

    def __init__(
        self, space: dict, *, train_examples: int, steps: int = COURSE.iterations,
        learning_rate: float = COURSE.learning_rate, log_every: int = COURSE.cost_every,
        seed: int = 0, dropout_layer: str = "kreg-hash",
    ):  # fmt: skip
        super().__init__(name="football")
        self.check_space(space)
        self.space = dict(space)
        self.train_examples = train_examples
        self.steps = steps
        self.learning_rate = learning_rate
        self.log_every = log_every
        self.seed = seed
        self.dropout_layer = dropout_layer

    def config(self) -> dict:
        """What defines this hypermodel's trials (to check that a resumed sweep is the same)."""
        return {"task": "football", "space": {k: list(v) for k, v in self.space.items()},
                "steps": self.steps, "learning_rate": self.learning_rate,
                "log_every": self.log_every, "seed": self.seed,
                "dropout_layer": self.dropout_layer}  # fmt: skip

    def build(self, hp):
        lambd = _choice(hp, "lambd", self.space.get("lambd", (0.0,)))
        keep_prob = _choice(hp, "keep_prob", self.space.get("keep_prob", (1.0,)))
        keras.utils.set_random_seed(self.seed)
        factor = l2_from_lambda(lambd, self.train_examples).l2 if lambd > 0 else 0.0
        with floatx_scope("float64"):
            model = football_classifier(
                hidden_units=COURSE.hidden_units, l2=factor,
                dropout=rate_from_keep_prob(keep_prob), dropout_layer=self.dropout_layer,
                seed=self.seed, dtype="float64", kernel_initializer="course",
                init_seed=COURSE.init_seed,
            )  # fmt: skip
            model.compile(
                optimizer=keras.optimizers.SGD(self.learning_rate),
                loss="binary_crossentropy",
                metrics=["accuracy"],
            )
        return model

    def fit(self, hp, model, x, y, validation_data=None, callbacks=None, **kwargs):
        with floatx_scope("float64"):
            run = fit_full_batch(
                model, x, y, steps=self.steps, optimizer=model.optimizer,
                log_every=self.log_every, validation_data=validation_data,
                callbacks=callbacks,
            )  # fmt: skip
        # KerasTuner reads a Keras History: the per-interval logs, without the step counter.
        history = keras.callbacks.History()
        history.epoch = list(range(len(run.logs)))
        history.history = {
            key: [logs[key] for logs in run.logs] for key in (run.logs[0] if run.logs else {})
            if key != "steps"
        }  # fmt: skip
        return history

    def evaluate(self, model, data, train=None) -> dict:
        """Accuracy and loss of `model` on `data = (x, y)`, in inference mode."""
        x, y = data
        prob = np.asarray(model(np.asarray(x, "float64"), training=False))
        accuracy = float(np.mean((prob > 0.5) == (np.asarray(y) > 0.5)))
        loss = float(keras.losses.BinaryCrossentropy()(y, prob))
        return {"accuracy": accuracy, "loss": loss}


class CifarHyperModel(_SweepHyperModel):
    """The CIFAR-10 convnet of a `kreg.cifar.Profile` over weight decay and dropout rates.

    Args:
        space: any of `"weight_decay"` (the L2 factor on every kernel),
            `"dropout"` (the rate after every pooling) and `"dense_dropout"`.
        profile: a `kreg.cifar.Profile` (network, epochs, batch size,
            optimizer, augmentation); dimensions not in `space` take its values.
        seed: seed of the initial weights, the dropout masks and the data order.
        dropout_layer: see `kreg.models.vgg_cifar10`.
    """

    VALID = {
        "weight_decay": (0.0, math.inf, ">= 0"),
        "dropout": (0.0, 0.999, "in [0, 1)"),
        "dense_dropout": (0.0, 0.999, "in [0, 1)"),
    }

    def __init__(self, space: dict, profile, *, seed: int = 0, dropout_layer: str = "kreg"):
        super().__init__(name="cifar")
        self.check_space(space)
        self.space = dict(space)
        self.profile = profile
        self.seed = seed
        self.dropout_layer = dropout_layer

    def config(self) -> dict:
        """What defines this hypermodel's trials (to check that a resumed sweep is the same)."""
        return {"task": "cifar", "space": {k: list(v) for k, v in self.space.items()},
                "profile": dataclasses.asdict(self.profile), "seed": self.seed,
                "dropout_layer": self.dropout_layer}  # fmt: skip

    def build(self, hp):
        from kreg.cifar import _optimizer

        profile = self.profile
        weight_decay = _choice(
            hp, "weight_decay", self.space.get("weight_decay", (profile.weight_decay,))
        )
        dropout = _choice(hp, "dropout", self.space.get("dropout", (profile.dropout[0],)))
        dense = self.space.get("dense_dropout", (profile.dense_dropout,))
        dense_dropout = _choice(hp, "dense_dropout", dense)
        keras.utils.set_random_seed(self.seed)
        model = vgg_cifar10(
            profile.preset, weight_decay=weight_decay, dropout=dropout,
            dense_dropout=dense_dropout, filters=profile.filters, dense_units=profile.dense_units,
            dropout_layer=self.dropout_layer, seed=self.seed,
        )  # fmt: skip
        model.compile(
            optimizer=_optimizer(profile),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        return model

    def fit(self, hp, model, x, y, validation_data=None, callbacks=None, **kwargs):
        images = self._images(x, y)
        return model.fit(
            images.train_dataset(), epochs=self.profile.epochs,
            validation_data=images.eval_dataset(*validation_data),
            callbacks=[images.callback, *(callbacks or [])], verbose=0, shuffle=False,
        )  # fmt: skip

    def _images(self, x, y):
        from kreg.pipeline import EpochSeededImages

        return EpochSeededImages(x, y, self.profile.batch_size, seed=self.seed,
                                 augment=self.profile.augment)  # fmt: skip

    def evaluate(self, model, data, train=None) -> dict:
        """Accuracy and loss on `data = (x, y)`, standardized with the `train` images' stats."""
        loss, accuracy = model.evaluate(self._images(*train).eval_dataset(*data), verbose=0)[:2]
        return {"accuracy": float(accuracy), "loss": float(loss)}


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
                trial.status = trial_module.TrialStatus.INVALID
                trial.message = f"worker {tuner_id} silent for {silent:.0f} s"
                self.end_trial(trial)
                self.ongoing_trials.pop(tuner_id, None)
                self.tuner_ids.discard(tuner_id)

    @kt.synchronized
    def create_trial(self, tuner_id):
        self._seen(tuner_id)
        self._reap_silent_workers()
        return super().create_trial(tuner_id)

    @kt.synchronized
    def update_trial(self, trial_id, metrics, step=0):
        self._seen(self._owner(trial_id))
        return super().update_trial(trial_id, metrics, step=step)

    @kt.synchronized
    def get_trial(self, trial_id):
        self._seen(self._owner(trial_id))
        return super().get_trial(trial_id)


class _GridOracle(_WorkerLiveness, kt.oracles.GridSearchOracle):
    pass


class _RandomOracle(_WorkerLiveness, kt.oracles.RandomSearchOracle):
    pass


def make_oracle(
    search: str, *, objective: str = "val_accuracy", max_trials: int | None = None,
    seed: int = 0, worker_timeout: float | None = None, max_retries_per_trial: int = 1,
):  # fmt: skip
    """A KerasTuner grid or random-search oracle that re-queues a silent worker's trial."""
    if objective not in OBJECTIVES:
        raise ValueError(f"`objective` must be one of {OBJECTIVES}. Received: {objective!r}")
    direction = "max" if objective.endswith("accuracy") else "min"
    # KerasTuner reads seed 0 as "no seed" (`seed or random.randint(...)`): shift by one.
    kwargs = dict(
        objective=kt.Objective(objective, direction), seed=seed + 1,
        max_retries_per_trial=max_retries_per_trial,
    )  # fmt: skip
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
        if dist_utils.has_chief_oracle() and not dist_utils.is_chief_oracle():
            self._wait_when_idle(self.oracle)

    @staticmethod
    def _wait_when_idle(client) -> None:
        # KerasTuner's worker asks again at once when the oracle answers IDLE (a grid
        # whose last trials are still running elsewhere); pause instead of spinning a core.
        create_trial = client.create_trial

        def patient_create_trial(tuner_id):
            trial = create_trial(tuner_id)
            if trial.status == trial_module.TrialStatus.IDLE:
                time.sleep(0.5)
            return trial

        client.create_trial = patient_create_trial

    def search(self, *fit_args, **fit_kwargs):
        if dist_utils.is_chief_oracle():
            self.oracle.verbose = fit_kwargs.get("verbose", self.oracle.verbose)
            self.save()
            _serve_oracle(self.oracle)
            return
        super().search(*fit_args, **fit_kwargs)

    def _record(self, event: str, trial, **extra) -> None:
        # One file per worker: appends from several machines never interleave.
        path = Path(self.project_dir) / "kreg_runs" / f"{self.tuner_id}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        line = {"event": event, "trial_id": trial.trial_id, "tuner_id": self.tuner_id,
                "pid": os.getpid(), "time": time.time(), **extra}  # fmt: skip
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(line) + "\n")

    def run_trial(self, trial, *args, **kwargs):
        # A re-run (after a worker died) replaces the first attempt's TensorBoard run.
        shutil.rmtree(self.logdir / trial.trial_id, ignore_errors=True)
        kwargs["callbacks"] = [*kwargs.get("callbacks", []),
                               keras.callbacks.TensorBoard(log_dir=str(self.logdir))]  # fmt: skip
        self._record("start", trial, hparams=trial.hyperparameters.values)
        stop = threading.Event()
        if dist_utils.has_chief_oracle():
            beat = threading.Thread(target=self._beat, args=(trial.trial_id, stop), daemon=True)
            beat.start()
        try:
            histories = super().run_trial(trial, *args, **kwargs)
        finally:
            stop.set()
        metrics = _best_epoch_metrics(histories, self.oracle.objective)
        log_metrics(self.logdir / trial.trial_id / "execution0", metrics)
        self._record("end", trial, metrics=metrics)
        return histories

    def _beat(self, trial_id, stop: threading.Event) -> None:
        while not stop.wait(self.heartbeat):
            try:
                self.oracle.get_trial(trial_id)
            except Exception:  # the chief may be busy or restarting: try again next beat
                pass


def _serve_oracle(oracle, poll: float = 0.5) -> None:
    """KerasTuner's chief server loop, checking for the end every `poll` s instead of 20 s."""
    from concurrent import futures

    import grpc
    from keras_tuner.src import protos
    from keras_tuner.src.distribute.oracle_chief import OracleServicer, exit_chief

    address = f"{os.environ['KERASTUNER_ORACLE_IP']}:{os.environ['KERASTUNER_ORACLE_PORT']}"
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    servicer = OracleServicer(oracle)
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
    if server.add_insecure_port(address) == 0:
        raise RuntimeError(f"The chief cannot listen on {address}: is the port in use?")
    server.start()
    try:
        while not (servicer.stop_triggered and exit_chief(oracle)):
            time.sleep(poll)
    finally:
        server.stop(grace=1.0)


def _flatten(config: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat |= _flatten(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _digest(arrays) -> str:
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def _best_epoch_metrics(histories, objective) -> dict:
    """The metrics KerasTuner scores the trial by (its best epoch's), with that epoch."""
    metrics = tuner_utils.convert_to_metrics_dict(histories, objective)
    return {k: float(v) for k, v in metrics.items()} | {
        "best_epoch": tuner_utils.get_best_step(histories, objective)
    }


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
    hypermodel, train, validation, test, *, search: str = "grid",
    objective: str = "val_accuracy", max_trials: int | None = None, seed: int = 0,
    directory: str | os.PathLike = "sweeps", project_name: str = "sweep",
    logdir: str | os.PathLike = "runs/sweep", overwrite: bool = False,
    worker_timeout: float | None = 600.0, heartbeat: float = 10.0,
) -> SweepResult | None:  # fmt: skip
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

    Returns:
        The `SweepResult` on the chief or single process; None on a worker.
    """
    chief = dist_utils.is_chief_oracle()
    worker = dist_utils.has_chief_oracle() and not chief
    config = {
        "hypermodel": hypermodel.config(), "search": search, "objective": objective,
        "max_trials": max_trials, "seed": seed,
        "train_sha256": _digest(train), "validation_sha256": _digest(validation),
    }  # fmt: skip
    config = json.loads(json.dumps(config))  # as it reads back: tuples become lists
    config_path = Path(directory) / project_name / "kreg_sweep.json"
    if config_path.exists() and not (overwrite and not worker):
        saved = json.loads(config_path.read_text(encoding="utf-8"))
        old, new = _flatten(saved), _flatten(config)
        changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        if changed:
            raise ValueError(
                f"{config_path.parent} holds a different sweep (it differs in "
                f"{', '.join(changed)}); resume it with the same arguments, or pass another "
                "--project-name, or --overwrite to replace it."
            )
    oracle = make_oracle(search, objective=objective, max_trials=max_trials, seed=seed,
                         worker_timeout=worker_timeout)  # fmt: skip
    tuner = SweepTuner(
        oracle, hypermodel, logdir=logdir, heartbeat=heartbeat, directory=str(directory),
        project_name=project_name, overwrite=overwrite and not worker,
    )  # fmt: skip
    if not worker:
        write_json(config_path, config)
        Path(logdir).mkdir(parents=True, exist_ok=True)
        names = list(tuner.oracle.get_space().values)
        log_hparams_config(logdir, names, ("val_accuracy", "accuracy", "test_accuracy"))
    tuner.search(*train, validation_data=tuple(validation), verbose=0)
    if worker:
        return None

    trials = []
    for trial_id, trial in sorted(tuner.oracle.trials.items()):
        metrics = {name: trial.metrics.get_last_value(name) for name in trial.metrics.metrics}
        trials.append({
            "trial_id": trial_id, "hparams": dict(trial.hyperparameters.values),
            "status": trial.status, "score": trial.score, "metrics": metrics,
        })  # fmt: skip
    done = [t for t in tuner.oracle.trials.values() if t.status == "COMPLETED"]
    if not done:
        raise RuntimeError(f"No trial of the sweep completed; see {tuner.project_dir}.")
    # Ties go to the earliest trial, whatever order the trials were reloaded in.
    sign = -1 if tuner.oracle.objective.direction == "max" else 1
    best = min(done, key=lambda t: (sign * t.score, t.trial_id))
    checkpoint = tuner._get_checkpoint_fname(best.trial_id)
    if not Path(checkpoint).exists():
        raise FileNotFoundError(
            f"The best trial's weights are not at {checkpoint}. In a distributed sweep the "
            "KerasTuner directory must be shared by the chief and every worker."
        )
    with warnings.catch_warnings():
        # The checkpoint holds the optimizer's slots too; the rebuilt model needs only weights.
        warnings.filterwarnings("ignore", "Skipping variable loading for optimizer")
        model = tuner.load_model(best)
    test_metrics = hypermodel.evaluate(model, test, train=train)
    log_metrics(Path(logdir) / best.trial_id / "execution0",
                {"test_accuracy": test_metrics["accuracy"]})  # fmt: skip
    result = SweepResult(
        objective=objective, trials=trials, best_trial_id=best.trial_id,
        best_hparams=dict(best.hyperparameters.values), test=test_metrics,
    )  # fmt: skip
    write_json(Path(logdir) / "sweep.json", result.to_json())
    return result


def hparams_table(result: SweepResult, names: Sequence[str] | None = None) -> str:
    """The sweep as text: one row per trial, the best marked with `*`."""
    names = names or sorted({name for t in result.trials for name in t["hparams"]})
    header = ["", "trial", *names, result.objective, "accuracy", "status"]
    rows = [header]
    for t in result.trials:
        metrics = t["metrics"]
        rows.append([
            "*" if t["trial_id"] == result.best_trial_id else "", t["trial_id"],
            *(f"{t['hparams'].get(n, '-'):g}" if n in t["hparams"] else "-" for n in names),
            _fmt(metrics.get(result.objective)), _fmt(metrics.get("accuracy")), t["status"],
        ])  # fmt: skip
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(header))]
    return "\n".join("  ".join(str(c).rjust(w) for c, w in zip(row, widths)) for row in rows)


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.4f}"
