"""Exact, vectorised modular arithmetic: Barrett (CROSS constants), float64 "rint" Barrett, Shoup.

These are the scalar kernels under the matrix-engine NTT of :mod:`securecompute.cross.ntt`.  They are
hand-written because numpy has no 64x64 -> 128-bit multiply: every product must be split so that no
intermediate leaves uint64 (fast path) or float64's exact-integer range (GEMM path).

* Barrett, as CROSS does it: ``s = 2*ceil(log2 q)``, ``m = floor(2^s / q)``.  For ``0 <= z < 2^s``
  (every product of two residues) the quotient estimate ``floor(z*m / 2^s)`` is at most one short,
  so one conditional subtraction finishes.  ``z*m`` would need up to 93 bits, so ``z`` is split
  into its low and high ``w = min(s, 32)`` bits and ``floor(z*m / 2^s)`` is assembled exactly from
  ``floor(z_lo*m / 2^w) + z_hi*m`` (nested floors).  Fast path: moduli of up to
  :data:`FAST_MODULUS_BITS` = 31 bits, uint64 throughout.  Slow path: moduli of 32..60 bits on
  numpy object arrays of Python ints (exact, about 100x slower; meant for setup work and tests).
* ``rint_reduce``: for an exact integer-valued float64 ``x`` with ``|x| + q <= 2^53`` (a GEMM output
  within its exactness bound), ``x - rint(x * (1/q)) * q`` is exact and lies in
  ``[-(q-1)/2 - 2, (q-1)/2 + 2]``; one correction maps it to ``[0, q)``.
* Shoup: for a constant ``b`` precompute ``b' = floor(b * 2^w / q)``; then
  ``a*b - floor(a*b' / 2^w) * q`` lies in ``[0, 2q)`` for ``a < 2^w``, one correction finishes.
  ``w = 32`` on the fast path (``a*b' < 2^64``), ``w = 64`` on the slow path.
* Vectorised Shoup for wide moduli (:func:`shoup_multiply_uint64`, up to 62 bits): the same formula
  with ``w = 64`` on uint64 arrays, the high half ``floor(a*b'/2^64)`` assembled from four 32x32-bit
  products (:func:`mulhi_uint64`) and ``a*b - hi*q`` taken with uint64 wrap-around (its true value
  lies in ``[0, 2q)``).  About 15 numpy passes per product; it is the reduction step of the wide
  (48..60-bit) BAT plans.
"""

from __future__ import annotations

import numpy as np

from securecompute.errors import ParameterError

__all__ = [
    "FAST_MODULUS_BITS",
    "MAX_MODULUS_BITS",
    "barrett_constants",
    "barrett_reduce",
    "mod_mul",
    "mulhi_uint64",
    "rint_reduce",
    "shoup_multiply",
    "shoup_multiply_uint64",
    "shoup_precompute",
    "shoup_word_bits",
]

FAST_MODULUS_BITS = 31  # uint64 fast path: q < 2^31, so every product of residues is < 2^62
MAX_MODULUS_BITS = 60  # slow exact path (Python ints) up to here
FLOAT_EXACT_LIMIT = 1 << 53  # float64 represents every integer of magnitude <= 2^53


def barrett_constants(q: int) -> tuple[int, int]:
    """Return CROSS's Barrett constants ``(s, m)`` for the odd modulus ``q``: s = 2*ceil(log2 q), m = floor(2^s/q).

    Raises:
        ParameterError: ``q`` is not an odd integer in 3 .. 2^60.
    """
    _check_modulus(q)
    s = 2 * (q - 1).bit_length()  # ceil(log2 q) for q > 1
    return s, (1 << s) // q


def barrett_reduce(z: np.ndarray, q: int) -> np.ndarray:
    """Reduce ``z`` modulo ``q`` with one Barrett step and one conditional subtraction.

    Args:
        z: integers with ``0 <= z < 2^s`` (s from :func:`barrett_constants`; this covers every
            product of two residues).  Any integer dtype on the fast path (q < 2^31); for wider
            moduli an object array of Python ints (values may exceed 64 bits).
        q: odd modulus, 3 .. 2^60.

    Returns:
        ``z mod q`` as int64, same shape.

    Raises:
        ParameterError: ``q`` out of range, or ``z`` outside ``[0, 2^s)``.
    """
    s, m = barrett_constants(q)
    if q.bit_length() <= FAST_MODULUS_BITS:
        values = np.asarray(z)
        if values.dtype == object:
            values = values.astype(np.uint64)
        if values.size and (int(values.min()) < 0 or int(values.max()) >= 1 << s):
            raise ParameterError(f"barrett_reduce input must lie in [0, 2^{s}) for q={q}")
        return _barrett_uint64(values.astype(np.uint64, copy=False), q, s, m).astype(np.int64)
    values = np.asarray(z, dtype=object)
    if values.size and (min(values.flat) < 0 or max(values.flat) >= 1 << s):
        raise ParameterError(f"barrett_reduce input must lie in [0, 2^{s}) for q={q}")
    estimate = (values * m) >> s
    remainder = values - estimate * q
    remainder = np.where(remainder >= q, remainder - q, remainder)
    return np.asarray(remainder.astype(np.int64))


