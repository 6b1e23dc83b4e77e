import json

import keras
import numpy as np
import pytest

from kreg.lab.callbacks import BackupAndRestore
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


def test_saves_seed_generator_state_with_each_backup(tmp_path):
    model = build()
    with pytest.raises(KeyboardInterrupt):
        fit(model, [BackupAndRestore(str(tmp_path)), Interrupt(2)])
    saved = json.loads((tmp_path / BackupAndRestore.STATE_FILE).read_text())
    assert saved["epoch"] == 2
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
    metadata = json.loads((tmp_path / "training_metadata.json").read_text())
    assert metadata["epoch"] == 2  # the backup of the last good epoch, not the NaN one
    restored = build()
    restored.optimizer.build(restored.trainable_variables)
    restored.load_weights(tmp_path / "latest.weights.h5")
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
    metadata = json.loads((tmp_path / "training_metadata.json").read_text())
    assert metadata["epoch"] == 1 and (tmp_path / BackupAndRestore.STATE_FILE).exists()


def test_a_non_finite_epoch_metric_stops_training(tmp_path):
    class InfiniteMetric(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["some_metric"] = float("inf")

    backup = BackupAndRestore(str(tmp_path))
    fit(build(), [InfiniteMetric(), backup], epochs=3)
    assert backup.nan_at == (0, None) and backup.nan_reason == "some_metric = inf"


def interrupted_at_epoch_2(tmp_path):
    """Back up two epochs, stop, and return the path and contents of kreg's RNG state file."""
    with pytest.raises(KeyboardInterrupt):
        fit(build(), [BackupAndRestore(str(tmp_path)), Interrupt(2)])
    state = tmp_path / BackupAndRestore.STATE_FILE
    return state, json.loads(state.read_text())


def test_backup_of_another_model_is_refused(tmp_path):
    state, saved = interrupted_at_epoch_2(tmp_path)
    saved["seed_generators"] = saved["seed_generators"][:1]
    state.write_text(json.dumps(saved))
    with pytest.raises(ValueError, match=r"seed generators of \['Dropout'\] but the model has"):
        fit(build(), [BackupAndRestore(str(tmp_path))])


def test_inconsistent_backup_is_refused(tmp_path):
    state, saved = interrupted_at_epoch_2(tmp_path)
    saved["epoch"] = 1
    state.write_text(json.dumps(saved))
    with pytest.raises(ValueError, match="belongs to epoch 1 but the weights backup to epoch 2"):
        fit(build(), [BackupAndRestore(str(tmp_path))])
