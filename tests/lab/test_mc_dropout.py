import keras
import numpy as np
import pytest

import kreg
from kreg.layers import InvertedDropout

X = np.random.RandomState(0).randn(40, 6).astype("float32")


def build(dropout, batch_norm=True):
    keras.utils.set_random_seed(0)
    layers = [keras.Input((6,)), keras.layers.Dense(32, activation="relu")]
    if batch_norm:
        layers.append(keras.layers.BatchNormalization())
    layers += [dropout, keras.layers.Dense(3, activation="softmax")]
    return keras.Sequential(layers)


@pytest.mark.parametrize("dropout_cls", [keras.layers.Dropout, InvertedDropout])
def test_mean_and_std_over_samples(dropout_cls):
    model = build(dropout_cls(0.5, seed=1))
    mean, std = kreg.mc_predict(model, X, samples=400, seed=3)
    assert mean.shape == std.shape == (40, 3)
    np.testing.assert_allclose(mean.sum(axis=1), 1.0, rtol=1e-5)
    assert (std > 0).all()
    # Averaging many thinned networks lands near the full network's prediction.
    assert np.abs(mean - model.predict(X, verbose=0)).mean() < 0.05


def test_matches_an_explicit_loop_over_samples():
    model = build(InvertedDropout(0.3), batch_norm=False)
    mean, std = kreg.mc_predict(model, X[:2], samples=2000, seed=0, batch_size=1)
    dense, drop, head = model.layers
    hidden = np.asarray(dense(X[:2]))
    rng = np.random.RandomState(0)
    draws = []
    for _ in range(2000):
        keep = rng.rand(*hidden.shape) >= 0.3
        draws.append(np.asarray(head(hidden * keep / 0.7)))
    np.testing.assert_allclose(mean, np.mean(draws, axis=0), atol=0.01)
    np.testing.assert_allclose(std, np.std(draws, axis=0), atol=0.01)


def test_seeded_and_batch_size_independent_shapes():
    model = build(keras.layers.Dropout(0.4))
    a = kreg.mc_predict(model, X, samples=10, seed=5)
    b = kreg.mc_predict(model, X, samples=10, seed=5)
    c = kreg.mc_predict(model, X, samples=10, seed=6)
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], c[0])
    assert kreg.mc_predict(model, X, samples=10, seed=5, batch_size=7)[0].shape == (40, 3)


def test_leaves_predict_and_training_rng_alone():
    dropout = keras.layers.Dropout(0.4, seed=2)
    model = build(dropout)
    before = model.predict(X, verbose=0)
    state = np.asarray(dropout.seed_generator.state)
    kreg.mc_predict(model, X, samples=5, seed=0)
    np.testing.assert_array_equal(model.predict(X, verbose=0), before)
    np.testing.assert_array_equal(np.asarray(dropout.seed_generator.state), state)
    assert "call" not in vars(dropout)


def test_batch_norm_stays_in_inference_mode():
    model = build(InvertedDropout(0.0))
    mean, std = kreg.mc_predict(model, X, samples=4, seed=0)
    np.testing.assert_allclose(mean, model.predict(X, verbose=0), rtol=1e-5, atol=1e-6)
    assert not std.any()


def test_errors():
    no_dropout = keras.Sequential([keras.Input((6,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="needs dropout layers"):
        kreg.mc_predict(no_dropout, X)
    model = build(InvertedDropout(0.2))
    with pytest.raises(ValueError, match="Received: samples=1"):
        kreg.mc_predict(model, X, samples=1)
    with pytest.raises(ValueError, match="Received: batch_size=0"):
        kreg.mc_predict(model, X, batch_size=0)


def book_model(dropout_layer):
    from kreg.models import vgg_cifar10

    keras.utils.set_random_seed(0)
    return vgg_cifar10("book", filters=(4, 8, 8), dropout=0.3, dropout_layer=dropout_layer, seed=1)


IMAGES = np.random.RandomState(1).randn(6, 32, 32, 3).astype("float32")


@pytest.mark.parametrize("dropout_layer", ["keras", "kreg", keras.layers.SpatialDropout2D])
def test_book_preset_rate_zero_is_predict_and_batch_norm_is_untouched(dropout_layer):
    model = book_model(dropout_layer)
    # Give BatchNormalization moving statistics other than its initial ones.
    model.compile("sgd", "sparse_categorical_crossentropy")
    model.fit(IMAGES, np.arange(6)[:, None], epochs=1, verbose=0)
    before = [keras.ops.convert_to_numpy(w) for w in model.weights]
    for layer in model.layers:
        if "dropout" in layer.name:
            layer.rate = 0.0
    mean, std = kreg.mc_predict(model, IMAGES, samples=5, seed=0)
    # The same numbers up to float32 rounding: an example's copies sit at other places of
    # the batch than in predict's, where a CPU's kernels may round differently.
    np.testing.assert_allclose(mean, model.predict(IMAGES, verbose=0), rtol=1e-6, atol=1e-7)
    assert np.all(std < 1e-6)
    for old, new in zip(before, model.weights):
        # moving mean and variance included
        np.testing.assert_array_equal(old, keras.ops.convert_to_numpy(new))


def test_spatial_dropout_drops_whole_feature_maps():
    inputs = keras.Input((8, 8, 4))
    dropped = keras.layers.SpatialDropout2D(0.5, seed=0)(inputs)
    model = keras.Model(inputs, keras.layers.Flatten()(dropped))
    mean, _ = kreg.mc_predict(model, np.ones((1, 8, 8, 4), "float32"), samples=2, seed=3)
    # With 2 samples each map's mean is 0, 1 or 2 (kept maps scale by 2): constant per map.
    maps = mean.reshape(8, 8, 4)
    assert all(np.unique(maps[..., c]).size == 1 for c in range(4))
    assert set(np.unique(maps)) <= {0.0, 1.0, 2.0}


def test_a_seed_gives_the_same_samples_on_every_call_and_padding_changes_nothing():
    model = book_model("kreg")
    first = kreg.mc_predict(model, IMAGES, samples=4, seed=5, batch_size=4)  # 4 + 2, padded
    again = kreg.mc_predict(model, IMAGES, samples=4, seed=5, batch_size=4)
    np.testing.assert_array_equal(first[0], again[0])
    other = kreg.mc_predict(model, IMAGES, samples=4, seed=6, batch_size=4)
    assert not np.array_equal(first[0], other[0])
    assert first[0].shape == (6, 10)


def test_many_models_in_one_process_give_no_retracing_warning():
    import subprocess
    import sys

    code = (
        "import kreg, keras, numpy as np\n"
        "for i in range(7):\n"
        "    m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4),\n"
        "                          keras.layers.Dropout(0.5), keras.layers.Dense(2)])\n"
        "    kreg.mc_predict(m, np.ones((5, 3)), samples=3, seed=i)\n"
        "print('done')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300
    )
    assert done.stdout.strip() == "done", done.stderr
    assert "retracing" not in done.stderr, done.stderr[-2000:]
