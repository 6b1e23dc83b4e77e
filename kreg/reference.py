"""The course's 3-layer network in plain numpy: the oracle kreg is checked against.

Everything here uses the course's layout and names: examples are *columns*
(`X` has shape `(features, examples)`), weights are `W[l]` of shape
`(units[l], units[l-1])` and biases `b[l]` of shape `(units[l], 1)`.
The network is LINEAR -> RELU -> LINEAR -> RELU -> LINEAR -> SIGMOID.

The operations are written in the same order as the course so that costs,
gradients and whole training runs agree with its printed values to the last
digit, not merely to a tolerance.

Conventions (the ones kreg converts between):

- cross-entropy cost: `J = -1/m * sum(y log a + (1 - y) log(1 - a))`
- L2 cost: `J + lambd / (2 m) * sum_l sum(W[l] ** 2)`, so the L2 gradient
  adds `lambd / m * W[l]`. Keras writes the same term as
  `factor * sum(W ** 2)` with `factor = lambd / (2 m)`.
- inverted dropout: mask `D = rng.rand(...) < keep_prob`, then
  `A = A * D / keep_prob`, applied to both hidden layers, D1 drawn before D2.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

__all__ = [
    "TrainResult",
    "backward_propagation",
    "backward_propagation_with_dropout",
    "backward_propagation_with_regularization",
    "compute_cost",
    "compute_cost_with_regularization",
    "forward_propagation",
    "forward_propagation_with_dropout",
    "initialize_parameters",
    "predict",
    "accuracy",
    "relu",
    "sigmoid",
    "train",
    "update_parameters",
]

COURSE_DROPOUT_SEED = 1
"""The course's dropout forward pass calls `np.random.seed(1)` on every call."""


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(0, x)


def initialize_parameters(layer_dims: Sequence[int], seed: int = 3) -> dict:
    """Course initialization: `W[l] = randn(out, in) / sqrt(in)`, `b[l] = 0`.

    Args:
        layer_dims: units per layer, input first, e.g. `[2, 20, 3, 1]`.
        seed: seed of the `numpy.random.RandomState` the weights are drawn
            from, layer by layer (the course uses 3).

    Returns:
        A dict with `W1, b1, ..., WL, bL`.
    """
    dims = [int(d) for d in layer_dims]
    if len(dims) < 2 or any(d <= 0 for d in dims):
        raise ValueError(
            "`layer_dims` must list at least two positive layer sizes. "
            f"Received: layer_dims={list(layer_dims)}"
        )
    rng = np.random.RandomState(seed)
    parameters = {}
    for layer in range(1, len(dims)):
        parameters[f"W{layer}"] = rng.randn(dims[layer], dims[layer - 1]) / np.sqrt(
            dims[layer - 1]
        )
        parameters[f"b{layer}"] = np.zeros((dims[layer], 1))
    return parameters


