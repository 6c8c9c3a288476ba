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
moduli of 20 bits need no split at all up to K = 2^14.

Wide path (no fast plan: 48..60-bit moduli, or long K at 40+ bits): the folded constants are split
into E >= 2 balanced digits as well, the E partial GEMMs (each exact, ``|G_j| <= 2^53``) are
recombined in uint64 with Shoup products by ``2^(e*j) mod q``; see :class:`ModMatmul`.  For a 60-bit
modulus at K = 64..256: D = 4 data digits of 15 bits, E = 2 constant digits of 30 bits, bound
``K * 2^16 * 2^29``.  Hand-written: it is the kernel itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from securecompute.blas import single_blas_thread
from securecompute.cross.modmath import (
    FLOAT_EXACT_LIMIT,
    MAX_MODULUS_BITS,
    rint_reduce_centred,
    shoup_multiply_uint64,
)
from securecompute.errors import ParameterError, ShapeError

__all__ = ["DigitPlan", "ModMatmul", "digit_bounds", "largest_terms", "plan_digits", "split_digits_int"]

MAX_DIGITS = 16
# Inputs handed to the GEMMs are either user residues, balanced to |x| <= (q-1)/2, or outputs of
# rint_reduce_centred, |x| <= (q-1)/2 + 2: every plan assumes the larger.
INPUT_SLACK = 2


@dataclass(frozen=True)
class DigitPlan:
    """How data (and, on the wide path, the constant) is split so that float64 dot products stay exact.

    Attributes:
        digits: D, the number of balanced data digits.
        digit_bits: d, the width of each digit (the top digit may be wider, see ``digit_bounds``).
        digit_bounds: the largest magnitude each digit can take, low digit first.
        terms: contraction length before digit folding (K).
        bound: the largest possible magnitude of one GEMM output,
            ``terms * sum(digit_bounds) * max(constant digit bound)``.
        constant_digits: E, the number of balanced digits of each folded constant; 1 on the fast path
            (the constant stays whole and one float Barrett reduces the GEMM output, so
            ``bound + q <= 2^53``), >= 2 on the wide path (E partial GEMMs, each reduced and
            recombined exactly in uint64 by Shoup multiplication, so only ``bound <= 2^53``).
        constant_digit_bits: e, the width of the constant digits (0 when the constant is not split).
        constant_digit_bounds: the largest magnitude of each constant digit, low digit first
            (``()`` when the constant is not split).
    """

    digits: int
    digit_bits: int
    digit_bounds: tuple[int, ...]
    terms: int
    bound: int
    constant_digits: int = 1
    constant_digit_bits: int = 0
    constant_digit_bounds: tuple[int, ...] = ()

    @property
    def wide(self) -> bool:
        """True for the wide path (constant split into ``constant_digits >= 2`` digits)."""
        return self.constant_digits > 1


