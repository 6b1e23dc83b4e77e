"""A `.keras` file saved under one backend loads and predicts the same under another.

Each backend's run of the core suite saves a model using every kreg layer,
regularizer and loss, wrapped in `kreg.SAM` and compiled, with its inputs and
predictions, under `$KREG_CROSS_BACKEND_DIR` (`make test` runs the floor Keras,
then TensorFlow, JAX and PyTorch into one folder), then loads every file that
another backend, or an older Keras, left there, in the default `safe_mode`.
(Keras reads files of older releases, not of newer ones, so the floor run reads
none.)
"""

import json
import os
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest

import kreg  # (registers kreg's classes for load_model)
from kreg.layers import DropBlock2D, InvertedDropout, StochasticDepth
from kreg.losses import SparseCategoricalCrossentropy
from kreg.regularizers import L2

BACKEND = keras.backend.backend()
NAME = f"{BACKEND}-keras-{keras.__version__}"


def _version(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.rsplit("-", 1)[1].split(".")[:3])


def _model() -> keras.Model:
    keras.utils.set_random_seed(0)
    network = keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            keras.layers.Conv2D(4, 3, padding="same", kernel_regularizer=L2(1e-3)),
            DropBlock2D(0.1, block_size=(2, 3), seed=1, schedulable=True),
            keras.layers.Flatten(),
            keras.layers.Dense(
                6, activation="relu", kernel_regularizer=L2(1e-2, schedulable=True)
            ),
            InvertedDropout(0.3, seed=2, rng_algorithm="counter_hash"),
            StochasticDepth(0.2, seed=3, schedulable=True),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    model = kreg.SAM(network, rho=0.03, num_batch_splits=1)
    model.compile("sgd", SparseCategoricalCrossentropy(label_smoothing=0.1))
    return model


def _folder() -> Path:
    value = os.environ.get("KREG_CROSS_BACKEND_DIR")
    if not value:
        pytest.skip("KREG_CROSS_BACKEND_DIR is not set (make test sets it for every backend)")
    return Path(value)


def test_save_for_the_other_backends():
    folder = _folder()
    folder.mkdir(parents=True, exist_ok=True)
    model = _model()
    x = np.random.RandomState(1).rand(5, 8, 8, 3).astype("float32")
    model.save(folder / f"{NAME}.keras")
    np.savez(folder / f"{NAME}.npz", x=x, y=keras.ops.convert_to_numpy(model(x)))
    again = keras.models.load_model(folder / f"{NAME}.keras")
    expected = np.load(folder / f"{NAME}.npz")["y"]
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(again(x)), expected)


def test_load_what_the_other_backends_saved():
    folder = _folder()
    others = sorted(
        path
        for path in folder.glob("*.keras")
        if path.stem != NAME and _version(path.stem) <= _version(NAME)
    )
    if not others:
        pytest.skip(f"no model saved by another backend or an older Keras in {folder} yet")
    for path in others:
        # compile=False: Keras records a backend's own optimizer class (PyTorch's SGD is
        # keras.src.backend.torch.optimizers.torch_sgd.SGD), which other backends cannot
        # import; the loss, kreg's, is read back from the file's compile config instead.
        model = keras.models.load_model(path, compile=False)  # safe_mode=True
        with zipfile.ZipFile(path) as archive:
            compiled = json.loads(archive.read("config.json"))["compile_config"]
        loss = keras.saving.deserialize_keras_object(compiled["loss"], safe_mode=True)
        assert isinstance(loss, SparseCategoricalCrossentropy) and loss.label_smoothing == 0.1
        saved = np.load(path.with_suffix(".npz"))
        got = keras.ops.convert_to_numpy(model(saved["x"]))
        np.testing.assert_allclose(got, saved["y"], rtol=1e-5, atol=1e-6, err_msg=path.stem)
        assert isinstance(model, kreg.SAM) and model.rho == 0.03
        network = model.model
        assert isinstance(network.layers[1], DropBlock2D) and network.layers[1].block_size == [
            2,
            3,
        ]
        assert isinstance(network.layers[5], StochasticDepth) and network.layers[5].schedulable
        assert network.layers[1].schedulable and network.layers[4].rng_algorithm == "counter_hash"
