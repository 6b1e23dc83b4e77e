"""DecisionBoundaryLogger: images in TensorBoard and PNG files."""

import numpy as np
import pytest

from kreg.lab.callbacks import DecisionBoundaryLogger
from tests.core.callbacks.tiny import X, Y, build


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
