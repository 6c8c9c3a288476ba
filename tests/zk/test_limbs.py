"""The numba limb kernels equal the Python-int field arithmetic exactly, and the limb sumcheck sends the same messages."""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from securecompute.zk import field, group, limbs
from securecompute.zk.commit import BlindSource
from securecompute.zk.field import MODULUS
from securecompute.zk.relu import _booleanity, _masked_product
from securecompute.zk.sumcheck import prove_eq_sumcheck_limbs, prove_eq_sumcheck_zk, prove_sumcheck_zk
from securecompute.zk.transcript import Transcript

# the edges of the representation: 0, 1, r - 1, values near 2**29 limb boundaries and near r
edge = st.sampled_from([0, 1, 2, MODULUS - 1, MODULUS - 2, (1 << 29) - 1, 1 << 29, (1 << 232) - 1, MODULUS >> 1])
elements = st.one_of(edge, st.integers(min_value=0, max_value=MODULUS - 1))


@settings(derandomize=True, max_examples=60, deadline=None)
@given(st.lists(elements, min_size=2, max_size=40), st.lists(elements, min_size=2, max_size=40), elements)
def test_limb_arithmetic_equals_python_ints(left: list[int], right: list[int], c: int) -> None:
    size = min(len(left), len(right)) & ~1
    a, b = left[:size], right[:size]
    x, y = limbs.from_field(a), limbs.from_field(b)
    assert limbs.to_field(x) == a
    assert limbs.to_field(limbs.mul(x, y)) == [u * v % MODULUS for u, v in zip(a, b, strict=True)]
    assert limbs.to_field(limbs.add(x, y)) == [(u + v) % MODULUS for u, v in zip(a, b, strict=True)]
    assert limbs.to_field(limbs.sub(x, y)) == [(u - v) % MODULUS for u, v in zip(a, b, strict=True)]
    assert limbs.to_field(limbs.scale(x, c)) == [u * c % MODULUS for u in a]
    assert limbs.to_field(limbs.fold(x, c)) == field.fold(a, c)
    assert limbs.to_field(limbs.pair_sums(x)) == [(u + v) % MODULUS for u, v in zip(a[0::2], a[1::2], strict=True)]
    assert limbs.total(x) == sum(a) % MODULUS


@settings(derandomize=True, max_examples=40, deadline=None)
@given(st.lists(st.integers(min_value=-(1 << 62) + 1, max_value=(1 << 62) - 1), min_size=1, max_size=30))
def test_small_signed_values_map_to_their_residues(values: list[int]) -> None:
    assert limbs.to_field(limbs.from_small(np.array(values, dtype=np.int64))) == field.to_field(values)


def test_eq_table_outer_and_mle_equal_the_python_versions() -> None:
    rng = random.Random(5)
    point = [rng.randrange(MODULUS) for _ in range(5)]
    assert limbs.to_field(limbs.eq_table(point)) == field.eq_table(point)
    assert limbs.to_field(limbs.eq_table([])) == [1]
    table = [rng.randrange(MODULUS) for _ in range(32)]
    assert limbs.mle(limbs.from_field(table), point) == field.mle_eval(table, point)
    left, right = table[:3], table[3:7]
    assert limbs.to_field(limbs.outer(limbs.from_field(left), limbs.from_field(right))) == [
        u * v % MODULUS for u in left for v in right
    ]
    bits = [rng.randrange(2) for _ in range(16)]
    assert limbs.to_field(limbs.from_bits(np.array(bits))) == bits
    flags = limbs.binary_flags(limbs.from_bits(np.array(bits)))
    assert flags is not None
    assert flags.tolist() == bits
    assert limbs.binary_flags(limbs.from_small(np.array([0, 1, 2, 1]))) is None


def _messages(proof: object) -> list[list[bytes]]:
    return [[group.encode_point(p) for p in message] for message in proof.rounds]  # type: ignore[attr-defined]


def _plain_product(columns: Sequence[list[int]]) -> int:
    a, b = columns
    return sum(x * y for x, y in zip(a, b, strict=True)) % MODULUS


@pytest.mark.parametrize("num_vars", [1, 2, 6])
@pytest.mark.parametrize("binary_second", [False, True])
def test_limb_sumcheck_sends_the_python_provers_messages(num_vars: int, binary_second: bool) -> None:
    generators = group.generators(1)
    rng = random.Random(num_vars)
    w = [rng.randrange(MODULUS) for _ in range(num_vars)]
    first = [rng.randrange(2) for _ in range(1 << num_vars)]
    second = [rng.randrange(2) if binary_second else rng.randrange(MODULUS) for _ in range(1 << num_vars)]
    cases = (
        (limbs.ROUND_MASKED, _masked_product, [first, second]),
        (limbs.ROUND_BOOLEANITY, _booleanity, [[rng.randrange(MODULUS) for _ in first], second]),
    )
    for kind, combine, tables in cases:
        claim = (rng.randrange(MODULUS), rng.randrange(MODULUS))
        python = prove_eq_sumcheck_zk(Transcript(b"t"), b"sc", w, tables, combine, 3, claim, BlindSource(4), generators)
        fast = prove_eq_sumcheck_limbs(
            Transcript(b"t"),
            b"sc",
            w,
            (limbs.from_field(tables[0]), limbs.from_field(tables[1])),
            kind,
            claim,
            BlindSource(4),
            generators,
        )
        assert _messages(python[0]) == _messages(fast[0])
        assert python[1:] == fast[1:]
    claim = (_plain_product([first, second]), 9)
    python = prove_sumcheck_zk(
        Transcript(b"t"), b"sc", [first, second], _plain_product, 2, claim, BlindSource(5), generators
    )
    fast = prove_eq_sumcheck_limbs(
        Transcript(b"t"),
        b"sc",
        None,
        (limbs.from_field(first), limbs.from_field(second)),
        limbs.ROUND_PRODUCT,
        claim,
        BlindSource(5),
        generators,
    )
    assert _messages(python[0]) == _messages(fast[0])
    assert python[1:] == fast[1:]


