import keras
import numpy as np
import pytest
import tensorflow as tf

from kreg import reference
from kreg.lab.fullbatch import floatx_scope
from kreg.models import course_parameters, dense_layers, football_classifier
from kreg.regularizers import l2_from_lambda


def test_layers_in_contract_order():
    model = football_classifier()
    assert [type(layer) for layer in model.layers] == [keras.layers.Dense] * 3
    assert [tuple(layer.kernel.shape) for layer in model.layers] == [(2, 20), (20, 3), (3, 1)]
    assert model.layers[-1].activation is keras.activations.sigmoid
    assert all(layer.kernel_regularizer is None for layer in model.layers)


def test_l2_and_dropout_placement():
    model = football_classifier(l2=0.01, dropout=0.14, seed=3)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["Dense", "Dropout", "Dense", "Dropout", "Dense"]
    for layer in dense_layers(model):
        assert isinstance(layer.kernel_regularizer, keras.regularizers.L2)
        assert layer.kernel_regularizer.l2 == 0.01
    assert [layer.rate for layer in model.layers[1::2]] == [0.14, 0.14]
    assert [layer.seed for layer in model.layers[1::2]] == [3, 4]


def test_course_initialization():
    model = football_classifier()
    params = course_parameters(model)
    expected = reference.initialize_parameters([2, 20, 3, 1], seed=3)
    for key in expected:
        np.testing.assert_allclose(params[key], expected[key], rtol=1e-7)


def test_float64_weights_are_exact():
    model = football_classifier(dtype="float64")
    expected = reference.initialize_parameters([2, 20, 3, 1], seed=3)
    np.testing.assert_array_equal(course_parameters(model)["W2"], expected["W2"])


def test_keras_initializer_option():
    model = football_classifier(kernel_initializer="glorot_uniform")
    expected = reference.initialize_parameters([2, 20, 3, 1], seed=3)
    assert not np.allclose(course_parameters(model)["W1"], expected["W1"])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(hidden_units=(20,)), "Received: hidden_units=(20,)"),
        (dict(l2=-1.0), "Received: l2=-1.0"),
        (dict(dropout=1.0), "Received: dropout=1.0"),
        (dict(dropout=0.5, dropout_layer="torch"), "Received: dropout_layer='torch'"),
        (dict(input_dim=0), "Received: input_dim=0"),
    ],
)
def test_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        football_classifier(**kwargs)


def test_loss_and_gradients_agree_with_reference(football_data_or_synthetic):
    x, y = football_data_or_synthetic
    lambd = 0.7
    with floatx_scope("float64"):
        model = football_classifier(l2=l2_from_lambda(lambd, len(x)).l2, dtype="float64")
        # Move off the initial point so that the check is not a special case.
        for layer in dense_layers(model):
            layer.bias.assign(np.linspace(-0.1, 0.1, layer.bias.shape[0]))
        with tf.GradientTape() as tape:
            loss = keras.losses.BinaryCrossentropy()(y, model(x)) + tf.add_n(model.losses)
        layers = dense_layers(model)
        grads = tape.gradient(loss, [(layer.kernel, layer.bias) for layer in layers])
    params = course_parameters(model)
    a3, cache = reference.forward_propagation(x.T, params)
    expected_cost = reference.compute_cost_with_regularization(a3, y.T, params, lambd)
    expected = reference.backward_propagation_with_regularization(x.T, y.T, cache, lambd)
    assert float(loss) == pytest.approx(expected_cost, abs=1e-12)
    for index, (kernel_grad, bias_grad) in enumerate(grads, start=1):
        np.testing.assert_allclose(np.asarray(kernel_grad).T, expected[f"dW{index}"], atol=1e-12)
        np.testing.assert_allclose(np.asarray(bias_grad), expected[f"db{index}"][:, 0], atol=1e-12)
