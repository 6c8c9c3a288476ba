r"""Data for the federated simulations: the bundled digits set, a seeded split, and worker partitions.

- :func:`load_digits_split`: scikit-learn's ``load_digits`` (1797 images of 8 x 8 pixels with values 0..16,
  10 classes; shipped with scikit-learn, no download), pixels scaled to [0, 1] by dividing by 16, split into
  train and test by a seeded permutation (stratified: each class is split with the same fraction).
- :func:`partition_iid`: a seeded permutation of the training indices cut into n near-equal parts.
- :func:`partition_dirichlet`: label skew.  For every class c independently, draw proportions
  q_c ~ Dirichlet(alpha, ..., alpha) over the n workers and cut that class's (shuffled) indices at the
  cumulative proportions.  Small alpha (0.1-0.3) gives each worker a few dominant classes; large alpha
  tends to IID.  Rule that every worker gets data: after the split, each empty worker (in index order)
  receives one index moved from the currently largest part (the last index of that part; the first
  largest part on ties).  So every worker holds at least one example, the parts stay disjoint, and their
  union is every training index.  It needs at least n training examples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from securecompute.errors import ParameterError
from securecompute.federated._checks import FloatArray, check_int, check_positive
from securecompute.randomness import Seed, as_generator

__all__ = ["Dataset", "IntArray", "load_digits_split", "partition", "partition_dirichlet", "partition_iid"]

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Dataset:
    """A train/test split of a classification task: features in rows, integer labels in [0, classes)."""

    x_train: FloatArray
    y_train: IntArray
    x_test: FloatArray
    y_test: IntArray
    classes: int
    name: str = "dataset"

    @property
    def features(self) -> int:
        """Number of input features (columns of ``x_train``)."""
        return int(self.x_train.shape[1])


def load_digits_split(seed: Seed = 0, test_fraction: float = 0.2) -> Dataset:
    """scikit-learn digits (1797 x 64), pixels / 16 in [0, 1], stratified train/test split from ``seed``.

    Raises:
        ParameterError: ``test_fraction`` not in (0, 1), or a bad seed.
        DependencyMissingError: scikit-learn is not installed.
    """
    fraction = check_positive("test_fraction", test_fraction)
    if fraction >= 1:
        raise ParameterError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    generator = as_generator(seed)
    try:
        from sklearn.datasets import load_digits
    except ImportError as error:  # pragma: no cover - scikit-learn is a dependency
        from securecompute.errors import DependencyMissingError

        raise DependencyMissingError("the digits data set needs scikit-learn: pip install scikit-learn") from error
    bunch = load_digits()
    x = np.asarray(bunch.data, dtype=np.float64) / 16.0
    y = np.asarray(bunch.target, dtype=np.int64)
    test_parts: list[IntArray] = []
    train_parts: list[IntArray] = []
    for label in np.unique(y):
        members = generator.permutation(np.flatnonzero(y == label)).astype(np.int64)
        cut = round(fraction * members.size)
        test_parts.append(members[:cut])
        train_parts.append(members[cut:])
    train = np.sort(np.concatenate(train_parts))
    test = np.sort(np.concatenate(test_parts))
    return Dataset(x[train], y[train], x[test], y[test], classes=10, name="digits")


def partition_iid(size: int, workers: int, seed: Seed = 0) -> list[IntArray]:
    """Cut a seeded permutation of ``range(size)`` into ``workers`` parts whose sizes differ by at most one.

    Raises:
        ParameterError: fewer than ``workers`` items, or ``workers`` < 1.
    """
    size = check_int("size", size, 0)
    workers = check_int("workers", workers, 1)
    if size < workers:
        raise ParameterError(f"cannot give each of {workers} workers data: only {size} examples")
    order = as_generator(seed).permutation(size).astype(np.int64)
    return [np.sort(part) for part in np.array_split(order, workers)]


def partition_dirichlet(labels: npt.ArrayLike, workers: int, alpha: float, seed: Seed = 0) -> list[IntArray]:
    """Dirichlet(alpha) label-skew partition of the indices of ``labels`` over ``workers`` (module docstring).

    Raises:
        ParameterError: ``alpha`` not a finite real > 0, fewer examples than workers, or ``workers`` < 1.
    """
    array = np.asarray(labels)
    if array.ndim != 1:
        raise ParameterError(f"labels must be one-dimensional, got shape {array.shape}")
    workers = check_int("workers", workers, 1)
    alpha = check_positive("alpha", alpha)
    if array.size < workers:
        raise ParameterError(f"cannot give each of {workers} workers data: only {array.size} examples")
    generator = as_generator(seed)
    parts: list[list[IntArray]] = [[] for _ in range(workers)]
    for label in np.unique(array):
        members = generator.permutation(np.flatnonzero(array == label)).astype(np.int64)
        shares = generator.dirichlet(np.full(workers, alpha))
        cuts = np.round(np.cumsum(shares)[:-1] * members.size).astype(np.int64)
        for worker, piece in enumerate(np.split(members, cuts)):
            parts[worker].append(piece)
    result = [np.sort(np.concatenate(pieces)) for pieces in parts]
    for worker in range(workers):
        if result[worker].size == 0:
            donor = int(np.argmax([part.size for part in result]))
            result[worker] = result[donor][-1:].copy()
            result[donor] = result[donor][:-1]
    return result


def partition(labels: npt.ArrayLike, workers: int, alpha: float | None, seed: Seed = 0) -> list[IntArray]:
    """IID when ``alpha`` is None or +inf, else :func:`partition_dirichlet` with that ``alpha``."""
    array = np.asarray(labels)
    if alpha is None or (isinstance(alpha, float) and math.isinf(alpha) and alpha > 0):
        return partition_iid(int(array.shape[0]), workers, seed)
    return partition_dirichlet(array, workers, alpha, seed)
