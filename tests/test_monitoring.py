"""RegularizationMonitor, GeneralizationGap, DecisionBoundaryLogger, L2Schedule and apply_l2."""

import csv
import re

import keras
import numpy as np
import pytest

from kreg.callbacks import (
    DecisionBoundaryLogger,
    GeneralizationGap,
    L2Schedule,
    RegularizationMonitor,
)
from kreg.regularizers import L2, apply_l2
from kreg.runs import read_run
from kreg.training import fit_full_batch

RNG = np.random.RandomState(0)
X = RNG.randn(64, 2).astype("float32")
Y = (X[:, :1] * X[:, 1:] > 0).astype("float32")
FACTOR = 0.01


def build(factor=FACTOR, **kwargs):
    keras.utils.set_random_seed(0)
    reg = L2(factor, **kwargs) if factor else None
    model = keras.Sequential(
        [
            keras.Input((2,)),
            keras.layers.Dense(8, activation="relu", kernel_regularizer=reg),
            keras.layers.Dense(1, activation="sigmoid", kernel_regularizer=reg),
        ]
    )
    model.compile(keras.optimizers.SGD(0.5), "binary_crossentropy", metrics=["accuracy"])
    return model


def squares(model):
    return sum(float(np.sum(np.square(np.asarray(layer.kernel)))) for layer in model.layers)


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


class TestCallbackOrder:
    def test_warns_when_a_logger_comes_first(self, tmp_path):
        logger = keras.callbacks.CSVLogger(str(tmp_path / "log.csv"))
        with pytest.warns(UserWarning, match="RegularizationMonitor is listed after CSVLogger"):
            build().fit(X, Y, epochs=1, verbose=0, callbacks=[logger, RegularizationMonitor()])

    def test_silent_and_recorded_when_listed_before(self, tmp_path, recwarn):
        logger = keras.callbacks.CSVLogger(str(tmp_path / "log.csv"))
        gap = GeneralizationGap()
        build().fit(
            X,
            Y,
            epochs=1,
            verbose=0,
            validation_data=(X, Y),
            callbacks=[RegularizationMonitor(), gap, logger],
        )
        assert not [w for w in recwarn if "is listed after" in str(w.message)]
        with open(tmp_path / "log.csv", newline="") as f:
            row = next(csv.DictReader(f))
        assert {"penalty", "kernel_penalty", "gap/accuracy"} <= set(row)

    def test_gap_warns_after_tensorboard(self, tmp_path):
        board = keras.callbacks.TensorBoard(str(tmp_path))
        with pytest.warns(UserWarning, match="GeneralizationGap is listed after TensorBoard"):
            build().fit(
                X,
                Y,
                epochs=1,
                verbose=0,
                validation_data=(X, Y),
                callbacks=[board, GeneralizationGap()],
            )


class TestGeneralizationGap:
    def test_mode_decides_the_sign(self):
        history = build().fit(
            X,
            Y,
            epochs=1,
            verbose=0,
            validation_data=(X[:16], Y[:16]),
            callbacks=[GeneralizationGap("accuracy", mode="min")],
        )
        h = history.history
        assert h["gap/accuracy"][0] == pytest.approx(h["val_accuracy"][0] - h["accuracy"][0])

    @pytest.mark.parametrize(
        "metric, mode, message",
        [
            ("top5", "auto", "cannot tell whether 'top5' is better high or low"),
            ("accuracy", "up", "`mode` must be 'auto', 'min' or 'max'. Received: mode='up'"),
        ],
    )
    def test_unknown_direction_is_asked_for(self, metric, mode, message):
        with pytest.raises(ValueError, match=re.escape(message)):
            GeneralizationGap(metric, mode=mode)

    def test_gap_logged(self):
        history = build().fit(
            X,
            Y,
            epochs=2,
            verbose=0,
            validation_data=(X[:16], Y[:16]),
            callbacks=[GeneralizationGap()],
        )
        h = history.history
        assert h["gap/accuracy"] == pytest.approx(np.subtract(h["accuracy"], h["val_accuracy"]))

    def test_loss_gap_is_val_minus_train(self):
        history = build().fit(
            X,
            Y,
            epochs=1,
            verbose=0,
            validation_data=(X[:16], Y[:16]),
            callbacks=[GeneralizationGap("loss")],
        )
        h = history.history
        assert h["gap/loss"][0] == pytest.approx(h["val_loss"][0] - h["loss"][0])

    def test_stops_after_patience(self):
        gap = GeneralizationGap("loss", stop_above=-1e9, patience=1)
        history = build().fit(X, Y, epochs=10, verbose=0, validation_data=(X, Y), callbacks=[gap])
        assert len(history.history["loss"]) == 2 and gap.stopped_epoch == 1

    def test_warns(self):
        with pytest.warns(UserWarning, match="gap of loss is .* the model is overfitting"):
            build().fit(
                X,
                Y,
                epochs=1,
                verbose=0,
                validation_data=(X, Y),
                callbacks=[GeneralizationGap("loss", warn_above=-1e9)],
            )

    def test_needs_validation_data(self):
        with pytest.raises(ValueError, match="pass validation_data to fit"):
            build().fit(X, Y, epochs=1, verbose=0, callbacks=[GeneralizationGap()])

    def test_bad_arguments(self):
        with pytest.raises(ValueError, match="Received: -1"):
            GeneralizationGap(patience=-1)


