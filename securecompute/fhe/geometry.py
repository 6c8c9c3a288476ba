"""Index geometry of joint orders: strides, grids, flat indices and the entries of linear maps.

A contraction is lowered in a *joint order* of its labels, laid out row-major with every label
padded to a power of two.  These helpers compute, from labels and sizes alone, where each grid
point of a contraction sits in an operand's storage and in a target order; the lowering turns
those positions into linear transforms.  Nothing here touches a ciphertext.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from math import prod

import numpy as np

from securecompute.fhe.layout import TensorLayout, next_power_of_two

__all__ = [
    "MAX_GRID",
    "Node",
    "flat_index",
    "index_grid",
    "is_free",
    "label_strides",
    "map_entries",
    "padded_sizes",
    "plain_values",
    "suffix_of",
    "unique",
]

MAX_GRID = 1 << 22  # grid points of one contraction above which a lowering is ruled out


@dataclass(frozen=True)
class Node:
    """A value during planning: labels of its logical axes, and either a layout or values.

    Encrypted nodes have ``layout`` (over axes in ``labels`` order) and a ``register``;
    plaintext nodes have ``values`` (axes in ``labels`` order).
    """

    labels: tuple[str, ...]
    layout: TensorLayout | None = None
    register: int | None = None
    values: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def encrypted(self) -> bool:
        return self.layout is not None

    def storage_labels(self) -> tuple[str, ...]:
        assert self.layout is not None
        return tuple(self.labels[axis] for axis in self.layout.order)


def unique(labels: itertools.chain[str] | list[str]) -> list[str]:
    return list(dict.fromkeys(labels))


def padded_sizes(labels: tuple[str, ...] | list[str], sizes: dict[str, int]) -> list[int]:
    return [next_power_of_two(sizes[label]) for label in labels]


def label_strides(labels: tuple[str, ...] | list[str], sizes: dict[str, int]) -> dict[str, int]:
    strides, step = {}, 1
    for label, padded in zip(reversed(labels), reversed(padded_sizes(labels, sizes)), strict=True):
        strides[label] = step
        step *= padded
    return strides


def index_grid(labels: list[str], sizes: dict[str, int]) -> dict[str, np.ndarray] | None:
    """Index arrays over the unpadded grid of ``labels`` (row-major), or None if too large."""
    shape = [sizes[label] for label in labels]
    if prod(shape) > MAX_GRID:
        return None
    indices = np.indices(shape).reshape(len(shape), -1) if shape else np.zeros((0, 1), dtype=np.int64)
    return {label: indices[k].astype(np.int64, copy=False) for k, label in enumerate(labels)}


def flat_index(node: Node, grid: dict[str, np.ndarray], size: int) -> np.ndarray:
    """Flat storage index of ``node`` at every grid point (repeated labels read the diagonal)."""
    assert node.layout is not None
    flat = np.zeros(size, dtype=np.int64)
    for axis, stride in node.layout.strides().items():
        flat += grid[node.labels[axis]] * stride
    return flat


def is_free(node: Node, order: tuple[str, ...], sizes: dict[str, int]) -> bool:
    """True when the node's storage is exactly the innermost part of ``order`` (size-1 labels aside)."""
    storage = tuple(label for label in node.storage_labels() if sizes[label] > 1)
    if len(set(node.labels)) != len(node.labels) or (node.layout is not None and node.layout.has_fillers):
        return False
    wide = tuple(label for label in order if sizes[label] > 1)
    return wide[len(wide) - len(storage) :] == storage


def suffix_of(node: Node, order: tuple[str, ...]) -> tuple[str, ...]:
    """The part of ``order`` from the node's outermost label inwards."""
    first = min(order.index(label) for label in node.labels) if node.labels else len(order)
    return order[first:]


def plain_values(plain_joint: Node | None, grid: dict[str, np.ndarray], size: int) -> np.ndarray | None:
    """The plaintext factor at every grid point, (size,) float64, or None without plaintext."""
    if plain_joint is None:
        return None
    assert plain_joint.values is not None
    index = tuple(grid[label] for label in plain_joint.labels)
    values = plain_joint.values[index] if index else np.full(size, float(plain_joint.values))
    return np.asarray(values, dtype=np.float64)


def map_entries(
    node: Node,
    grid_labels: list[str],
    target: tuple[str, ...],
    sizes: dict[str, int],
    plain_joint: Node | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Entries (dst, src, value) of the map from ``node``'s layout to the row-major ``target`` order.

    The grid runs over ``grid_labels``; labels outside ``target`` are summed by the map.  The value
    is the plaintext factor at each grid point (1 without plaintext).  None if the grid is too large.
    """
    grid = index_grid(grid_labels, sizes)
    if grid is None:
        return None
    size = next(iter(grid.values())).size if grid else 1
    strides = label_strides(target, sizes)
    dst = sum((grid[label] * strides[label] for label in grid_labels if label in strides), np.zeros(size, np.int64))
    values = plain_values(plain_joint, grid, size)
    return dst, flat_index(node, grid, size), np.ones(size) if values is None else values
