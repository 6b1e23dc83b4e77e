"""kreg.lab.fullbatch.stacked: K football models in one compiled loop, each as trained alone."""

import keras
import numpy as np
import pytest

from kreg.counter_rng import hash_bits_from_keys, hash_keys, hash_uniform_from_keys
from kreg.datasets import synthetic_football
from kreg.lab.fullbatch import fit_full_batch, floatx_scope
from kreg.lab.fullbatch.stacked import StackedModels, fit_full_batch_stacked
from kreg.lab.runners.course import build_football_model
from kreg.models import football_classifier

STEPS, LOG_EVERY = 240, 80

# (lambd, keep_prob, seed): no regularization, L2, dropout, both, and another dropout seed.
SETTINGS = [(0.0, 1.0, 0), (0.7, 1.0, 1), (0.0, 0.86, 2), (0.3, 0.7, 3), (0.0, 0.86, 7)]


@pytest.fixture(scope="module")
def data():
    return synthetic_football(seed=0)


def build(setting, num_examples):
    lambd, keep_prob, seed = setting
    return build_football_model(lambd, keep_prob, num_examples=num_examples, seed=seed)


def train_stack(settings, data, **kwargs):
    x, y, x_val, y_val = data
    with floatx_scope("float64"):
        models = [build(setting, len(x)) for setting in settings]
        histories = fit_full_batch_stacked(
            models,
            x,
            y,
            steps=kwargs.pop("steps", STEPS),
            log_every=LOG_EVERY,
            validation_data=(x_val, y_val),
            verbose=0,
            **kwargs,
        )
    return models, histories


def weights(model):
    return [keras.ops.convert_to_numpy(v) for v in model.trainable_variables]


def assert_same_bits(a, b):
    assert len(a) == len(b)
    for left, right in zip(a, b):
        np.testing.assert_array_equal(left, right, strict=True)


@pytest.fixture(scope="module")
def stack(data):
    return train_stack(SETTINGS, data)


@pytest.mark.parametrize("index", [3, 4])
def test_a_model_in_a_stack_is_bit_identical_to_it_trained_alone(stack, data, index):
    models, histories = stack
    alone, (history,) = train_stack([SETTINGS[index]], data)
    assert_same_bits(weights(models[index]), weights(alone[0]))
    assert histories[index].costs == history.costs
    for stacked_logs, alone_logs in zip(histories[index].logs, history.logs):
        assert stacked_logs == alone_logs


def test_the_place_in_the_stack_does_not_matter(stack, data):
    models, histories = stack
    reversed_models, reversed_histories = train_stack(SETTINGS[::-1], data)
    for k in range(len(SETTINGS)):
        assert_same_bits(weights(models[k]), weights(reversed_models[-1 - k]))
        assert histories[k].costs == reversed_histories[-1 - k].costs


def test_each_model_agrees_with_fit_full_batch_alone_same_masks(stack, data):
    """fit_full_batch sums in another order: the same training up to rounding, same masks."""
    models, histories = stack
    x, y, x_val, y_val = data
    for k, setting in enumerate(SETTINGS):
        with floatx_scope("float64"):
            model = build(setting, len(x))
            history = fit_full_batch(
                model,
                x,
                y,
                steps=STEPS,
                optimizer=model.optimizer,
                log_every=LOG_EVERY,
                validation_data=(x_val, y_val),
                verbose=0,
            )
        # Another dropout mask at any step would move the weights by ~1e-2, not 1e-12.
        for ours, keras_weights in zip(weights(models[k]), weights(model)):
            np.testing.assert_allclose(ours, keras_weights, rtol=1e-9, atol=1e-12)
        ours_costs = [cost for _, cost in histories[k].costs]
        np.testing.assert_allclose(ours_costs, [c for _, c in history.costs], rtol=1e-12)
        assert [s for s, _ in histories[k].costs] == [s for s, _ in history.costs]
        for name in ("loss", "penalty", "val_loss"):
            assert histories[k].logs[-1][name] == pytest.approx(history.logs[-1][name], rel=1e-9)
        # The same counts of correct examples (XLA may divide by m as a product with 1 / m).
        for name in ("accuracy", "val_accuracy"):
            assert histories[k].logs[-1][name] == pytest.approx(history.logs[-1][name], abs=1e-12)
        assert histories[k].logs[-1]["steps"] == history.logs[-1]["steps"]


def test_dropout_seed_generators_advance_as_if_trained_alone(stack):
    models, _ = stack
    for model, (_, keep_prob, seed) in zip(models, SETTINGS):
        dropout = [layer for layer in model.layers if hasattr(layer, "seed_generator")]
        assert len(dropout) == (2 if keep_prob < 1 else 0)
        for index, layer in enumerate(dropout):
            state = keras.ops.convert_to_numpy(layer.seed_generator.state)
            assert state.tolist() == [seed + index, STEPS]