def mod_mul(a: np.ndarray, b: np.ndarray | int, q: int) -> np.ndarray:
    """Return ``a * b mod q`` elementwise for residues ``a, b`` in ``[0, q)`` (int64 out, broadcast shape).

    Fast path (q < 2^31): uint64 product (< 2^62) and :func:`barrett_reduce`.  Slow path (up to
    60 bits): Python-int products reduced by the same Barrett step.

    Raises:
        ParameterError: ``q`` out of range or an operand outside ``[0, q)``.
    """
    s, m = barrett_constants(q)
    left, right = _residues(a, q, "a"), _residues(b, q, "b")
    if q.bit_length() <= FAST_MODULUS_BITS:
        # Checked residues are non-negative: the uint64 views hold the same values, without a copy.
        product = np.multiply(left.view(np.uint64), right.view(np.uint64))
        return _barrett_uint64(product, q, s, m, in_place=True).view(np.int64)
    product = left.astype(object) * right.astype(object)
    return barrett_reduce(product, q)


def rint_reduce(x: np.ndarray, q: int | np.ndarray) -> np.ndarray:
    """Reduce exact integer-valued float64 ``x`` modulo ``q`` into int64 ``[0, q)``.

    Args:
        x: float64 holding integers with ``|x| + q <= 2^53`` (for instance a float64 GEMM output
            within its exactness bound).  Not checked: the callers prove the bound when they plan.
        q: odd modulus below 2^52, or an array of moduli broadcastable against ``x`` (one per limb).

    Returns:
        int64 array of ``x mod q``.
    """
    moduli = np.asarray(q, dtype=np.float64)
    centred = rint_reduce_centred(np.asarray(x, dtype=np.float64), moduli, 1.0 / moduli)
    centred += np.where(centred < 0, moduli, 0.0)
    return centred.astype(np.int64)


def rint_reduce_centred(x: np.ndarray, q: np.ndarray, inverse_q: np.ndarray) -> np.ndarray:
    """Float64 Barrett without the final correction: ``x - rint(x/q)*q`` in ``[-(q-1)/2 - 2, (q-1)/2 + 2]``.

    ``x`` (float64, exact integers with ``|x| + q <= 2^53``) is reduced in place and returned;
    ``q`` and ``inverse_q`` (float64, ``1/q`` rounded) broadcast against it.  The quotient estimate
    ``x * (1/q)`` is within ``2.01/q`` of ``x/q`` (two roundings of a value below ``2^53/q``), so
    the remainder is off the centred one by at most 2; ``rint(.)*q`` stays below 2^53 and is exact.
    """
    quotient = np.multiply(x, inverse_q)
    np.rint(quotient, out=quotient)
    quotient *= q
    x -= quotient
    return x


def shoup_word_bits(q: int) -> int:
    """Word width ``w`` used by Shoup multiplication modulo ``q``: 32 on the fast path, 64 above 31 bits."""
    _check_modulus(q)
    return 32 if q.bit_length() <= FAST_MODULUS_BITS else 64