def plan_digits(
    input_bound: int,
    constant_bound: int,
    terms: int,
    modulus: int,
    max_digits: int = MAX_DIGITS,
    max_constant_digits: int = 1,
) -> DigitPlan:
    """Choose the cheapest balanced digit split so that ``terms`` digit-times-constant products sum exactly.

    Fast path first (constant whole): the fewest data digits D with ``bound + q <= 2^53``, where
    ``bound = terms * sum(data digit bounds) * constant_bound``.  Only when no such plan exists and
    ``max_constant_digits >= 2``, the wide path: data in D digits and the constant in E >= 2 digits,
    with ``bound = terms * sum(data digit bounds) * max(constant digit bounds) <= 2^53``; the plan
    with the least GEMM work ``D * E`` wins, then the fewest constant digits E (each costs one
    recombination pass), then the smallest bound.  The bound factorises, so D and E (and their
    widths) are optimised separately.

    Args:
        input_bound: largest magnitude of a data value.
        constant_bound: largest magnitude of a (balanced) constant entry.
        terms: contraction length K.
        modulus: the largest modulus; on the fast path the bound must leave room for the float
            Barrett, ``bound + q <= 2^53``.
        max_digits: the most data digits allowed (each one more multiplies the GEMM work), 1..16.
        max_constant_digits: the most constant digits allowed, 1..16 (1: fast path only).

    Raises:
        ParameterError: no split within the limits keeps the bound within 2^53 (the message gives
            the smallest bound reachable).
    """
    if not 1 <= max_digits <= MAX_DIGITS:
        raise ParameterError(f"max_digits={max_digits} is out of range: expected 1..{MAX_DIGITS}")
    if not 1 <= max_constant_digits <= MAX_DIGITS:
        raise ParameterError(f"max_constant_digits={max_constant_digits} is out of range: expected 1..{MAX_DIGITS}")
    for digits in range(1, max_digits + 1):
        feasible = []
        for digit_bits in range(1, input_bound.bit_length() + 2):
            bounds = digit_bounds(input_bound, digits, digit_bits)
            bound = terms * sum(bounds) * constant_bound
            if bound + modulus <= FLOAT_EXACT_LIMIT:
                feasible.append(DigitPlan(digits, digit_bits, bounds, terms, bound))
        if feasible:
            return min(feasible, key=lambda plan: plan.bound)
    if max_constant_digits >= 2:
        wide = _plan_wide(input_bound, constant_bound, terms, max_digits, max_constant_digits)
        if wide is not None:
            return wide
    smallest = min(
        terms * sum(digit_bounds(input_bound, max_digits, bits)) * constant_bound
        for bits in range(1, input_bound.bit_length() + 2)
    )
    wide_note = ""
    if max_constant_digits >= 2:
        data_sum = _best_data_split(input_bound, max_digits)[0]
        constant_max = _best_constant_split(constant_bound, max_constant_digits)[0]
        wide_smallest = terms * data_sum * constant_max
        smallest = min(smallest, wide_smallest)
        wide_note = f" and {max_constant_digits} constant digits"
    raise ParameterError(
        f"no exact float64 plan: K={terms} terms of |data|<={input_bound} x |constant|<={constant_bound} "
        f"reach {smallest} (~2^{smallest.bit_length()}) even with {max_digits} digits{wide_note}; "
        f"need bound + q <= 2^53={FLOAT_EXACT_LIMIT} (whole constant) or bound <= 2^53 (constant split)"
    )


def largest_terms(modulus: int, max_digits: int = MAX_DIGITS, max_constant_digits: int = MAX_DIGITS) -> int:
    """The largest K for which :class:`ModMatmul` modulo ``modulus`` finds a plan within the digit limits."""
    half = (modulus - 1) // 2

    def fits(terms: int) -> bool:
        try:
            plan_digits(half + INPUT_SLACK, half, terms, modulus, max_digits, max_constant_digits)
        except ParameterError:
            return False
        return True

    if not fits(1):
        return 0
    low, high = 1, 2
    while fits(high):
        low, high = high, high * 2
    while high - low > 1:  # fits(low), not fits(high)
        middle = (low + high) // 2
        low, high = (middle, high) if fits(middle) else (low, middle)
    return low


def _best_data_split(input_bound: int, digits: int) -> tuple[int, int, tuple[int, ...]]:
    """``(sum of digit bounds, digit_bits, bounds)`` minimising the sum for exactly ``digits`` data digits."""
    options = []
    for bits in range(1, input_bound.bit_length() + 2):
        bounds = digit_bounds(input_bound, digits, bits)
        options.append((sum(bounds), bits, bounds))
    return min(options)


def _best_constant_split(constant_bound: int, digits: int) -> tuple[int, int, tuple[int, ...]]:
    """``(largest digit bound, digit_bits, bounds)`` minimising the largest for exactly ``digits`` constant digits."""
    options = []
    for bits in range(1, constant_bound.bit_length() + 2):
        bounds = digit_bounds(constant_bound, digits, bits)
        options.append((max(bounds), bits, bounds))
    return min(options)


def _plan_wide(
    input_bound: int, constant_bound: int, terms: int, max_digits: int, max_constant_digits: int
) -> DigitPlan | None:
    data = {count: _best_data_split(input_bound, count) for count in range(1, max_digits + 1)}
    constant = {count: _best_constant_split(constant_bound, count) for count in range(2, max_constant_digits + 1)}
    best: tuple[int, int, int, DigitPlan] | None = None
    for count, (data_sum, bits, bounds) in data.items():
        for constant_count, (constant_max, constant_bits, constant_bounds) in constant.items():
            bound = terms * data_sum * constant_max
            if bound > FLOAT_EXACT_LIMIT:
                continue
            plan = DigitPlan(count, bits, bounds, terms, bound, constant_count, constant_bits, constant_bounds)
            key = (count * constant_count, constant_count, bound, plan)
            if best is None or key[:3] < best[:3]:
                best = key
    return None if best is None else best[3]