def test_a_second_call_continues_with_fresh_masks(stack, data):
    """Two calls of 120 steps are one call of 240: weights and seed counters carry over."""
    x, y, _, _ = data
    with floatx_scope("float64"):
        models = [build(SETTINGS[3], len(x))]
        for _ in range(2):
            fit_full_batch_stacked(models, x, y, steps=STEPS // 2, log_every=LOG_EVERY, verbose=0)
    assert_same_bits(weights(stack[0][3]), weights(models[0]))


def test_per_model_learning_rates(data):
    settings = [SETTINGS[2], SETTINGS[2]]
    models, histories = train_stack(settings, data, learning_rate=[0.3, 0.1])
    alone, _ = train_stack([SETTINGS[2]], data, learning_rate=0.1)
    assert_same_bits(weights(models[1]), weights(alone[0]))
    assert not np.array_equal(weights(models[0])[0], weights(models[1])[0])


class StopAfter(keras.callbacks.Callback):
    def __init__(self, epochs):
        super().__init__()
        self.epochs = epochs

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 >= self.epochs:
            self.model.stop_training = True


def test_a_model_stopped_by_its_callback_keeps_its_weights_while_others_train(stack, data):
    settings = [SETTINGS[3], SETTINGS[2]]
    seen = []

    class Record(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append((epoch, logs["steps"], weights(self.model)[0].copy()))

    models, histories = train_stack(settings, data, callbacks=[[StopAfter(1)], [Record()]])
    assert len(histories[0].logs) == 1 and histories[0].logs[0]["steps"] == LOG_EVERY
    assert len(histories[1].logs) == STEPS // LOG_EVERY
    short, _ = train_stack([SETTINGS[3]], data, steps=LOG_EVERY)
    assert_same_bits(weights(models[0]), weights(short[0]))
    full = stack[0][2]  # the same model, trained for all the steps
    assert_same_bits(weights(models[1]), weights(full))
    # The callbacks see their own model's weights as they are at the end of each interval.
    assert [s for _, s, _ in seen] == [80, 160, 240]
    np.testing.assert_array_equal(seen[-1][2], weights(full)[0])


def test_integer_mask_decision_is_the_float_comparison():
    """bits >= ceil(rate * 2**32) keeps exactly the units that uniform >= rate keeps."""
    import tensorflow as tf

    k0, k1 = hash_keys(tf.constant([3, 9], tf.int64), tf.constant([0, 5], tf.int64))
    index = tf.cast(tf.reshape(tf.range(4000), [2000, 2]), tf.uint32)[:, :, None]
    k0, k1 = k0[None, None, :], k1[None, None, :]
    bits = tf.cast(hash_bits_from_keys(index, k0, k1), tf.int64).numpy()
    uniform = hash_uniform_from_keys(index, k0, k1, "float64").numpy()
    rates = [0.0, 0.14, 0.3, 0.5, 1 - 2**-32, 0.5 + 2**-32, float(uniform.flat[7])]
    for rate in rates:
        threshold = int(np.ceil(rate * 2.0**32))
        np.testing.assert_array_equal(bits >= threshold, uniform >= rate)


def test_bad_models_and_arguments_are_refused(data):
    x, y, _, _ = data
    with floatx_scope("float64"):
        good = build(SETTINGS[0], len(x))
        keras_dropout = football_classifier(dropout=0.2, dropout_layer="keras", dtype="float64")
        wide = football_classifier(hidden_units=(8, 3), dtype="float64")
        with pytest.raises(ValueError, match="counter_hash"):
            StackedModels([good, keras_dropout])
        with pytest.raises(ValueError, match="same Dense kernel shapes"):
            StackedModels([good, wide])
        with pytest.raises(ValueError, match="at least one model"):
            StackedModels([])
        with pytest.raises(ValueError, match="learning_rate"):
            fit_full_batch_stacked([good], x, y, steps=1, learning_rate=[0.1, 0.2])
        with pytest.raises(ValueError, match="callbacks"):
            fit_full_batch_stacked([good], x, y, steps=1, callbacks=[[], []])
        with pytest.raises(ValueError, match=r"`x` must be \(examples, 2\)"):
            fit_full_batch_stacked([good], x[:, :1], y, steps=1)
        with pytest.raises(ValueError, match="steps"):
            fit_full_batch_stacked([good], x, y, steps=-1)


@pytest.mark.slow
def test_a_stack_wider_than_one_vector_block(data):
    """17 models: the last sits alone in a second block of lanes, and is still itself."""
    settings = [(0.1 * (k % 4), 0.86 if k % 2 else 1.0, k) for k in range(17)]
    models, _ = train_stack(settings, data, steps=LOG_EVERY)
    for index in (0, 16):
        alone, _ = train_stack([settings[index]], data, steps=LOG_EVERY)
        assert_same_bits(weights(models[index]), weights(alone[0]))


def test_verbose_2_prints_a_line_per_interval_for_the_stack(data, capsys):
    x, y, _, _ = data
    with floatx_scope("float64"):
        models = [build(SETTINGS[0], len(x)), build(SETTINGS[2], len(x))]
        fit_full_batch_stacked(models, x, y, steps=2 * LOG_EVERY, log_every=LOG_EVERY, verbose=2)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" - ")[0] for line in lines] == ["Steps 80/160", "Steps 160/160"]
    assert all("2 models (mean) - loss: " in line and "accuracy: " in line for line in lines)


def test_float32_models_stack_and_agree_with_fit_full_batch(data):
    """float32 masks are decided on float32 uniforms, as InvertedDropout draws them."""
    x, y, _, _ = data
    settings = [(0.3, 0.7, 3), (0.0, 0.86, 2)]
    with floatx_scope("float32"):
        models = [
            build_football_model(lambd, kp, num_examples=len(x), precision="float32", seed=s)
            for lambd, kp, s in settings
        ]
        fit_full_batch_stacked(models, x, y, steps=LOG_EVERY, log_every=LOG_EVERY, verbose=0)
        alone = build_football_model(0.3, 0.7, num_examples=len(x), precision="float32", seed=3)
        fit_full_batch(alone, x, y, steps=LOG_EVERY, optimizer=alone.optimizer, verbose=0)
    assert models[0].layers[0].kernel.dtype == "float32"
    for ours, keras_weights in zip(weights(models[0]), weights(alone)):
        np.testing.assert_allclose(ours, keras_weights, rtol=2e-4, atol=2e-5)
