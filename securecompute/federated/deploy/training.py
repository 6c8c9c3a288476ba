"""Robust training on the deployment: what each client computes, and the in-process twin that checks it.

The clients train multinomial logistic regression on scikit-learn digits (64 features, 10 classes),
each on its IID share of the training split, with ``steps`` full-batch gradient steps of size ``lr``
from the global weights.  The Byzantine client sends ``global - BYZANTINE_SCALE * delta`` where
``delta`` is its honest update (a scaled sign flip): enough to wreck a plain mean of three clients,
not a coordinate-wise median.  Everything is deterministic given the seed, so :func:`twin` (the
same rounds in this process, aggregated by the same rule on deltas as ``RobustStrategy`` does)
predicts the deployed run's weights exactly: it is the test oracle.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from securecompute.errors import ParameterError
from securecompute.federated.aggregators import get_aggregator
from securecompute.federated.data import Dataset, load_digits_split, partition_iid
from securecompute.federated.models import LogisticRegression

__all__ = ["BYZANTINE_SCALE", "client_update", "model", "test_accuracy", "twin"]

BYZANTINE_SCALE = 10.0
"""The Byzantine client's reply is the global weights minus this times its honest delta."""


@cache
def _data(seed: int) -> Dataset:
    return load_digits_split(seed)


def model() -> LogisticRegression:
    """The model every participant trains: logistic regression, 64 features, 10 classes."""
    return LogisticRegression(64, 10)


def client_update(
    params: np.ndarray, index: int, clients: int, *, byzantine: bool, steps: int, lr: float, seed: int
) -> np.ndarray:
    """Client ``index`` of ``clients``'s reply: (d,) float64 weights after local training (or the attack).

    Raises:
        ParameterError: ``index`` outside 0..clients-1, steps < 1 or lr <= 0.
    """
    if not 0 <= index < clients or steps < 1 or not lr > 0:
        raise ParameterError(f"need 0 <= index < clients, steps >= 1, lr > 0; got {index}, {clients}, {steps}, {lr}")
    data = _data(seed)
    rows = partition_iid(len(data.y_train), clients, seed)[index]
    x, y = data.x_train[rows], data.y_train[rows]
    net = model()
    start = np.asarray(params, dtype=np.float64)
    weights = start.copy()
    for _ in range(steps):
        weights = weights - lr * net.gradient(weights, x, y)
    if byzantine:
        return start - BYZANTINE_SCALE * (weights - start)
    return weights


def test_accuracy(params: np.ndarray, seed: int) -> float:
    """Accuracy of ``params`` on the digits test split."""
    data = _data(seed)
    return model().accuracy(params, data.x_test, data.y_test)


def twin(
    rounds: int, clients: int, byzantine: set[int], aggregator: str, *, steps: int, lr: float, seed: int
) -> tuple[np.ndarray, list[float]]:
    """The same training in this process: final (d,) weights and the test accuracy after each round."""
    rule = get_aggregator(aggregator)
    params = model().init_params(seed)
    accuracies = []
    for _ in range(rounds):
        replies = [
            client_update(params, i, clients, byzantine=i in byzantine, steps=steps, lr=lr, seed=seed)
            for i in range(clients)
        ]
        params = params + np.asarray(rule(np.stack(replies) - params), dtype=np.float64)
        accuracies.append(test_accuracy(params, seed))
    return params, accuracies