# values a caller can hand the converters: int64 extremes, the +-2**62 switch between the two paths, multiples
# of r and values far above it (object arrays), and their negatives
wide = st.one_of(
    st.sampled_from(
        [
            0,
            -1,
            (1 << 62) - 1,
            1 << 62,
            -(1 << 62) + 1,
            -(1 << 62),
            (1 << 63) - 1,
            -(1 << 63),
            MODULUS,
            MODULUS - 1,
            MODULUS + 1,
            2 * MODULUS,
            -MODULUS,
            (1 << 261) - 1,
            1 << 300,
        ]
    ),
    st.integers(min_value=-(1 << 300), max_value=1 << 300),
)


@settings(derandomize=True, max_examples=60, deadline=None)
@given(st.lists(wide, min_size=1, max_size=12))
def test_conversions_reduce_any_integer_mod_r(values: list[int]) -> None:
    expected = [v % MODULUS for v in values]
    assert limbs.to_field(limbs.from_field(values)) == expected
    assert limbs.to_field(limbs.from_ints(np.array(values, dtype=object))) == expected
    in_int64 = [v for v in values if -(1 << 63) <= v < 1 << 63]
    if in_int64:
        assert limbs.to_field(limbs.from_ints(np.array(in_int64, dtype=np.int64))) == [v % MODULUS for v in in_int64]
        assert limbs.to_field(limbs.from_small(np.array(in_int64, dtype=np.int64))) == [v % MODULUS for v in in_int64]


def _line(table: Sequence[int], pair: int, x: int) -> int:
    low, high = table[2 * pair], table[2 * pair + 1]
    return (low + x * (high - low)) % MODULUS


@settings(derandomize=True, max_examples=40, deadline=None)
@given(st.integers(min_value=1, max_value=4), st.data())
def test_round_sums_equal_the_python_sums_on_edge_values(num_vars: int, data: st.DataObject) -> None:
    size = 1 << num_vars
    first = data.draw(st.lists(elements, min_size=size, max_size=size))
    second = data.draw(st.lists(elements, min_size=size, max_size=size))
    suffix = data.draw(st.lists(elements, min_size=size // 2, max_size=size // 2))
    for kind in (limbs.ROUND_MASKED, limbs.ROUND_BOOLEANITY, limbs.ROUND_PRODUCT):
        inner, outer = limbs.round_sums(
            kind,
            None if kind == limbs.ROUND_PRODUCT else limbs.from_field(suffix),
            limbs.from_field(first),
            limbs.from_field(second),
        )
        for slot, x in enumerate((0, 2, 3)):
            f = [_line(first, i, x) for i in range(size // 2)]
            s = [_line(second, i, x) for i in range(size // 2)]
            if kind == limbs.ROUND_MASKED:
                want = (sum(e * (1 - u) * v for e, u, v in zip(suffix, f, s, strict=True)) % MODULUS, 0)
            elif kind == limbs.ROUND_BOOLEANITY:
                want = (
                    sum(e * v * (v - 1) for e, v in zip(suffix, s, strict=True)) % MODULUS,
                    sum(u * v for u, v in zip(f, s, strict=True)) % MODULUS,
                )
            else:
                want = (0, sum(u * v for u, v in zip(f, s, strict=True)) % MODULUS)
            assert (inner[slot], outer[slot]) == want
    bits = data.draw(st.lists(st.integers(min_value=0, max_value=1), min_size=size, max_size=size))
    flags = limbs.binary_flags(limbs.from_bits(np.array(bits)))
    assert flags is not None
    assert limbs.binary_booleanity_sums(limbs.from_field(suffix), limbs.from_field(first), flags) == limbs.round_sums(
        limbs.ROUND_BOOLEANITY, limbs.from_field(suffix), limbs.from_field(first), limbs.from_bits(np.array(bits))
    )


@settings(derandomize=True, max_examples=30, deadline=None)
@given(st.lists(elements, min_size=0, max_size=5), st.data())
def test_eq_table_and_mle_equal_the_python_versions_on_edge_points(point: list[int], data: st.DataObject) -> None:
    table = data.draw(st.lists(elements, min_size=1 << len(point), max_size=1 << len(point)))
    assert limbs.to_field(limbs.eq_table(point)) == field.eq_table(point)
    assert limbs.mle(limbs.from_field(table), point) == field.mle_eval(table, point)
