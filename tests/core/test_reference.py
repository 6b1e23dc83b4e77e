import numpy as np
import pytest

from kreg import reference

# The values the course notebook prints for its graded functions.
GRADED_COST_L2 = 1.7864859451590758
GRADED_DW1 = [[-0.25604646, 0.12298827, -0.28297129], [-0.17706303, 0.34536094, -0.4410571]]
GRADED_DW2 = [[0.79276486, 0.85133918], [-0.0957219, -0.01720463], [-0.13100772, -0.03750433]]
GRADED_DW3 = [[-1.77691347, -0.11832879, -0.09397446]]
GRADED_A3 = [[0.36974721, 0.00305176, 0.04565099, 0.49683389, 0.36974721]]
GRADED_DA1 = [
    [0.36544439, 0.0, -0.00188233, 0.0, -0.17408748],
    [0.65515713, 0.0, -0.00337459, 0.0, -0.0],
]
GRADED_DA2 = [
    [0.58180856, 0.0, -0.00299679, 0.0, -0.27715731],
    [0.0, 0.53159854, -0.0, 0.53159854, -0.34089673],
    [0.0, 0.0, -0.00292733, 0.0, -0.0],
]


def small_problem(seed=0, m=7):
    rng = np.random.RandomState(seed)
    X = rng.randn(2, m)
    Y = (rng.rand(1, m) > 0.5).astype(float)
    params = reference.initialize_parameters([2, 4, 3, 1], seed=seed)
    for key in params:
        if key.startswith("b"):
            params[key] = rng.randn(*params[key].shape) * 0.1
    return X, Y, params


def numerical_gradient(cost_fn, params, eps=1e-6):
    grads = {}
    for key, value in params.items():
        grad = np.zeros_like(value)
        for index in np.ndindex(value.shape):
            plus = {k: v.copy() for k, v in params.items()}
            minus = {k: v.copy() for k, v in params.items()}
            plus[key][index] += eps
            minus[key][index] -= eps
            grad[index] = (cost_fn(plus) - cost_fn(minus)) / (2 * eps)
        grads["d" + key] = grad
    return grads


class TestGraded:
    def test_cost_with_regularization_matches_notebook(self, graded_inputs):
        _, Y, params = graded_inputs(with_x=False)
        a3 = np.array([[0.40682402, 0.01629284, 0.16722898, 0.10118111, 0.40682402]])
        cost = reference.compute_cost_with_regularization(a3, Y, params, lambd=0.1)
        assert cost == pytest.approx(GRADED_COST_L2, rel=1e-15)
        # The course's graders check the result's shape: a numpy.float64, as its solution's.
        assert type(cost) is np.float64 and cost.shape == ()

    def test_backward_with_regularization_matches_notebook(self, graded_inputs):
        X, Y, params = graded_inputs(with_x=True)
        _, cache = reference.forward_propagation(X, params)
        grads = reference.backward_propagation_with_regularization(X, Y, cache, lambd=0.7)
        np.testing.assert_allclose(grads["dW1"], GRADED_DW1, atol=1e-8)
        np.testing.assert_allclose(grads["dW2"], GRADED_DW2, atol=1e-8)
        np.testing.assert_allclose(grads["dW3"], GRADED_DW3, atol=1e-8)

    def test_forward_with_dropout_matches_notebook(self, graded_inputs):
        X, _, params = graded_inputs(with_x=True)
        a3, _ = reference.forward_propagation_with_dropout(X, params, keep_prob=0.7)
        np.testing.assert_allclose(a3, GRADED_A3, atol=1e-8)

    def test_backward_with_dropout_matches_notebook(self, graded_inputs):
        X, Y, params = graded_inputs(with_x=True)
        _, cache = reference.forward_propagation_with_dropout(X, params)  # keep_prob=0.5 masks
        grads = reference.backward_propagation_with_dropout(X, Y, cache, keep_prob=0.8)
        np.testing.assert_allclose(grads["dA1"], GRADED_DA1, atol=1e-8)
        np.testing.assert_allclose(grads["dA2"], GRADED_DA2, atol=1e-8)


