import json
import re

import keras
import numpy as np
import pytest

from kreg.lab.callbacks import BackupAndRestore
from kreg.lab.callbacks.backup_and_restore import BackupUnusableError
from kreg.walk import seed_generators

RNG = np.random.RandomState(0)
X = RNG.rand(64, 8).astype("float32")
Y = RNG.rand(64, 1).astype("float32")


def build():
    keras.utils.set_random_seed(1)
    model = keras.Sequential(
        [
            keras.Input((8,)),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dropout(0.5, seed=3),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dropout(0.3, seed=4),
            keras.layers.Dense(1),
        ]
    )
    model.compile(keras.optimizers.Adam(0.01), "mse")
    return model


class Interrupt(keras.callbacks.Callback):
    def __init__(self, at_epoch):
        super().__init__()
        self.at_epoch = at_epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.at_epoch:
            raise KeyboardInterrupt


def fit(model, callbacks, epochs=6):
    model.fit(X, Y, batch_size=16, epochs=epochs, shuffle=False, verbose=0, callbacks=callbacks)


def newest(tmp_path):
    """The newest complete backup folder."""
    return BackupAndRestore(str(tmp_path)).checkpoints()[0][1]


def test_each_backup_is_one_folder_with_weights_epoch_rng_and_fingerprint(tmp_path):
    model = build()
    with pytest.raises(KeyboardInterrupt):
        fit(model, [BackupAndRestore(str(tmp_path), fingerprint={"run": 1}), Interrupt(2)])
    # The newest two complete backups are kept: epochs 1 and 2.
    folders = BackupAndRestore(str(tmp_path)).checkpoints()
    assert [n for n, _ in folders] == [2, 1]
    assert sorted(p.name for p in folders[0][1].iterdir()) == [
        "kreg_state.json",
        "latest.weights.h5",
        "training_metadata.json",
    ]
    saved = json.loads((folders[0][1] / "kreg_state.json").read_text())
    assert saved["epoch"] == 2 and saved["fingerprint"] == {"run": 1}
    assert json.loads((folders[1][1] / "training_metadata.json").read_text())["epoch"] == 1
    generators = seed_generators(model)
    assert [label.split(":")[0] for label, _ in generators] == ["Dropout", "Dropout"]
    assert saved["seed_generators"] == [
        [label, np.asarray(generator.state).tolist()] for label, generator in generators
    ]


@pytest.mark.parametrize("callback_class", [BackupAndRestore, keras.callbacks.BackupAndRestore])
def test_resume_matches_uninterrupted_only_with_rng_state(tmp_path, callback_class):
    uninterrupted = build()
    fit(uninterrupted, [])

    first = build()
    with pytest.raises(KeyboardInterrupt):
        fit(first, [callback_class(str(tmp_path)), Interrupt(3)])
    resumed = build()  # a new process would start from a fresh model too
    fit(resumed, [callback_class(str(tmp_path))])
    same = all(
        np.array_equal(a, b) for a, b in zip(uninterrupted.get_weights(), resumed.get_weights())
    )
    # Keras's own callback restores weights and optimizer but not the dropout RNG.
    assert same == (callback_class is BackupAndRestore)


