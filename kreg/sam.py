"""Sharpness-aware minimization: a `keras.Model` wrapper for TensorFlow, JAX and PyTorch."""

from __future__ import annotations

import math

import keras
from keras import ops

__all__ = ["SAM", "SharpnessAwareMinimization"]


@keras.saving.register_keras_serializable(package="kreg")
class SharpnessAwareMinimization(keras.Model):
    """Sharpness-aware minimization (Foret, Kleiner, Mobahi and Neyshabur, 2021).

    SAM looks for weights whose whole neighbourhood has a low loss. Each
    training step takes the gradient `g` of the batch's loss at the weights
    `w`, moves to `w + e` with `e = rho * g / ||g||` (the steepest ascent
    within radius `rho`, `||.||` the global L2 norm over every trainable
    weight), takes the gradient there, and hands that gradient to the
    optimizer to update `w`. A step costs two forward and backward passes.

    The wrapper delegates `call` to `model` and trains it with `compile` and
    `fit` like any Keras model, so every callback, metric, loss, regularizer
    and optimizer works (the L2 penalties of `model.losses` are part of the
    loss at both points). As in `tf_keras.models.experimental.
    SharpnessAwareMinimization` (Keras 2's, which Keras 3 dropped), the
    logged loss and metrics are those of the first pass, at `w`, and
    `num_batch_splits` splits each batch into parts that get their own
    perturbation ("m-sharpness"). Differences from it: both passes run in
    training mode and the second pass sees the same random draws (dropout
    masks) as the first, whose updates to non-trainable state (batch
    normalization statistics, random seeds) are undone, so a step updates
    them once, as a plain step does (tf_keras computes the first gradient in
    inference mode); and the parts' gradients are averaged, where tf_keras
    sums them (equal under `num_batch_splits` of 1; with SGD a tf_keras
    learning rate `lr` is `num_batch_splits * lr` here). Under a
    `tf.distribute` strategy each replica perturbs along its own gradient:
    two replicas train as one device with `num_batch_splits=2`.

    Args:
        model: the `keras.Model` to train.
        rho: the neighbourhood radius, a positive float (the paper uses 0.05
            for CIFAR).
        num_batch_splits: split each batch into this many equal parts, each
            perturbed on its own (the batch size must divide evenly, as in
            tf-keras); None (or 1) perturbs the whole batch.
        name: the wrapper's name.
        **kwargs: other `keras.Model` arguments.

    Call arguments:
        inputs: the inputs of `model`.
        training: Python boolean, passed to `model`.

    Example:

    ```python
    sam = kreg.SAM(model, rho=0.05)
    sam.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    sam.fit(x, y, epochs=10)  # trains `model`'s weights
    ```
    """

    def __init__(self, model, rho: float = 0.05, num_batch_splits=None, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        if not isinstance(model, keras.Model):
            raise ValueError(
                f"`model` must be a keras.Model. Received: model={model!r} "
                f"(of type {type(model).__name__})"
            )
        if (
            isinstance(rho, bool)
            or not isinstance(rho, (int, float))
            or not math.isfinite(rho)
            or rho <= 0
        ):
            raise ValueError(f"`rho` must be a positive float. Received: rho={rho!r}")
        if num_batch_splits is not None and (
            isinstance(num_batch_splits, bool)
            or not isinstance(num_batch_splits, int)
            or num_batch_splits < 1
        ):
            raise ValueError(
                "`num_batch_splits` must be a positive integer or None. "
                f"Received: num_batch_splits={num_batch_splits!r}"
            )
        self.model = model
        self.rho = float(rho)
        self.num_batch_splits = num_batch_splits
        backend = keras.backend.backend()
        if backend not in ("tensorflow", "jax", "torch"):
            raise NotImplementedError(
                "SharpnessAwareMinimization trains on the TensorFlow, JAX and PyTorch backends; "
                f"the Keras backend is {backend!r}."
            )

    def call(self, inputs, training=None):
        return self.model(inputs, training=training)

    def build(self, input_shape):
        if not self.model.built:
            self.model.build(input_shape)
        self.built = True

    # --- The step, shared -----------------------------------------------------------------

    def _splits(self, data) -> list[tuple]:
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        parts = self.num_batch_splits or 1
        if parts == 1:
            return [(x, y, sample_weight)]

        def part(structure, index):
            if structure is None:
                return None
            return keras.tree.map_structure(lambda t: ops.split(t, parts)[index], structure)

        return [(part(x, i), part(y, i), part(sample_weight, i)) for i in range(parts)]

    def _perturbation(self, gradients) -> list:
        norm = ops.sqrt(sum(ops.sum(ops.square(g)) for g in gradients))
        scale = self.rho / (norm + 1e-12)
        return [g * ops.cast(scale, g.dtype) for g in gradients]

    def _update_metrics(self, losses, data, predictions) -> dict:
        # The pattern of Keras's "customizing fit" guides: the loss tracker, then the rest.
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        loss = sum(losses) / len(losses)
        y_pred = (
            predictions[0]
            if len(predictions) == 1
            else keras.tree.map_structure(
                lambda *parts: ops.concatenate(parts, axis=0), *predictions
            )
        )
        batch_size = ops.shape(keras.tree.flatten(x)[0])[0]
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss, sample_weight=batch_size)
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def train_step(self, *args):
        backend = keras.backend.backend()
        if backend == "jax":
            return self._jax_train_step(*args)
        if backend == "torch":
            return self._eager_train_step(args[0], self._torch_gradients)
        return self._eager_train_step(args[0], self._tensorflow_gradients)

    # --- TensorFlow and PyTorch: variables change in place ----------------------------------

    def _loss(self, x, y, sample_weight):
        """The loss (scaled as the optimizer wants it, under mixed precision) and predictions."""
        y_pred = self(x, training=True)
        loss = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight)
        return self.optimizer.scale_loss(loss), loss, y_pred

    def _tensorflow_gradients(self, x, y, sample_weight):
        import tensorflow as tf

        with tf.GradientTape() as tape:
            scaled, loss, y_pred = self._loss(x, y, sample_weight)
        variables = self.trainable_variables
        gradients = tape.gradient(scaled, variables)
        # A variable the loss does not reach gets None, an embedding's rows IndexedSlices.
        gradients = [
            ops.zeros_like(v) if g is None else tf.convert_to_tensor(g)
            for g, v in zip(gradients, variables)
        ]
        return gradients, loss, y_pred

    def _torch_gradients(self, x, y, sample_weight):
        self.zero_grad()
        scaled, loss, y_pred = self._loss(x, y, sample_weight)
        scaled.backward()
        gradients = [
            ops.zeros_like(v.value) if v.value.grad is None else v.value.grad.clone()
            for v in self.trainable_variables
        ]
        self.zero_grad()
        return gradients, loss.detach(), keras.tree.map_structure(lambda t: t.detach(), y_pred)

    def _eager_train_step(self, data, gradients_of):
        trainable = self.trainable_variables
        state = self.non_trainable_variables
        weights = [_snapshot(v) for v in trainable]
        summed, losses, predictions = None, [], []
        for x, y, sample_weight in self._splits(data):
            before = [_snapshot(v) for v in state]
            gradients, loss, y_pred = gradients_of(x, y, sample_weight)
            losses.append(loss)
            predictions.append(y_pred)
            for variable, weight, step in zip(trainable, weights, self._perturbation(gradients)):
                variable.assign(weight + step)
            # The second pass sees the same seeds and statistics; its updates are the step's.
            for variable, value in zip(state, before):
                variable.assign(value)
            gradients, _, _ = gradients_of(x, y, sample_weight)
            for variable, weight in zip(trainable, weights):
                variable.assign(weight)
            summed = gradients if summed is None else [a + b for a, b in zip(summed, gradients)]
        parts = len(losses)
        if parts > 1:
            summed = [g / parts for g in summed]
        if keras.backend.backend() == "torch":
            import torch

            with torch.no_grad():
                self.optimizer.apply(summed, trainable)
        else:
            self.optimizer.apply(summed, trainable)
        return self._update_metrics(losses, data, predictions)

    # --- JAX: stateless ---------------------------------------------------------------------

    def _jax_train_step(self, state, data):
        import jax

        trainable, non_trainable, optimizer_variables, metrics_variables = state
        grad_fn = jax.value_and_grad(self.compute_loss_and_updates, has_aux=True)
        summed, losses, predictions = None, [], []
        # Each part's two passes start from the same state (seeds, statistics); the second
        # pass's updates carry on to the next part, as on the other backends.
        current = non_trainable
        for x, y, sample_weight in self._splits(data):
            (_, aux), gradients = grad_fn(
                trainable,
                current,
                metrics_variables,
                x,
                y,
                sample_weight,
                training=True,
                optimizer_variables=optimizer_variables,
            )
            unscaled_loss, y_pred = aux[0], aux[1]
            losses.append(unscaled_loss)
            predictions.append(y_pred)
            perturbed = [w + e for w, e in zip(trainable, self._perturbation(gradients))]
            (_, aux), gradients = grad_fn(
                perturbed,
                current,
                metrics_variables,
                x,
                y,
                sample_weight,
                training=True,
                optimizer_variables=optimizer_variables,
            )
            current = aux[2]
            summed = gradients if summed is None else [a + b for a, b in zip(summed, gradients)]
        parts = len(losses)
        if parts > 1:
            summed = [g / parts for g in summed]
        trainable, optimizer_variables = self.optimizer.stateless_apply(
            optimizer_variables, summed, trainable
        )
        # Metrics run statefully inside a scope that maps them to this step's values.
        mapping = list(zip(self.metrics_variables, metrics_variables))
        with keras.StatelessScope(state_mapping=mapping) as scope:
            logs = self._update_metrics(losses, data, predictions)
        metrics_variables = [scope.get_current_value(v) for v in self.metrics_variables]
        return logs, (trainable, current, optimizer_variables, metrics_variables)

    # --- Saving -------------------------------------------------------------------------------

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "model": keras.saving.serialize_keras_object(self.model),
                "rho": self.rho,
                "num_batch_splits": self.num_batch_splits,
            }
        )
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        config["model"] = keras.saving.deserialize_keras_object(
            config["model"], custom_objects=custom_objects
        )
        return cls(**config)


def _snapshot(variable):
    """A copy of the variable's value, outside any gradient computation."""
    return ops.copy(ops.stop_gradient(variable.value))


SAM = SharpnessAwareMinimization