class TestGradientChecks:
    def test_backward_propagation(self):
        X, Y, params = small_problem()
        _, cache = reference.forward_propagation(X, params)
        grads = reference.backward_propagation(X, Y, cache)
        numeric = numerical_gradient(
            lambda p: reference.compute_cost(reference.forward_propagation(X, p)[0], Y), params
        )
        for key, value in numeric.items():
            np.testing.assert_allclose(grads[key], value, atol=1e-8, err_msg=key)

    def test_backward_propagation_with_regularization(self):
        X, Y, params = small_problem(seed=1)
        lambd = 0.7
        _, cache = reference.forward_propagation(X, params)
        grads = reference.backward_propagation_with_regularization(X, Y, cache, lambd)
        numeric = numerical_gradient(
            lambda p: reference.compute_cost_with_regularization(
                reference.forward_propagation(X, p)[0], Y, p, lambd
            ),
            params,
        )
        for key, value in numeric.items():
            np.testing.assert_allclose(grads[key], value, atol=1e-8, err_msg=key)

    def test_backward_propagation_with_dropout(self):
        X, Y, params = small_problem(seed=2)
        keep_prob = 0.7
        # The masks are fixed by the seed, so the cost is a smooth function of the weights.
        _, cache = reference.forward_propagation_with_dropout(X, params, keep_prob, rng=5)
        grads = reference.backward_propagation_with_dropout(X, Y, cache, keep_prob)
        numeric = numerical_gradient(
            lambda p: reference.compute_cost(
                reference.forward_propagation_with_dropout(X, p, keep_prob, rng=5)[0], Y
            ),
            params,
        )
        for key, value in numeric.items():
            np.testing.assert_allclose(grads[key], value, atol=1e-8, err_msg=key)
        assert not cache[1].all(), "the check needs some dropped units"


class TestDropoutMasks:
    def test_rng_none_is_the_course_seed_1(self):
        X, _, params = small_problem()
        a, cache_a = reference.forward_propagation_with_dropout(X, params, 0.6)
        b, cache_b = reference.forward_propagation_with_dropout(
            X, params, 0.6, rng=np.random.RandomState(1)
        )
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(cache_a[1], cache_b[1])

    def test_int_seed_equals_random_state(self):
        X, _, params = small_problem()
        a, _ = reference.forward_propagation_with_dropout(X, params, 0.6, rng=7)
        b, _ = reference.forward_propagation_with_dropout(
            X, params, 0.6, rng=np.random.RandomState(7)
        )
        np.testing.assert_array_equal(a, b)

    def test_masks_drawn_d1_then_d2_with_rand_below_keep_prob(self):
        X, _, params = small_problem()
        _, cache = reference.forward_propagation_with_dropout(X, params, 0.6, rng=3)
        rng = np.random.RandomState(3)
        d1 = rng.rand(*cache[1].shape) < 0.6
        d2 = rng.rand(*cache[6].shape) < 0.6
        np.testing.assert_array_equal(cache[1], d1)
        np.testing.assert_array_equal(cache[6], d2)

    def test_shared_random_state_advances(self):
        X, _, params = small_problem()
        rng = np.random.RandomState(0)
        _, first = reference.forward_propagation_with_dropout(X, params, 0.5, rng=rng)
        _, second = reference.forward_propagation_with_dropout(X, params, 0.5, rng=rng)
        assert not np.array_equal(first[1], second[1])

    def test_keep_prob_one_is_identity(self):
        X, _, params = small_problem()
        a, _ = reference.forward_propagation_with_dropout(X, params, 1.0, rng=0)
        b, _ = reference.forward_propagation(X, params)
        np.testing.assert_array_equal(a, b)

    @pytest.mark.parametrize("keep_prob", [0.0, -0.1, 1.5])
    def test_invalid_keep_prob(self, keep_prob):
        X, _, params = small_problem()
        with pytest.raises(ValueError, match=r"`keep_prob` must be in the interval \(0, 1\]"):
            reference.forward_propagation_with_dropout(X, params, keep_prob)

    def test_invalid_rng(self):
        X, _, params = small_problem()
        with pytest.raises(TypeError, match="Received: rng='seed'"):
            reference.forward_propagation_with_dropout(X, params, 0.5, rng="seed")


