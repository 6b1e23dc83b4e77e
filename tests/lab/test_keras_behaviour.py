"""What Keras itself does that kreg works around: each test pins one such behaviour.

They check Keras, not kreg. When one fails after an upgrade, Keras changed, and the kreg
feature named in the test's comment may no longer be needed.
"""

import keras
import numpy as np
import pytest

from tests.core.callbacks.test_dropout_schedule import DATA, RecordFraction, build
from tests.core.callbacks.tiny import build as build_classifier

X = np.random.RandomState(0).randn(16, 6, 10).astype("float32")


# kreg.regularizers.apply_l2 exists because of this.
def test_setting_kernel_regularizer_after_build_does_nothing():
    model = build_classifier(factor=0.0)
    model.layers[0].kernel_regularizer = keras.regularizers.L2(0.1)
    assert model.losses == []


# InvertedDropout(schedulable=True) and DropoutSchedule exist because of these two.
def test_keras_dropout_rate_change_after_compile_has_no_effect():
    dropout = keras.layers.Dropout(0.1, seed=0)
    model, probe = build(dropout)
    record = RecordFraction(probe)

    class SetRate(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                dropout.rate = 0.6

    model.fit(*DATA, epochs=2, batch_size=32, verbose=0, callbacks=[SetRate(), record])
    assert record.seen[1] == pytest.approx(0.1, abs=0.02), "Keras froze the rate into the graph"


def test_dropout_zero_cannot_be_raised_later():
    layer = keras.layers.Dropout(0.0)
    layer.rate = 0.5
    with pytest.raises(AttributeError, match="seed_generator"):
        layer(X, training=True)
