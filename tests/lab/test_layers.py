import keras
import numpy as np
import pytest
import tensorflow as tf

from kreg.lab.fullbatch import fit_full_batch
from kreg.layers import RNG_ALGORITHMS, InvertedDropout
from kreg.models import football_classifier, vgg_cifar10

X = np.random.RandomState(0).randn(16, 6, 10).astype("float32")


def pair(rate=0.3, seed=7, **kwargs):
    return InvertedDropout(rate, seed=seed, **kwargs), keras.layers.Dropout(
        rate, seed=seed, **kwargs
    )


@pytest.mark.parametrize("noise_shape", [None, (16, 1, 10), (None, 1, None), (None, 6, 1)])
def test_drops_the_same_units_as_keras_dropout(noise_shape):
    ours, theirs = pair(noise_shape=noise_shape)
    for _ in range(4):
        a = ours(X, training=True)
        b = theirs(X, training=True)
        np.testing.assert_array_equal(np.asarray(a) == 0, np.asarray(b) == 0)
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_same_input_gradients_as_keras_dropout():
    ours, theirs = pair(rate=0.4, seed=3)
    x = tf.constant(X)
    grads = []
    for layer in (ours, theirs):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.reduce_sum(layer(x, training=True) * tf.range(1, 11, dtype=tf.float32))
        grads.append(tape.gradient(y, x).numpy())
    np.testing.assert_array_equal(grads[0], grads[1])
    assert (grads[0] == 0).mean() == pytest.approx(0.4, abs=0.05)


def test_counter_hash_masks_fresh_per_call_and_equal_under_xla():
    eager = InvertedDropout(0.5, seed=4, rng_algorithm="counter_hash")
    compiled = InvertedDropout(0.5, seed=4, rng_algorithm="counter_hash")
    step = tf.function(lambda v: compiled(v, training=True), jit_compile=True)
    masks = []
    for _ in range(3):
        a, b = np.asarray(eager(X, training=True)), np.asarray(step(X))
        np.testing.assert_array_equal(a == 0, b == 0)
        np.testing.assert_allclose(a, b, rtol=1e-7)
        masks.append(a == 0)
    assert not np.array_equal(masks[0], masks[1])
    # A different algorithm (or seed) is a different stream.
    assert not np.array_equal(
        masks[0], np.asarray(InvertedDropout(0.5, seed=4)(X, training=True)) == 0
    )


def test_counter_hash_gradient_is_mask_over_keep_prob():
    layer = InvertedDropout(0.25, seed=8, rng_algorithm="counter_hash", schedulable=True)
    x = tf.constant(X)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=True)
    grad = tape.gradient(y, x).numpy()
    kept = np.asarray(y) != 0
    np.testing.assert_array_equal(grad != 0, kept)
    np.testing.assert_allclose(grad[kept], 1 / 0.75, rtol=1e-6)


def test_invalid_rng_algorithm():
    with pytest.raises(ValueError, match="Received: rng_algorithm='mt19937'"):
        InvertedDropout(0.5, rng_algorithm="mt19937")


def test_identity_when_not_training_or_rate_zero():
    np.testing.assert_array_equal(InvertedDropout(0.5)(X), X)
    np.testing.assert_array_equal(InvertedDropout(0.5)(X, training=False), X)
    np.testing.assert_array_equal(InvertedDropout(0.0)(X, training=True), X)


def test_zeros_when_rate_is_one():
    out = np.asarray(InvertedDropout(1.0)(X, training=True))
    assert out.shape == X.shape and not out.any()


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(rate=-0.1),
        dict(rate=1.5),
        dict(rate=0.5, noise_shape="abc"),
        dict(rate=0.5, noise_shape=5),
        dict(rate=0.5, noise_shape=(2, 1.5)),
        dict(rate=0.5, noise_shape=(0, 3)),
    ],
)
def test_validation_messages_match_keras(kwargs):
    with pytest.raises(ValueError) as theirs:
        keras.layers.Dropout(**kwargs)
    with pytest.raises(ValueError) as ours:
        InvertedDropout(**kwargs)
    assert str(ours.value) == str(theirs.value)