class TestInitialization:
    def test_course_initialization(self):
        params = reference.initialize_parameters([2, 20, 3, 1])
        rng = np.random.RandomState(3)
        np.testing.assert_array_equal(params["W1"], rng.randn(20, 2) / np.sqrt(2))
        np.testing.assert_array_equal(params["W2"], rng.randn(3, 20) / np.sqrt(20))
        np.testing.assert_array_equal(params["W3"], rng.randn(1, 3) / np.sqrt(3))
        assert params["b2"].shape == (3, 1) and not params["b2"].any()

    def test_invalid_layer_dims(self):
        with pytest.raises(ValueError, match=r"Received: layer_dims=\[2, 0, 1\]"):
            reference.initialize_parameters([2, 0, 1])


class TestTrainer:
    def test_course_table(self, football_data):
        x_train, y_train, x_test, y_test = football_data
        X, Y, Xt, Yt = x_train.T, y_train.T, x_test.T, y_test.T
        expected = [
            (dict(), 0.9478672985781991, 0.915, [0.6557412523481002, 0.16329987525724218]),
            (dict(lambd=0.7), 0.9383886255924171, 0.93, [0.6974484493131264, 0.2684918873282239]),
            (
                dict(keep_prob=0.86, course_compatible_dropout=True),
                0.9289099526066351,
                0.95,
                [0.6543912405149825, 0.061016986574905605],
            ),
        ]
        for kwargs, train_acc, test_acc, costs in expected:
            result = reference.train(X, Y, **kwargs)
            assert reference.accuracy(X, Y, result.parameters) == train_acc, kwargs
            assert reference.accuracy(Xt, Yt, result.parameters) == test_acc, kwargs
            printed = dict(result.costs)
            assert printed[0] == pytest.approx(costs[0], rel=1e-13)
            assert printed[10000] == pytest.approx(costs[1], rel=1e-11)

    def test_fresh_masks_differ_from_course_masks(self):
        X, Y, _ = small_problem(m=40)
        fixed = reference.train(
            X, Y, keep_prob=0.7, course_compatible_dropout=True, num_iterations=50
        )
        fresh = reference.train(X, Y, keep_prob=0.7, dropout_seed=1, num_iterations=50)
        again = reference.train(X, Y, keep_prob=0.7, dropout_seed=1, num_iterations=50)
        assert not np.allclose(fixed.parameters["W1"], fresh.parameters["W1"])
        np.testing.assert_array_equal(fresh.parameters["W1"], again.parameters["W1"])

    def test_course_compatible_steps_use_one_mask(self):
        X, Y, _ = small_problem(m=40)
        result = reference.train(
            X, Y, keep_prob=0.7, course_compatible_dropout=True, num_iterations=3
        )
        params = reference.initialize_parameters([2, 20, 3, 1])
        for _ in range(3):
            _, cache = reference.forward_propagation_with_dropout(X, params, 0.7)
            grads = reference.backward_propagation_with_dropout(X, Y, cache, 0.7)
            params = reference.update_parameters(params, grads, 0.3)
        np.testing.assert_array_equal(result.parameters["W1"], params["W1"])

    def test_invalid_lambd(self):
        X, Y, _ = small_problem()
        with pytest.raises(ValueError, match="Received: lambd=-1"):
            reference.train(X, Y, lambd=-1)
