import keras
import numpy as np
import pytest

from kreg.layers import DropBlock2D, InvertedDropout
from kreg.models import vgg_cifar10


def kinds(model):
    return [type(layer).__name__ for layer in model.layers]


def test_keras_vgg_preset():
    model = vgg_cifar10("keras-vgg")
    assert kinds(model) == [
        "Conv2D",
        "Conv2D",
        "MaxPooling2D",
        "Dropout",
        "Conv2D",
        "Conv2D",
        "MaxPooling2D",
        "Dropout",
        "Flatten",
        "Dense",
        "Dropout",
        "Dense",
    ]
    assert [layer.rate for layer in model.layers if isinstance(layer, keras.layers.Dropout)] == [
        0.25,
        0.25,
        0.5,
    ]
    assert model.layers[0].filters == 32 and model.layers[4].filters == 64
    assert model.layers[9].units == 256 and model.output_shape == (None, 10)


def test_book_preset():
    model = vgg_cifar10("book")
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [c.filters for c in convs] == [32, 32, 64, 64, 128, 128]
    assert kinds(model)[:3] == ["Conv2D", "BatchNormalization", "Conv2D"]
    assert all(c.kernel_regularizer.l2 == 1e-4 for c in convs)
    assert model.layers[-1].kernel_regularizer.l2 == 1e-4
    rates = [layer.rate for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
    assert rates == [0.2, 0.3, 0.4]
    assert kinds(model)[-2:] == ["Flatten", "Dense"]


def test_overrides_and_kreg_dropout():
    model = vgg_cifar10("keras-vgg", l2=5e-4, dropout=0.1, dropout_layer="kreg", seed=3)
    drops = [layer for layer in model.layers if isinstance(layer, InvertedDropout)]
    assert [d.rate for d in drops] == [0.1, 0.1, 0.5] and [d.seed for d in drops] == [3, 4, 5]
    assert all(
        layer.kernel_regularizer.l2 == 5e-4
        for layer in model.layers
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense))
    )


def test_no_regularization_variant_has_none():
    model = vgg_cifar10("keras-vgg", l2=0.0, dropout=0.0, dense_dropout=0.0)
    assert "Dropout" not in kinds(model)
    assert not model.losses


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(preset="resnet"), "Received: preset='resnet'"),
        (dict(dropout=(0.1, 0.2, 0.3)), r"one per block \(2\)"),
        (dict(dropout=1.0), r"Dropout rates must be in \[0, 1\)"),
        (dict(l2=-1.0), "Received: l2=-1.0"),
        (dict(preset=None, filters=(8,)), "missing"),
    ],
)
def test_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        vgg_cifar10(**kwargs)


@pytest.mark.parametrize(
    "dropout_layer, block_class, dense_class",
    [
        ("spatial", keras.layers.SpatialDropout2D, keras.layers.Dropout),
        ("kreg-spatial", InvertedDropout, InvertedDropout),
        ("dropblock", DropBlock2D, InvertedDropout),
    ],
)
def test_feature_map_dropouts_after_pooling_and_plain_dropout_in_the_head(
    dropout_layer, block_class, dense_class
):
    model = vgg_cifar10("keras-vgg", dropout_layer=dropout_layer, block_size=2, seed=0)
    blocks = [model.get_layer(f"block{i}_dropout") for i in (1, 2)]
    assert all(type(layer) is block_class for layer in blocks)
    assert type(model.get_layer("fc1_dropout")) is dense_class
    if dropout_layer == "dropblock":
        assert blocks[0].block_size == 2
    if dropout_layer == "kreg-spatial":
        assert blocks[0].noise_shape == (None, 1, 1, None)
    assert model(np.zeros((2, 32, 32, 3)), training=True).shape == (2, 10)


def test_a_dropblock_larger_than_a_feature_map_is_refused():
    # keras-vgg's second block ends in 5x5 maps.
    with pytest.raises(ValueError, match=r"must not exceed the feature map \(5x5\)"):
        vgg_cifar10("keras-vgg", dropout_layer="dropblock", block_size=6)