def shoup_precompute(b: np.ndarray | int, q: int) -> np.ndarray:
    """Return Shoup's companion ``b' = floor(b * 2^w / q)`` of constants ``b`` in ``[0, q)`` (uint64 array).

    Raises:
        ParameterError: ``q`` out of range or ``b`` outside ``[0, q)``.
    """
    word = shoup_word_bits(q)
    constants = _residues(b, q, "b").astype(object)
    return np.asarray(((constants << word) // q).astype(np.uint64))


def shoup_multiply(a: np.ndarray, b: np.ndarray | int, b_shoup: np.ndarray, q: int) -> np.ndarray:
    """Return ``a * b mod q`` for residues ``a`` and constants ``b`` with companions ``b_shoup``.

    ``b_shoup`` must come from :func:`shoup_precompute` for the same ``b`` and ``q``.  Fast path:
    the high half ``floor(a*b'/2^32)`` is exact in uint64 (``a*b' < 2^63``), ``a*b - hi*q`` is
    computed with uint64 wrap-around (its true value lies in ``[0, 2q)``) and one subtraction
    finishes.  Slow path: the same formula on Python ints with ``w = 64``.

    Raises:
        ParameterError: ``q`` out of range or ``a``/``b`` outside ``[0, q)``.
    """
    word = shoup_word_bits(q)
    left, right = _residues(a, q, "a"), _residues(b, q, "b")
    companion = np.asarray(b_shoup, dtype=np.uint64)
    if word == 32:
        a64, b64 = left.astype(np.uint64), right.astype(np.uint64)
        high = (a64 * companion) >> np.uint64(32)
        result = a64 * b64 - high * np.uint64(q)
        result = np.where(result >= np.uint64(q), result - np.uint64(q), result)
        return np.asarray(result.astype(np.int64))
    a_obj, b_obj, c_obj = left.astype(object), right.astype(object), companion.astype(object)
    result_obj = a_obj * b_obj - ((a_obj * c_obj) >> word) * q
    result_obj = np.where(result_obj >= q, result_obj - q, result_obj)
    return np.asarray(result_obj.astype(np.int64))


def mulhi_uint64(a: np.ndarray, b_low: np.ndarray, b_high: np.ndarray) -> np.ndarray:
    """``floor(a * b / 2^64)`` for uint64 ``a`` and ``b = b_high * 2^32 + b_low`` (both halves < 2^32), exactly.

    The four 32x32-bit partial products each fit in uint64; the middle column sums three values
    below 2^32, so nothing wraps.  Arrays broadcast; the result is a new uint64 array.
    """
    mask, shift = np.uint64(0xFFFFFFFF), np.uint64(32)
    a_low = np.bitwise_and(a, mask)
    a_high = np.right_shift(a, shift)
    low_low = a_low * b_low
    low_high = a_low * b_high
    high_low = a_high * b_low
    result = a_high * b_high
    middle = np.right_shift(low_low, shift)
    middle += np.bitwise_and(low_high, mask)
    middle += np.bitwise_and(high_low, mask)
    result += np.right_shift(low_high, shift)
    result += np.right_shift(high_low, shift)
    result += np.right_shift(middle, shift)
    return np.asarray(result)


def shoup_multiply_uint64(a: np.ndarray, b: np.ndarray, b_shoup: np.ndarray, q: np.ndarray | int) -> np.ndarray:
    """``a * b mod q`` in ``[0, q)`` for uint64 ``a < 2^64``, constants ``b < q < 2^62`` and ``b' = floor(b*2^64/q)``.

    Vectorised and unchecked (the callers hold the invariants): ``hi = floor(a*b'/2^64)`` (exact, by
    :func:`mulhi_uint64`), then ``a*b - hi*q`` in uint64 arithmetic modulo 2^64; its true value is in
    ``[0, 2q)`` (Shoup), which fits, so the wrapped result is the true one; ``min(r, r - q)`` (the
    subtraction wraps to a huge value when ``r < q``) finishes.  All arguments broadcast.
    """
    companion = np.asarray(b_shoup, dtype=np.uint64)
    mask, shift = np.uint64(0xFFFFFFFF), np.uint64(32)
    high = mulhi_uint64(a, np.bitwise_and(companion, mask), np.right_shift(companion, shift))
    modulus = np.asarray(q, dtype=np.uint64)
    high *= modulus
    result = a * np.asarray(b, dtype=np.uint64)
    result -= high
    np.subtract(result, modulus, out=high)
    np.minimum(result, high, out=result)
    return result


def _barrett_uint64(z: np.ndarray, q: int, s: int, m: int, in_place: bool = False) -> np.ndarray:
    """Barrett on uint64 ``z < 2^s`` with ``q < 2^31`` (so ``m < 2^32`` and every product < 2^64).

    With ``in_place`` the (writeable, owned) ``z`` receives the remainder; two temporaries in all.
    """
    word = np.uint64(min(s, 32))
    multiplier, modulus = np.uint64(m), np.uint64(q)
    estimate = np.bitwise_and(z, np.uint64((1 << int(word)) - 1))
    estimate *= multiplier
    estimate >>= word
    high = np.right_shift(z, word)
    high *= multiplier
    estimate += high
    estimate >>= np.uint64(s - int(word))
    estimate *= modulus
    remainder = z if in_place else np.empty_like(z)
    np.subtract(z, estimate, out=remainder)
    # remainder < 2q: when remainder < q, remainder - q wraps around to >= 2^64 - q and the minimum keeps remainder.
    np.subtract(remainder, modulus, out=estimate)
    np.minimum(remainder, estimate, out=remainder)
    return remainder


def _residues(values: np.ndarray | int, q: int, name: str) -> np.ndarray:
    """``values`` as an int64 array, checked to lie in ``[0, q)``."""
    array = np.asarray(values)
    not_integer_dtype = array.dtype == object or not np.issubdtype(array.dtype, np.integer)
    if not_integer_dtype and array.size and any(int(v) != v for v in array.flat):
        raise ParameterError(f"{name} must hold integers, got dtype {array.dtype}")
    array = array.astype(np.int64, copy=False)
    # One pass: viewed as uint64 a negative value is huge, so ``max < q`` checks both ends.
    if array.size and int(array.view(np.uint64).max()) >= q:
        raise ParameterError(f"{name} must hold residues in [0, {q}); got values in [{array.min()}, {array.max()}]")
    return array


def _check_modulus(q: int) -> None:
    if not isinstance(q, int | np.integer) or isinstance(q, bool):
        raise ParameterError(f"modulus q={q!r} must be an int")
    if q < 3 or q % 2 == 0 or int(q).bit_length() > MAX_MODULUS_BITS:
        raise ParameterError(f"modulus q={q} must be an odd integer of 2..{MAX_MODULUS_BITS} bits")
