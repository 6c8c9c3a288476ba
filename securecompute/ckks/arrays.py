"""The array primitives the scheme's ops are written against, one object per engine.

:mod:`.keyswitch` and the evaluator's op bodies are written once, against :class:`RingOps`: modular
add, sub and product, Shoup products with constants, reduction, sums, gathers and the NTTs, each
taking the moduli as a tuple of ints (static).  :class:`NumpyRingOps` runs them eagerly on host
arrays (the functions of :mod:`.ring`); :class:`securecompute.ckks.device.JaxRingOps` runs them inside
one jitted JAX program per op, on device arrays.  Both give the same words: every primitive returns
canonical residues in ``[0, q)``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Protocol

import numpy as np

from securecompute.ckks.ring import (
    add_mod,
    forward,
    inverse,
    modulus_column,
    mul_mod,
    mul_mod_constant,
    sub_mod,
)

__all__ = ["NumpyRingOps", "RingOps", "column", "inverse_columns"]


@lru_cache(maxsize=256)
def column(moduli: tuple[int, ...]) -> np.ndarray:
    """The moduli as a read-only uint64 column ``(L, 1)`` (cached)."""
    q = modulus_column(moduli)
    q.setflags(write=False)
    return q


@lru_cache(maxsize=256)
def inverse_columns(last: int, kept: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """``last^-1 mod q_i`` and its Shoup companion for every kept prime: read-only uint64 columns ``(L, 1)``."""
    inverses = [pow(last, -1, qi) for qi in kept]
    value = np.array(inverses, dtype=np.uint64).reshape(-1, 1)
    companion = np.array([(v << 64) // qi for v, qi in zip(inverses, kept, strict=True)], dtype=np.uint64)
    companion = companion.reshape(-1, 1)
    value.setflags(write=False)
    companion.setflags(write=False)
    return value, companion


class RingOps(Protocol):
    """Modular primitives on uint64 residue arrays ``(..., L, N)``; ``moduli`` names the L limbs' primes.

    Attributes:
        xp: the array module (numpy or jax.numpy) for stack, concatenate, zeros_like.
        eager: True when values are concrete (numpy): data-dependent branches may run on the host.
    """

    @property
    def xp(self) -> Any: ...

    @property
    def eager(self) -> bool: ...

    @property
    def n(self) -> int: ...

    def forward(self, moduli: tuple[int, ...], values: Any) -> Any: ...

    def inverse(self, moduli: tuple[int, ...], values: Any) -> Any: ...

    def add(self, a: Any, b: Any, moduli: tuple[int, ...]) -> Any: ...

    def sub(self, a: Any, b: Any, moduli: tuple[int, ...]) -> Any: ...

    def mul(self, a: Any, b: Any, moduli: tuple[int, ...]) -> Any: ...

    def mul_constant(self, a: Any, b: Any, b_shoup: Any, moduli: tuple[int, ...]) -> Any: ...

    def reduce(self, values: Any, moduli: tuple[int, ...]) -> Any: ...

    def gather(self, values: Any, table: np.ndarray) -> Any: ...

    def any_zero_at(self, values: Any, mask: Any) -> Any: ...

    def contiguous(self, values: Any) -> Any: ...


class NumpyRingOps:
    """:class:`RingOps` on host numpy arrays (the functions of :mod:`.ring`, eager).

    Args:
        n: the ring degree N.
    """

    xp = np
    eager = True

    def __init__(self, n: int) -> None:
        self.n = n

    def forward(self, moduli: tuple[int, ...], values: np.ndarray) -> np.ndarray:
        """Forward NTT of uint64 ``(..., L, N)`` coefficients (SEAL's order)."""
        return forward(self.n, moduli, np.ascontiguousarray(values))

    def inverse(self, moduli: tuple[int, ...], values: np.ndarray) -> np.ndarray:
        """Inverse NTT of uint64 ``(..., L, N)`` evaluations."""
        return inverse(self.n, moduli, np.ascontiguousarray(values))

    def add(self, a: np.ndarray, b: np.ndarray, moduli: tuple[int, ...]) -> np.ndarray:
        """``(a + b) mod q``."""
        return add_mod(a, b, column(moduli))

    def sub(self, a: np.ndarray, b: np.ndarray, moduli: tuple[int, ...]) -> np.ndarray:
        """``(a - b) mod q``."""
        return sub_mod(a, b, column(moduli))

    def mul(self, a: np.ndarray, b: np.ndarray, moduli: tuple[int, ...]) -> np.ndarray:
        """``a * b mod q`` (q below 2^61)."""
        return mul_mod(a, b, column(moduli))

    def mul_constant(self, a: np.ndarray, b: np.ndarray, b_shoup: np.ndarray, moduli: tuple[int, ...]) -> np.ndarray:
        """``a * b mod q`` for a constant b with its Shoup companion."""
        return mul_mod_constant(a, b, b_shoup, column(moduli))

    def reduce(self, values: np.ndarray, moduli: tuple[int, ...]) -> np.ndarray:
        """Any uint64 values modulo q (broadcast against the moduli column)."""
        return np.asarray(np.remainder(values, column(moduli)))

    def gather(self, values: np.ndarray, table: np.ndarray) -> np.ndarray:
        """``values[..., table]`` (a Galois permutation in the evaluation domain)."""
        return np.asarray(values[..., table])

    def any_zero_at(self, values: np.ndarray, mask: np.ndarray) -> bool:
        """Whether any word of ``values`` is zero at a position (last axis) where the bool ``mask`` holds (a host bool)."""
        return bool(np.any(values[..., mask] == 0))

    def contiguous(self, values: np.ndarray) -> np.ndarray:
        """A C-contiguous copy when ``values`` is a view (numpy slices), else the array itself."""
        return np.ascontiguousarray(values)


def sum_mod(ops: RingOps, terms: Any, moduli: tuple[int, ...]) -> Any:
    """``sum_J terms[J] mod q`` for residues in ``[0, q)``, uint64, without wrapping past 2^64.

    Terms are added in runs short enough that a run plus the running remainder stays below 2^64
    (15 terms for 60-bit primes: one run for every chain up to 15 data primes; longer chains with
    wide primes are legal, e.g. two 60-bit primes among many 17-bit ones, and take several runs).
    """
    run = max(1, ((1 << 64) - 1) // max(moduli) - 1)
    total = None
    for start in range(0, terms.shape[0], run):
        partial = terms[start : start + run].sum(axis=0, dtype=np.uint64)
        total = ops.reduce(partial if total is None else total + partial, moduli)
    return total
