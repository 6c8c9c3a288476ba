"""Barrett, float Barrett and Shoup against Python's ``%`` over edge values."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from securecompute.cross.modmath import (
    barrett_constants,
    barrett_reduce,
    mod_mul,
    rint_reduce,
    shoup_multiply,
    shoup_precompute,
)
from securecompute.errors import ParameterError

FAST_MODULI = [3, 65537, 1073479681, 2147483647]  # up to 31 bits (2^31 - 1 is prime)
WIDE_MODULI = [(1 << 40) + 15, (1 << 50) + 55, (1 << 60) - 93]


def _edge_operands(q: int) -> list[int]:
    return sorted(v for v in {0, 1, 2, q // 2, q - 2, q - 1} if 0 <= v < q)


@st.composite
def _modulus_and_operands(draw: st.DrawFn, moduli: list[int]) -> tuple[int, list[int], list[int]]:
    q = draw(st.sampled_from(moduli))
    operand = st.one_of(st.sampled_from(_edge_operands(q)), st.integers(0, q - 1))
    size = draw(st.integers(1, 8))
    return (
        q,
        draw(st.lists(operand, min_size=size, max_size=size)),
        draw(st.lists(operand, min_size=size, max_size=size)),
    )


def test_barrett_constants_follow_cross() -> None:
    q = 1073479681  # 30 bits
    assert barrett_constants(q) == (60, (1 << 60) // q)


@settings(derandomize=True, max_examples=300, deadline=None)
@given(_modulus_and_operands(FAST_MODULI))
def test_fast_mod_mul_matches_python(case: tuple[int, list[int], list[int]]) -> None:
    q, a, b = case
    result = mod_mul(np.array(a, dtype=np.int64), np.array(b, dtype=np.int64), q)
    assert result.tolist() == [x * y % q for x, y in zip(a, b, strict=True)]


@settings(derandomize=True, max_examples=100, deadline=None)
@given(_modulus_and_operands(WIDE_MODULI))
def test_wide_mod_mul_matches_python(case: tuple[int, list[int], list[int]]) -> None:
    q, a, b = case
    result = mod_mul(np.array(a, dtype=np.int64), np.array(b, dtype=np.int64), q)
    assert result.tolist() == [x * y % q for x, y in zip(a, b, strict=True)]


@settings(derandomize=True, max_examples=300, deadline=None)
@given(st.sampled_from(FAST_MODULI), st.lists(st.integers(0, (1 << 62) - 1), min_size=1, max_size=8))
def test_barrett_reduce_whole_input_range(q: int, values: list[int]) -> None:
    s, _ = barrett_constants(q)
    z = [v % (1 << s) for v in values] + [(1 << s) - 1, 0, (q - 1) ** 2]
    assert barrett_reduce(np.array(z, dtype=np.uint64), q).tolist() == [v % q for v in z]


def test_barrett_reduce_products_near_2_62() -> None:
    q = 2147483647  # s = 62
    z = [(q - 1) ** 2, (1 << 62) - 1, (1 << 62) - q, (1 << 61) + 12345]
    assert barrett_reduce(np.array(z, dtype=np.uint64), q).tolist() == [v % q for v in z]


def test_barrett_reduce_wide_path_takes_python_ints() -> None:
    q = (1 << 60) - 93
    z = np.array([(q - 1) ** 2, q, 0, 1, q * 12345 + 7], dtype=object)
    assert barrett_reduce(z, q).tolist() == [int(v) % q for v in z]


def test_barrett_reduce_refuses_input_above_2_s() -> None:
    with pytest.raises(ParameterError, match="2\\^"):
        barrett_reduce(np.array([1 << 40], dtype=np.uint64), 65537)


@settings(derandomize=True, max_examples=300, deadline=None)
@given(_modulus_and_operands(FAST_MODULI + WIDE_MODULI))
def test_shoup_multiply_matches_python(case: tuple[int, list[int], list[int]]) -> None:
    q, a, b = case
    companion = shoup_precompute(np.array(b, dtype=np.int64), q)
    result = shoup_multiply(np.array(a, dtype=np.int64), np.array(b, dtype=np.int64), companion, q)
    assert result.tolist() == [x * y % q for x, y in zip(a, b, strict=True)]


@settings(derandomize=True, max_examples=300, deadline=None)
@given(st.sampled_from(FAST_MODULI), st.lists(st.integers(-(1 << 53) + (1 << 31), (1 << 53) - (1 << 31)), min_size=1))
def test_rint_reduce_exact_for_float64_integers(q: int, values: list[int]) -> None:
    edges = [(1 << 53) - q, -(1 << 53) + q, 0, q, -q, q // 2, -(q // 2) - 1]
    x = values + edges
    assert rint_reduce(np.array(x, dtype=np.float64), q).tolist() == [v % q for v in x]


@pytest.mark.parametrize("q", [0, 1, 2, 4096, (1 << 61) + 1, -7])
def test_bad_modulus_is_refused(q: int) -> None:
    with pytest.raises(ParameterError, match="modulus"):
        barrett_constants(q)


def test_operand_outside_residues_is_refused() -> None:
    with pytest.raises(ParameterError, match="residues"):
        mod_mul(np.array([65537]), np.array([1]), 65537)
