import numpy as np
import pytest
import tensorflow as tf
from scipy import stats

from kreg.counter_rng import hash_uniform


def draw(seed, shape=(200_000,), dtype="float64"):
    return np.asarray(hash_uniform(shape, tf.constant(seed, tf.int64), dtype=dtype))


def test_values_in_unit_interval_on_the_2_pow_32_grid():
    u = draw([3, 0])
    assert u.min() >= 0 and u.max() < 1
    np.testing.assert_array_equal(u * 2.0**32, np.floor(u * 2.0**32))


def test_uniform_by_chi_square_and_kolmogorov_smirnov():
    u = draw([5, 1])
    counts = np.bincount((u * 64).astype(int), minlength=64)
    assert stats.chisquare(counts).pvalue > 1e-3
    assert stats.kstest(u, "uniform").pvalue > 1e-3


def test_same_seed_same_stream_in_eager_graph_and_xla():
    seed = tf.constant([7, 42], tf.int64)
    eager = hash_uniform((64, 33), seed)
    graph = tf.function(lambda s: hash_uniform((64, 33), s))(seed)
    xla = tf.function(lambda s: hash_uniform((64, 33), s), jit_compile=True)(seed)
    np.testing.assert_array_equal(eager, graph)
    np.testing.assert_array_equal(eager, xla)


def test_both_seed_words_change_the_stream_and_streams_are_uncorrelated():
    base = draw([1, 1])
    for other in ([2, 1], [1, 2], [1 + 2**32, 1]):
        u = draw(other)
        if other == [1 + 2**32, 1]:
            # Only the low 32 bits of each word key the stream, as for TF's int32 seeds.
            np.testing.assert_array_equal(u, base)
            continue
        assert not np.array_equal(u, base)
        assert abs(np.corrcoef(u, base)[0, 1]) < 5 / np.sqrt(len(u))


def test_consecutive_counters_give_independent_dropout_masks():
    # The SeedGenerator advances the second word by one per draw: masks of
    # consecutive steps must be independent, unit by unit.
    keep_prob = 0.86
    masks = np.stack([draw([0, step], shape=(211 * 20,)) >= 1 - keep_prob for step in range(400)])
    n = masks.size
    sigma = np.sqrt(keep_prob * (1 - keep_prob) / n)
    assert abs(masks.mean() - keep_prob) < 5 * sigma
    # Each unit's keep count over the 400 steps is Binomial(400, keep_prob): the
    # dispersion statistic is chi-square with one degree of freedom per unit.
    per_unit = masks.sum(axis=0)
    dispersion = np.sum((per_unit - 400 * keep_prob) ** 2) / (400 * keep_prob * (1 - keep_prob))
    assert stats.chi2(per_unit.size).sf(dispersion) > 1e-3
    assert stats.chi2(per_unit.size).cdf(dispersion) > 1e-3
    # P(kept at t and t+1) = keep_prob ** 2, and likewise for neighbouring units.
    for both in ((masks[1:] & masks[:-1]).mean(), (masks[:, 1:] & masks[:, :-1]).mean()):
        assert abs(both - keep_prob**2) < 5 * np.sqrt(keep_prob**2 * (1 - keep_prob**2) / n)


def test_dynamic_shape_and_float32():
    fn = tf.function(
        lambda x: hash_uniform(tf.shape(x), tf.constant([1, 2], tf.int32), dtype="float32"),
        input_signature=[tf.TensorSpec([None, 3], tf.float32)],
    )
    out = fn(tf.zeros((5, 3)))
    assert out.shape == (5, 3) and out.dtype == tf.float32
    np.testing.assert_array_equal(
        out, hash_uniform((5, 3), tf.constant([1, 2], tf.int64), dtype="float32")
    )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(shape=(3,), seed=[1, 2], dtype="int32"), "Received: dtype=int32"),
        (dict(shape=(3,), seed=[1, 2, 3]), "`seed` must hold two integers"),
    ],
)
def test_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        hash_uniform(**kwargs)
