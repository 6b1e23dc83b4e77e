import gc
import os
from pathlib import Path

import pytest

import kreg_cli

# The TensorFlow backend unless the run chose another (the core's suite runs under JAX and
# PyTorch too): chosen, and TensorFlow imported quietly, before anything imports Keras.
kreg_cli.prepare_environment()

import keras  # noqa: E402

BACKEND = keras.backend.backend()

REPO = Path(__file__).resolve().parents[1]


def _freeze_survivors() -> None:
    # Python's full garbage collections walk every live object: TensorFlow's and Keras's
    # modules, and what earlier tests leave in caches, grow that to millions in one pytest
    # process, and late tests that trace a lot of graphs ran 2 to 3 times slower than alone.
    # Moving the survivors out of the collector's generations keeps its passes short.
    if os.environ.get("KREG_TEST_NO_GC_FREEZE"):
        return
    gc.collect()
    gc.freeze()


_freeze_survivors()


@pytest.fixture(autouse=True, scope="module")
def _collect_between_modules():
    yield
    _freeze_survivors()


def _data_dir() -> Path | None:
    value = os.environ.get("KREG_DATA_DIR")
    return Path(value) if value else None


@pytest.fixture(scope="session")
def football_file() -> Path:
    data_dir = _data_dir()
    if data_dir is None:
        pytest.skip("KREG_DATA_DIR is not set: the course's football data is not available")
    path = data_dir / "football" / "data.mat"
    if not path.is_file():
        pytest.skip(f"the course's football data is not at {path}")
    return path


@pytest.fixture(scope="session")
def football_data(football_file):
    pytest.importorskip("scipy", reason="the course's MATLAB file is read with SciPy")
    from kreg.datasets import load_football

    return load_football(football_file)


@pytest.fixture(scope="session")
def graded_inputs():
    """The inputs of the course notebook's graded checks: one RandomState(1) stream,
    X (3, 5) first when present, then W1, b1, W2, b2, W3, b3."""
    import numpy as np

    def make(with_x: bool):
        rs = np.random.RandomState(1)
        x = rs.randn(3, 5) if with_x else None
        shapes = {
            "W1": (2, 3),
            "b1": (2, 1),
            "W2": (3, 2),
            "b2": (3, 1),
            "W3": (1, 3),
            "b3": (1, 1),
        }
        params = {name: rs.randn(*shape) for name, shape in shapes.items()}
        return x, np.array([[1, 1, 0, 1, 0]]), params

    return make


@pytest.fixture(scope="session")
def football_data_or_synthetic():
    """Training inputs and labels: the course's when available, else the generated stand-in."""
    from kreg.datasets import load_football, synthetic_football

    data_dir = _data_dir()
    path = data_dir / "football" / "data.mat" if data_dir else None
    data = load_football(path) if path and path.is_file() else synthetic_football()
    return data[0], data[1]


# The lab (kreg.lab) runs on TensorFlow only: under another backend only the core is collected.
collect_ignore = [] if BACKEND == "tensorflow" else ["lab"]
