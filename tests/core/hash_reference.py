"""A NumPy transcription of `kreg.counter_rng`'s hash: the oracle every backend is checked on."""

import numpy as np


def _lowbias32(x):
    x = x ^ (x >> np.uint32(16))
    x = x * np.uint32(0x7FEB352D)
    x = x ^ (x >> np.uint32(15))
    x = x * np.uint32(0x846CA68B)
    return x ^ (x >> np.uint32(16))


def hash_uniform_reference(shape, seed) -> np.ndarray:
    """float64 uniforms of `shape` for the seed pair `seed`, as `kreg.counter_rng.hash_uniform`."""
    with np.errstate(over="ignore"):
        s0, s1 = (np.uint32(int(s) & 0xFFFFFFFF) for s in seed)
        k0 = _lowbias32(s0 ^ _lowbias32(s1))
        k1 = _lowbias32(s1 ^ _lowbias32(s0 + np.uint32(0x85EBCA6B)))
        index = np.arange(int(np.prod(shape)), dtype=np.uint32).reshape(shape)
        bits = _lowbias32(_lowbias32(index * np.uint32(0x9E3779B9) + k0) ^ k1)
    return bits.astype(np.float64) * 2.0**-32