def _weights(parameters: dict) -> list[np.ndarray]:
    return [parameters[f"W{layer}"] for layer in range(1, len(parameters) // 2 + 1)]


def forward_propagation(X: np.ndarray, parameters: dict) -> tuple[np.ndarray, tuple]:
    """Forward pass without dropout.

    Returns:
        `(A3, cache)` with
        `cache = (Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, W3, b3)`.
    """
    W1, b1 = parameters["W1"], parameters["b1"]
    W2, b2 = parameters["W2"], parameters["b2"]
    W3, b3 = parameters["W3"], parameters["b3"]
    Z1 = np.dot(W1, X) + b1
    A1 = relu(Z1)
    Z2 = np.dot(W2, A1) + b2
    A2 = relu(Z2)
    Z3 = np.dot(W3, A2) + b3
    A3 = sigmoid(Z3)
    return A3, (Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, W3, b3)


def compute_cost(a3: np.ndarray, Y: np.ndarray) -> float:
    """Mean cross-entropy `-1/m * sum(y log a + (1 - y) log(1 - a))`.

    Like the course, terms that evaluate to NaN (`0 * log 0` once a
    saturated sigmoid reaches exactly 0 or 1) are skipped.
    """
    m = Y.shape[1]
    with np.errstate(divide="ignore", invalid="ignore"):
        logprobs = np.multiply(-np.log(a3), Y) + np.multiply(-np.log(1 - a3), 1 - Y)
    return float(1.0 / m * np.nansum(logprobs))


def compute_cost_with_regularization(
    a3: np.ndarray, Y: np.ndarray, parameters: dict, lambd: float
) -> np.float64:
    """Cross-entropy plus `lambd / (2 m) * sum_l sum(W[l] ** 2)`.

    A `numpy.float64`, as the course's solution returns (its graders check the
    result's `.shape`); it is also a Python `float`.
    """
    m = Y.shape[1]
    squares = sum(np.sum(np.square(W)) for W in _weights(parameters))
    return np.float64(compute_cost(a3, Y) + lambd * squares / (2 * m))


def backward_propagation(X: np.ndarray, Y: np.ndarray, cache: tuple) -> dict:
    """Gradients of the plain cross-entropy cost.

    As in the course, `dZ3` here already holds the `1/m` factor:
    `dZ3 = (A3 - Y) / m`, and the other gradients are derived from it.
    """
    m = X.shape[1]
    (Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, W3, b3) = cache
    dZ3 = 1.0 / m * (A3 - Y)
    dW3 = np.dot(dZ3, A2.T)
    db3 = np.sum(dZ3, axis=1, keepdims=True)
    dA2 = np.dot(W3.T, dZ3)
    dZ2 = np.multiply(dA2, np.int64(A2 > 0))
    dW2 = np.dot(dZ2, A1.T)
    db2 = np.sum(dZ2, axis=1, keepdims=True)
    dA1 = np.dot(W2.T, dZ2)
    dZ1 = np.multiply(dA1, np.int64(A1 > 0))
    dW1 = np.dot(dZ1, X.T)
    db1 = np.sum(dZ1, axis=1, keepdims=True)
    return {
        "dZ3": dZ3,
        "dW3": dW3,
        "db3": db3,
        "dA2": dA2,
        "dZ2": dZ2,
        "dW2": dW2,
        "db2": db2,
        "dA1": dA1,
        "dZ1": dZ1,
        "dW1": dW1,
        "db1": db1,
    }


def backward_propagation_with_regularization(
    X: np.ndarray, Y: np.ndarray, cache: tuple, lambd: float
) -> dict:
    """Gradients of the L2-regularized cost: each `dW[l]` gains `lambd / m * W[l]`.

    Here `dZ3 = A3 - Y` and the `1/m` is applied to `dW` and `db`, as in the
    course's version of this function.
    """
    m = X.shape[1]
    (Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, W3, b3) = cache
    dZ3 = A3 - Y
    dW3 = 1.0 / m * np.dot(dZ3, A2.T) + (lambd * W3) / m
    db3 = 1.0 / m * np.sum(dZ3, axis=1, keepdims=True)
    dA2 = np.dot(W3.T, dZ3)
    dZ2 = np.multiply(dA2, np.int64(A2 > 0))
    dW2 = 1.0 / m * np.dot(dZ2, A1.T) + (lambd * W2) / m
    db2 = 1.0 / m * np.sum(dZ2, axis=1, keepdims=True)
    dA1 = np.dot(W2.T, dZ2)
    dZ1 = np.multiply(dA1, np.int64(A1 > 0))
    dW1 = 1.0 / m * np.dot(dZ1, X.T) + (lambd * W1) / m
    db1 = 1.0 / m * np.sum(dZ1, axis=1, keepdims=True)
    return {
        "dZ3": dZ3,
        "dW3": dW3,
        "db3": db3,
        "dA2": dA2,
        "dZ2": dZ2,
        "dW2": dW2,
        "db2": db2,
        "dA1": dA1,
        "dZ1": dZ1,
        "dW1": dW1,
        "db1": db1,
    }


def _validate_keep_prob(keep_prob: float) -> float:
    keep_prob = float(keep_prob)
    if not 0.0 < keep_prob <= 1.0:
        raise ValueError(
            f"`keep_prob` must be in the interval (0, 1]. Received: keep_prob={keep_prob}"
        )
    return keep_prob


def _as_random_state(rng) -> np.random.RandomState:
    if rng is None:
        return np.random.RandomState(COURSE_DROPOUT_SEED)
    if isinstance(rng, np.random.RandomState):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.RandomState(int(rng))
    raise TypeError(
        f"`rng` must be a numpy.random.RandomState, an int seed or None. Received: rng={rng!r}"
    )


def forward_propagation_with_dropout(
    X: np.ndarray, parameters: dict, keep_prob: float = 0.5, rng=None
) -> tuple[np.ndarray, tuple]:
    """Forward pass with inverted dropout on both hidden layers.

    The four steps for each hidden layer: draw `D = rng.rand(*A.shape)`,
    threshold `D = D < keep_prob`, shut units down `A = A * D`, and rescale
    `A = A / keep_prob` so the expected activation is unchanged.

    Args:
        X: inputs, `(features, examples)`.
        parameters: `W1, b1, W2, b2, W3, b3`.
        keep_prob: probability of keeping a unit, in (0, 1].
        rng: a `numpy.random.RandomState` (its state advances), an int seed,
            or None for the course's behaviour: a fresh `RandomState(1)` on
            every call, so every call draws the same two masks.

    Returns:
        `(A3, cache)` with
        `cache = (Z1, D1, A1, W1, b1, Z2, D2, A2, W2, b2, Z3, A3, W3, b3)`;
        `D1` and `D2` are boolean masks, `A1` and `A2` are after dropout.
    """
    keep_prob = _validate_keep_prob(keep_prob)
    rng = _as_random_state(rng)
    W1, b1 = parameters["W1"], parameters["b1"]
    W2, b2 = parameters["W2"], parameters["b2"]
    W3, b3 = parameters["W3"], parameters["b3"]
    Z1 = np.dot(W1, X) + b1
    A1 = relu(Z1)
    D1 = rng.rand(A1.shape[0], A1.shape[1]) < keep_prob
    A1 = A1 * D1
    A1 = A1 / keep_prob
    Z2 = np.dot(W2, A1) + b2
    A2 = relu(Z2)
    D2 = rng.rand(A2.shape[0], A2.shape[1]) < keep_prob
    A2 = A2 * D2
    A2 = A2 / keep_prob
    Z3 = np.dot(W3, A2) + b3
    A3 = sigmoid(Z3)
    return A3, (Z1, D1, A1, W1, b1, Z2, D2, A2, W2, b2, Z3, A3, W3, b3)


def backward_propagation_with_dropout(
    X: np.ndarray, Y: np.ndarray, cache: tuple, keep_prob: float
) -> dict:
    """Gradients through the dropout forward pass: the same masks, the same rescaling.

    `dA[l]` is multiplied by the mask `D[l]` and divided by `keep_prob`,
    exactly mirroring the forward pass.
    """
    keep_prob = _validate_keep_prob(keep_prob)
    m = X.shape[1]
    (Z1, D1, A1, W1, b1, Z2, D2, A2, W2, b2, Z3, A3, W3, b3) = cache
    dZ3 = A3 - Y
    dW3 = 1.0 / m * np.dot(dZ3, A2.T)
    db3 = 1.0 / m * np.sum(dZ3, axis=1, keepdims=True)
    dA2 = np.dot(W3.T, dZ3)
    dA2 = dA2 * D2
    dA2 = dA2 / keep_prob
    dZ2 = np.multiply(dA2, np.int64(A2 > 0))
    dW2 = 1.0 / m * np.dot(dZ2, A1.T)
    db2 = 1.0 / m * np.sum(dZ2, axis=1, keepdims=True)
    dA1 = np.dot(W2.T, dZ2)
    dA1 = dA1 * D1
    dA1 = dA1 / keep_prob
    dZ1 = np.multiply(dA1, np.int64(A1 > 0))
    dW1 = 1.0 / m * np.dot(dZ1, X.T)
    db1 = 1.0 / m * np.sum(dZ1, axis=1, keepdims=True)
    return {
        "dZ3": dZ3,
        "dW3": dW3,
        "db3": db3,
        "dA2": dA2,
        "dZ2": dZ2,
        "dW2": dW2,
        "db2": db2,
        "dA1": dA1,
        "dZ1": dZ1,
        "dW1": dW1,
        "db1": db1,
    }


def update_parameters(parameters: dict, grads: dict, learning_rate: float) -> dict:
    """One gradient-descent step, `p = p - learning_rate * dp`, as a new dict."""
    updated = {}
    for layer in range(1, len(parameters) // 2 + 1):
        updated[f"W{layer}"] = parameters[f"W{layer}"] - learning_rate * grads[f"dW{layer}"]
        updated[f"b{layer}"] = parameters[f"b{layer}"] - learning_rate * grads[f"db{layer}"]
    return updated


def predict(X: np.ndarray, parameters: dict) -> np.ndarray:
    """0/1 predictions `(1, examples)`: 1 where the sigmoid output exceeds 0.5."""
    a3, _ = forward_propagation(X, parameters)
    return (a3 > 0.5).astype(np.int64)


def accuracy(X: np.ndarray, Y: np.ndarray, parameters: dict) -> float:
    """Fraction of examples whose prediction equals the label."""
    return float(np.mean(predict(X, parameters)[0, :] == Y[0, :]))


@dataclasses.dataclass
class TrainResult:
    """What `train` returns.

    Attributes:
        parameters: the trained `W1, b1, ..., W3, b3`.
        costs: `(iteration, cost)` every `cost_every` iterations, the cost
            being the one the step minimised (with the L2 term when
            `lambd > 0`, after dropout when `keep_prob < 1`).
    """

    parameters: dict
    costs: list[tuple[int, float]]


def train(
    X: np.ndarray,
    Y: np.ndarray,
    *,
    learning_rate: float = 0.3,
    num_iterations: int = 30000,
    lambd: float = 0.0,
    keep_prob: float = 1.0,
    course_compatible_dropout: bool = False,
    dropout_seed: int | None = None,
    hidden_units: Sequence[int] = (20, 3),
    init_seed: int = 3,
    cost_every: int = 1000,
) -> TrainResult:
    """Full-batch gradient descent on the course's 3-layer network.

    Args:
        X: inputs, `(features, examples)`.
        Y: 0/1 labels, `(1, examples)`.
        learning_rate: gradient-descent step size.
        num_iterations: number of full-batch steps.
        lambd: L2 strength in the course's convention (`lambd / (2 m)`).
        keep_prob: probability of keeping a hidden unit; 1 disables dropout.
        course_compatible_dropout: if True, re-seed the dropout RNG with 1 on
            every iteration as the course's code does, so every step uses the
            same two masks (one fixed sub-network is trained). If False
            (default), one `RandomState(dropout_seed)` draws fresh masks at
            every step, which is what dropout means.
        dropout_seed: seed of the dropout RNG when not course-compatible.
        hidden_units: sizes of the two hidden layers.
        init_seed: seed of `initialize_parameters`.
        cost_every: record the cost every this many iterations (iteration 0
            included).

    Returns:
        A `TrainResult`.
    """
    if int(num_iterations) < 0:
        raise ValueError(
            f"`num_iterations` must be a non-negative integer. Received: {num_iterations}"
        )
    if not np.isfinite(lambd) or lambd < 0:
        raise ValueError(f"`lambd` must be finite and non-negative. Received: lambd={lambd}")
    keep_prob = _validate_keep_prob(keep_prob)
    if len(hidden_units) != 2:
        raise ValueError(
            f"`hidden_units` must hold two sizes. Received: hidden_units={hidden_units}"
        )
    parameters = initialize_parameters([X.shape[0], *hidden_units, 1], seed=init_seed)
    dropout_rng = np.random.RandomState(dropout_seed) if dropout_seed is not None else None
    if keep_prob < 1 and not course_compatible_dropout and dropout_rng is None:
        dropout_rng = np.random.RandomState()
    # Re-seeding one RandomState is the course's np.random.seed(1) at 2 us a step;
    # constructing a fresh one every step costs 120 us.
    course_rng = np.random.RandomState(COURSE_DROPOUT_SEED)
    costs = []
    for i in range(int(num_iterations)):
        if keep_prob < 1:
            if course_compatible_dropout:
                course_rng.seed(COURSE_DROPOUT_SEED)
                rng = course_rng
            else:
                rng = dropout_rng
            a3, cache = forward_propagation_with_dropout(X, parameters, keep_prob, rng=rng)
        else:
            a3, cache = forward_propagation(X, parameters)
        if lambd == 0:
            cost = compute_cost(a3, Y)
        else:
            cost = compute_cost_with_regularization(a3, Y, parameters, lambd)
        if keep_prob < 1:
            grads = backward_propagation_with_dropout(X, Y, cache, keep_prob)
            if lambd != 0:
                m = X.shape[1]
                for layer in (1, 2, 3):
                    grads[f"dW{layer}"] = grads[f"dW{layer}"] + lambd * parameters[f"W{layer}"] / m
        elif lambd != 0:
            grads = backward_propagation_with_regularization(X, Y, cache, lambd)
        else:
            grads = backward_propagation(X, Y, cache)
        parameters = update_parameters(parameters, grads, learning_rate)
        if cost_every and i % cost_every == 0:
            costs.append((i, cost))
    return TrainResult(parameters=parameters, costs=costs)
