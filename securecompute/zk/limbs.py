"""Vectorised F_r arithmetic for the prover: 9 limbs of 29 bits in uint64, Montgomery form, numba kernels.

An element ``x`` of F_r is stored as the 9 limbs (29 bits each, little-endian) of ``x * 2**261 mod r``,
always canonical (below r), in a C-contiguous ``(n, 9) uint64`` array.  A product is a schoolbook
multiplication into 18 columns (each partial product < 2**58, at most 9 per column, so a column stays
below 2**61.2) followed by a column-wise Montgomery reduction (each column gains at most 9 more terms
below 2**58: below 2**62.2, no uint64 overflow) and one conditional subtraction of r.  Sums are
accumulated limb-wise without reduction (each limb < 2**29, so 2**34 terms fit) and finished in Python.

These kernels are the prover's hot loops (table folds, eq tables, the round sums of the degree-3
sumchecks); the protocol's values are unchanged: every function here equals its Python-int
counterpart in :mod:`securecompute.zk.field` exactly (tested), so proofs are byte-identical.
Hand-written: fast prover arithmetic is part of what this package is about (research note
``zk-network.md`` section 3 measured this layout as the fastest Python-reachable option).
numba compiles the kernels on first use (cached on disk afterwards).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numba
import numpy as np

from securecompute.zk.field import MODULUS
from securecompute.zk.threads import in_shares as _in_shares

__all__ = [
    "LIMBS",
    "add",
    "eq_table",
    "fold",
    "from_field",
    "from_small",
    "pair_sums",
    "scale",
    "sub",
    "to_field",
    "total",
]

LIMBS = 9
_BITS = 29
_MASK = (1 << _BITS) - 1
_R_EXP = LIMBS * _BITS  # Montgomery radix 2**261
_N_PRIME = (-pow(MODULUS, -1, 1 << _BITS)) % (1 << _BITS)
_R2 = pow(2, 2 * _R_EXP, MODULUS)
_R_INV = pow(2, -_R_EXP, MODULUS)


def _split(value: int) -> np.ndarray:
    return np.array([(value >> (_BITS * k)) & _MASK for k in range(LIMBS)], dtype=np.uint64)


_MOD = _split(MODULUS)
_R2_LIMBS = _split(_R2)
_ONE_LIMBS = _split(1)

_jit = numba.njit(cache=True, nogil=True, boundscheck=False)


@_jit
def _subtract_if_not_below(out: Any, mod: Any) -> None:
    """``out -= r`` when ``out >= r`` (out < 2r, carried limbs): the one conditional subtraction of every operation."""
    geq = True
    for k in range(8, -1, -1):
        if out[k] != mod[k]:
            geq = out[k] > mod[k]
            break
    if geq:
        borrow = np.int64(0)
        for k in range(9):
            v = np.int64(out[k]) - np.int64(mod[k]) - borrow
            if v < 0:
                v += np.int64(1 << 29)
                borrow = np.int64(1)
            else:
                borrow = np.int64(0)
            out[k] = np.uint64(v)


@_jit
def _reduce_out(t: Any, out: Any, mod: Any) -> None:
    """Carry the top 9 columns of ``t`` into ``out`` (value < 2r) and subtract r once if needed."""
    carry = np.uint64(0)
    for k in range(9):
        v = t[9 + k] + carry
        out[k] = v & np.uint64(0x1FFFFFFF)
        carry = v >> np.uint64(29)
    # out >= r ?  compare from the top limb
    _subtract_if_not_below(out, mod)


@_jit
def _montmul(a: Any, b: Any, out: Any, t: Any, mod: Any, n_prime: np.uint64) -> None:
    """``out = a b / 2**261 mod r`` for canonical a, b (length-9 limb vectors); ``t`` is 19 scratch columns."""
    for k in range(19):
        t[k] = 0
    for i in range(9):
        ai = a[i]
        for j in range(9):
            t[i + j] += ai * b[j]
    mask = np.uint64(0x1FFFFFFF)
    for i in range(9):
        m = (t[i] * n_prime) & mask
        for j in range(9):
            t[i + j] += m * mod[j]
        t[i + 1] += t[i] >> np.uint64(29)
    _reduce_out(t, out, mod)


@_jit
def _addmod(a: Any, b: Any, out: Any, mod: Any) -> None:
    """``out = a + b mod r`` (canonical in, canonical out)."""
    carry = np.uint64(0)
    for k in range(9):
        v = a[k] + b[k] + carry
        out[k] = v & np.uint64(0x1FFFFFFF)
        carry = v >> np.uint64(29)
    _subtract_if_not_below(out, mod)


@_jit
def _submod(a: Any, b: Any, out: Any, mod: Any) -> None:
    """``out = a - b mod r`` (canonical in, canonical out)."""
    borrow = np.int64(0)
    for k in range(9):
        v = np.int64(a[k]) - np.int64(b[k]) - borrow
        if v < 0:
            v += np.int64(1 << 29)
            borrow = np.int64(1)
        else:
            borrow = np.int64(0)
        out[k] = np.uint64(v)
    if borrow:
        carry = np.uint64(0)
        for k in range(9):
            v = out[k] + mod[k] + carry
            out[k] = v & np.uint64(0x1FFFFFFF)
            carry = v >> np.uint64(29)


@_jit
def _mul_kernel(a: Any, b: Any, mod: Any, n_prime: np.uint64) -> Any:
    n = a.shape[0]
    out = np.empty((n, 9), dtype=np.uint64)
    t = np.empty(19, dtype=np.uint64)
    for i in range(n):
        _montmul(a[i], b[i], out[i], t, mod, n_prime)
    return out


@_jit
def _scale_kernel(a: Any, c: Any, mod: Any, n_prime: np.uint64) -> Any:
    n = a.shape[0]
    out = np.empty((n, 9), dtype=np.uint64)
    t = np.empty(19, dtype=np.uint64)
    for i in range(n):
        _montmul(a[i], c, out[i], t, mod, n_prime)
    return out


@_jit
def _add_kernel(a: Any, b: Any, mod: Any) -> Any:
    out = np.empty_like(a)
    for i in range(a.shape[0]):
        _addmod(a[i], b[i], out[i], mod)
    return out


@_jit
def _sub_kernel(a: Any, b: Any, mod: Any) -> Any:
    out = np.empty_like(a)
    for i in range(a.shape[0]):
        _submod(a[i], b[i], out[i], mod)
    return out


@_jit
def _fold_kernel(a: Any, c: Any, out: Any, start: int, stop: int, mod: Any, n_prime: np.uint64) -> None:
    """``out[i] = a[2i] + c (a[2i+1] - a[2i])`` for pairs ``start <= i < stop`` (a thread's share)."""
    t = np.empty(19, dtype=np.uint64)
    d = np.empty(9, dtype=np.uint64)
    e = np.empty(9, dtype=np.uint64)
    for i in range(start, stop):
        _submod(a[2 * i + 1], a[2 * i], d, mod)
        _montmul(d, c, e, t, mod, n_prime)
        _addmod(a[2 * i], e, out[i], mod)


@_jit
def _pair_sum_kernel(a: Any, mod: Any) -> Any:
    half = a.shape[0] // 2
    out = np.empty((half, 9), dtype=np.uint64)
    for i in range(half):
        _addmod(a[2 * i], a[2 * i + 1], out[i], mod)
    return out


@_jit
def _eq_kernel(point: Any, one: Any, mod: Any, n_prime: np.uint64) -> Any:
    count = point.shape[0]
    out = np.empty((1 << count, 9), dtype=np.uint64)
    out[0] = one
    size = 1
    t = np.empty(19, dtype=np.uint64)
    high = np.empty(9, dtype=np.uint64)
    for v in range(count):
        for i in range(size):
            _montmul(out[i], point[v], high, t, mod, n_prime)
            _submod(out[i], high, out[i], mod)
            out[size + i] = high
        size *= 2
    return out


@_jit
def _small_kernel(values: Any, mod: Any) -> Any:
    """Signed int64 values (|v| < 2**62) to canonical plain (non-Montgomery) limbs of ``v mod r``."""
    n = values.shape[0]
    out = np.zeros((n, 9), dtype=np.uint64)
    mag = np.empty(9, dtype=np.uint64)
    for i in range(n):
        v = values[i]
        a = np.uint64(-v) if v < 0 else np.uint64(v)
        for k in range(3):
            mag[k] = (a >> np.uint64(29 * k)) & np.uint64(0x1FFFFFFF)
        for k in range(3, 9):
            mag[k] = 0
        if v < 0:
            _submod(mod, mag, out[i], mod)  # r - |v|
        else:
            out[i] = mag
    return out


@_jit
def _limb_sums(a: Any) -> Any:
    sums = np.zeros(9, dtype=np.uint64)
    for i in range(a.shape[0]):
        for k in range(9):
            sums[k] += a[i, k]
    return sums


@_jit
def _outer_kernel(a: Any, b: Any, out: Any, start: int, stop: int, mod: Any, n_prime: np.uint64) -> None:
    """``out[i len(b) + j] = a[i] b[j]`` for rows ``start <= i < stop`` of ``a``."""
    t = np.empty(19, dtype=np.uint64)
    for i in range(start, stop):
        for j in range(b.shape[0]):
            _montmul(a[i], b[j], out[i * b.shape[0] + j], t, mod, n_prime)


@_jit
def _accumulate(sums: Any, value: Any) -> None:
    for k in range(9):
        sums[k] += value[k]


@_jit
def _at_points(table: Any, i: int, at: Any, step: Any, mod: Any) -> None:
    """``at[x] = T(x)`` on pair i at X = 0, 2, 3 (rows 0, 1, 2 of ``at``): low, low + 2 d, low + 3 d."""
    low = table[2 * i]
    _submod(table[2 * i + 1], low, step, mod)
    at[0] = low
    _addmod(table[2 * i + 1], step, at[1], mod)
    _addmod(at[1], step, at[2], mod)


@_jit
def _round_kernel(
    kind: int, suffix: Any, first: Any, second: Any, start: int, stop: int, one: Any, mod: Any, n_prime: np.uint64
) -> Any:
    """Per-round sums at X = 0, 2, 3 over pairs ``start <= i < stop`` (Montgomery, limb-wise unreduced).

    ``sums[0]`` inner, ``sums[1]`` outer.  Limb-wise sums are exact integers, so the sums of two shares add up to
    the sums over the whole range bit for bit (what makes splitting the range across threads deterministic).

    kind 0 (masked product): inner ``E (1 - first) second``.  kind 1 (booleanity): inner
    ``E second (second - 1)``, outer ``first second``.  kind 2 (plain product, no eq): outer ``first second``.
    """
    sums = np.zeros((2, 3, 9), dtype=np.uint64)
    a = np.empty((3, 9), dtype=np.uint64)
    b = np.empty((3, 9), dtype=np.uint64)
    step = np.empty(9, dtype=np.uint64)
    u = np.empty(9, dtype=np.uint64)
    w = np.empty(9, dtype=np.uint64)
    t = np.empty(19, dtype=np.uint64)
    for i in range(start, stop):
        _at_points(first, i, a, step, mod)
        _at_points(second, i, b, step, mod)
        for x in range(3):
            if kind == 0:
                _submod(one, a[x], u, mod)
                _montmul(u, b[x], w, t, mod, n_prime)
                _montmul(w, suffix[i], u, t, mod, n_prime)
                _accumulate(sums[0, x], u)
            elif kind == 1:
                _submod(b[x], one, u, mod)
                _montmul(u, b[x], w, t, mod, n_prime)
                _montmul(w, suffix[i], u, t, mod, n_prime)
                _accumulate(sums[0, x], u)
                _montmul(a[x], b[x], w, t, mod, n_prime)
                _accumulate(sums[1, x], w)
            else:
                _montmul(a[x], b[x], w, t, mod, n_prime)
                _accumulate(sums[1, x], w)
    return sums


@_jit
def _binary_booleanity_kernel(suffix: Any, h: Any, flags: Any) -> Any:
    """Round-1 sums of the booleanity summand when every advice entry is 0 or 1 (additions only).

    Returns limb-wise sums: row 0 ``sum E`` over pairs with ``b0 != b1``; rows 1 + 2 case + side, for the cases
    (b0, b1) = (1, 0), (0, 1), (1, 1) and side 0 (low) / 1 (high), the sums of ``h`` on that side.
    """
    sums = np.zeros((7, 9), dtype=np.uint64)
    for i in range(flags.shape[0] // 2):
        b0 = flags[2 * i]
        b1 = flags[2 * i + 1]
        if b0 == b1 and b0 == 0:
            continue
        if b0 != b1:
            _accumulate(sums[0], suffix[i])
        case = 0 if b1 == 0 else (1 if b0 == 0 else 2)
        _accumulate(sums[1 + 2 * case], h[2 * i])
        _accumulate(sums[2 + 2 * case], h[2 * i + 1])
    return sums


def _constant(value: int) -> np.ndarray:
    """A field element as a Montgomery limb vector."""
    return np.asarray(_scale_kernel(_split(value % MODULUS)[None, :], _R2_LIMBS, _MOD, np.uint64(_N_PRIME))[0])


def from_small(values: Any) -> np.ndarray:
    """Signed int64 values (any shape, flattened; ``|v| < 2**62``) as Montgomery limbs of ``v mod r``."""
    array = np.ascontiguousarray(np.asarray(values, dtype=np.int64).ravel())
    plain = _small_kernel(array, _MOD)
    return np.asarray(_scale_kernel(plain, _R2_LIMBS, _MOD, np.uint64(_N_PRIME)))


def from_ints(values: Any) -> np.ndarray:
    """Integers of any size (an int64 or object array, or a list) as Montgomery limbs of ``v mod r``."""
    array = np.asarray(values)
    if array.dtype.kind in "iu" and (array.size == 0 or (int(array.min()) > -(1 << 62) and int(array.max()) < 1 << 62)):
        return from_small(array)
    return from_field([int(value) for value in array.ravel().tolist()])


def from_field(values: Sequence[int]) -> np.ndarray:
    """Field elements (Python ints, reduced or not) as Montgomery limbs."""
    data = b"".join((int(value) % MODULUS).to_bytes(32, "little") for value in values)
    words = np.frombuffer(data, dtype="<u8").reshape(-1, 4).astype(np.uint64)
    plain = np.empty((words.shape[0], LIMBS), dtype=np.uint64)
    for k in range(LIMBS):
        bit = _BITS * k
        word, shift = divmod(bit, 64)
        limb = words[:, word] >> np.uint64(shift)
        if shift + _BITS > 64 and word + 1 < 4:
            limb |= words[:, word + 1] << np.uint64(64 - shift)
        plain[:, k] = limb & np.uint64(_MASK)
    return np.asarray(_scale_kernel(plain, _R2_LIMBS, _MOD, np.uint64(_N_PRIME)))


def to_field(limbs: np.ndarray) -> list[int]:
    """Montgomery limbs back to canonical Python ints."""
    plain = _scale_kernel(limbs, _ONE_LIMBS, _MOD, np.uint64(_N_PRIME))
    words = np.zeros((plain.shape[0], 4), dtype=np.uint64)
    for k in range(LIMBS):
        bit = _BITS * k
        word, shift = divmod(bit, 64)
        words[:, word] |= plain[:, k] << np.uint64(shift)
        if shift + _BITS > 64 and word + 1 < 4:
            words[:, word + 1] |= plain[:, k] >> np.uint64(64 - shift)
    data = words.astype("<u8").tobytes()
    return [int.from_bytes(data[i : i + 32], "little") for i in range(0, len(data), 32)]


def total(limbs: np.ndarray) -> int:
    """``sum_i x_i mod r`` of a limb array, as a Python int (limb-wise sums, one reduction)."""
    sums = _limb_sums(limbs)
    mont = sum(int(value) << (_BITS * k) for k, value in enumerate(sums.tolist()))
    return mont * _R_INV % MODULUS


def mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Elementwise product."""
    return np.asarray(_mul_kernel(a, b, _MOD, np.uint64(_N_PRIME)))


def scale(a: np.ndarray, c: int) -> np.ndarray:
    """Every element times the field element ``c``."""
    return np.asarray(_scale_kernel(a, _constant(c), _MOD, np.uint64(_N_PRIME)))


def add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Elementwise sum."""
    return np.asarray(_add_kernel(a, b, _MOD))


def sub(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Elementwise difference."""
    return np.asarray(_sub_kernel(a, b, _MOD))


def fold(a: np.ndarray, c: int) -> np.ndarray:
    """:func:`securecompute.zk.field.fold` on limbs: ``T'[t] = T[2t] + c (T[2t+1] - T[2t])``."""
    half = a.shape[0] // 2
    out = np.empty((half, LIMBS), dtype=np.uint64)
    constant = _constant(c)
    _in_shares(half, lambda start, stop: _fold_kernel(a, constant, out, start, stop, _MOD, np.uint64(_N_PRIME)))
    return out


def pair_sums(a: np.ndarray) -> np.ndarray:
    """``T'[t] = T[2t] + T[2t+1]`` (the next, shorter eq suffix table)."""
    return np.asarray(_pair_sum_kernel(a, _MOD))


def outer(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``out[i * len(b) + j] = a[i] b[j]`` (a Kronecker product; b indexes the low variables)."""
    out = np.empty((a.shape[0] * b.shape[0], LIMBS), dtype=np.uint64)
    _in_shares(
        a.shape[0],
        lambda start, stop: _outer_kernel(a, b, out, start, stop, _MOD, np.uint64(_N_PRIME)),
        weight=b.shape[0],
    )
    return out


def from_bits(values: Any) -> np.ndarray:
    """0/1 values as Montgomery limbs (1 is the constant ``2**261 mod r``), without any multiplication."""
    flags = np.asarray(values, dtype=np.uint64).ravel()
    return np.ascontiguousarray(flags[:, None] * _constant(1)[None, :])


def mle(a: np.ndarray, point: Sequence[int]) -> int:
    """The MLE of the table at ``point`` (:func:`securecompute.zk.field.mle_eval`), by limb folds."""
    if a.shape[0] != 1 << len(point):
        raise ValueError(f"table of length {a.shape[0]} does not match a {len(point)}-variable point")
    for coordinate in point:
        a = fold(a, coordinate)
    return to_field(a)[0]


ROUND_MASKED, ROUND_BOOLEANITY, ROUND_PRODUCT = 0, 1, 2
"""Kinds of :func:`round_sums`."""


def round_sums(
    kind: int, suffix: np.ndarray | None, first: np.ndarray, second: np.ndarray
) -> tuple[list[int], list[int]]:
    """One sumcheck round's (inner, outer) sums at X = 0, 2, 3 over the pairs of two tables (see ``_round_kernel``)."""
    eq_suffix = np.zeros((0, LIMBS), dtype=np.uint64) if suffix is None else suffix
    one = _constant(1)
    shares = _in_shares(
        first.shape[0] // 2,
        lambda start, stop: _round_kernel(kind, eq_suffix, first, second, start, stop, one, _MOD, np.uint64(_N_PRIME)),
    )
    sums = shares[0]
    for share in shares[1:]:
        sums = sums + share  # exact: each limb sum stays far below 2**64 (see the module docstring)
    values = [
        [sum(int(v) << (_BITS * k) for k, v in enumerate(sums[part, x].tolist())) * _R_INV % MODULUS for x in range(3)]
        for part in range(2)
    ]
    return values[0], values[1]


def binary_flags(table: np.ndarray) -> np.ndarray | None:
    """The 0/1 values of a limb table if every entry is 0 or 1 (as uint8), else None."""
    zero = ~table.any(axis=1)
    one = (table == _constant(1)[None, :]).all(axis=1)
    if not bool((zero | one).all()):
        return None
    return np.asarray(one, dtype=np.uint8)


def binary_booleanity_sums(suffix: np.ndarray, h: np.ndarray, flags: np.ndarray) -> tuple[list[int], list[int]]:
    """``round_sums(ROUND_BOOLEANITY, suffix, h, bits)`` for 0/1 ``bits`` (given as ``flags``), by additions only.

    With ``b0, b1`` in {0, 1}, ``b(X)(b(X) - 1)`` is 0 at X = 0 and ``X (X - 1)`` where ``b0 != b1``; ``h(X) b(X)``
    sums ``h`` over the three non-zero cases with small polynomial weights.
    """
    raw = _binary_booleanity_kernel(suffix, h, flags)
    sums = [sum(int(v) << (_BITS * k) for k, v in enumerate(row)) * _R_INV % MODULUS for row in raw.tolist()]
    differing = sums[0]
    cases = ((1, 0), (0, 1), (1, 1))

    def outer_at(x: int) -> int:
        result = 0
        for case, (b0, b1) in enumerate(cases):
            low, high = sums[1 + 2 * case], sums[2 + 2 * case]
            result += ((1 - x) * b0 + x * b1) * ((1 - x) * low + x * high)
        return result % MODULUS

    return [0, 2 * differing % MODULUS, 6 * differing % MODULUS], [outer_at(0), outer_at(2), outer_at(3)]


def eq_table(point: Sequence[int]) -> np.ndarray:
    """:func:`securecompute.zk.field.eq_table` on limbs (same little-endian order)."""
    coordinates = from_field(point) if len(point) else np.zeros((0, LIMBS), dtype=np.uint64)
    return np.asarray(_eq_kernel(coordinates, _constant(1), _MOD, np.uint64(_N_PRIME)))
