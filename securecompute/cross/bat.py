"""BAT (basis-aligned transformation): exact ``W @ X mod q`` for a constant ``W`` as float64 GEMMs.

CROSS turns a wide modular matrix product into a low-precision digit GEMM against a precomputed
constant.  Here the "low precision" is float64 (BLAS, exact for integers below 2^53):

* the data ``X`` (residues) is made balanced, ``(-q/2, q/2]``, and split into ``D`` balanced
  digits of ``d`` bits, ``X = sum_i 2^(d*i) X_i`` with ``|X_i| <= 2^(d-1)`` (the top digit carries
  what is left);
* the constant becomes ``W_cat = [W_0 | W_1 | ... | W_{D-1}]`` with ``W_i = balanced(W * 2^(d*i) mod q)``,
  folded along K, so ``W @ X = W_cat @ [X_0; ...; X_{D-1}] (mod q)``: ONE GEMM with contraction
  length ``D*K`` per modulus, no shift-and-add recombination;
* the GEMM output is an exact integer of magnitude at most ``K * sum_i max|X_i| * max|W_i|``; the
  plan picks the fewest digits for which that bound plus ``q`` stays within 2^53 and checks it
  when the object is built, and one float64 Barrett (:func:`rint_reduce_centred`) finishes.

For 30-bit moduli this gives D = 2 digits of 15 bits and K up to 256 (bound ``2K * 2^14 * 2^29``);
moduli of 20 bits need no split at all up to K = 2^14.  Hand-written: it is the kernel itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from securecompute.cross.modmath import FLOAT_EXACT_LIMIT, MAX_MODULUS_BITS, rint_reduce_centred
from securecompute.errors import ParameterError, ShapeError

__all__ = ["DigitPlan", "ModMatmul", "digit_bounds", "plan_digits"]

MAX_DIGITS = 16
# Inputs handed to the GEMMs are either user residues, balanced to |x| <= (q-1)/2, or outputs of
# rint_reduce_centred, |x| <= (q-1)/2 + 2: every plan assumes the larger.
INPUT_SLACK = 2


@dataclass(frozen=True)
class DigitPlan:
    """How data is split so that a float64 dot product of length ``terms`` stays exact.

    Attributes:
        digits: D, the number of balanced data digits.
        digit_bits: d, the width of each digit (the top digit may be wider, see ``digit_bounds``).
        digit_bounds: the largest magnitude each digit can take, low digit first.
        terms: contraction length before digit folding (K).
        bound: the largest possible magnitude of one output, ``terms * sum(digit_bounds) * constant_bound``.
    """

    digits: int
    digit_bits: int
    digit_bounds: tuple[int, ...]
    terms: int
    bound: int


def plan_digits(
    input_bound: int, constant_bound: int, terms: int, modulus: int, max_digits: int = MAX_DIGITS
) -> DigitPlan:
    """Choose the fewest balanced digits so that ``terms`` digit-times-constant products sum exactly.

    Args:
        input_bound: largest magnitude of a data value.
        constant_bound: largest magnitude of a (balanced) constant entry.
        terms: contraction length K.
        modulus: the largest modulus; the bound must leave room for the float Barrett, ``bound + q <= 2^53``.
        max_digits: the most digits allowed (each one more multiplies the GEMM work), 1..16.

    Raises:
        ParameterError: no split into at most ``max_digits`` digits keeps the bound within 2^53
            (the message gives the smallest bound reachable).
    """
    if not 1 <= max_digits <= MAX_DIGITS:
        raise ParameterError(f"max_digits={max_digits} is out of range: expected 1..{MAX_DIGITS}")
    for digits in range(1, max_digits + 1):
        feasible = []
        for digit_bits in range(1, input_bound.bit_length() + 2):
            bounds = digit_bounds(input_bound, digits, digit_bits)
            bound = terms * sum(bounds) * constant_bound
            if bound + modulus <= FLOAT_EXACT_LIMIT:
                feasible.append(DigitPlan(digits, digit_bits, bounds, terms, bound))
        if feasible:
            return min(feasible, key=lambda plan: plan.bound)
    smallest = min(
        terms * sum(digit_bounds(input_bound, max_digits, bits)) * constant_bound
        for bits in range(1, input_bound.bit_length() + 2)
    )
    raise ParameterError(
        f"no exact float64 plan: K={terms} terms of |data|<={input_bound} x |constant|<={constant_bound} "
        f"reach {smallest} (~2^{smallest.bit_length()}) even with {max_digits} digits; need bound + q <= 2^53={FLOAT_EXACT_LIMIT}"
    )


class ModMatmul:
    """``W @ X mod q_l`` for constant matrices ``W`` (one per modulus) and residue data ``X``, exactly.

    Args:
        weights: int64 ``(L, R, K)`` (one matrix per modulus, entries any integers; reduced mod
            q_l here) or ``(R, K)`` shared by every modulus (reduced per modulus).
        moduli: L odd moduli of at most 60 bits; the digit plan is computed for the largest.
        max_digits: the most data digits the plan may use (default 16).

    Raises:
        ParameterError: bad moduli, or no digit plan keeps every GEMM output below 2^53.
        ShapeError: ``weights`` has the wrong rank or a limb count other than L.

    Attributes:
        plan: the :class:`DigitPlan` (D digits of d bits, the proven output bound).
        moduli: the moduli, as a tuple of ints.
    """

    def __init__(self, weights: np.ndarray, moduli: list[int] | tuple[int, ...], max_digits: int = MAX_DIGITS) -> None:
        self.moduli = _check_moduli(moduli)
        matrix = np.asarray(weights)
        if matrix.ndim == 2:
            matrix = np.broadcast_to(matrix, (len(self.moduli), *matrix.shape))
        if matrix.ndim != 3 or matrix.shape[0] != len(self.moduli):
            raise ShapeError(f"weights must be (R, K) or (L={len(self.moduli)}, R, K); got shape {np.shape(weights)}")
        self.rows, self.terms = int(matrix.shape[1]), int(matrix.shape[2])
        largest = max(self.moduli)
        half = (largest - 1) // 2
        self.plan = plan_digits(half + INPUT_SLACK, half, self.terms, largest, max_digits)
        self._q = np.array(self.moduli, dtype=np.float64).reshape(-1, 1, 1)
        self._inverse_q = 1.0 / self._q
        self._half_q = np.array([(q - 1) // 2 for q in self.moduli], dtype=np.float64).reshape(-1, 1, 1)
        blocks = []
        for limb, q in enumerate(self.moduli):
            reduced = _reduce_exact(matrix[limb], q)
            blocks.append(
                np.concatenate(
                    [_centre((reduced * pow(2, self.plan.digit_bits * i, q)) % q, q) for i in range(self.plan.digits)],
                    axis=1,
                )
            )
        # (L, R, D*K): column i*K + k multiplies digit i of data row k.
        self.folded = np.ascontiguousarray(np.stack(blocks).astype(np.float64))
        self._folded_transposed: np.ndarray | None = None

    def apply(self, data: np.ndarray) -> np.ndarray:
        """Return ``W_l @ X_l mod q_l``.

        Args:
            data: integer residues ``(..., L, K, cols)``, each limb in ``[0, q_l)``.

        Returns:
            int64 ``(..., L, R, cols)`` in ``[0, q_l)``.

        Raises:
            ShapeError: wrong limb count or K.
            ParameterError: a value outside ``[0, q_l)``.
        """
        array = np.asarray(data)
        limbs = len(self.moduli)
        if array.ndim < 3 or array.shape[-3:-1] != (limbs, self.terms):
            raise ShapeError(f"data must be (..., L={limbs}, K={self.terms}, cols); got shape {array.shape}")
        check_residues(array, self.moduli, axis=-3)
        batch, cols = array.shape[:-3], array.shape[-1]
        count = int(np.prod(batch, dtype=np.int64))
        # (B, L, K, cols) -> (L, K, B, cols): the batch joins the GEMM columns.
        moved = array.reshape(count, limbs, self.terms, cols).transpose(1, 2, 0, 3)
        centred = centre_float(moved, self._q[..., None], self._half_q[..., None])
        digits = split_digits(centred, self.plan, axis=1).reshape(limbs, self.plan.digits * self.terms, count * cols)
        result = self.left(digits)
        np.add(result, self._q, out=result, where=result < 0)
        out = result.reshape(limbs, self.rows, count, cols).transpose(2, 0, 1, 3).astype(np.int64)
        return out.reshape(*batch, limbs, self.rows, cols)

    def left(self, digits: np.ndarray) -> np.ndarray:
        """Hot path: ``folded @ digits`` then centred float Barrett.

        ``digits`` is float64 ``(L, D*K, M)`` from :func:`split_digits` (digit-major along axis 1);
        returns float64 ``(L, R, M)`` in ``[-(q-1)/2 - 2, (q-1)/2 + 2]``.
        """
        return rint_reduce_centred(np.matmul(self.folded, digits), self._q, self._inverse_q)

    def right(self, digits: np.ndarray) -> np.ndarray:
        """Hot path, transposed: ``digits @ folded^T``, i.e. ``(W @ Y^T)^T`` for data rows ``Y``.

        ``digits`` is float64 ``(L, M, D*K)`` (digit-major along the last axis); returns float64
        ``(L, M, R)`` centred residues.
        """
        if self._folded_transposed is None:
            self._folded_transposed = np.ascontiguousarray(self.folded.transpose(0, 2, 1))
        return rint_reduce_centred(np.matmul(digits, self._folded_transposed), self._q, self._inverse_q)


def split_digits(values: np.ndarray, plan: DigitPlan, axis: int) -> np.ndarray:
    """Balanced digits of float64 integers ``values``, stacked digit-major along ``axis``.

    Digit i of ``x`` is ``x_i`` with ``x = sum_i 2^(d*i) x_i``; the lower digits lie in
    ``[-2^(d-1), 2^(d-1)]``.  Every step (scale by a power of two, rint, subtract) is exact.
    The result has ``values.shape[axis] * D`` entries along ``axis``.
    """
    axis = axis % values.ndim
    shape = list(values.shape)
    out_shape = [*shape[:axis], plan.digits, *shape[axis:]]
    out = np.empty(out_shape, dtype=np.float64)
    scale, inverse = float(1 << plan.digit_bits), 1.0 / float(1 << plan.digit_bits)
    rest = values
    for index in range(plan.digits - 1):
        high = np.rint(rest * inverse)
        target = out[(slice(None),) * axis + (index,)]
        np.multiply(high, -scale, out=target)
        target += rest
        rest = high
    out[(slice(None),) * axis + (plan.digits - 1,)] = rest
    shape[axis] *= plan.digits
    return out.reshape(shape)


def centre_float(residues: np.ndarray, q: np.ndarray, half_q: np.ndarray) -> np.ndarray:
    """Residues in ``[0, q)`` as balanced float64 in ``[-(q-1)/2, (q-1)/2]`` (a new C-ordered array)."""
    values = np.array(residues, dtype=np.float64, order="C")
    np.subtract(values, q, out=values, where=values > half_q)
    return values


def check_residues(values: np.ndarray, moduli: tuple[int, ...], axis: int) -> None:
    """Raise :class:`ParameterError` unless every entry along limb ``axis`` lies in ``[0, q_l)``."""
    if not np.issubdtype(values.dtype, np.integer):
        raise ParameterError(f"residues must have an integer dtype, got {values.dtype}")
    if values.size == 0:
        return
    axis = axis % values.ndim
    reduce_axes = tuple(i for i in range(values.ndim) if i != axis)
    low, high = values.min(axis=reduce_axes), values.max(axis=reduce_axes)
    for limb, q in enumerate(moduli):
        if low[limb] < 0 or high[limb] >= q:
            raise ParameterError(
                f"limb {limb} holds values in [{low[limb]}, {high[limb]}]; residues must lie in [0, {q})"
            )


def digit_bounds(input_bound: int, digits: int, digit_bits: int) -> tuple[int, ...]:
    """Largest magnitude of each balanced digit of a value of magnitude <= ``input_bound``."""
    half = 1 << (digit_bits - 1)
    bounds, rest = [], input_bound
    for _ in range(digits - 1):
        bounds.append(min(half, rest))
        rest = (rest + half) >> digit_bits
    bounds.append(rest)
    return tuple(bounds)


def _check_moduli(moduli: list[int] | tuple[int, ...]) -> tuple[int, ...]:
    values = tuple(int(q) for q in moduli)
    if not values:
        raise ParameterError("moduli is empty: expected at least one odd modulus")
    for q in values:
        if q < 3 or q % 2 == 0 or q.bit_length() > MAX_MODULUS_BITS:
            raise ParameterError(f"modulus {q} must be an odd integer of 2..{MAX_MODULUS_BITS} bits")
    return values


def _reduce_exact(matrix: np.ndarray, q: int) -> np.ndarray:
    """Entries of an integer matrix reduced into ``[0, q)`` as Python ints (object array), exactly."""
    return np.asarray(matrix).astype(object) % q


def _centre(reduced: np.ndarray, q: int) -> np.ndarray:
    """Object array of residues in ``[0, q)`` -> balanced ``(-q/2, q/2]`` int64."""
    return np.where(reduced > (q - 1) // 2, reduced - q, reduced).astype(np.int64)
