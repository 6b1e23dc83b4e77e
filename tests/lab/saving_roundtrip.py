"""Helper process for tests/test_saving.py: save every kind of kreg model, or load them back.

    python tests/lab/saving_roundtrip.py save DIR     # builds and saves each model, with its
                                                  # weights and predictions as .npz
    python tests/lab/saving_roundtrip.py load DIR     # `import kreg` only, then load_model each
    python tests/lab/saving_roundtrip.py bare DIR     # no kreg: what Keras says

`load` and `bare` print one JSON line: {name: "identical" or the error message}.
"""

import json
import sys
from pathlib import Path

import numpy as np


def builders():
    import keras

    from kreg.lab.fullbatch import floatx_scope
    from kreg.layers import InvertedDropout
    from kreg.models import football_classifier, vgg_cifar10
    from kreg.regularizers import apply_l2

    def float64_football():
        with floatx_scope("float64"):
            return football_classifier(l2=0.01, dropout=0.2, dropout_layer="kreg", dtype="float64")

    def schedulable():
        model = keras.Sequential(
            [
                keras.Input((2,)),
                keras.layers.Dense(8, activation="relu"),
                InvertedDropout(0.3, schedulable=True, seed=2),
                keras.layers.Dense(1, activation="sigmoid"),
            ]
        )
        apply_l2(model, 0.01, schedulable=True)
        return model

    def mixed(policy):
        def build():
            previous = keras.config.dtype_policy()
            keras.config.set_dtype_policy(policy)
            try:
                return vgg_cifar10("keras-vgg", l2=1e-3, dropout_layer="kreg", **SMALL)
            finally:
                keras.config.set_dtype_policy(previous)

        return build

    small_vgg = dict(filters=(4, 8), dense_units=(8,))
    return {
        "football_keras_dropout": lambda: football_classifier(l2=0.01, dropout=0.2, seed=1),
        "football_float64_kreg": float64_football,
        "football_counter_hash": lambda: football_classifier(
            l2=0.01, dropout=0.2, dropout_layer="kreg-hash", seed=1
        ),
        "schedulable_rate_and_l2": schedulable,
        "keras_vgg_keras_dropout": lambda: vgg_cifar10("keras-vgg", l2=1e-3, **small_vgg),
        "keras_vgg_kreg_dropout": lambda: vgg_cifar10(
            "keras-vgg", l2=1e-3, dropout_layer="kreg", seed=3, **small_vgg
        ),
        "book_kreg_dropout": lambda: vgg_cifar10("book", filters=(4, 8, 8), dropout_layer="kreg"),
        "keras_vgg_mixed_bfloat16": mixed("mixed_bfloat16"),
        "keras_vgg_mixed_float16": mixed("mixed_float16"),
    }


SMALL = dict(filters=(4, 8), dense_units=(8,))


def predictions(model):
    # float32 holds bfloat16 and float16 exactly; .npz cannot store bfloat16.
    output = np.asarray(model.predict(inputs(model), verbose=0))
    return output if output.dtype == np.float64 else output.astype(np.float32)


def inputs(model):
    shape = (4, *model.inputs[0].shape[1:])
    return np.random.RandomState(0).rand(*shape).astype(model.inputs[0].dtype)


def save(folder: Path) -> None:
    import kreg  # noqa: F401

    for name, build in builders().items():
        model = build()
        model.save(folder / f"{name}.keras")
        np.savez(
            folder / f"{name}.npz",
            predictions=predictions(model),
            **{f"w{i}": w for i, w in enumerate(model.get_weights())},
        )


def load(folder: Path, with_kreg: bool) -> None:
    if with_kreg:
        import kreg  # noqa: F401
    import keras

    report = {}
    for path in sorted(folder.glob("*.keras")):
        saved = np.load(path.with_suffix(".npz"))
        try:
            model = keras.models.load_model(path)  # safe_mode=True, the default
        except Exception as error:  # what a user would see
            report[path.stem] = f"{type(error).__name__}: {error}"
            continue
        weights = model.get_weights()
        same_weights = len(weights) == len(saved.files) - 1 and all(
            np.array_equal(w, saved[f"w{i}"]) and w.dtype == saved[f"w{i}"].dtype
            for i, w in enumerate(weights)
        )
        same_predictions = np.array_equal(predictions(model), saved["predictions"])
        report[path.stem] = (
            "identical"
            if same_weights and same_predictions
            else f"weights equal: {same_weights}, predictions equal: {same_predictions}"
        )
    print(json.dumps(report))


if __name__ == "__main__":
    mode, folder = sys.argv[1], Path(sys.argv[2])
    if mode == "save":
        save(folder)
    else:
        load(folder, with_kreg=mode == "load")
