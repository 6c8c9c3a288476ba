"""Digits split and worker partitions: coverage, disjointness, sizes and label skew against alpha."""

from __future__ import annotations

import numpy as np
import pytest

from securecompute.errors import ParameterError
from securecompute.federated.data import load_digits_split, partition, partition_dirichlet, partition_iid


def test_digits_split_is_scaled_stratified_and_seeded() -> None:
    data = load_digits_split(0)
    assert data.x_train.shape[0] + data.x_test.shape[0] == 1797
    assert data.features == 64
    assert data.classes == 10
    assert data.x_train.min() >= 0
    assert data.x_train.max() <= 1
    assert 340 <= data.x_test.shape[0] <= 380
    assert set(np.unique(data.y_test)) == set(range(10))
    again = load_digits_split(0)
    assert np.array_equal(data.y_train, again.y_train)
    assert np.array_equal(data.x_test, again.x_test)
    assert not np.array_equal(load_digits_split(1).x_test, data.x_test)


def covers_once(parts: list[np.ndarray], size: int) -> bool:
    joined = np.concatenate(parts)
    return joined.size == size and np.array_equal(np.sort(joined), np.arange(size))


def test_iid_partition_covers_everything_evenly() -> None:
    parts = partition_iid(1000, 15, seed=3)
    assert covers_once(parts, 1000)
    sizes = [part.size for part in parts]
    assert max(sizes) - min(sizes) <= 1


@pytest.mark.parametrize("alpha", [0.05, 0.3, 1.0, 100.0])
def test_dirichlet_partition_covers_everything_and_every_worker_has_data(alpha: float) -> None:
    labels = load_digits_split(0).y_train
    parts = partition_dirichlet(labels, 15, alpha, seed=0)
    assert covers_once(parts, labels.size)
    assert min(part.size for part in parts) >= 1


def test_every_worker_gets_data_even_with_extreme_skew() -> None:
    labels = np.repeat(np.arange(3), 10)
    for seed in range(20):
        parts = partition_dirichlet(labels, 25, 0.01, seed=seed)
        assert covers_once(parts, 30)
        assert min(part.size for part in parts) >= 1


def mean_dominant_share(parts: list[np.ndarray], labels: np.ndarray) -> float:
    return float(np.mean([np.bincount(labels[part], minlength=10).max() / part.size for part in parts]))


def test_label_skew_grows_as_alpha_shrinks() -> None:
    labels = load_digits_split(0).y_train
    skew = {
        alpha: np.mean([mean_dominant_share(partition_dirichlet(labels, 15, alpha, seed=s), labels) for s in range(3)])
        for alpha in (0.1, 1.0, 100.0)
    }
    iid = mean_dominant_share(partition_iid(labels.size, 15, seed=0), labels)
    assert skew[0.1] > skew[1.0] + 0.15 > skew[100.0] + 0.15
    assert skew[100.0] < 0.3
    assert iid < 0.3


def test_partition_dispatch_and_errors() -> None:
    labels = np.repeat(np.arange(10), 5)
    assert covers_once(partition(labels, 5, None, seed=0), 50)
    assert covers_once(partition(labels, 5, float("inf"), seed=0), 50)
    assert covers_once(partition(labels, 5, 0.5, seed=0), 50)
    with pytest.raises(ParameterError, match="alpha"):
        partition_dirichlet(labels, 5, 0.0)
    with pytest.raises(ParameterError, match="only 50 examples"):
        partition_dirichlet(labels, 51, 1.0)
    with pytest.raises(ParameterError):
        partition_iid(3, 4)
    with pytest.raises(ParameterError):
        load_digits_split(0, test_fraction=1.0)
