"""Ring arithmetic of RNS-CKKS on uint64 residue arrays: modular products, NTT cache, Galois maps.

Arrays are ``(..., L, N)`` uint64 with limb ``l`` in ``[0, q_l)``; the moduli arrive as a column
``(L, 1)`` uint64 that broadcasts against them.  Transforms are the GEMM NTT of
:mod:`securecompute.cross.ntt` (bit-exact with SEAL, SEAL's bit-reversed evaluation order).

Products of two 60-bit residues need 120 bits, more than numpy has: :func:`mul_mod` estimates the
quotient ``floor(a*b/q)`` in x87 extended precision (64-bit mantissa, relative error below 2^-62, so
the estimate is off by at most one) and corrects the exact wrapped uint64 remainder.  Where numpy's
``longdouble`` is only a double (some platforms) it falls back to Python integers (exact, slow).
Hand-written: the scheme's hot loops are the point of this package.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Protocol

import numpy as np

from securecompute.cross.modmath import shoup_multiply_uint64
from securecompute.cross.ntt import NTT, bit_reverse_permutation
from securecompute.errors import ParameterError

__all__ = [
    "add_mod",
    "galois_element",
    "galois_permutation",
    "modulus_column",
    "mul_mod",
    "ntt_for",
    "sub_mod",
]

_EXTENDED = np.finfo(np.longdouble).nmant >= 63


def modulus_column(moduli: tuple[int, ...]) -> np.ndarray:
    """The moduli as a uint64 column ``(L, 1)`` that broadcasts over ``(..., L, N)``."""
    return np.array(moduli, dtype=np.uint64).reshape(-1, 1)


def add_mod(a: np.ndarray, b: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``(a + b) mod q`` for residues in ``[0, q)``, q < 2^63 (uint64, broadcast)."""
    total = a + b
    return np.asarray(np.where(total >= q, total - q, total))


