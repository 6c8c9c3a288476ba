"""Slot layouts: packing round trips, periodic tiling, splitting across ciphertexts."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from securecompute.errors import ShapeError
from securecompute.fhe.layout import TensorLayout, next_power_of_two


@pytest.mark.parametrize(("size", "expected"), [(0, 1), (1, 1), (2, 2), (3, 4), (5, 8), (16, 16)])
def test_next_power_of_two(size: int, expected: int) -> None:
    assert next_power_of_two(size) == expected


@settings(max_examples=100, derandomize=True, deadline=None)
@given(st.lists(st.integers(1, 6), max_size=4), st.randoms(use_true_random=False))
def test_pack_unpack_round_trips_in_any_storage_order(shape: list[int], random: object) -> None:
    order = list(range(len(shape)))
    random.shuffle(order)  # type: ignore[attr-defined]
    layout = TensorLayout(tuple(shape), tuple(order), slots=64)
    values = np.random.default_rng(len(shape)).normal(size=shape)
    vectors = layout.pack(values)
    assert vectors.shape == (layout.chunks, 64)
    np.testing.assert_array_equal(layout.unpack(vectors), values)


def test_small_tensor_repeats_with_its_period() -> None:
    layout = TensorLayout.row_major((2, 3), slots=32)
    vectors = layout.pack(np.arange(6.0).reshape(2, 3))
    assert layout.period == 8
    np.testing.assert_array_equal(vectors[0, :8], [0, 1, 2, 0, 3, 4, 5, 0])
    np.testing.assert_array_equal(vectors[0], np.tile(vectors[0, :8], 4))


def test_large_tensor_is_split_into_chunks() -> None:
    layout = TensorLayout.row_major((5, 8), slots=16)
    assert layout.chunks == 4
    vectors = layout.pack(np.arange(40.0).reshape(5, 8))
    np.testing.assert_array_equal(vectors[1], list(range(16, 32)))
    np.testing.assert_array_equal(vectors[3], np.zeros(16))


def test_storage_order_transposes() -> None:
    layout = TensorLayout((2, 3), (1, 0), slots=16)
    assert layout.strides() == {1: 2, 0: 1}
    assert layout.pack(np.arange(6.0).reshape(2, 3))[0, :8].tolist() == [0, 3, 1, 4, 2, 5, 0, 0]


def test_wrong_shape_is_refused() -> None:
    with pytest.raises(ShapeError, match=r"shape \(3,\)"):
        TensorLayout.row_major((2,), slots=8).pack(np.zeros(3))


def test_filler_axes_hold_data_at_index_zero_only() -> None:
    layout = TensorLayout((2, 3), (0, -4, 1), slots=64)
    assert layout.has_fillers
    assert layout.order == (0, 1)
    assert layout.period == 2 * 4 * 4
    assert layout.strides() == {0: 16, 1: 1}
    values = np.arange(6.0).reshape(2, 3)
    vectors = layout.pack(values)
    assert vectors[0, :16].tolist() == [0, 1, 2, 0] + [0] * 12
    garbage = vectors.copy()
    garbage[0, 4:16] = 99.0
    np.testing.assert_array_equal(layout.unpack(garbage), values)