@pytest.mark.parametrize("rate", [0.0, 0.3])
def test_same_state_as_keras_dropout(rate):
    ours, theirs = pair(rate=rate)
    assert ours.built and theirs.built
    assert len(ours.weights) == len(theirs.weights) == 0
    assert len(ours.variables) == len(theirs.variables)
    assert len(ours.non_trainable_variables) == len(theirs.non_trainable_variables)
    assert hasattr(ours, "seed_generator") == hasattr(theirs, "seed_generator") == (rate > 0)


def test_get_config_round_trip():
    layer = InvertedDropout(
        0.25,
        noise_shape=(None, 1, 4),
        seed=11,
        schedulable=True,
        rng_algorithm="counter_hash",
        name="drop",
    )
    config = layer.get_config()
    keys = ("rate", "noise_shape", "seed", "schedulable", "rng_algorithm")
    assert {k: config[k] for k in keys} == {
        "rate": 0.25,
        "noise_shape": (None, 1, 4),
        "seed": 11,
        "schedulable": True,
        "rng_algorithm": "counter_hash",
    }
    clone = InvertedDropout.from_config(config)
    assert clone.get_config() == config


def test_keras_save_and_load(tmp_path):
    model = keras.Sequential(
        [
            keras.Input((10,)),
            keras.layers.Dense(8),
            InvertedDropout(0.3, seed=4),
            keras.layers.Dense(1),
        ]
    )
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(loaded.layers[1], InvertedDropout)
    assert loaded.layers[1].get_config() == model.layers[1].get_config()
    x = X[:, 0, :]
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_works_in_functional_and_subclassed_models():
    inputs = keras.Input((10,))
    functional = keras.Model(inputs, InvertedDropout(0.5, seed=1)(inputs))

    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.drop = InvertedDropout(0.5, seed=1)

        def call(self, x, training=False):
            return self.drop(x, training=training)

    x = X[:, 0, :]
    for model in (functional, Net()):
        out = np.asarray(model(x, training=True))
        assert 0.3 < (out == 0).mean() < 0.7
        np.testing.assert_array_equal(model(x, training=False), x)


def test_mask_propagates():
    inputs = keras.Input((5, 3))
    masked = keras.layers.Masking(0.0)(inputs)
    out = InvertedDropout(0.5)(masked)
    pooled = keras.layers.GlobalAveragePooling1D()(out)
    model = keras.Model(inputs, pooled)
    x = np.ones((2, 5, 3), "float32")
    x[:, 3:] = 0.0
    # With the mask reaching the pooling layer, the padded steps are left out of the mean.
    np.testing.assert_allclose(model(x), np.ones((2, 3)))


@pytest.fixture
def restore_dtype_policy():
    # set_dtype_policy(previous) would pin an explicit policy; restore "unset" (which
    # follows floatx) exactly as it was.
    from keras.src.backend.common import global_state

    saved = global_state.get_global_attribute("dtype_policy", None)
    yield
    global_state.set_global_attribute("dtype_policy", saved)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_drops_keras_float32_units(policy, restore_dtype_policy):
    # Half-precision inputs get float32 uniforms: the units Keras's Dropout drops in a
    # float32 run (Keras itself draws half-precision uniforms under a mixed policy, whose
    # 8- or 11-bit mantissa moves the threshold: bfloat16 holds 0.3 as 0.30078125).
    theirs = keras.layers.Dropout(0.3, seed=2)
    reference = np.asarray(theirs(X, training=True))
    keras.config.set_dtype_policy(policy)
    ours = InvertedDropout(0.3, seed=2)
    out = ours(X, training=True)
    assert out.dtype == policy.split("_")[1]
    out = np.asarray(out, "float32")
    np.testing.assert_array_equal(out == 0, reference == 0)
    half = np.asarray(keras.ops.cast(X, policy.split("_")[1]), "float32")
    scale = np.asarray(keras.ops.cast(1 / 0.7, policy.split("_")[1]), "float32")
    kept = out != 0
    np.testing.assert_array_equal(
        out[kept], np.asarray(keras.ops.cast(half[kept] * scale, policy.split("_")[1]), "float32")
    )


def _small_convnet(dropout_layer):
    keras.utils.set_random_seed(0)
    return vgg_cifar10(
        None,
        filters=(4, 8),
        convs_per_block=1,
        batch_norm=False,
        padding="same",
        l2=1e-3,
        dropout=0.3,
        dense_units=(16,),
        dense_dropout=0.5,
        dropout_layer=dropout_layer,
        input_shape=(8, 8, 3),
        seed=5,
    )


