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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from securecompute.ckks.keys import KeySwitchingKey
from securecompute.ckks.ring import (
    forward,
    galois_permutation,
    inverse,
    modulus_column,
    mul_mod,
    mul_mod_constant,
    negated_positions,
    sub_mod,
)

__all__ = ["ModUp", "divide_round_last", "mod_down", "mod_up", "switch_key"]


@dataclass(frozen=True)
class ModUp:
    """The decomposed polynomial of one key switch, shared by hoisted rotations.

    Attributes:
        coefficients: uint64 ``(L, N)``, the digits t_J in coefficient form.
        digits: uint64 ``(L, L+1, N)``, ``D[J, I] = NTT_(q_I)(t_J mod q_I)`` over ``(q_0 .. q_(L-1), P)``.
    """

    coefficients: np.ndarray
    digits: np.ndarray


def mod_up(target: np.ndarray, level_moduli: tuple[int, ...], special_prime: int, backend: str = "numpy") -> ModUp:
    """Decompose an NTT-form ``(L, N)`` polynomial into its L digits over the extended basis."""
    n = target.shape[-1]
    extended = (*level_moduli, special_prime)
    coefficients = inverse(n, level_moduli, target, backend)
    reduced = np.remainder(coefficients[:, None, :], modulus_column(extended)[None])
    return ModUp(coefficients, forward(n, extended, reduced, backend))


def inner_product(digits: np.ndarray, key: KeySwitchingKey, extended: tuple[int, ...]) -> np.ndarray:
    """``acc_k[I] = sum_J digits[J, I] * key[J, k, I] mod q_I``: uint64 ``(2, L+1, N)``.

    Args:
        digits: uint64 ``(L, L+1, N)``.
        key: the key; its components restricted to the level (uint64 ``(L, 2, L+1, N)``) are constants,
            multiplied with their cached Shoup companions.
    """
    q = modulus_column(extended)
    limbs = len(extended) - 1
    products = mul_mod_constant(digits[:, None], key.at_level(limbs), key.shoup_at_level(limbs), q)
    return sum_mod(products, q)


def sum_mod(terms: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``sum_J terms[J] mod q`` for residues in ``[0, q)``, uint64, without wrapping past 2^64.

    Terms are added in runs short enough that a run plus the running remainder stays below 2^64
    (15 terms for 60-bit primes: one run for every chain up to 15 data primes; longer chains with
    wide primes are legal, e.g. two 60-bit primes among many 17-bit ones, and take several runs).
    """
    run = max(1, ((1 << 64) - 1) // int(q.max()) - 1)
    total = np.zeros(terms.shape[1:], dtype=np.uint64)
    for start in range(0, terms.shape[0], run):
        total = np.remainder(total + terms[start : start + run].sum(axis=0, dtype=np.uint64), q)
    return np.asarray(total)


def mod_down(
    accumulated: np.ndarray, level_moduli: tuple[int, ...], special_prime: int, backend: str = "numpy"
) -> np.ndarray:
    """Divide the ``(2, L+1, N)`` extended-basis pair by P with rounding: uint64 ``(2, L, N)``."""
    return divide_round_last(accumulated, (*level_moduli, special_prime), backend)


def divide_round_last(data: np.ndarray, moduli: tuple[int, ...], backend: str = "numpy") -> np.ndarray:
    """SEAL's ``divide_and_round_q_last_ntt``: NTT-form ``(..., L, N)`` over ``moduli`` -> ``(..., L-1, N)``.

    With q_l the last prime and h = floor(q_l / 2): ``r = (INTT_(q_l)(x_last) + h) mod q_l`` and
    ``y_i = (x_i - NTT_(q_i)((r - h) mod q_i)) * q_l^-1 mod q_i``, i.e. round(X / q_l) per coefficient.
    Serves rescale (q_l the last data prime), ModDown (q_l = P) and encryption.
    """
    n = data.shape[-1]
    kept, last = moduli[:-1], moduli[-1]
    half = last // 2
    coefficients = inverse(n, (last,), np.ascontiguousarray(data[..., -1:, :]), backend)
    rounded = (coefficients.astype(np.int64) + half) % last - half  # in [-h, q_l - h)
    q = modulus_column(kept)
    correction = forward(n, kept, np.remainder(rounded, q.astype(np.int64)).astype(np.uint64), backend)
    inverse_last = np.array([pow(last, -1, qi) for qi in kept], dtype=np.uint64).reshape(-1, 1)
    companion = np.array([(pow(last, -1, qi) << 64) // qi for qi in kept], dtype=np.uint64).reshape(-1, 1)
    return mul_mod_constant(sub_mod(data[..., :-1, :], correction, q), inverse_last, companion, q)


def switch_key(
    target: np.ndarray, key: KeySwitchingKey, level_moduli: tuple[int, ...], backend: str = "numpy"
) -> np.ndarray:
    """SEAL's key switch of the NTT-form ``(L, N)`` polynomial ``target``: the pair to add, uint64 ``(2, L, N)``."""
    special = key.params.special_prime
    decomposed = mod_up(target, level_moduli, special, backend)
    extended = (*level_moduli, special)
    accumulated = inner_product(decomposed.digits, key, extended)
    return mod_down(accumulated, level_moduli, special, backend)


def hoisted_switch(
    decomposed: ModUp, element: int, key: KeySwitchingKey, level_moduli: tuple[int, ...], backend: str = "numpy"
) -> np.ndarray | None:
    """The key switch of ``pi_g(target)`` from the shared ModUp of ``target``; None when it must fall back.

    Returns None when a digit is zero on a coefficient that pi_g negates (then SEAL's digit differs
    from the permuted one by more than the fixed correction; the caller runs the single path).
    """
    n = decomposed.coefficients.shape[-1]
    _, sources = negated_positions(n, element)
    if np.any(decomposed.coefficients[:, sources] == 0):
        return None
    special = key.params.special_prime
    extended = (*level_moduli, special)
    table = galois_permutation(n, element)
    accumulated = inner_product(decomposed.digits[..., table], key, extended)
    correction = key.hoisting_correction(element, level_moduli)
    q = modulus_column(extended)
    accumulated = accumulated + correction
    accumulated = np.where(accumulated >= q, accumulated - q, accumulated)
    return mod_down(accumulated, level_moduli, special, backend)


def hoisting_correction(
    key_at_level: np.ndarray, element: int, level_moduli: tuple[int, ...], special_prime: int
) -> np.ndarray:
    """``NTT(S_g) * sum_J (q_J mod q_I) key_J`` over the extended basis: uint64 ``(2, L+1, N)``."""
    n = key_at_level.shape[-1]
    extended = (*level_moduli, special_prime)
    targets, _ = negated_positions(n, element)
    indicator = np.zeros((len(extended), n), dtype=np.uint64)
    indicator[:, targets] = 1
    transformed = forward(n, extended, indicator)  # (L+1, N)
    q = modulus_column(extended)
    weights = np.array([[qj % qi for qi in extended] for qj in level_moduli], dtype=np.uint64)  # (J, I)
    weighted = mul_mod(np.broadcast_to(weights[:, None, :, None], key_at_level.shape), key_at_level, q)
    summed = sum_mod(weighted, q)  # (2, L+1, N)
    return mul_mod(summed, np.broadcast_to(transformed[None], summed.shape), q)
