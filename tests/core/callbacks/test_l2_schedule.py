"""L2Schedule: the factor changes inside compiled training."""

import pytest

from kreg.callbacks import L2Schedule, RegularizationMonitor
from kreg.regularizers import apply_l2
from tests.core.callbacks.tiny import X, Y, build


class TestL2Schedule:
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
