"""Every use kreg makes of Keras's, KerasTuner's and Python's private internals, in one place.

Each entry names what it touches, why no public API does the job, and the
versions it was checked against (`TESTED`, the upper bounds in `setup.cfg`).
`tests/test_compat.py` fails loudly when an installed version no longer has
one of them, so an upgrade breaks a test here rather than a user's run.
"""

from __future__ import annotations

import contextlib
import time
import warnings

__all__ = [
    "TESTED",
    "check_versions",
    "flush_tensorboard",
    "forget_finished_retries",
    "keras_backup_internals",
    "multiworker_trainer_patches",
    "rebuild_grid_order",
    "restored_initial_epoch",
    "set_initial_epoch",
    "serve_keras_tuner_oracle",
    "wait_when_idle",
]

# Package -> (first tested, first untested) version; setup.cfg carries the same bounds.
TESTED = {
    "keras": ("3.15.1", "3.16"),
    "keras-tuner": ("1.4.8", "1.5"),
    "tensorflow": ("2.21", "2.22"),
    "tensorboard": ("2.21", "2.22"),
}


def _version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for part in text.split("."):
        digits = "".join(c for c in part if c.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def check_versions(installed: dict[str, str] | None = None) -> list[str]:
    """Warn about every installed package outside the range kreg was tested with.

    Returns the warnings' texts (empty when every version is in range).
    """
    from importlib.metadata import PackageNotFoundError, version

    problems = []
    for package, (low, high) in TESTED.items():
        try:
            found = (installed or {}).get(package) or version(package)
        except PackageNotFoundError:
            continue
        if not _version_tuple(low) <= _version_tuple(found) < _version_tuple(high):
            problems.append(
                f"kreg was tested with {package}>={low},<{high} and uses some of its private "
                f"internals (kreg/_compat.py); {package} {found} is installed."
            )
    for problem in problems:
        warnings.warn(problem, stacklevel=2)
    return problems


# --- Keras -----------------------------------------------------------------------------------


def set_initial_epoch(model, epoch: int) -> None:
    """Tell `fit` to start at `epoch`, as `keras.callbacks.BackupAndRestore` does on restore.

    Keras's callback passes the restored epoch to `fit` through the private
    `model._initial_epoch`; kreg's subclass restores its own backup folders
    and sets the same attribute.
    """
    model._initial_epoch = epoch


def flush_tensorboard(callback) -> None:
    """Write what a `keras.callbacks.TensorBoard` callback has logged so far to its files.

    Its summary writers buffer events (up to 2 minutes); a process killed
    meanwhile loses them. Keras keeps the writers in the callback's private
    `_writers` dict; kreg flushes them before each backup, so that a backup
    never claims epochs whose TensorBoard events are not on disk.
    """
    for writer in getattr(callback, "_writers", {}).values():
        writer.flush()


def restored_initial_epoch(model) -> int | None:
    """The epoch a backup restored the model to (None if none did)."""
    return getattr(model, "_initial_epoch", None)


def keras_backup_internals() -> tuple[str, str, str]:
    """The names kreg's `BackupAndRestore` subclass relies on in Keras's.

    `_save_model()` is the hook Keras calls to write one backup (kreg writes
    its own atomic backup folder there); `_current_epoch` and
    `_last_batch_seen` are the epoch and batch that backup belongs to.
    """
    return "_save_model", "_current_epoch", "_last_batch_seen"


@contextlib.contextmanager
def multiworker_trainer_patches(model, strategy):
    """While the block runs, let Keras's `fit`/`evaluate` work under MultiWorkerMirroredStrategy.

    Keras 3.15's TensorFlow trainer fails under that strategy
    (keras-team/keras#20585) in two private places, patched here for the
    block only and restored after it:

    - `model._maybe_symbolic_build` reduces one batch across the replicas
      with an eager collective just to learn its shapes ("Attempt to convert
      a value (PerReplica...)"); the model gets the local replica's batch.
    - `keras.src.backend.tensorflow.trainer.reduce_per_replica` averages the
      replicas' logs with `axis=0`, which fails on scalars ("Invalid
      reduction dimension 0"); scalars are averaged as they are.
    """
    import tensorflow as tf
    from keras.src.backend.tensorflow import trainer

    original_reduce = trainer.reduce_per_replica

    def reduce_per_replica(values, strategy_, reduction="auto"):
        if strategy_ is not strategy or reduction not in ("auto", "mean"):
            return original_reduce(values, strategy_, reduction)

        def mean(value):
            if not isinstance(value, tf.distribute.DistributedValues):
                return value
            rank = strategy.experimental_local_results(value)[0].shape.rank
            return strategy.reduce("MEAN", value, axis=None if rank == 0 else 0)

        return tf.nest.map_structure(mean, values)

    build = model._maybe_symbolic_build

    def local(value):
        if isinstance(value, tf.distribute.DistributedValues):
            return strategy.experimental_local_results(value)[0]
        return value

    def symbolic_build_from_local_batch(iterator=None, data_batch=None):
        if iterator is not None:
            for _, _, batches in iterator:
                data_batch = tf.nest.map_structure(local, next(batches))
                break
        return build(data_batch=data_batch)

    trainer.reduce_per_replica = reduce_per_replica
    model._maybe_symbolic_build = symbolic_build_from_local_batch
    try:
        yield
    finally:
        trainer.reduce_per_replica = original_reduce
        del model._maybe_symbolic_build  # the class's method again


# --- KerasTuner ------------------------------------------------------------------------------


def serve_keras_tuner_oracle(oracle, address: str):
    """Start KerasTuner's chief gRPC service for `oracle` on `address`.

    KerasTuner's own `oracle_chief.start_server` polls for the end of the
    search every 20 s and cannot be stopped from outside; kreg runs the same
    servicer and polls every 0.5 s. Returns `(server, done)`, `done()` being
    true once the search is over and every worker has been told.
    """
    from concurrent import futures

    import grpc
    from keras_tuner.src import protos
    from keras_tuner.src.distribute.oracle_chief import OracleServicer, exit_chief

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    servicer = OracleServicer(oracle)
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
    if server.add_insecure_port(address) == 0:
        raise RuntimeError(f"The chief cannot listen on {address}: is the port in use?")
    server.start()
    return server, lambda: servicer.stop_triggered and exit_chief(oracle)


def wait_when_idle(client, pause: float = 0.5) -> None:
    """Make a KerasTuner worker's oracle client pause when the chief has no trial for it yet.

    KerasTuner's worker asks again at once when the oracle answers IDLE (a grid
    whose last trials are still running on other workers), spinning a core.
    There is no setting for this; the worker's `OracleClient.create_trial` is
    wrapped on that one client object to sleep `pause` seconds after an IDLE.
    """
    from keras_tuner.engine.trial import TrialStatus

    create_trial = client.create_trial

    def patient_create_trial(tuner_id):
        trial = create_trial(tuner_id)
        if trial.status == TrialStatus.IDLE:
            time.sleep(pause)
        return trial

    client.create_trial = patient_create_trial


def rebuild_grid_order(oracle) -> None:
    """Restore a reloaded `GridSearchOracle`'s place in its grid, which KerasTuner does not save.

    KerasTuner 1.4's grid oracle keeps the trials in grid order in a private
    linked list (`_ordered_ids`) and the trials whose next combination is
    still to be made in `_populate_next`, neither of them in its saved state:
    a chief restarted on an existing project then fails in `create_trial`
    (`KeyError` on a trial id). Both are rebuilt from the reloaded trials,
    sorted with the oracle's own grid comparison; a combination already
    tried is skipped as usual.
    """
    import functools

    from keras_tuner.src.tuners.gridsearch import LinkedList

    def compare(a, b):
        return oracle._compare(
            oracle.trials[a].hyperparameters.values, oracle.trials[b].hyperparameters.values
        )

    ordered = sorted(oracle.trials, key=functools.cmp_to_key(compare))
    oracle._ordered_ids = LinkedList()
    for trial_id in ordered:
        oracle._ordered_ids.insert(trial_id)
    oracle._populate_next = list(ordered)


def forget_finished_retries(oracle) -> None:
    """Keep a reloaded oracle from running again a trial whose completion it had saved.

    On reload KerasTuner 1.4 puts every trial that `oracle.json` lists as
    ongoing into its private retry queue (`_retry_queue`). The oracle saves a
    finished trial's `trial.json` before `oracle.json`, so a chief killed
    between the two would train a completed trial again; such trials are
    taken out of the queue and counted as ended.
    """
    from keras_tuner.engine.trial import TrialStatus

    finished = {
        trial_id
        for trial_id, trial in oracle.trials.items()
        if trial.status in (TrialStatus.COMPLETED, TrialStatus.FAILED)
    }
    oracle._retry_queue = [t for t in oracle._retry_queue if t not in finished]
    oracle.end_order.extend(t for t in sorted(finished) if t not in oracle.end_order)
