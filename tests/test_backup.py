import json

import keras
import numpy as np
import pytest

from kreg.callbacks import BackupAndRestore
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


def test_nan_loss_stops_and_keeps_last_good_backup(tmp_path):
    model = build()

    class Poison(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 2:
                kernel = self.model.layers[-1].kernel
                kernel.assign(np.full(kernel.shape, np.nan, "float32"))

    backup = BackupAndRestore(str(tmp_path))
    fit(model, [Poison(), backup])
    assert backup.nan_at == (2, 0)
    metadata = json.loads((tmp_path / "training_metadata.json").read_text())
    assert metadata["epoch"] == 2  # the backup of the last good epoch, not the NaN one
    restored = build()
    restored.optimizer.build(restored.trainable_variables)
    restored.load_weights(tmp_path / "latest.weights.h5")
    assert all(np.isfinite(w).all() for w in restored.get_weights())


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
