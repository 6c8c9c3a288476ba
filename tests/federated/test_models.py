"""Models: hand-written gradients against central finite differences, layout, loss and accuracy."""

from __future__ import annotations

import numpy as np
import pytest

from securecompute.errors import ParameterError, ShapeError
from securecompute.federated.models import MLP, LogisticRegression, Model, get_model


def finite_difference(model: Model, params: np.ndarray, x: np.ndarray, y: np.ndarray, h: float = 1e-6) -> np.ndarray:
    numeric = np.zeros_like(params)
    for k in range(params.size):
        step = np.zeros_like(params)
        step[k] = h
        numeric[k] = (model.loss(params + step, x, y) - model.loss(params - step, x, y)) / (2 * h)
    return numeric


@pytest.mark.parametrize("model", [LogisticRegression(5, 3, l2=0.1), MLP(5, 3, hidden=4, l2=0.1)], ids=repr)
def test_gradient_matches_finite_differences(model: Model) -> None:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(9, 5))
    y = rng.integers(0, 3, size=9)
    params = rng.normal(scale=0.5, size=model.size)
    loss, gradient = model.loss_and_gradient(params, x, y)
    assert loss == pytest.approx(model.loss(params, x, y))
    assert np.allclose(gradient, finite_difference(model, params, x, y), rtol=1e-5, atol=1e-7)


def test_parameter_layout_and_unpack_views() -> None:
    model = MLP(64, 10, hidden=32)
    assert model.size == 64 * 32 + 32 + 32 * 10 + 10
    params = model.init_params(0)
    w1, b1, w2, b2 = model.unpack(params)
    assert w1.shape == (64, 32)
    assert b2.shape == (10,)
    assert np.array_equal(model.pack([w1, b1, w2, b2]), params)
    b2[:] = 3.0  # views: setting through unpack sets the flat vector
    assert np.all(params[-10:] == 3.0)
    assert LogisticRegression(64, 10).size == 650


def test_logistic_regression_at_zero_has_log_c_loss_and_learns() -> None:
    rng = np.random.default_rng(1)
    model = LogisticRegression(2, 2, l2=0.0)
    x = np.concatenate([rng.normal(-2, 1, (50, 2)), rng.normal(2, 1, (50, 2))])
    y = np.repeat([0, 1], 50)
    params = model.init_params()
    assert model.loss(params, x, y) == pytest.approx(np.log(2))
    for _ in range(100):
        params = params - 0.5 * model.gradient(params, x, y)
    assert model.accuracy(params, x, y) > 0.95


def test_bad_input_is_refused() -> None:
    model = LogisticRegression(3, 2)
    with pytest.raises(ShapeError):
        model.loss(np.zeros(5), np.zeros((2, 3)), np.zeros(2, dtype=int))
    with pytest.raises(ShapeError):
        model.loss(np.zeros(8), np.zeros((2, 4)), np.zeros(2, dtype=int))
    with pytest.raises(ParameterError):
        model.loss(np.zeros(8), np.zeros((2, 3)), np.array([0, 2]))
    with pytest.raises(ParameterError, match="unknown model"):
        get_model("cnn", 3, 2)
    with pytest.raises(ParameterError):
        get_model("logreg", 3, 2, hidden=4)
