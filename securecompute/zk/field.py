"""Arithmetic in F_r, the scalar field of BLS12-381, on plain Python ints.

Elements are ints in ``[0, r)``.  Vectors of elements are Python lists: for 255-bit moduli the
interpreter's big ints are faster than gmpy2 or numpy object arrays at the access pattern of a
sumcheck (measured in the research notes), and they keep the code obviously exact.

Multilinear extensions (MLEs) use little-endian variable order: a table ``T`` of length ``2**v`` is
the function ``x -> T[x_0 + 2 x_1 + ... + 2**(v-1) x_{v-1}]`` on the Boolean cube, and its MLE at a
point ``p = (p_0, ..., p_{v-1})`` is ``sum_x eq(p, x) T[x]``.  Folding a table at ``c`` fixes the
*first* variable ``x_0 = c``, which pairs entries ``2t`` and ``2t + 1``.  The sumcheck folds in the
same order, so its challenges form the evaluation point in this order.

Written by hand on purpose: these few lines are the protocol arithmetic the proofs are about.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence

import numpy as np

__all__ = [
    "MODULUS",
    "SCALAR_BYTES",
    "eq_eval",
    "eq_table",
    "fold",
    "fold_bits",
    "interpolate_eval",
    "inverse",
    "lagrange_coefficients",
    "mle_eval",
    "scalar_from_bytes",
    "scalar_to_bytes",
    "to_field",
]

MODULUS = 0x73EDA753299D7D483339D80809A1D80553BDA402FFFE5BFEFFFFFFFF00000001
"""r, the order of the BLS12-381 G1 subgroup (a 255-bit prime)."""

SCALAR_BYTES = 32
"""Bytes of a canonical little-endian scalar encoding."""


def to_field(values: Iterable[int]) -> list[int]:
    """Map signed integers to field elements (``x mod r``); negative ``x`` becomes ``r - |x|``."""
    return [int(value) % MODULUS for value in values]


def inverse(value: int) -> int:
    """The multiplicative inverse of a non-zero field element (ZeroDivisionError for zero)."""
    if value % MODULUS == 0:
        raise ZeroDivisionError("zero has no inverse in F_r")
    return pow(value, MODULUS - 2, MODULUS)


def fold(table: Sequence[int], challenge: int) -> list[int]:
    """Fix the first MLE variable of ``table`` (length ``2**v``, v >= 1) to ``challenge``.

    Returns:
        a table of length ``2**(v-1)``: ``T'[t] = T[2t] + c (T[2t+1] - T[2t])``.
    """
    p = MODULUS
    # high - low + p > 0 for reduced entries: reducing a positive product is measurably faster than a negative one
    return [(low + challenge * (high - low + p)) % p for low, high in zip(table[0::2], table[1::2], strict=True)]


def fold_bits(table: Sequence[int], challenge: int) -> list[int]:
    """:func:`fold` for a table of 0/1 entries: each pair maps to one of ``0, 1 - c, c, 1`` (no arithmetic)."""
    low = np.asarray(table[0::2], dtype=np.int64)
    high = np.asarray(table[1::2], dtype=np.int64)
    choices = np.array([0, (1 - challenge) % MODULUS, challenge % MODULUS, 1], dtype=object)
    result: list[int] = choices[low + 2 * high].tolist()
    return result


def mle_eval(table: Sequence[int], point: Sequence[int]) -> int:
    """The MLE of ``table`` (length ``2**len(point)``) at ``point``, by repeated folding.

    Raises:
        ValueError: the table length is not ``2**len(point)``.
    """
    if len(table) != 1 << len(point):
        raise ValueError(f"table of length {len(table)} does not match a {len(point)}-variable point")
    current = list(table)
    for coordinate in point:
        current = fold(current, coordinate)
    return current[0] % MODULUS


def eq_table(point: Sequence[int]) -> list[int]:
    """All ``2**v`` values ``eq(point, x)`` for x on the Boolean cube, in little-endian index order.

    ``eq(p, x) = prod_i (p_i x_i + (1 - p_i)(1 - x_i))``; costs ``2**v`` multiplications.
    """
    p = MODULUS
    table = [1]
    for coordinate in point:
        # the next variable is the next-higher bit of x: entries with that bit set follow the old block;
        # v (1 - c) = v - v c saves one multiplication per entry
        high = [value * coordinate % p for value in table]
        low = [value - upper if value >= upper else value - upper + p for value, upper in zip(table, high, strict=True)]
        table = low + high
    return table


def eq_eval(left: Sequence[int], right: Sequence[int]) -> int:
    """``eq(left, right) = prod_i (l_i r_i + (1 - l_i)(1 - r_i))`` for two points of equal length."""
    if len(left) != len(right):
        raise ValueError(f"eq of points with {len(left)} and {len(right)} coordinates")
    p = MODULUS
    result = 1
    for a, b in zip(left, right, strict=True):
        result = result * ((a * b + (1 - a) * (1 - b)) % p) % p
    return result


def lagrange_coefficients(count: int, at: int) -> list[int]:
    """``L_i(at)`` for the Lagrange basis on the nodes ``0..count-1``: ``f(at) = sum_i L_i(at) f(i)``.

    The map is linear, so the same coefficients combine values, blinds or commitments.
    """
    p = MODULUS
    coefficients = []
    for i, inverse_denominator in enumerate(_lagrange_denominators(count)):
        numerator = 1
        for j in range(count):
            if j != i:
                numerator = numerator * (at - j) % p
        coefficients.append(numerator * inverse_denominator % p)
    return coefficients


@functools.cache
def _lagrange_denominators(count: int) -> tuple[int, ...]:
    """``1 / prod_{j != i} (i - j)`` for the nodes ``0..count-1`` (constants, computed once)."""
    inverses = []
    for i in range(count):
        denominator = 1
        for j in range(count):
            if j != i:
                denominator = denominator * (i - j) % MODULUS
        inverses.append(inverse(denominator))
    return tuple(inverses)


def interpolate_eval(values: Sequence[int], at: int) -> int:
    """Evaluate the polynomial of degree ``< len(values)`` with ``f(i) = values[i]`` (i = 0, 1, ...) at ``at``."""
    coefficients = lagrange_coefficients(len(values), at)
    return sum(c * v for c, v in zip(coefficients, values, strict=True)) % MODULUS


def scalar_to_bytes(value: int) -> bytes:
    """Canonical 32-byte little-endian encoding of a field element (ValueError outside ``[0, r)``)."""
    if not 0 <= value < MODULUS:
        raise ValueError(f"{value} is not a canonical element of F_r")
    return value.to_bytes(SCALAR_BYTES, "little")


def scalar_from_bytes(data: bytes) -> int:
    """Decode a canonical 32-byte little-endian scalar (ValueError if not 32 bytes or ``>= r``)."""
    if len(data) != SCALAR_BYTES:
        raise ValueError(f"a scalar takes {SCALAR_BYTES} bytes, got {len(data)}")
    value = int.from_bytes(data, "little")
    if value >= MODULUS:
        raise ValueError("scalar is not canonical (>= r)")
    return value
