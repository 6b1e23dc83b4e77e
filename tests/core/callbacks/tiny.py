"""A tiny regularized classifier and its data, shared by the callbacks' tests."""

import keras
import numpy as np

from kreg.regularizers import L2

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
