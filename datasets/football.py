"""The course's 2-D "football" dataset, and a generated stand-in of the same shape."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = ["load_football", "synthetic_football", "football_path", "DATA_URL_HINT"]

DATA_URL_HINT = (
    "The file is the `datasets/data.mat` of the regularization assignment in the deep learning "
    "specialization's course 2 (Improving Deep Neural Networks), and cannot ship with kreg. "
    "Put it at $KREG_DATA_DIR/football/data.mat or pass its path, or use the generated "
    "stand-in (`--synthetic` / kreg.datasets.synthetic_football())."
)
TRAIN_EXAMPLES = 211
TEST_EXAMPLES = 200


def football_path(path: str | os.PathLike | None = None) -> Path:
    """Where `load_football` looks: `path`, else `$KREG_DATA_DIR/football/data.mat`."""
    if path is not None:
        return Path(path)
    data_dir = os.environ.get("KREG_DATA_DIR")
    if not data_dir:
        raise FileNotFoundError(
            "No football data: `path` was not given and KREG_DATA_DIR is not set. " + DATA_URL_HINT
        )
    return Path(data_dir) / "football" / "data.mat"


def _features(data: dict, key: str, file: Path) -> np.ndarray:
    x = np.asarray(data[key])
    if x.ndim != 2 or x.shape[1] != 2 or x.shape[0] == 0:
        raise ValueError(
            f"{file}: `{key}` must be a (examples, 2) array of points. Received shape {x.shape}."
        )
    if not np.issubdtype(x.dtype, np.number) or not np.all(np.isfinite(x)):
        raise ValueError(f"{file}: `{key}` must hold finite numbers.")
    return x.astype(np.float64)


def _labels(data: dict, key: str, file: Path, num_examples: int) -> np.ndarray:
    y = np.asarray(data[key])
    if y.ndim == 2 and 1 in y.shape:
        y = y.reshape(-1)
    if y.ndim != 1 or y.shape[0] != num_examples:
        raise ValueError(
            f"{file}: `{key}` must hold one label per example ({num_examples}). "
            f"Received shape {np.asarray(data[key]).shape}."
        )
    if not np.issubdtype(y.dtype, np.number) or not np.all(np.isin(y, (0, 1))):
        bad = np.unique(y[~np.isin(y, (0, 1))])[:5] if np.issubdtype(y.dtype, np.number) else y[:5]
        raise ValueError(f"{file}: `{key}` labels must be 0 or 1. Received values {bad.tolist()}.")
    return y.astype(np.float64).reshape(-1, 1)


def load_football(
    path: str | os.PathLike | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Load the course's football dataset from its MATLAB file.

    Args:
        path: the `data.mat` file. None reads `$KREG_DATA_DIR/football/data.mat`.

    Returns:
        `(x_train, y_train, x_test, y_test)` in Keras layout (examples x
        features): float64 arrays of shapes `(211, 2)`, `(211, 1)`,
        `(200, 2)`, `(200, 1)` for the course's file. The file's `Xval`/`yval`
        is the course's test set.

    Raises:
        FileNotFoundError: the file does not exist (the message says where to
            get it).
        ValueError: the file is not a MATLAB file, or lacks `X`, `y`, `Xval`,
            `yval`, or they have the wrong shapes, or labels other than 0/1.
    """
    try:
        from scipy.io import loadmat  # optional: the core needs only Keras and NumPy
        from scipy.io.matlab import MatReadError
    except ImportError:
        raise ImportError(
            "load_football reads the course's MATLAB file with SciPy, which is not installed: "
            'pip install scipy, or install the lab, pip install "kreg[tensorflow]"'
        ) from None

    file = football_path(path)
    if not file.is_file():
        raise FileNotFoundError(f"Football data file not found: {file}. " + DATA_URL_HINT)
    try:
        data = loadmat(file)
    except (MatReadError, ValueError, TypeError, OSError) as error:
        raise ValueError(
            f"{file} is not a readable MATLAB .mat file with the football data ({error})."
        ) from error
    missing = [key for key in ("X", "y", "Xval", "yval") if key not in data]
    if missing:
        raise ValueError(
            f"{file}: missing {', '.join(missing)}; expected the keys X, y, Xval and yval."
        )
    x_train = _features(data, "X", file)
    x_test = _features(data, "Xval", file)
    y_train = _labels(data, "y", file, x_train.shape[0])
    y_test = _labels(data, "yval", file, x_test.shape[0])
    return x_train, y_train, x_test, y_test


def synthetic_football(
    seed: int = 0,
    train_examples: int = TRAIN_EXAMPLES,
    test_examples: int = TEST_EXAMPLES,
    noise: float = 0.1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A generated stand-in for the football data: NOT the course's data.

    Points on the course's field (x1 in [-0.75, 0.4], x2 in [-0.75, 0.65]),
    labelled 1 above a wavy diagonal, with `noise` of the labels flipped, in
    the same shapes and layout as `load_football`. Use it to run and test the
    code without the course's file; its accuracies are not the course's.
    """
    rng = np.random.RandomState(seed)
    n = train_examples + test_examples
    x = np.column_stack([rng.uniform(-0.75, 0.4, n), rng.uniform(-0.75, 0.65, n)])
    boundary = 0.9 * x[:, 0] + 0.05 + 0.08 * np.sin(8 * x[:, 0])
    y = (x[:, 1] > boundary).astype(np.float64)
    flip = rng.rand(n) < noise
    y[flip] = 1 - y[flip]
    y = y.reshape(-1, 1)
    return x[:train_examples], y[:train_examples], x[train_examples:], y[train_examples:]