@pytest.mark.parametrize("jit_compile", [False, True])
def test_convnet_training_matches_keras_dropout_with_tf_data(jit_compile):
    rng = np.random.RandomState(1)
    images = rng.rand(64, 8, 8, 3).astype("float32")
    labels = rng.randint(0, 10, 64)
    weights = []
    for kind in ("keras", "kreg"):
        model = _small_convnet(kind)
        model.compile(
            keras.optimizers.SGD(0.05), "sparse_categorical_crossentropy", jit_compile=jit_compile
        )
        data = tf.data.Dataset.from_tensor_slices((images, labels)).batch(16)
        model.fit(data, epochs=5, verbose=0, shuffle=False)
        weights.append(model.get_weights())
    for a, b in zip(*weights):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("jit_compile", [False, True])
def test_football_training_matches_keras_dropout(jit_compile):
    rng = np.random.RandomState(3)
    x = rng.randn(100, 2)
    y = (x[:, :1] * x[:, 1:] > 0).astype("float64")
    weights = []
    for kind in ("keras", "kreg"):
        model = football_classifier(dropout=0.2, seed=9, dropout_layer=kind)
        fit_full_batch(model, x, y, steps=1000, log_every=500, jit_compile=jit_compile)
        weights.append(model.get_weights())
    for a, b in zip(*weights):
        if jit_compile:
            # XLA fuses the mask and the scaling in its own order: 1 ulp per step at most.
            np.testing.assert_allclose(a, b, atol=2e-5)
        else:
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("rng_algorithm", RNG_ALGORITHMS)
class TestStatistics:
    N = 200_000

    def test_keep_fraction_within_binomial_bounds(self, rng_algorithm):
        rate = 0.3
        layer = InvertedDropout(rate, seed=0, rng_algorithm=rng_algorithm)
        out = np.asarray(layer(np.ones(self.N, "float32"), training=True))
        kept = (out != 0).mean()
        sigma = np.sqrt(rate * (1 - rate) / self.N)
        assert abs(kept - (1 - rate)) < 5 * sigma

    def test_mean_is_unbiased(self, rng_algorithm):
        x = np.abs(np.random.RandomState(0).randn(self.N)).astype("float32") + 0.5
        layer = InvertedDropout(0.4, seed=1, rng_algorithm=rng_algorithm)
        out = np.asarray(layer(x, training=True), dtype="float64")
        sigma = out.std() / np.sqrt(self.N)
        assert abs(out.mean() - x.mean()) < 5 * sigma

    def test_kept_units_scaled_by_exactly_one_over_keep_prob(self, rng_algorithm):
        x = np.random.RandomState(2).randn(1000).astype("float32")
        out = np.asarray(
            InvertedDropout(0.3, seed=3, rng_algorithm=rng_algorithm)(x, training=True)
        )
        kept = out != 0
        np.testing.assert_array_equal(out[kept], x[kept] * np.float32(1 / 0.7))


class TestSchedulableRate:
    def test_rate_change_takes_effect_in_compiled_code(self):
        layer = InvertedDropout(0.1, seed=0, schedulable=True)
        step = tf.function(lambda v: layer(v, training=True), jit_compile=True)
        x = np.ones(50_000, "float32")
        before = (np.asarray(step(x)) == 0).mean()
        layer.rate = 0.6
        after = (np.asarray(step(x)) == 0).mean()
        assert before == pytest.approx(0.1, abs=0.01)
        assert after == pytest.approx(0.6, abs=0.01)
        assert step.experimental_get_tracing_count() == 1

    def test_starts_at_zero_and_raises_later(self):
        layer = InvertedDropout(0.0, schedulable=True, seed=1)
        np.testing.assert_array_equal(layer(X, training=True), X)
        layer.rate = 0.5
        assert 0.4 < (np.asarray(layer(X, training=True)) == 0).mean() < 0.6

    def test_invalid_new_rate(self):
        layer = InvertedDropout(0.2, schedulable=True)
        with pytest.raises(ValueError, match="Received: rate=1.2"):
            layer.rate = 1.2
        assert layer.rate == 0.2

    def test_one_extra_variable_only_when_opted_in(self):
        assert len(InvertedDropout(0.2, schedulable=True).variables) == 2
        assert len(InvertedDropout(0.2).variables) == 1
