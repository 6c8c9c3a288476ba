"""SEAL's key switching (one digit per data prime, one special prime) and its hoisted form.

For a ciphertext at a level with primes ``q_0 .. q_(L-1)``, P the special prime and an NTT-form
polynomial ``d`` to switch (c_2 for relinearisation, the automorphism of c_1 for a rotation):

1. ModUp: the digits ``t_J = INTT_(q_J)(d_J)`` (integers in [0, q_J)) are reduced modulo every prime of
   the extended basis ``(q_0 .. q_(L-1), P)`` and transformed: ``D[J, I] = NTT_(q_I)(t_J mod q_I)``.
2. Inner product with the key: ``acc_k[I] = sum_J D[J, I] * key_J,k[I] (mod q_I)``, k = 0, 1.
3. ModDown: divide by P with rounding, ``r = (INTT_P(acc_k[P]) + floor(P/2)) mod P`` and
   ``out_k[i] = (acc_k[i] - NTT_(q_i)((r - floor(P/2)) mod q_i)) * P^-1 (mod q_i)``.

This is SEAL 4.3's ``switch_key_inplace``; its outputs are canonical residues, so computing the same
integers by other means (GEMM NTTs, vectorised products) gives the same words.

Hoisting (:func:`hoisted_rotations`): the automorphism pi_g commutes with the NTT (it is a gather in
the evaluation domain), so ModUp can be done once for all rotations of one ciphertext and each
rotation permutes the digits.  That is not yet SEAL's value: SEAL permutes first and digit J then
holds, on the positions pi_g negates, ``q_J - t`` (t != 0) where the permuted digit holds ``-t``.  The
difference is ``q_J`` on a fixed position set S_g, so
``acc = sum_J pi_g(D[J]) key_J + NTT(S_g) * sum_J (q_J mod q_I) key_J``; the second term depends on
the key and g only and is computed once per (g, level).  A digit that is zero on a negated
position (probability about |S_g|/q_J) would break the identity; that rotation falls back to the
single path.  So hoisted rotations equal single rotations, and SEAL's, bit for bit.

Every function takes a :class:`~securecompute.ckks.arrays.RingOps` first: the same code runs eagerly
on numpy and traced inside the JAX engine's jitted programs (:mod:`securecompute.ckks.device`).  Key
arrays arrive as arguments (``key.at_level(L)`` and its Shoup companions), so the JAX engine passes
its device copies.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from securecompute.ckks.arrays import NumpyRingOps, RingOps, column, inverse_columns, sum_mod
from securecompute.ckks.ring import forward, galois_permutation, mul_mod, negated_positions

__all__ = ["ModUp", "divide_round_last", "galois_arrays", "hoisted_switch", "mod_down", "mod_up", "switch_key"]


@dataclass(frozen=True)
class ModUp:
    """The decomposed polynomial of one key switch, shared by hoisted rotations.

    Attributes:
        coefficients: uint64 ``(L, N)``, the digits t_J in coefficient form.
        digits: uint64 ``(L, L+1, N)``, ``D[J, I] = NTT_(q_I)(t_J mod q_I)`` over ``(q_0 .. q_(L-1), P)``.
    """

    coefficients: Any
    digits: Any


def mod_up(ops: RingOps, target: Any, level_moduli: tuple[int, ...], special_prime: int) -> ModUp:
    """Decompose an NTT-form ``(L, N)`` polynomial into its L digits over the extended basis."""
    extended = (*level_moduli, special_prime)
    coefficients = ops.inverse(level_moduli, target)
    reduced = ops.reduce(coefficients[:, None, :], extended)
    return ModUp(coefficients, ops.forward(extended, reduced))


def inner_product(ops: RingOps, digits: Any, key: Any, key_shoup: Any, extended: tuple[int, ...]) -> Any:
    """``acc_k[I] = sum_J digits[J, I] * key[J, k, I] mod q_I``: uint64 ``(2, L+1, N)``.

    Args:
        digits: uint64 ``(L, L+1, N)``.
        key, key_shoup: the key restricted to the level, uint64 ``(L, 2, L+1, N)`` (``KeySwitchingKey.at_level``),
            and its Shoup companions: constants of every key switch.
    """
    return sum_mod(ops, ops.mul_constant(digits[:, None], key, key_shoup, extended), extended)


def mod_down(ops: RingOps, accumulated: Any, level_moduli: tuple[int, ...], special_prime: int) -> Any:
    """Divide the ``(2, L+1, N)`` extended-basis pair by P with rounding: uint64 ``(2, L, N)``."""
    return divide_round_last(ops, accumulated, (*level_moduli, special_prime))


def divide_round_last(ops: RingOps, data: Any, moduli: tuple[int, ...]) -> Any:
    """SEAL's ``divide_and_round_q_last_ntt``: NTT-form ``(..., L, N)`` over ``moduli`` -> ``(..., L-1, N)``.

    With q_l the last prime and h = floor(q_l / 2): ``r = (INTT_(q_l)(x_last) + h) mod q_l`` and
    ``y_i = (x_i - NTT_(q_i)((r - h) mod q_i)) * q_l^-1 mod q_i``, i.e. round(X / q_l) per coefficient;
    ``(r - h) mod q_i`` is computed as ``(r mod q_i) - (h mod q_i)`` on residues.
    Serves rescale (q_l the last data prime), ModDown (q_l = P) and encryption.
    """
    kept, last = moduli[:-1], moduli[-1]
    half = last // 2
    coefficients = ops.inverse((last,), data[..., -1:, :])
    shifted = ops.add(coefficients, np.array([[half]], dtype=np.uint64), (last,))
    half_kept = np.array([[half % qi] for qi in kept], dtype=np.uint64)
    centred = ops.sub(ops.reduce(shifted, kept), half_kept, kept)
    correction = ops.forward(kept, centred)
    inverse_last, companion = inverse_columns(last, kept)
    return ops.mul_constant(ops.sub(data[..., :-1, :], correction, kept), inverse_last, companion, kept)


def switch_key(ops: RingOps, target: Any, key: Any, key_shoup: Any, level_moduli: tuple[int, ...], special: int) -> Any:
    """SEAL's key switch of the NTT-form ``(L, N)`` polynomial ``target``: the pair to add, uint64 ``(2, L, N)``.

    ``key, key_shoup``: ``KeySwitchingKey.at_level(L)`` and ``shoup_at_level(L)`` (or device copies).
    """
    decomposed = mod_up(ops, target, level_moduli, special)
    extended = (*level_moduli, special)
    accumulated = inner_product(ops, decomposed.digits, key, key_shoup, extended)
    return mod_down(ops, accumulated, level_moduli, special)


def hoisted_switch(
    ops: RingOps,
    decomposed: ModUp,
    galois: tuple[Any, Any],
    key: Any,
    key_shoup: Any,
    correction: Any,
    level_moduli: tuple[int, ...],
    special: int,
) -> tuple[Any, Any]:
    """The key switch of ``pi_g(target)`` from the shared ModUp of ``target``, and its fallback flag.

    ``galois``: ``(table, negated)`` of the element g, :func:`galois_arrays` (arrays, so one traced program
    serves every g).  Returns ``(switched, fallback)``: fallback is true when a digit is zero on a
    coefficient that pi_g negates (then SEAL's digit differs from the permuted one by more than the fixed
    ``correction``, ``KeySwitchingKey.hoisting_correction``, and the caller must run the single path).
    Eager ops (numpy) return ``(None, True)`` without the work; traced ops (JAX) return a device boolean
    and a switched pair that the caller discards when the flag is set.
    """
    table, negated = galois
    fallback = ops.any_zero_at(decomposed.coefficients, negated)
    if ops.eager and fallback:
        return None, True
    extended = (*level_moduli, special)
    accumulated = inner_product(ops, ops.gather(decomposed.digits, table), key, key_shoup, extended)
    accumulated = ops.add(accumulated, correction, extended)
    return mod_down(ops, accumulated, level_moduli, special), fallback


@lru_cache(maxsize=256)
def galois_arrays(n: int, element: int) -> tuple[np.ndarray, np.ndarray]:
    """``(table, negated)`` of a Galois element: the NTT-domain gather ``ring.galois_permutation`` (int64
    ``(N,)``) and the bool ``(N,)`` mask of the coefficients pi_g negates (``ring.negated_positions``' sources)."""
    _, sources = negated_positions(n, element)
    negated = np.zeros(n, dtype=bool)
    negated[sources] = True
    negated.setflags(write=False)
    return galois_permutation(n, element), negated


def hoisting_correction(
    key_at_level: np.ndarray, element: int, level_moduli: tuple[int, ...], special_prime: int
) -> np.ndarray:
    """``NTT(S_g) * sum_J (q_J mod q_I) key_J`` over the extended basis: uint64 ``(2, L+1, N)`` (host, numpy)."""
    n = key_at_level.shape[-1]
    extended = (*level_moduli, special_prime)
    targets, _ = negated_positions(n, element)
    indicator = np.zeros((len(extended), n), dtype=np.uint64)
    indicator[:, targets] = 1
    transformed = forward(n, extended, indicator)  # (L+1, N)
    q = column(extended)
    weights = np.array([[qj % qi for qi in extended] for qj in level_moduli], dtype=np.uint64)  # (J, I)
    weighted = mul_mod(np.broadcast_to(weights[:, None, :, None], key_at_level.shape), key_at_level, q)
    summed = sum_mod(NumpyRingOps(n), weighted, extended)  # (2, L+1, N)
    return mul_mod(summed, np.broadcast_to(transformed[None], summed.shape), q)
