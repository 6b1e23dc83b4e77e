"""kreg/_compat.py: every private internal kreg uses is still there, and the patches are scoped."""

import keras
import numpy as np
import pytest

from kreg.lab import _compat


def tiny_model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile("sgd", "mse")
    return model


def test_installed_versions_are_the_tested_ones():
    assert _compat.check_versions() == []


def test_an_untested_version_is_named_in_a_warning():
    with pytest.warns(UserWarning, match=r"keras>=3.15.1,<3.16 .* keras 3.16.0 is installed"):
        problems = _compat.check_versions({"keras": "3.16.0"})
    assert len(problems) == 1


def test_keras_backup_internals_exist():
    save, epoch, batch = _compat.keras_backup_internals()
    callback = keras.callbacks.BackupAndRestore("unused")
    assert callable(getattr(callback, save))
    assert getattr(callback, epoch) == 0 and getattr(callback, batch) == 0


def test_fit_starts_at_the_initial_epoch_a_backup_sets():
    model = tiny_model()
    seen = []

    class Record(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            _compat.set_initial_epoch(self.model, 2)

        def on_epoch_begin(self, epoch, logs=None):
            seen.append(epoch)

    model.fit(np.ones((4, 3)), np.ones((4, 2)), epochs=4, callbacks=[Record()], verbose=0)
    assert seen == [2, 3]


def test_restored_initial_epoch_is_set_by_keras_backup(tmp_path):
    x, y = np.ones((4, 3)), np.ones((4, 2))
    model = tiny_model()
    backup = keras.callbacks.BackupAndRestore(str(tmp_path), delete_checkpoint=False)
    model.fit(x, y, epochs=2, callbacks=[backup], verbose=0)
    resumed = tiny_model()
    resumed.fit(x, y, epochs=3, callbacks=[backup], verbose=0)
    assert _compat.restored_initial_epoch(resumed) == 2


def test_multiworker_patches_are_undone_after_the_block():
    from keras.src.backend.tensorflow import trainer

    original = trainer.reduce_per_replica
    model = tiny_model()
    strategy = object()
    with pytest.raises(RuntimeError, match="inside"):
        with _compat.multiworker_trainer_patches(model, strategy):
            assert trainer.reduce_per_replica is not original
            assert "_maybe_symbolic_build" in vars(model)
            raise RuntimeError("inside")
    assert trainer.reduce_per_replica is original
    assert "_maybe_symbolic_build" not in vars(model)
    assert callable(model._maybe_symbolic_build)


def test_keras_tuner_chief_internals_exist():
    from keras_tuner.src import protos
    from keras_tuner.src.distribute.oracle_chief import OracleServicer, exit_chief

    assert callable(protos.get_service_grpc().add_OracleServicer_to_server)
    assert callable(exit_chief) and isinstance(OracleServicer, type)


def test_keras_tuner_oracle_internals_exist(tmp_path):
    import keras_tuner as kt
    from keras_tuner.src.tuners.gridsearch import LinkedList

    oracle = kt.oracles.GridSearchOracle(objective="val_loss")
    assert isinstance(oracle._ordered_ids, LinkedList) and oracle._populate_next == []
    assert oracle._retry_queue == [] and oracle.end_order == []
    assert callable(oracle._compare)
    linked = LinkedList()
    linked.insert("a")
    linked.insert("b")
    assert linked.next("a") == "b" and linked.next("b") is None


def test_flush_tensorboard_writes_buffered_events(tmp_path):
    board = keras.callbacks.TensorBoard(str(tmp_path))
    model = tiny_model()
    model.fit(np.ones((4, 3)), np.ones((4, 2)), epochs=1, callbacks=[board], verbose=0)
    assert board._writers, "Keras keeps its summary writers in `_writers`"
    _compat.flush_tensorboard(board)  # flushes, and raises nothing on closed writers
