import keras
import numpy as np
import pytest

from kreg import reference
from kreg.callbacks import RegularizationMonitor
from kreg.lab.fullbatch import floatx_scope
from kreg.models import course_parameters, football_classifier
from kreg.regularizers import (
    L2,
    apply_l2,
    l2_from_lambda,
    lambda_from_l2,
    rate_from_keep_prob,
    weight_decay_from_l2,
)
from tests.core.callbacks.tiny import X, Y, build, squares


def test_l2_from_lambda_factor():
    reg = l2_from_lambda(0.7, 211)
    assert isinstance(reg, keras.regularizers.L2)
    assert reg.l2 == 0.7 / (2 * 211)
    assert lambda_from_l2(reg.l2, 211) == pytest.approx(0.7, rel=1e-15)


@pytest.mark.parametrize(
    "lambd, message",
    [
        (-0.1, "`lambd` must be finite and non-negative. Received: lambd=-0.1"),
        (float("nan"), "`lambd` must be finite and non-negative. Received: lambd=nan"),
        (float("inf"), "`lambd` must be finite and non-negative. Received: lambd=inf"),
        ("0.7", "`lambd` must be a real number. Received: lambd='0.7'"),
    ],
)
def test_l2_from_lambda_rejects_bad_lambd(lambd, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        l2_from_lambda(lambd, 211)


@pytest.mark.parametrize("m", [0, -5, 2.5, True])
def test_l2_from_lambda_rejects_bad_num_examples(m):
    with pytest.raises(ValueError, match=f"Received: num_examples={m!r}"):
        l2_from_lambda(0.7, m)


def test_rate_from_keep_prob():
    assert rate_from_keep_prob(0.86) == pytest.approx(0.14)
    assert rate_from_keep_prob(1) == 0.0


@pytest.mark.parametrize("keep_prob", [0, 1.01, -0.5])
def test_rate_from_keep_prob_rejects(keep_prob):
    with pytest.raises(ValueError, match=f"Received: keep_prob={keep_prob}"):
        rate_from_keep_prob(keep_prob)


def test_kreg_l2_is_exact_in_float64():
    factor = 0.7 / 422
    w = np.random.RandomState(0).randn(20, 3)
    exact = float(L2(factor)(keras.ops.convert_to_tensor(w, dtype="float64")))
    assert exact == pytest.approx(factor * np.sum(w**2), rel=1e-15)
    keras_value = float(keras.regularizers.L2(factor)(keras.ops.convert_to_tensor(w)))
    assert abs(keras_value - exact) / exact > 1e-9, "Keras's own L2 rounds the factor to float32"


def test_kreg_l2_round_trips_config():
    reg = L2(0.25)
    restored = keras.regularizers.deserialize(keras.regularizers.serialize(reg))
    assert isinstance(restored, L2) and restored.l2 == 0.25


def test_course_cost_equals_keras_loss(football_data_or_synthetic):
    x, y = football_data_or_synthetic
    lambd = 0.7
    with floatx_scope("float64"):
        model = football_classifier(l2=l2_from_lambda(lambd, len(x)).l2, dtype="float64")
        y_pred = model(x)
        data_loss = keras.losses.BinaryCrossentropy()(y, y_pred)
        keras_loss = float(data_loss + sum(model.losses))
    params = course_parameters(model)
    a3, _ = reference.forward_propagation(x.T, params)
    course = reference.compute_cost_with_regularization(a3, y.T, params, lambd)
    assert keras_loss == pytest.approx(course, rel=1e-13)


def _train_two_layer(regularizer, optimizer, steps=25):
    rng = np.random.RandomState(0)
    x = rng.randn(64, 5)
    y = (x[:, :1] - x[:, 1:2] > 0).astype("float64")
    with floatx_scope("float64"):
        keras.utils.set_random_seed(1)
        model = keras.Sequential(
            [
                keras.Input((5,), dtype="float64"),
                keras.layers.Dense(
                    8, activation="tanh", kernel_regularizer=regularizer, dtype="float64"
                ),
                keras.layers.Dense(
                    1, activation="sigmoid", kernel_regularizer=regularizer, dtype="float64"
                ),
            ]
        )
        from kreg.lab.fullbatch import fit_full_batch

        fit_full_batch(model, x, y, steps=steps, optimizer=optimizer, log_every=steps)
        return [np.asarray(w) for w in model.get_weights()]


def _sgd(weight_decay=None, momentum=0.0):
    opt = keras.optimizers.SGD(learning_rate=0.5, momentum=momentum, weight_decay=weight_decay)
    if weight_decay:
        opt.exclude_from_weight_decay(var_names=["bias"])
    return opt


def test_l2_penalty_equals_sgd_weight_decay():
    # Keras casts `weight_decay` through float32; a factor exact in float32 keeps that
    # rounding out of the comparison, which is about the update rule.
    factor = 2.0**-7
    with floatx_scope("float64"):
        penalised = _train_two_layer(L2(factor), _sgd())
        decayed = _train_two_layer(None, _sgd(weight_decay=weight_decay_from_l2(factor)))
        plain = _train_two_layer(None, _sgd())
    for a, b in zip(penalised, decayed):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    assert max(np.abs(a - b).max() for a, b in zip(penalised, plain)) > 1e-3


def test_l2_penalty_differs_from_weight_decay_with_momentum_and_adam():
    factor = 0.01
    with floatx_scope("float64"):
        pairs = {
            "momentum": (
                _train_two_layer(L2(factor), _sgd(momentum=0.9)),
                _train_two_layer(None, _sgd(weight_decay=2 * factor, momentum=0.9)),
            ),
        }
        adam_decay = keras.optimizers.Adam(learning_rate=0.05, weight_decay=2 * factor)
        adam_decay.exclude_from_weight_decay(var_names=["bias"])
        pairs["adam"] = (
            _train_two_layer(L2(factor), keras.optimizers.Adam(learning_rate=0.05)),
            _train_two_layer(None, adam_decay),
        )
    for name, (penalised, decayed) in pairs.items():
        gap = max(np.abs(a - b).max() for a, b in zip(penalised, decayed))
        assert gap > 1e-4, f"{name}: L2 and decoupled decay unexpectedly agree ({gap})"


class TestApplyL2:
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


def test_under_adam_the_l2_penalty_is_rescaled_and_adamw_decay_is_not():
    # Zero inputs: the data gradient of the kernel is zero, only the regularization acts.
    # Adam divides the penalty's gradient 2 f W by its own root mean square, so one step
    # moves every kernel entry by about the learning rate, large or small; AdamW's decay
    # shrinks each entry by lr * weight_decay * W, in proportion (Loshchilov & Hutter).
    factor, lr = 0.01, 1e-3
    kernel = np.array([[1.0, 0.01], [-0.5, 0.001]])

    def one_step(regularizer, optimizer):
        with floatx_scope("float64"):
            layer = keras.layers.Dense(2, use_bias=False, kernel_regularizer=regularizer)
            model = keras.Sequential([keras.Input((2,)), layer])
            layer.kernel.assign(kernel)
            model.compile(optimizer=optimizer, loss="mse")
            model.train_on_batch(np.zeros((4, 2)), np.zeros((4, 2)))
            return np.asarray(layer.kernel)

    # A tiny epsilon shows the rule itself (Keras's 1e-7 is comparable to 2 f W for W = 1e-3).
    with_l2 = one_step(L2(factor), keras.optimizers.Adam(lr, epsilon=1e-12))
    adamw = one_step(None, keras.optimizers.AdamW(lr, weight_decay=weight_decay_from_l2(factor)))
    np.testing.assert_allclose(kernel - with_l2, lr * np.sign(kernel), rtol=1e-4)
    np.testing.assert_allclose(kernel - adamw, lr * 2 * factor * kernel, rtol=1e-6)
    # The small entries feel the difference most: Adam+L2 moves 0.001 by 100 %.
    assert with_l2[1, 1] == pytest.approx(0.0, abs=1e-6) and adamw[1, 1] > 0.00099
