"""The Keras engine: the model's own call, loss, tape and optimizer, many steps per call."""

from __future__ import annotations

import tensorflow as tf

from kreg._retracing import ignore_retracing_warning
from kreg.lab.fullbatch.loop import loop_steps

__all__ = ["build_keras_loop"]


def build_keras_loop(model, loss_fn, optimizer, x, y, validation, jit_compile):
    """One compiled call: `num_steps` training steps, then the interval's evaluation."""

    # Every fit_full_batch call compiles a loop for its own model from this function.
    ignore_retracing_warning("build_keras_loop.<locals>.run")
    variables = model.trainable_variables

    def losses(inputs, targets, training):
        data_loss = loss_fn(targets, model(inputs, training=training))
        penalty = tf.add_n(model.losses) if model.losses else tf.zeros_like(data_loss)
        return data_loss + penalty, penalty

    def one_step():
        with tf.GradientTape() as tape:
            loss, penalty = losses(x, y, training=True)
        grads = tape.gradient(loss, variables)
        optimizer.apply(grads, variables)
        return loss, penalty

    def accuracy(inputs, targets):
        prob = model(inputs, training=False)
        if prob.shape[-1] == 1:
            hits = tf.equal(
                tf.cast(prob > 0.5, targets.dtype), tf.reshape(targets, tf.shape(prob))
            )
        else:
            predicted = tf.argmax(prob, axis=-1, output_type=tf.int64)
            hits = tf.equal(predicted, tf.cast(tf.reshape(targets, [-1]), tf.int64))
        return tf.reduce_mean(tf.cast(hits, tf.float64))

    # Evaluating inside the same compiled call saves ~20 ms of eager work per interval.
    # The loop is an explicit tf.while_loop, so AutoGraph has nothing to convert; skipping
    # it saves about a third of the trace time.
    @tf.function(jit_compile=jit_compile, reduce_retracing=True, autograph=False)
    def run(num_steps):
        # One copy of the step, in the loop body: peeling the first step out of the loop
        # (to record its cost) doubled the graph and cost ~0.5 s of XLA compilation.
        zero = tf.zeros((), dtype=x.dtype)
        first, last, penalty = loop_steps(num_steps, lambda i: one_step(), zero)
        logs = {"loss": last, "penalty": penalty, "accuracy": accuracy(x, y)}
        if validation is not None:
            x_val, y_val = validation
            logs["val_loss"] = losses(x_val, y_val, training=False)[0]
            logs["val_accuracy"] = accuracy(x_val, y_val)
        return first, logs

    return run
