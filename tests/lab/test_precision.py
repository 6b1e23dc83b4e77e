"""Mixed precision: what regularization needs stays float32 (penalty, masks, softmax, logs)."""

import keras
import numpy as np
import pytest

from kreg.callbacks import RegularizationMonitor
from kreg.lab.fullbatch import precision_scope
from kreg.layers import DropBlock2D, InvertedDropout
from kreg.models import vgg_cifar10

X = np.random.RandomState(0).rand(6, 32, 32, 3).astype("float32")
Y = np.arange(6) % 10


def small(precision, **kwargs):
    with precision_scope(precision):
        keras.utils.set_random_seed(0)
        return vgg_cifar10(
            "keras-vgg", filters=(4, 8), dense_units=(8,), l2=1e-3, seed=0, **kwargs
        )


def test_penalty_is_the_float32_penalty_of_the_same_weights():
    mixed, plain = small("mixed_bfloat16"), small("float32")
    plain.set_weights(mixed.get_weights())
    mixed(X), plain(X)
    assert all(v.dtype == "float32" for v in mixed.trainable_variables)
    assert [loss.dtype for loss in mixed.losses] == ["float32"] * len(mixed.losses)
    assert float(sum(mixed.losses)) == float(sum(plain.losses))


def test_softmax_and_loss_in_float32_and_the_policy_restored():
    model = small("mixed_bfloat16")
    assert model.layers[0].compute_dtype == "bfloat16"
    assert model.get_layer("predictions").compute_dtype == "float32"
    assert model(X).dtype == "float32"
    assert keras.config.dtype_policy().name == "float32"
    with pytest.raises(ValueError, match="`precision` must be one of"):
        with precision_scope("float64"):
            pass


@pytest.mark.parametrize(
    "layer",
    [lambda p: InvertedDropout(0.3, seed=5, dtype=p), lambda p: DropBlock2D(0.3, seed=5, dtype=p)],
)
def test_dropout_masks_are_the_float32_masks(layer):
    x = X[:, :16, :16, :] + 0.5  # no zeros of its own
    for half in ("mixed_bfloat16", "mixed_float16"):
        masked = np.asarray(layer(half)(x, training=True), "float32") == 0
        reference = np.asarray(layer("float32")(x, training=True)) == 0
        np.testing.assert_array_equal(masked, reference)


def test_callbacks_report_float32_values_under_mixed_bfloat16():
    model = small("mixed_bfloat16", dropout_layer="kreg")
    model.compile("adam", "sparse_categorical_crossentropy")
    monitor = RegularizationMonitor()
    history = model.fit(X, Y, epochs=1, batch_size=6, verbose=0, callbacks=[monitor])
    penalty = history.history["penalty"][0]
    # The penalty the step minimised: the float32 sum over the float32 kernels before the
    # update (one step, one batch), recomputed here from the initial weights.
    start = small("float32", dropout_layer="kreg")
    start(X)
    assert penalty == pytest.approx(float(sum(start.losses)), rel=1e-6)
    assert isinstance(penalty, float)


def test_mixed_float16_trains_with_loss_scaling_on_cpu():
    model = small("mixed_float16", dropout_layer="kreg")
    model.compile("adam", "sparse_categorical_crossentropy")
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    history = model.fit(X, Y, epochs=2, batch_size=3, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert all(np.isfinite(np.asarray(w)).all() for w in model.weights)
