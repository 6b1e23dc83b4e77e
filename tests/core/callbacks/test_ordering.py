"""kreg callbacks listed after CSVLogger or TensorBoard warn; listed before, they are recorded."""

import csv

import keras
import pytest

from kreg.callbacks import GeneralizationGap, RegularizationMonitor
from kreg.callbacks.ordering import calling_callback_list
from tests.core.callbacks.tiny import X, Y, build


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
        pytest.importorskip("tensorboard", reason="keras.callbacks.TensorBoard needs TensorBoard")
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


def test_calling_callback_list_finds_fits_list():
    seen = []

    class Probe(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            seen.append(calling_callback_list())

    logger = keras.callbacks.CSVLogger("/dev/null")
    probe = Probe()
    build().fit(X, Y, callbacks=[logger, probe], verbose=0)
    (found,) = seen
    assert found is not None and probe in found.callbacks and logger in found.callbacks