class TestDecisionBoundaryLogger:
    def test_writes_tensorboard_images_and_pngs(self, tmp_path):
        logger = DecisionBoundaryLogger(
            X,
            Y,
            logdir=str(tmp_path / "run"),
            every=2,
            png_dir=str(tmp_path / "png"),
            xlim=(-3, 3),
            ylim=(-3, 3),
        )
        build().fit(X, Y, epochs=5, verbose=0, callbacks=[logger])
        assert sorted(p.name for p in (tmp_path / "png").iterdir()) == [
            "epoch_00002.png",
            "epoch_00004.png",
            "epoch_00005.png",
        ]
        from tensorboard.backend.event_processing import event_accumulator

        acc = event_accumulator.EventAccumulator(str(tmp_path / "run" / "boundary"))
        acc.Reload()
        events = acc.Tensors("decision_boundary")
        assert [e.step for e in events] == [1, 3, 4]
        assert acc.SummaryMetadata("decision_boundary").plugin_data.plugin_name == "images"

    def test_rejects_non_2d_inputs(self):
        with pytest.raises(ValueError, match=r"must be \(examples, 2\). Received shape \(64, 3\)"):
            DecisionBoundaryLogger(np.ones((64, 3)), Y, png_dir="x")


class TestL2ScheduleAndApplyL2:
    def test_schedule_changes_the_penalty_inside_compiled_fit(self):
        model = build(factor=0.0)
        apply_l2(model, 0.0, schedulable=True)
        schedule = L2Schedule(lambda epoch, factor: 0.0 if epoch < 1 else 0.05)
        history = model.fit(
            X, Y, batch_size=64, epochs=3, verbose=0, callbacks=[schedule, RegularizationMonitor()]
        )
        assert history.history["l2_factor"] == [0.0, 0.05, 0.05]
        assert history.history["penalty"][0] == 0.0
        assert history.history["penalty"][1] > 0

    def test_schedule_needs_schedulable_l2(self):
        with pytest.raises(ValueError, match="schedulable=True"):
            build().fit(X, Y, epochs=1, verbose=0, callbacks=[L2Schedule(lambda e, f: f)])

    def test_setting_kernel_regularizer_after_build_does_nothing_in_keras(self):
        model = build(factor=0.0)
        model.layers[0].kernel_regularizer = keras.regularizers.L2(0.1)
        assert model.losses == []

    def test_apply_l2_reaches_the_loss_and_training(self):
        plain, penalised = build(factor=0.0), build(factor=0.0)
        layers = apply_l2(penalised, 0.05)
        assert [layer.name for layer in layers] == [layer.name for layer in penalised.layers]
        assert float(sum(penalised.losses)) == pytest.approx(0.05 * squares(penalised), rel=1e-6)
        for model in (plain, penalised):
            model.fit(X, Y, batch_size=64, epochs=20, verbose=0)
        assert squares(penalised) < squares(plain)

    def test_apply_l2_survives_save_and_load(self, tmp_path):
        model = build(factor=0.0)
        apply_l2(model, 0.05, layers=[model.layers[0].name])
        model.save(tmp_path / "m.keras")
        loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
        assert isinstance(loaded.layers[0].kernel_regularizer, L2)
        assert loaded.layers[1].kernel_regularizer is None
        assert float(sum(loaded.losses)) == pytest.approx(float(sum(model.losses)), rel=1e-6)

    def test_apply_l2_after_fit_retraces(self):
        model = build(factor=0.0)
        model.fit(X, Y, epochs=1, verbose=0)
        apply_l2(model, 0.05)
        history = model.fit(X, Y, epochs=1, verbose=0, callbacks=[RegularizationMonitor()])
        assert history.history["penalty"][0] > 0

    def test_apply_l2_errors(self):
        model = build(factor=0.0)
        with pytest.raises(ValueError, match="'nope' is not a layer"):
            apply_l2(model, 0.1, layers=["nope"])
        with pytest.raises(ValueError, match="Received: factor=-1"):
            apply_l2(model, -1)