def sub_mod(a: np.ndarray, b: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``(a - b) mod q`` for residues in ``[0, q)`` (uint64, broadcast)."""
    return np.asarray(np.where(a >= b, a - b, a + (q - b)))


def mul_mod(a: np.ndarray, b: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``a * b mod q`` for uint64 residues in ``[0, q)``, q below 2^61, exactly (broadcast shapes)."""
    if not _EXTENDED:
        product = np.asarray(a).astype(object) * np.asarray(b).astype(object) % np.asarray(q).astype(object)
        return np.asarray(product.astype(np.uint64))
    quotient = np.floor(a.astype(np.longdouble) * b.astype(np.longdouble) / q.astype(np.longdouble))
    # a*b - quotient*q is exact modulo 2^64; its true value lies in [-q, 2q) since the estimate is off by <= 1.
    remainder = (a * b - quotient.astype(np.uint64) * q).view(np.int64)
    signed_q = q.astype(np.int64)
    remainder = np.where(remainder < 0, remainder + signed_q, remainder)
    remainder = np.where(remainder >= signed_q, remainder - signed_q, remainder)
    return np.asarray(remainder.view(np.uint64))


def shoup_companion(b: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Shoup's companions ``floor(b * 2^64 / q)`` of constants ``b`` in ``[0, q)``, uint64, exactly.

    An extended-precision estimate (off by at most 2) is corrected with the exact wrapped remainder
    ``b * 2^64 - est * q = -est * q (mod 2^64)``, whose true value lies in ``(-3q, 3q)``.
    """
    if not _EXTENDED:
        exact = (np.asarray(b).astype(object) << 64) // np.asarray(q).astype(object)
        return np.asarray(exact.astype(np.uint64))
    estimate = np.floor(b.astype(np.longdouble) * np.longdouble(2.0**64) / q.astype(np.longdouble))
    estimate = np.minimum(estimate, np.longdouble(2.0**64 - 1.0)).astype(np.uint64)
    signed_q = np.broadcast_to(q, estimate.shape).astype(np.int64)
    for _ in range(3):
        remainder = (np.uint64(0) - estimate * q).view(np.int64)
        estimate = np.where(remainder < 0, estimate - np.uint64(1), estimate)
        estimate = np.where(remainder >= signed_q, estimate + np.uint64(1), estimate)
    return np.asarray(estimate)


def mul_mod_constant(a: np.ndarray, b: np.ndarray, b_shoup: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``a * b mod q`` for a constant ``b`` with its :func:`shoup_companion` (uint64, broadcast; about 6x :func:`mul_mod`)."""
    return shoup_multiply_uint64(a, b, b_shoup, q)


def reduce_column(values: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Non-negative int64/uint64 integers reduced modulo the moduli column ``q`` (uint64 out)."""
    return np.asarray(np.remainder(values.astype(np.uint64), q))


BACKENDS = ("numpy", "jax")


class Transform(Protocol):
    """What the scheme needs of a limb-batched NTT: SEAL's bit-reversed forward and inverse on int64 residues."""

    def forward(self, coefficients: np.ndarray, order: str = "bit_reversed") -> np.ndarray: ...

    def inverse(self, evaluations: np.ndarray, order: str = "bit_reversed") -> np.ndarray: ...


@lru_cache(maxsize=64)
def ntt_for(n: int, moduli: tuple[int, ...], backend: str = "numpy") -> Transform:
    """The (cached) GEMM NTT of length ``n`` over ``moduli`` on ``backend`` ("numpy" or "jax").

    Both run every chain and give the same words: numpy's NTT (wide mode for 48..60-bit primes);
    on JAX the fast mode through ``NTT(..., backend="jax")`` and the wide mode through
    :class:`securecompute.cross.jax_wide.JaxWideNTT`.

    Raises:
        ParameterError: an unknown backend.
        DependencyMissingError: backend "jax" without JAX installed.
    """
    if backend not in BACKENDS:
        raise ParameterError(f"backend={backend!r} is unknown; accepted: {BACKENDS}")
    transform = NTT(n, moduli)
    if backend == "numpy":
        return transform
    if transform.wide:
        from securecompute.cross.jax_wide import JaxWideNTT

        return JaxWideNTT(transform)
    return NTT(n, moduli, backend="jax")


def forward(n: int, moduli: tuple[int, ...], coefficients: np.ndarray, backend: str = "numpy") -> np.ndarray:
    """Forward NTT of uint64 ``(..., L, n)`` coefficients, SEAL's order, uint64 out."""
    return np.asarray(ntt_for(n, moduli, backend).forward(coefficients.view(np.int64)).view(np.uint64))


def inverse(n: int, moduli: tuple[int, ...], evaluations: np.ndarray, backend: str = "numpy") -> np.ndarray:
    """Inverse NTT of uint64 ``(..., L, n)`` evaluations (SEAL's order), uint64 coefficients out."""
    return np.asarray(ntt_for(n, moduli, backend).inverse(evaluations.view(np.int64)).view(np.uint64))


def galois_element(step: int, n: int) -> int:
    """SEAL's Galois element for a left rotation by ``step`` slots (0: complex conjugation, 2N-1).

    Raises:
        ParameterError: ``|step| >= N/2``.
    """
    slots = n // 2
    if isinstance(step, bool) or not isinstance(step, int | np.integer) or abs(int(step)) >= slots:
        raise ParameterError(f"step={step!r} must be an int with |step| < N/2={slots}")
    step = int(step)
    if step == 0:
        return 2 * n - 1
    exponent = step if step > 0 else slots + step
    return pow(3, exponent, 2 * n)


@lru_cache(maxsize=256)
def galois_permutation(n: int, element: int) -> np.ndarray:
    """The automorphism ``X -> X^g`` on NTT-form data as a gather: ``result[k] = a[table[k]]``, int64 ``(N,)``.

    ``table[k] = bitrev_N(((g * bitrev_2N(N + k)) >> 1) mod N)``: evaluation point k of SEAL's
    bit-reversed order is the root psi^(2*bitrev(k)+1); the automorphism reads the evaluation at that
    root raised to g.  No sign changes; the same table serves every limb.

    Raises:
        ParameterError: ``element`` is not odd in ``[1, 2N)``.
    """
    if not 1 <= element < 2 * n or element % 2 == 0:
        raise ParameterError(f"Galois element {element} must be odd in [1, {2 * n})")
    reverse_2n = bit_reverse_permutation(2 * n)
    reverse_n = bit_reverse_permutation(n)
    k = np.arange(n, dtype=np.int64)
    source = ((element * reverse_2n[n + k]) >> 1) % n
    table: np.ndarray = reverse_n[source]
    table.setflags(write=False)
    return table


@lru_cache(maxsize=256)
def negated_positions(n: int, element: int) -> tuple[np.ndarray, np.ndarray]:
    """The coefficient-form automorphism's sign flips: ``(targets, sources)`` int64 index arrays.

    Coefficient i of ``a(X)`` moves to ``t = i*g mod 2N``; when ``t >= N`` it lands at ``t - N``
    negated.  Returns the negated target positions and the coefficients they come from.
    """
    i = np.arange(n, dtype=np.int64)
    target = i * element % (2 * n)
    flipped = target >= n
    targets, sources = target[flipped] - n, i[flipped]
    targets.setflags(write=False)
    sources.setflags(write=False)
    return targets, sources


def check_element(element: int, n: int) -> None:
    """Raise ParameterError unless ``element`` is a valid Galois element for N."""
    if not 1 <= element < 2 * n or element % 2 == 0:
        raise ParameterError(f"Galois element {element} must be odd in [1, {2 * n})")