class ModMatmul:
    """``W @ X mod q_l`` for constant matrices ``W`` (one per modulus) and residue data ``X``, exactly.

    Two paths, chosen by :func:`plan_digits` from the widest modulus and K:

    * fast (``plan.constant_digits == 1``, e.g. every 30-bit case): one float64 GEMM
      ``folded @ digits`` per limb and one float Barrett;
    * wide (``plan.constant_digits = E >= 2``, moduli whose whole constant is too wide for float64:
      48..60 bits, or long K at 40+ bits): each folded constant ``C_i = W * 2^(d*i) mod q`` (centred) is
      split as ``C_i = sum_j 2^(e*j) C_ij`` with balanced digits ``C_ij``, giving E constant planes
      ``P_j = [C_0j | ... | C_(D-1)j]``; the data digits are taken in int64 (a 60-bit residue is not
      exact in float64) and every partial GEMM ``G_j = P_j @ digits`` is exact (``|G_j| <= bound <= 2^53``).
      Each ``G_j`` is shifted into ``[0, 2^54 + q)`` by a multiple of q, multiplied by ``2^(e*j) mod q``
      with the uint64 Shoup kernel (:func:`~securecompute.cross.modmath.shoup_multiply_uint64`) and the
      E results are added mod q.  Cost: E GEMMs of contraction D*K plus E Shoup passes.

    Args:
        weights: int64 ``(L, R, K)`` (one matrix per modulus, entries any integers; reduced mod
            q_l here) or ``(R, K)`` shared by every modulus (reduced per modulus).
        moduli: L odd moduli of at most 60 bits; the digit plan is computed for the largest.
        max_digits: the most data digits the plan may use (default 16).
        max_constant_digits: the most constant digits the plan may use (default 16; 1 = fast path only).

    Raises:
        ParameterError: bad moduli, or no digit plan keeps every GEMM output below 2^53.
        ShapeError: ``weights`` has the wrong rank or a limb count other than L.

    Attributes:
        plan: the :class:`DigitPlan` (D digits of d bits, E constant digits of e bits, the proven bound).
        moduli: the moduli, as a tuple of ints.
        planes: float64 ``(E, L, R, D*K)``, constant plane j (column ``i*K + k`` multiplies digit i of
            data row k).
        folded: ``planes[0]``, the fast path's single folded constant ``(L, R, D*K)`` (E = 1).
    """

    def __init__(
        self,
        weights: np.ndarray,
        moduli: list[int] | tuple[int, ...],
        max_digits: int = MAX_DIGITS,
        max_constant_digits: int = MAX_DIGITS,
    ) -> None:
        self.moduli = _check_moduli(moduli)
        matrix = np.asarray(weights)
        if matrix.ndim == 2:
            matrix = np.broadcast_to(matrix, (len(self.moduli), *matrix.shape))
        if matrix.ndim != 3 or matrix.shape[0] != len(self.moduli):
            raise ShapeError(f"weights must be (R, K) or (L={len(self.moduli)}, R, K); got shape {np.shape(weights)}")
        self.rows, self.terms = int(matrix.shape[1]), int(matrix.shape[2])
        largest = max(self.moduli)
        half = (largest - 1) // 2
        self.plan = plan_digits(half + INPUT_SLACK, half, self.terms, largest, max_digits, max_constant_digits)
        self._q = np.array(self.moduli, dtype=np.float64).reshape(-1, 1, 1)
        self._inverse_q = 1.0 / self._q
        self._half_q = np.array([(q - 1) // 2 for q in self.moduli], dtype=np.float64).reshape(-1, 1, 1)
        plan = self.plan
        planes = np.empty((plan.constant_digits, len(self.moduli), self.rows, plan.digits * self.terms))
        for limb, q in enumerate(self.moduli):
            reduced = _reduce_exact(matrix[limb], q)
            for i in range(plan.digits):
                folded = _centre((reduced * pow(2, plan.digit_bits * i, q)) % q, q)  # int64, |.| <= (q-1)/2
                block = slice(i * self.terms, (i + 1) * self.terms)
                if not plan.wide:
                    planes[0, limb, :, block] = folded
                    continue
                for j, part in enumerate(_int_digits(folded, plan.constant_digits, plan.constant_digit_bits)):
                    planes[j, limb, :, block] = part
        self.planes = planes
        # (L, R, D*K): column i*K + k multiplies digit i of data row k.
        self.folded = planes[0]
        self._folded_transposed: np.ndarray | None = None
        self._planes_transposed: np.ndarray | None = None
        # Also valid for E = 1 (factor 1; |G| <= bound <= 2^53): the NTT's wide mode may hold a fast plan.
        self._wide = _WideReduction(self.moduli, plan.constant_digits, plan.constant_digit_bits)

    @single_blas_thread
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
        if self.plan.wide:
            centred_int = self.centre_int(moved.reshape(limbs, self.terms, count * cols))
            wide_digits = split_digits_int(centred_int, self.plan, axis=1)
            residues = self.left_wide(wide_digits)
            out = residues.reshape(limbs, self.rows, count, cols).transpose(2, 0, 1, 3).astype(np.int64)
            return out.reshape(*batch, limbs, self.rows, cols)
        centred = centre_float(moved, self._q[..., None], self._half_q[..., None])
        digits = split_digits(centred, self.plan, axis=1).reshape(limbs, self.plan.digits * self.terms, count * cols)
        result = self.left(digits)
        np.add(result, self._q, out=result, where=result < 0)
        out = result.reshape(limbs, self.rows, count, cols).transpose(2, 0, 1, 3).astype(np.int64)
        return out.reshape(*batch, limbs, self.rows, cols)

    def left(self, digits: np.ndarray) -> np.ndarray:
        """Hot path (fast plans): ``folded @ digits`` then centred float Barrett.

        ``digits`` is float64 ``(L, D*K, M)`` from :func:`split_digits` (digit-major along axis 1);
        returns float64 ``(L, R, M)`` in ``[-(q-1)/2 - 2, (q-1)/2 + 2]``.
        """
        self._require_fast()
        return rint_reduce_centred(np.matmul(self.folded, digits), self._q, self._inverse_q)

    def right(self, digits: np.ndarray) -> np.ndarray:
        """Hot path (fast plans), transposed: ``digits @ folded^T``, i.e. ``(W @ Y^T)^T`` for data rows ``Y``.

        ``digits`` is float64 ``(L, M, D*K)`` (digit-major along the last axis); returns float64
        ``(L, M, R)`` centred residues.
        """
        self._require_fast()
        if self._folded_transposed is None:
            self._folded_transposed = np.ascontiguousarray(self.folded.transpose(0, 2, 1))
        return rint_reduce_centred(np.matmul(digits, self._folded_transposed), self._q, self._inverse_q)

    def left_wide(self, digits: np.ndarray) -> np.ndarray:
        """Wide plans (any plan, in fact): ``sum_j 2^(e*j) (planes[j] @ digits) mod q``.

        ``digits`` is float64 ``(L, D*K, M)`` from :func:`split_digits_int`; returns uint64
        ``(L, R, M)`` residues in ``[0, q_l)``.
        """
        return self._wide.combine([np.matmul(plane, digits) for plane in self.planes])

    def right_wide(self, digits: np.ndarray) -> np.ndarray:
        """Wide plans, transposed: ``digits @ planes[j]^T`` combined; ``(L, M, D*K)`` -> uint64 ``(L, M, R)``."""
        if self._planes_transposed is None:
            self._planes_transposed = np.ascontiguousarray(self.planes.transpose(0, 1, 3, 2))
        return self._wide.combine([np.matmul(digits, plane) for plane in self._planes_transposed])

    def centre_int(self, residues: np.ndarray) -> np.ndarray:
        """Integer residues ``(L, ., .)`` in ``[0, q_l)`` as balanced int64 (the wide path's input to :func:`split_digits_int`)."""
        return self._wide.centre(residues)

    def _require_fast(self) -> None:
        if self.plan.wide:
            raise ParameterError(
                f"this ModMatmul has a wide plan ({self.plan.constant_digits} constant digits): "
                "use left_wide/right_wide or apply"
            )


class _WideReduction:
    """Exact recombination of the E partial GEMMs of a wide plan, per limb, in uint64.

    ``G_j`` (float64 holding integers with ``|G_j| <= 2^53``) becomes ``G_j + M`` with
    ``M = q * ceil(2^53 / q)``, a non-negative int below ``2^54 + q``, congruent to ``G_j``; Shoup
    multiplication by ``c_j = 2^(e*j) mod q`` (companion ``floor(c_j * 2^64 / q)``) reduces it into
    ``[0, q)`` (valid for any uint64 input and q < 2^62), and the E results are added with one
    conditional subtraction each.  When every q exceeds 2^53 the first partial (factor 1) skips Shoup:
    ``G_0 + q`` where negative is already in ``[0, q)``.
    """

    def __init__(self, moduli: tuple[int, ...], constant_digits: int, constant_digit_bits: int) -> None:
        shape = (len(moduli), 1, 1)
        self.q = np.array(moduli, dtype=np.uint64).reshape(shape)
        self.q_signed = np.array(moduli, dtype=np.int64).reshape(shape)
        self.half = np.array([(q - 1) // 2 for q in moduli], dtype=np.int64).reshape(shape)
        # Every q above 2^53 (60-bit limbs): G_0 (factor 1) needs no Shoup pass, only a sign fix.
        self.skip_first = min(moduli) > FLOAT_EXACT_LIMIT
        self.offset = np.array([q * -(-FLOAT_EXACT_LIMIT // q) for q in moduli], dtype=np.int64).reshape(shape)
        factors = [[pow(2, constant_digit_bits * j, q) for q in moduli] for j in range(constant_digits)]
        self.factors = [np.array(row, dtype=np.uint64).reshape(shape) for row in factors]
        self.companions = [
            np.array([(c << 64) // q for c, q in zip(row, moduli, strict=True)], dtype=np.uint64).reshape(shape)
            for row in factors
        ]

    def centre(self, residues: np.ndarray) -> np.ndarray:
        """Integer residues in ``[0, q)`` (limb axis first, 3-D) as balanced int64 ``[-(q-1)/2, (q-1)/2]``."""
        values = np.array(residues, dtype=np.int64, order="C")
        np.subtract(values, self.q_signed, out=values, where=values > self.half)
        return values

    def combine(self, partials: list[np.ndarray]) -> np.ndarray:
        """uint64 ``sum_j c_j * G_j mod q`` in ``[0, q)`` for float64 partial products ``G_j`` (limb axis first)."""
        total: np.ndarray | None = None
        for index, (partial, factor, companion) in enumerate(zip(partials, self.factors, self.companions, strict=True)):
            shifted = partial.astype(np.int64)
            if index == 0 and self.skip_first:  # |G_0| <= 2^53 < q: one conditional + q reduces it
                np.add(shifted, self.q_signed, out=shifted, where=shifted < 0)
                total = shifted.view(np.uint64)
                continue
            shifted += self.offset
            term = shoup_multiply_uint64(shifted.view(np.uint64), factor, companion, self.q)
            if total is None:
                total = term
                continue
            total += term
            np.subtract(total, self.q, out=term)
            np.minimum(total, term, out=total)
        assert total is not None
        return total


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


def split_digits_int(values: np.ndarray, plan: DigitPlan, axis: int) -> np.ndarray:
    """Balanced digits of int64 integers ``values`` (any magnitude below 2^62), as float64 stacked digit-major.

    The wide path's split: a 60-bit residue is not exact in float64, so the digits are taken in
    int64, ``high = (x + 2^(d-1)) >> d`` (floor), ``digit = x - high * 2^d`` in ``[-2^(d-1), 2^(d-1))``,
    and only the small digits (within :func:`digit_bounds`) are converted to float64.
    """
    axis = axis % values.ndim
    shape = list(values.shape)
    out = np.empty([*shape[:axis], plan.digits, *shape[axis:]], dtype=np.float64)
    for index, part in enumerate(_int_digits(values, plan.digits, plan.digit_bits)):
        out[(slice(None),) * axis + (index,)] = part
    shape[axis] *= plan.digits
    return out.reshape(shape)


def _int_digits(values: np.ndarray, digits: int, bits: int) -> list[np.ndarray]:
    """Balanced int64 digits of int64 ``values``, low first (the top digit takes the rest)."""
    rest = np.asarray(values, dtype=np.int64)
    half, shift = np.int64(1 << (bits - 1)), np.int64(bits)
    parts = []
    for _ in range(digits - 1):
        high = np.right_shift(rest + half, shift)
        parts.append(rest - np.left_shift(high, shift))
        rest = high
    parts.append(rest)
    return parts


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
