"""BLS12-381 G1 through ``py-arkworks-bls12381`` (Rust arkworks), loaded lazily.

This module is the only place that touches the library.  It provides points as the library's
``G1Point`` objects, multi-scalar multiplication from Python-int scalars, canonical 48-byte
compressed encoding with on-curve, subgroup and canonicity checks on decode, and transparent
generators from RFC 9380 hash-to-curve (``BLS12381G1_XMD:SHA-256_SSWU_RO_``) under a fixed
domain-separation tag, so nobody knows a discrete-log relation between them.

Speed-ups for the prover: cached subset-sum tables commit rows of bits by one addition per byte, and
cached fixed-base tables multiply H and G_v by one addition per scalar byte.  For the verifier,
:class:`Combination` keeps linear combinations of points symbolic and :class:`BatchCheck` checks all its
equations with one MSM under random weights.

The discrete logarithm in G1 is believed to cost about 2**117-2**120 operations: the pairing moves it
to F_{p^12}, where number-field-sieve variants cost about that (Pollard rho in G1 itself would cost
about 2**127).  That sets the binding level of every commitment here.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from securecompute.errors import DependencyMissingError
from securecompute.zk.field import MODULUS

__all__ = [
    "GENERATOR_DST",
    "POINT_BYTES",
    "BatchCheck",
    "Combination",
    "Generators",
    "Point",
    "add_all",
    "arkworks",
    "decode_point",
    "encode_point",
    "fixed_base_mul",
    "generators",
    "identity",
    "msm",
    "mul",
    "points_equal",
    "subset_sums",
]

POINT_BYTES = 48
"""Bytes of a compressed G1 point (ZCash encoding)."""

GENERATOR_DST = b"securecompute/zkrelu/v1/generators/BLS12381G1_XMD:SHA-256_SSWU_RO_"
"""Domain-separation tag of every generator this package derives."""

Point = Any
"""A ``py_arkworks_bls12381.G1Point`` (the library ships no type stubs)."""

_INSTALL_HINT = "pip install py-arkworks-bls12381==0.5.0"


@functools.cache
def arkworks() -> ModuleType:
    """Import ``py_arkworks_bls12381`` on first use.

    Raises:
        DependencyMissingError: the package is not installed (the message says how to install it).
    """
    try:
        import py_arkworks_bls12381 as module
    except ImportError as error:
        raise DependencyMissingError(
            f"zero-knowledge proofs need BLS12-381 arithmetic from py-arkworks-bls12381: {_INSTALL_HINT}"
        ) from error
    return module


def identity() -> Point:
    """The neutral element of G1."""
    return arkworks().G1Point.identity()


def add_all(points: Sequence[Point]) -> Point:
    """``sum(points)`` (the identity for none); for 0/1 scalars this beats an MSM."""
    return sum(points[1:], points[0]) if points else identity()


WINDOW_BITS = 8
"""Generators per window of :func:`subset_sums`."""


@functools.lru_cache(maxsize=8)
def subset_sums(bases: tuple[Point, ...]) -> tuple[tuple[Point, ...], ...]:
    """For each window of 8 consecutive bases, all ``2**8`` subset sums (index bit k selects the window's k-th base).

    Committing a row of bits is then one addition per non-zero byte of the row instead of one per set bit
    (or an MSM); the tables cost ``32 * len(bases)`` additions once and are cached.
    """
    tables = []
    for start in range(0, len(bases), WINDOW_BITS):
        sums = [identity()]
        for base in bases[start : start + WINDOW_BITS]:
            sums += [partial + base for partial in sums]
        tables.append(tuple(sums))
    return tuple(tables)


def mul(point: Point, scalar: int) -> Point:
    """``scalar * point`` for any Python int (reduced mod r)."""
    return point * arkworks().Scalar(scalar % MODULUS)


def fixed_base_mul(base: Point, scalar: int) -> Point:
    """``scalar * base`` through a cached table of ``k 256**i base`` (32 windows of 8 bits; for H and G_v).

    At most 32 additions per product instead of a full double-and-add; the table (8192 points) is
    built once per base.  Used by the prover for blinds and scalar commitments.
    """
    tables = _fixed_base_tables(base)
    digits = (scalar % MODULUS).to_bytes(32, "little")
    return add_all([table[digit] for table, digit in zip(tables, digits, strict=True) if digit])


@functools.lru_cache(maxsize=4)
def _fixed_base_tables(base: Point) -> tuple[tuple[Point, ...], ...]:
    tables = []
    current = base
    for _ in range(32):
        row = [identity(), current]
        for _ in range(254):
            row.append(row[-1] + current)
        tables.append(tuple(row))
        current = row[-1] + current
    return tuple(tables)


def points_equal(left: Point, right: Point) -> bool:
    """Group equality."""
    return bool(left == right)


def msm(points: Sequence[Point], scalars: Sequence[int]) -> Point:
    """``sum_i scalars[i] * points[i]`` (Pippenger in Rust); scalars are Python ints, reduced mod r.

    Raises:
        ValueError: the two sequences differ in length.
    """
    if len(points) != len(scalars):
        raise ValueError(f"msm of {len(points)} points with {len(scalars)} scalars")
    if not points:
        return identity()
    scalar_type = arkworks().Scalar
    small = _small_scalars()
    converted = [small[value] if 0 <= value < len(small) else scalar_type(value % MODULUS) for value in scalars]
    return arkworks().G1Point.multiexp_unchecked(list(points), converted)


@functools.cache
def _small_scalars() -> tuple[Any, ...]:
    """Preconverted scalars 0..255: bit and byte vectors skip the int-to-Scalar conversion."""
    scalar_type = arkworks().Scalar
    return tuple(scalar_type(value) for value in range(256))


def encode_point(point: Point) -> bytes:
    """The canonical 48-byte compressed encoding."""
    data = bytes(point.to_compressed_bytes())
    if len(data) != POINT_BYTES:
        raise ValueError(f"arkworks returned a {len(data)}-byte point encoding")
    return data


def decode_point(data: bytes) -> Point:
    """Decode a 48-byte compressed point: on the curve, in the prime-order subgroup, canonical.

    Raises:
        ValueError: anything else (the caller turns it into CorruptPayloadError).
    """
    if len(data) != POINT_BYTES:
        raise ValueError(f"a G1 point takes {POINT_BYTES} bytes, got {len(data)}")
    try:
        # the checked decoder verifies the curve equation and subgroup membership
        point = arkworks().G1Point.from_compressed_bytes(bytes(data))
    except (ValueError, TypeError, OverflowError) as error:
        raise ValueError(f"invalid G1 point encoding: {error}") from None
    if bytes(point.to_compressed_bytes()) != bytes(data):
        raise ValueError("G1 point encoding is not canonical")
    return point


@functools.cache
def _generator(label: bytes) -> Point:
    return arkworks().G1Point.hash_to_curve(label, GENERATOR_DST)


@dataclass(frozen=True)
class Generators:
    """Independent generators: ``vector`` (G_0..G_{k-1}) for rows, ``blind`` (H), ``value`` (G_v) for scalars.

    A row commitment is ``sum_j x_j G_j + rho H``; a scalar commitment is ``x G_v + rho H``.
    """

    vector: list[Point]
    blind: Point
    value: Point


def generators(count: int) -> Generators:
    """``count`` vector generators, the blinding generator H and the scalar-value generator G_v.

    ``G_i = hash_to_curve(b"G" || i (4 bytes, big-endian))``, ``H = hash_to_curve(b"H")`` and
    ``G_v = hash_to_curve(b"V")``, all under :data:`GENERATOR_DST`; cached, so a process pays about
    0.4 ms per generator once.
    """
    vector = [_generator(b"G" + index.to_bytes(4, "big")) for index in range(count)]
    return Generators(vector, _generator(b"H"), _generator(b"V"))


class Combination:
    """A linear combination ``sum_i s_i P_i`` of points, kept symbolic so that a verifier can defer it.

    Terms are keyed by the point object's identity: the same generator object used in several places
    contributes one base to the final MSM.  Scalars are reduced mod r.
    """

    def __init__(self, terms: Iterable[tuple[Point, int]] = ()) -> None:
        self._terms: dict[int, tuple[Point, int]] = {}
        for point, scalar in terms:
            self.add_point(point, scalar)

    @classmethod
    def of(cls, point: Point | Combination) -> Combination:
        """The combination ``1 * point`` (a combination is returned as is)."""
        return point if isinstance(point, Combination) else cls([(point, 1)])

    def add_point(self, point: Point, scalar: int) -> Combination:
        """Add ``scalar * point`` in place; returns self."""
        key = id(point)
        previous = self._terms.get(key)
        total = scalar if previous is None else previous[1] + scalar
        self._terms[key] = (point, total % MODULUS)
        return self

    def add(self, other: Combination, scalar: int = 1) -> Combination:
        """Add ``scalar * other`` in place; returns self."""
        for point, coefficient in other._terms.values():
            self.add_point(point, coefficient * scalar)
        return self

    @staticmethod
    def linear(parts: Iterable[tuple[Combination, int]]) -> Combination:
        """``sum_k scalar_k * combination_k`` as a new combination."""
        result = Combination()
        for combination, scalar in parts:
            result.add(combination, scalar)
        return result

    def terms(self) -> list[tuple[Point, int]]:
        """The (point, scalar) pairs."""
        return list(self._terms.values())

    def evaluate(self) -> Point:
        """The point itself (one MSM)."""
        pairs = self.terms()
        return msm([point for point, _ in pairs], [scalar for _, scalar in pairs])


class BatchCheck:
    """Verifier equations ``combination == identity``, checked together as one MSM.

    :meth:`verify` weighs equation ``k`` with a fresh uniform ``gamma_k`` from :mod:`secrets` (a private
    coin of the verifier, so a prover cannot aim at it) and tests ``sum_k gamma_k D_k == identity``.  In a
    group of prime order r, if any ``D_k`` is not the identity this passes with probability at most 1/r.
    """

    def __init__(self) -> None:
        self._equations: list[Combination] = []

    def require_zero(self, combination: Combination) -> None:
        """Record ``combination == identity``."""
        self._equations.append(combination)

    def verify(self) -> bool:
        """True if every recorded equation holds (up to the 1/r batching error); True when empty."""
        total = Combination()
        for equation in self._equations:
            total.add(equation, 1 + secrets.randbelow(MODULUS - 1))
        return points_equal(total.evaluate(), identity())
