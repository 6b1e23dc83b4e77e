"""Monte Carlo dropout: predictions with dropout left on, averaged over samples.

kreg's rule is "no dropout at test time"; MC dropout (Gal & Ghahramani, 2016)
is the one deliberate exception. Keeping dropout active at prediction time
turns one trained network into an ensemble of thinned networks; the spread
of their predictions estimates the model's uncertainty.

In Keras 3, `Dropout()(x, training=True)` written inside a model does not
survive `model.predict()`, which calls the model with `training=False`, and
calling the model with `training=True` would also put BatchNormalization in
training mode. `mc_predict` keeps the model in inference mode and switches
on only its dropout layers.
"""

from __future__ import annotations

import contextlib
import weakref

import keras
import numpy as np
from keras import ops

from kreg._dtypes import widest_float
from kreg._retracing import ignore_retracing_warning
from kreg.layers import SchedulableDropout, is_dropout_layer
from kreg.walk import iter_layers

__all__ = ["mc_predict"]


@contextlib.contextmanager
def _dropout_always_on(layers, generators):
    """Make each dropout layer drop units whatever `training` says, with its own generator."""
    originals = []
    for layer, generator in zip(layers, generators):

        def call(inputs, training=None, _layer=layer, _generator=generator):
            if isinstance(_layer, SchedulableDropout):
                return _layer.drop(inputs, seed_generator=_generator)
            if _layer.rate == 0:
                return inputs
            return keras.random.dropout(
                inputs, _layer.rate, noise_shape=_noise_shape(_layer, inputs), seed=_generator
            )

        originals.append((layer, layer.__dict__.get("call")))
        layer.call = call
    try:
        yield
    finally:
        for layer, original in originals:
            if original is None:
                del layer.call
            else:
                layer.call = original


def _has_dropout(layer) -> bool:
    return is_dropout_layer(layer) or any(is_dropout_layer(inner) for inner in iter_layers(layer))


def _split_at_first_dropout(model):
    """For a Sequential model: the layers before the first dropout, and the rest.

    The part before the first dropout layer gives the same output for every
    sample, so it runs once per example and only the rest runs per sample.
    Other models run whole, per sample.
    """
    if not isinstance(model, keras.Sequential):
        return [], None
    layers = model.layers
    first = next(i for i, layer in enumerate(layers) if _has_dropout(layer))
    return layers[:first], layers[first:]


class _Sampler:
    """One model's compiled MC sampler for a number of samples, kept between calls."""

    def __init__(self, model, samples: int, seed: int | None):
        self.layers = [layer for layer in iter_layers(model) if is_dropout_layer(layer)]
        self.generators = [
            keras.random.SeedGenerator(None if seed is None else seed + index)
            for index in range(len(self.layers))
        ]
        self.seed = seed
        # Each generator's starting state: a seeded call restarts from it, so the same
        # seed gives the same samples however often the sampler is used.
        self.initial = [ops.convert_to_numpy(g.state) for g in self.generators]
        prefix, rest = _split_at_first_dropout(model)

        def forward(batch):
            if rest is None:
                hidden = ops.repeat(batch, samples, axis=0)
                outputs = model(hidden, training=False)
            else:
                hidden = batch
                for layer in prefix:
                    hidden = layer(hidden, training=False)
                hidden = ops.repeat(hidden, samples, axis=0)
                for layer in rest:
                    hidden = layer(hidden, training=False)
                outputs = hidden
            dtype = outputs.dtype
            # float64 statistics: the mean of identical samples is then that value exactly.
            outputs = ops.reshape(outputs, (-1, samples, *outputs.shape[1:]))
            outputs = ops.cast(outputs, widest_float())
            mean, std = ops.mean(outputs, axis=1), ops.std(outputs, axis=1)
            return ops.cast(mean, dtype), ops.cast(std, dtype)

        self.function = forward
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf  # the backend is TensorFlow: already imported by Keras

            # One compiled sampler per model: several models in a process are not retracing.
            ignore_retracing_warning("_Sampler.__init__.<locals>.forward")
            self.function = tf.function(forward, reduce_retracing=True)
        # Other backends run the sampler eagerly: the dropout layers advance seed
        # generators, state that a jax.jit function could not carry between calls.

    def __call__(self, batches):
        if self.seed is not None:
            for generator, state in zip(self.generators, self.initial):
                generator.state.assign(state)
        with _dropout_always_on(self.layers, self.generators):
            for batch in batches:
                yield self.function(batch)


