"""RegularizationMonitor: the penalty, the kernel penalty and the data loss, apart."""

import csv

import keras
import numpy as np
import pytest

from kreg.callbacks import RegularizationMonitor
from kreg.lab.fullbatch import fit_full_batch
from kreg.lab.runs import read_run
from kreg.regularizers import L2
from tests.core.callbacks.tiny import FACTOR, X, Y, build, squares


class TestRegularizationMonitor:
    def test_penalty_is_factor_times_sum_of_squares(self):
        model = build()
        expected = FACTOR * squares(model)  # the one full batch of epoch 1 sees these weights
        history = model.fit(
            X, Y, batch_size=64, epochs=1, verbose=0, callbacks=[RegularizationMonitor()]
        )
        logs = {k: v[0] for k, v in history.history.items()}
        assert logs["penalty"] == pytest.approx(expected, rel=1e-6)
        assert logs["data_loss"] + logs["penalty"] == pytest.approx(logs["loss"], rel=1e-6)
        assert logs["penalty_share"] == pytest.approx(expected / logs["loss"], rel=1e-6)
        for layer in model.layers:
            norm = np.linalg.norm(np.asarray(layer.kernel, dtype=np.float64))
            assert logs[f"kernel_norm/{layer.name}"] == pytest.approx(norm, rel=1e-6)

    def test_penalty_is_the_mean_over_batches(self):
        model = build()
        seen = []

        class Record(keras.callbacks.Callback):
            def on_train_batch_begin(self, batch, logs=None):
                seen.append(FACTOR * squares(self.model))

        history = model.fit(
            X, Y, batch_size=16, epochs=1, verbose=0, callbacks=[Record(), RegularizationMonitor()]
        )
        assert history.history["penalty"][0] == pytest.approx(np.mean(seen), rel=1e-6)

    def test_val_data_loss_removes_the_penalty(self):
        model = build()
        history = model.fit(
            X,
            Y,
            batch_size=64,
            epochs=1,
            verbose=0,
            validation_data=(X, Y),
            callbacks=[RegularizationMonitor()],
        )
        data_only = keras.losses.BinaryCrossentropy()(Y, model.predict(X, verbose=0))
        assert history.history["val_data_loss"][0] == pytest.approx(float(data_only), rel=1e-5)

    def test_unregularized_model_reports_zero_and_still_norms(self):
        history = build(factor=0).fit(
            X, Y, epochs=1, verbose=0, callbacks=[RegularizationMonitor()]
        )
        assert history.history["penalty"] == [0.0]
        assert any(k.startswith("kernel_norm/") for k in history.history)

    def test_values_reach_csv_and_tensorboard(self, tmp_path):
        model = build()
        model.fit(
            X,
            Y,
            epochs=2,
            verbose=0,
            callbacks=[
                RegularizationMonitor(),
                keras.callbacks.CSVLogger(str(tmp_path / "log.csv")),
                keras.callbacks.TensorBoard(str(tmp_path / "run")),
            ],
        )
        with open(tmp_path / "log.csv") as f:
            rows = list(csv.DictReader(f))
        assert len(rows) == 2 and {"penalty", "data_loss", "penalty_share"} <= set(rows[0])
        curves = read_run(tmp_path / "run").curves
        assert len(curves["train/epoch_penalty"]) == 2
        assert curves["train/epoch_penalty"][1][1] == pytest.approx(float(rows[1]["penalty"]))

    def test_full_batch_training_reports_the_last_steps_penalty(self):
        model = build()
        history = keras.callbacks.History()
        fit_full_batch(
            model, X, Y, steps=20, log_every=10, callbacks=[RegularizationMonitor(), history]
        )
        assert history.history["penalty"][-1] > 0
        assert history.history["data_loss"][-1] == pytest.approx(
            history.history["loss"][-1] - history.history["penalty"][-1]
        )


class AddsHalfTheMean(keras.layers.Layer):
    """An identity layer that adds `0.5 * mean(inputs)` to the model's losses."""

    def call(self, inputs):
        self.add_loss(0.5 * keras.ops.mean(inputs))
        return inputs


class TestEveryRegularizationLossCounts:
    """Kernel, bias and activity regularizers and add_loss all enter `penalty`."""

    KERNEL, BIAS, ACTIVITY = 0.01, 0.02, 0.03

    def model(self):
        keras.utils.set_random_seed(0)
        model = keras.Sequential(
            [
                keras.Input((2,)),
                keras.layers.Dense(
                    4,
                    activation="relu",
                    kernel_regularizer=L2(self.KERNEL),
                    bias_regularizer=L2(self.BIAS),
                    activity_regularizer=L2(self.ACTIVITY),
                    bias_initializer="ones",
                ),
                AddsHalfTheMean(),
                keras.layers.Dense(1),
            ]
        )
        # A learning rate of 0 keeps the weights the penalty is computed from.
        model.compile(keras.optimizers.SGD(0.0), "mse")
        return model

    def test_penalty_is_the_sum_of_all_of_them_and_the_kernel_part_is_apart(self):
        model = self.model()
        dense = model.layers[0]
        kernel, bias = (np.asarray(w, np.float64) for w in (dense.kernel, dense.bias))
        hidden = np.maximum(X.astype(np.float64) @ kernel + bias, 0)
        # Keras divides an activity penalty by the batch size.
        expected = {
            "kernel": self.KERNEL * np.sum(kernel**2),
            "bias": self.BIAS * np.sum(bias**2),
            "activity": self.ACTIVITY * np.sum(hidden**2) / len(X),
            "add_loss": 0.5 * np.mean(hidden),
        }
        history = model.fit(
            X,
            Y,
            batch_size=len(X),
            epochs=1,
            verbose=0,
            validation_data=(X, Y),
            callbacks=[RegularizationMonitor()],
        )
        logs = {k: v[0] for k, v in history.history.items()}
        assert logs["penalty"] == pytest.approx(sum(expected.values()), rel=1e-5)
        assert logs["kernel_penalty"] == pytest.approx(expected["kernel"], rel=1e-5)
        prediction = np.asarray(model.predict(X, verbose=0), np.float64)
        mse = np.mean((prediction - Y) ** 2)
        assert logs["data_loss"] == pytest.approx(mse, rel=1e-4)
        assert logs["val_penalty"] == pytest.approx(sum(expected.values()), rel=1e-5)
        assert logs["val_data_loss"] == pytest.approx(mse, rel=1e-4)

    def test_a_second_fit_reuses_the_traced_step(self):
        model = self.model()
        model.fit(X, Y, epochs=1, verbose=0, callbacks=[RegularizationMonitor()])
        traced = model.train_function
        history = model.fit(X, Y, epochs=1, verbose=0, callbacks=[RegularizationMonitor()])
        assert model.train_function is traced
        assert history.history["penalty"][0] > 0
        assert model.evaluate(X, Y, verbose=0) > 0