def test_nan_loss_stops_and_keeps_last_good_backup(tmp_path, capsys):
    model = build()

    class Poison(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 2:
                kernel = self.model.layers[-1].kernel
                kernel.assign(np.full(kernel.shape, np.nan, "float32"))

    backup = BackupAndRestore(str(tmp_path))
    fit(model, [Poison(), backup])
    assert backup.nan_at == (2, 0) and backup.nan_reason.startswith("loss = nan")
    assert "Epoch 3, batch 1: non-finite loss = nan; terminating training." in (
        capsys.readouterr().out
    )
    metadata = json.loads((newest(tmp_path) / "training_metadata.json").read_text())
    assert metadata["epoch"] == 2  # the backup of the last good epoch, not the NaN one
    restored = build()
    restored.optimizer.build(restored.trainable_variables)
    restored.load_weights(newest(tmp_path) / "latest.weights.h5")
    assert all(np.isfinite(w).all() for w in restored.get_weights())


class PoisonAfterStep(keras.callbacks.Callback):
    """Make one weight NaN after a batch's step, once its (finite) loss has been logged.

    Deterministic on every CPU, unlike a huge learning rate, whose NaN some max-pooling
    and ReLU kernels turn back into finite numbers.
    """

    def __init__(self, epoch, batch):
        super().__init__()
        self.epoch, self.batch, self.current = epoch, batch, 0
        self.losses = []

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch

    def on_train_batch_end(self, batch, logs=None):
        self.losses.append(float(logs["loss"]))
        if (self.current, batch) == (self.epoch, self.batch):
            kernel = self.model.layers[0].kernel
            value = np.asarray(kernel).copy()
            value[0, 0] = np.nan
            kernel.assign(value)


def test_nan_weights_with_a_finite_loss_stop_training(tmp_path, capsys):
    model = build()
    poison = PoisonAfterStep(epoch=1, batch=2)
    backup = BackupAndRestore(str(tmp_path))
    fit(model, [poison, backup])
    assert np.isfinite(poison.losses[-1]), "the loss of the poisoned batch is finite"
    assert backup.nan_at == (1, 2)
    assert backup.nan_reason == f"weights (first: {model.layers[0].kernel.path})"
    assert "Epoch 2, batch 3: non-finite weights" in capsys.readouterr().out
    metadata = json.loads((newest(tmp_path) / "training_metadata.json").read_text())
    assert metadata["epoch"] == 1 and (newest(tmp_path) / "kreg_state.json").exists()


def test_a_non_finite_epoch_metric_stops_training(tmp_path):
    class InfiniteMetric(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["some_metric"] = float("inf")

    backup = BackupAndRestore(str(tmp_path))
    fit(build(), [InfiniteMetric(), backup], epochs=3)
    assert backup.nan_at == (0, None) and backup.nan_reason == "some_metric = inf"


def interrupted_at_epoch_2(tmp_path):
    """Back up two epochs, stop, and return the newest backup's state file and contents."""
    with pytest.raises(KeyboardInterrupt):
        fit(build(), [BackupAndRestore(str(tmp_path)), Interrupt(2)])
    state = newest(tmp_path) / "kreg_state.json"
    return state, json.loads(state.read_text())


def resumed_weights(tmp_path, **kwargs):
    model = build()
    backup = BackupAndRestore(str(tmp_path), **kwargs)
    fit(model, [backup])
    return model.get_weights(), backup


def uninterrupted_weights():
    model = build()
    fit(model, [])
    return model.get_weights()


def test_a_backup_of_another_model_is_skipped_for_the_previous_one(tmp_path):
    state, saved = interrupted_at_epoch_2(tmp_path)
    saved["seed_generators"] = saved["seed_generators"][:1]
    state.write_text(json.dumps(saved))
    with pytest.warns(UserWarning) as caught:
        weights, backup = resumed_weights(tmp_path)
    message = str(caught[0].message)
    assert "seed generators of ['Dropout'] but the model has" in message
    assert re.search(r"resuming from .*checkpoint-000001 \(epoch 1\)", message)
    assert all(np.array_equal(a, b) for a, b in zip(weights, uninterrupted_weights()))


@pytest.mark.parametrize(
    "damage",
    ["truncate_weights", "flip_a_weight_byte", "truncate_state", "delete_weights", "empty_state"],
)
def test_a_damaged_newest_backup_falls_back_to_the_previous_one(tmp_path, damage):
    state, _ = interrupted_at_epoch_2(tmp_path)
    weights_file = state.parent / "latest.weights.h5"
    if damage == "truncate_weights":
        weights_file.write_bytes(weights_file.read_bytes()[:1000])
    elif damage == "flip_a_weight_byte":
        data = bytearray(weights_file.read_bytes())
        data[len(data) // 2] ^= 0xFF
        weights_file.write_bytes(bytes(data))
    elif damage == "truncate_state":
        state.write_text(state.read_text()[:20])
    elif damage == "delete_weights":
        weights_file.unlink()
    else:
        state.write_text("")
    with pytest.warns(UserWarning, match=r"checkpoint-000002.*resuming from .*\(epoch 1\)"):
        weights, backup = resumed_weights(tmp_path)
    assert backup.restored_from.name == "checkpoint-000001"
    # Epochs 2 to 6 trained again from the epoch-1 backup: the uninterrupted run's weights.
    assert all(np.array_equal(a, b) for a, b in zip(weights, uninterrupted_weights()))


def test_no_usable_backup_stops_before_training_naming_each(tmp_path):
    interrupted_at_epoch_2(tmp_path)
    for _, folder in BackupAndRestore(str(tmp_path)).checkpoints():
        (folder / "kreg_state.json").write_text("{")
    model = build()
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(BackupUnusableError, match="No backup in .* can be restored") as error:
        fit(model, [BackupAndRestore(str(tmp_path))])
    assert "checkpoint-000002" in str(error.value) and "checkpoint-000001" in str(error.value)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_a_backup_with_another_fingerprint_is_not_restored(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        fit(build(), [BackupAndRestore(str(tmp_path), fingerprint={"lr": 1}), Interrupt(2)])
    with pytest.raises(BackupUnusableError, match="fingerprint differs"):
        fit(build(), [BackupAndRestore(str(tmp_path), fingerprint={"lr": 2})])


def test_a_partial_backup_left_by_a_kill_is_removed_and_ignored(tmp_path):
    interrupted_at_epoch_2(tmp_path)
    partial = tmp_path / ".checkpoint-000003.partial-12345"
    partial.mkdir()
    (partial / "latest.weights.h5").write_bytes(b"half")
    weights, backup = resumed_weights(tmp_path)
    assert not partial.exists() and backup.restored_from.name == "checkpoint-000002"
    assert all(np.array_equal(a, b) for a, b in zip(weights, uninterrupted_weights()))


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="`keep` must be an integer >= 2. Received: keep=1"):
        BackupAndRestore("unused", keep=1)
    with pytest.raises(ValueError, match="`double_checkpoint` is Keras's in-place copy"):
        BackupAndRestore("unused", double_checkpoint=True)


def swa_run(tmp_path, *, interrupt_at=None, with_state=True):
    """6 epochs averaged from epoch 1; optionally interrupted, then resumed in a new model."""
    from kreg.callbacks import StochasticWeightAveraging

    def callbacks():
        swa = StochasticWeightAveraging(start_epoch=1)
        backup = BackupAndRestore(str(tmp_path), stateful_callbacks=[swa] if with_state else [])
        return swa, [swa, backup]

    model = build()
    if interrupt_at is not None:
        _, listed = callbacks()
        with pytest.raises(KeyboardInterrupt):
            fit(model, [*listed, Interrupt(interrupt_at)])
        model = build()
    swa, listed = callbacks()
    fit(model, listed)
    return model.get_weights(), swa


def test_the_swa_mean_travels_with_the_backup(tmp_path):
    expected, whole = swa_run(tmp_path / "whole")
    weights, resumed = swa_run(tmp_path / "resumed", interrupt_at=4)
    assert resumed.averaged == whole.averaged == 5
    assert all(np.array_equal(a, b) for a, b in zip(weights, expected))
    # Without its state in the backup the resumed mean holds only the last two epochs.
    weights, forgetful = swa_run(tmp_path / "forgetful", interrupt_at=4, with_state=False)
    assert forgetful.averaged == 2
    assert not all(np.array_equal(a, b) for a, b in zip(weights, expected))


def test_a_damaged_callback_state_falls_back_to_the_previous_backup(tmp_path):
    from kreg.callbacks import StochasticWeightAveraging

    model = build()
    swa = StochasticWeightAveraging(start_epoch=0)
    with pytest.raises(KeyboardInterrupt):
        fit(model, [swa, BackupAndRestore(str(tmp_path), stateful_callbacks=[swa]), Interrupt(3)])
    state = newest(tmp_path) / "callback-0.npz"
    state.write_bytes(state.read_bytes()[:-10])
    # A backup saved with other stateful callbacks is not one of this run's.
    with pytest.raises(BackupUnusableError, match=r"callbacks \['StochasticWeightAveraging'\]"):
        fit(build(), [BackupAndRestore(str(tmp_path))])
    again = StochasticWeightAveraging(start_epoch=0)
    backup = BackupAndRestore(str(tmp_path), stateful_callbacks=[again])
    with pytest.warns(UserWarning, match=r"callback-0.npz is missing or does not match"):
        fit(build(), [again, backup], epochs=3)
    assert backup.restored_from.name == "checkpoint-000002" and again.averaged == 3
    with pytest.raises(ValueError, match="get_state\\(\\) and set_state\\(\\); Interrupt has not"):
        BackupAndRestore(str(tmp_path), stateful_callbacks=[Interrupt(0)])