_SAMPLERS = weakref.WeakKeyDictionary()  # model -> {(samples, seed): _Sampler}


_SPATIAL = (
    keras.layers.SpatialDropout1D,
    keras.layers.SpatialDropout2D,
    keras.layers.SpatialDropout3D,
)


def _noise_shape(layer, inputs):
    """The mask shape a Keras dropout layer draws: whole feature maps for the spatial ones."""
    if not isinstance(layer, _SPATIAL):
        return layer.noise_shape
    shape = ops.shape(inputs)
    channels_first = getattr(layer, "data_format", "channels_last") == "channels_first"
    if isinstance(layer, keras.layers.SpatialDropout1D):
        return (shape[0], 1, shape[2])
    kept = (0, 1) if channels_first else (0, len(shape) - 1)
    return tuple(shape[i] if i in kept else 1 for i in range(len(shape)))


def mc_predict(
    model: keras.Model,
    x,
    samples: int = 30,
    seed: int | None = None,
    batch_size: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of `model`'s predictions over dropout samples.

    Each example is repeated `samples` times inside one batch, so all samples
    of a batch run in a single forward pass (no Python loop per sample); in a
    Sequential model the layers before the first dropout layer, whose output
    is the same for every sample, run once per example. The compiled sampler
    is kept for the next call with the same model, `samples` and `seed`. Only
    the dropout layers (`keras.layers.Dropout` and its subclasses, the
    spatial ones dropping whole feature maps, and `InvertedDropout`) are
    active; every other layer runs in inference mode: BatchNormalization
    normalizes with its moving statistics and does not update them.
    The layers' own seed generators are not advanced.

    Args:
        model: a Keras model with at least one dropout layer.
        x: inputs (a NumPy array or tensor).
        samples: number of dropout samples per example, >= 2.
        seed: seed of the dropout masks; the same seed gives the same result.
        batch_size: examples per forward pass (each repeated `samples`
            times); None picks one with about 4096 rows per pass.

    Returns:
        `(mean, std)`, NumPy arrays of the model's output shape (population
        standard deviation over the samples).

    Example:

    ```python
    mean, std = kreg.mc_predict(model, x_test, samples=50, seed=0)
    ```
    """
    if isinstance(samples, bool) or not isinstance(samples, (int, np.integer)) or samples < 2:
        raise ValueError(f"`samples` must be an integer >= 2. Received: samples={samples!r}")
    if batch_size is not None and (
        not isinstance(batch_size, (int, np.integer)) or batch_size < 1
    ):
        raise ValueError(
            f"`batch_size` must be a positive integer. Received: batch_size={batch_size!r}"
        )
    if not any(is_dropout_layer(layer) for layer in iter_layers(model)):
        raise ValueError(
            f"mc_predict needs dropout layers to sample from; model {model.name!r} has none."
        )
    x = np.asarray(x)
    batch_size = int(batch_size or max(1, 4096 // samples))
    samplers = _SAMPLERS.setdefault(model, {})
    key = (int(samples), seed)
    if key not in samplers:
        samplers[key] = _Sampler(model, int(samples), seed)

    def batches():
        for start in range(0, len(x), batch_size):
            batch = x[start : start + batch_size]
            if len(batch) < batch_size and start:  # pad the last batch: no retrace
                pad = np.repeat(batch[-1:], batch_size - len(batch), axis=0)
                batch = np.concatenate([batch, pad])
            yield ops.convert_to_tensor(batch)

    means, stds = [], []
    for mean, std in samplers[key](batches()):
        means.append(ops.convert_to_numpy(mean))
        stds.append(ops.convert_to_numpy(std))
    return np.concatenate(means)[: len(x)], np.concatenate(stds)[: len(x)]
