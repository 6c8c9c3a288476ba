"""Laws of the F_r arithmetic: MLEs, eq, folding, interpolation, scalar encoding."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from securecompute.zk.field import (
    MODULUS,
    eq_eval,
    eq_table,
    fold,
    interpolate_eval,
    inverse,
    mle_eval,
    scalar_from_bytes,
    scalar_to_bytes,
    to_field,
)

elements = st.integers(min_value=0, max_value=MODULUS - 1)


def tables(num_vars: int) -> st.SearchStrategy[list[int]]:
    return st.lists(elements, min_size=1 << num_vars, max_size=1 << num_vars)


@settings(derandomize=True, max_examples=60, deadline=None)
@given(st.data(), st.integers(min_value=1, max_value=4))
def test_mle_agrees_with_table_on_the_cube(data: st.DataObject, num_vars: int) -> None:
    table = data.draw(tables(num_vars))
    index = data.draw(st.integers(min_value=0, max_value=(1 << num_vars) - 1))
    point = [(index >> bit) & 1 for bit in range(num_vars)]
    assert mle_eval(table, point) == table[index]


@settings(derandomize=True, max_examples=60, deadline=None)
@given(st.data(), st.integers(min_value=1, max_value=4))
def test_mle_is_eq_weighted_sum(data: st.DataObject, num_vars: int) -> None:
    table = data.draw(tables(num_vars))
    point = data.draw(st.lists(elements, min_size=num_vars, max_size=num_vars))
    weights = eq_table(point)
    assert mle_eval(table, point) == sum(w * t for w, t in zip(weights, table, strict=True)) % MODULUS


@settings(derandomize=True, max_examples=60, deadline=None)
@given(st.data(), st.integers(min_value=1, max_value=4))
def test_folding_fixes_the_first_variable(data: st.DataObject, num_vars: int) -> None:
    table = data.draw(tables(num_vars))
    point = data.draw(st.lists(elements, min_size=num_vars, max_size=num_vars))
    assert mle_eval(fold(table, point[0]), point[1:]) == mle_eval(table, point)


@settings(derandomize=True, max_examples=60, deadline=None)
@given(st.data(), st.integers(min_value=0, max_value=4))
def test_eq_table_matches_eq_eval_and_sums_to_one(data: st.DataObject, num_vars: int) -> None:
    point = data.draw(st.lists(elements, min_size=num_vars, max_size=num_vars))
    table = eq_table(point)
    assert sum(table) % MODULUS == 1
    for index, value in enumerate(table):
        corner = [(index >> bit) & 1 for bit in range(num_vars)]
        assert value == eq_eval(point, corner)


@settings(derandomize=True, max_examples=60, deadline=None)
@given(st.lists(elements, min_size=1, max_size=4), elements)
def test_interpolation_recovers_the_polynomial(coefficients: list[int], at: int) -> None:
    def poly(x: int) -> int:
        return sum(c * pow(x, k, MODULUS) for k, c in enumerate(coefficients)) % MODULUS

    values = [poly(x) for x in range(len(coefficients))]
    assert interpolate_eval(values, at) == poly(at)


@settings(derandomize=True, max_examples=100, deadline=None)
@given(elements)
def test_scalar_encoding_round_trips(value: int) -> None:
    assert scalar_from_bytes(scalar_to_bytes(value)) == value


def test_non_canonical_scalars_are_refused() -> None:
    with pytest.raises(ValueError, match="canonical"):
        scalar_from_bytes(MODULUS.to_bytes(32, "little"))
    with pytest.raises(ValueError, match="32 bytes"):
        scalar_from_bytes(b"\x01" * 31)
    with pytest.raises(ValueError, match="canonical"):
        scalar_to_bytes(-1)


def test_negative_integers_map_to_their_field_negation() -> None:
    assert to_field([-1, 5, -(2**40)]) == [MODULUS - 1, 5, MODULUS - 2**40]
    assert inverse(7) * 7 % MODULUS == 1
    with pytest.raises(ZeroDivisionError):
        inverse(MODULUS)
