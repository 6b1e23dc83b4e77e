"""kreg.counter_rng gives the same stream on every backend, checked against a NumPy oracle."""

import keras
import numpy as np
import pytest

from kreg.counter_rng import hash_uniform
from tests.core.hash_reference import hash_uniform_reference

FLOATS = ["float32"] + (["float64"] if keras.backend.backend() != "jax" else [])


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("seed", [(0, 0), (1, 2), (12345, 2**31 + 7), (2**32 - 1, 5)])
def test_uniforms_equal_the_numpy_reference_bit_for_bit(seed, dtype):
    words = np.array(seed, dtype=np.int64) if keras.backend.backend() != "jax" else None
    if words is None:  # JAX without x64 has no int64: the same words as uint32
        words = np.array(seed, dtype=np.uint32)
    got = keras.ops.convert_to_numpy(hash_uniform((7, 13), words, dtype))
    expected = hash_uniform_reference((7, 13), seed).astype(dtype)
    np.testing.assert_array_equal(got, expected)


def test_uniforms_are_uniform_and_below_one():
    values = keras.ops.convert_to_numpy(hash_uniform((100_000,), np.array([3, 9]), "float32"))
    assert values.min() >= 0 and values.max() < 1
    assert abs(values.mean() - 0.5) < 0.005
    assert abs((values < 0.3).mean() - 0.3) < 0.005


def test_seed_must_be_a_pair():
    with pytest.raises(ValueError, match="`seed` must hold two integers"):
        hash_uniform((3,), np.array([1, 2, 3]))


def test_integer_dtype_is_refused():
    with pytest.raises(
        ValueError, match="`dtype` must be a floating dtype. Received: dtype=int32"
    ):
        hash_uniform((3,), np.array([1, 2]), "int32")
