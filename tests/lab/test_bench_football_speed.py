"""The numpy baselines of bench/football_speed.py compute the course's training, nothing less."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from kreg import reference
from kreg.datasets import synthetic_football

BENCH = Path(__file__).resolve().parents[2] / "bench" / "football_speed.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("football_speed", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def data():
    x, y = synthetic_football()[:2]
    return np.ascontiguousarray(x.T), np.ascontiguousarray(y.T)


@pytest.mark.parametrize("lambd", [0.0, 0.7])
def test_plain_loop_is_the_reference_training(bench, data, lambd):
    x, y = data
    plain = bench.plain_loop(x, y, 300, lambd=lambd)
    trained = reference.train(x, y, num_iterations=300, lambd=lambd).parameters
    for key, value in trained.items():
        np.testing.assert_allclose(plain[key], value, rtol=1e-10, atol=1e-13, err_msg=key)


@pytest.mark.parametrize("settings", [{}, {"lambd": 0.7}, {"keep_prob": 0.86}])
def test_preallocated_loop_trains_the_plain_loops_model(bench, data, settings):
    x, y = data
    plain = bench.plain_loop(x, y, 300, **settings)
    preallocated = bench.preallocated_loop(x, y, 300, **settings)
    for key, value in plain.items():
        np.testing.assert_allclose(preallocated[key], value, rtol=1e-9, atol=1e-12, err_msg=key)
    # a different mask at any step would move the weights far more than the tolerance
    other_seed = bench.preallocated_loop(x, y, 300, **settings, seed=1)
    if "keep_prob" in settings:
        assert not np.allclose(other_seed["W1"], plain["W1"], rtol=1e-6)


@pytest.mark.parametrize("lambd", [0.0, 0.7])
def test_handwritten_xla_floor_trains_the_course_model(bench, data, lambd):
    x, y = data
    floor = bench.handwritten_xla_loop(x, y, 300, lambd=lambd)
    plain = bench.plain_loop(x, y, 300, lambd=lambd)
    for key, value in plain.items():
        np.testing.assert_allclose(floor[key], value, rtol=1e-9, atol=1e-12, err_msg=key)


def test_handwritten_xla_floor_drops_units(bench, data):
    x, y = data
    kept = bench.handwritten_xla_loop(x, y, 300)
    dropped = bench.handwritten_xla_loop(x, y, 300, keep_prob=0.86)
    again = bench.handwritten_xla_loop(x, y, 300, keep_prob=0.86)
    assert not np.allclose(dropped["W1"], kept["W1"], rtol=1e-3)
    for key, value in dropped.items():
        np.testing.assert_array_equal(again[key], value, err_msg=key)
