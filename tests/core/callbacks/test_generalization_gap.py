"""GeneralizationGap: the sign follows `mode`, warnings and stops."""

import re

import numpy as np
import pytest

from kreg.callbacks import GeneralizationGap
from tests.core.callbacks.tiny import X, Y, build


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
