"""Input checks shared by the aggregators and the attacks (private)."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from securecompute.errors import ParameterError, ShapeError

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def as_updates(updates: npt.ArrayLike, what: str = "updates") -> FloatArray:
    """Return ``updates`` as an ``(n, d)`` float64 array with n, d >= 1, finite entries and finite row norms.

    Raises:
        ShapeError: not two-dimensional, or an axis of length zero.
        ParameterError: a NaN or infinite entry, a row whose Euclidean norm exceeds the largest float64
            (about 1.8e308, e.g. ten entries of 1e308), or entries that are not real numbers.
    """
    refusal = f"{what} must be an (n, d) array of real numbers, got {type(updates).__name__}"
    try:
        raw = np.asarray(updates)
    except (TypeError, ValueError) as error:  # ragged rows
        raise ParameterError(refusal) from error
    # complex would lose its imaginary part silently, text would be parsed: neither is a real number
    if raw.dtype.kind not in "biufO":
        raise ParameterError(f"{refusal} of dtype {raw.dtype}")
    try:
        with np.errstate(over="ignore"):  # a longdouble beyond float64 becomes inf, refused below
            array = raw.astype(np.float64, copy=False)
    except (TypeError, ValueError, OverflowError) as error:  # OverflowError: an int or Fraction beyond float64
        raise ParameterError(refusal) from error
    if array.ndim != 2:
        raise ShapeError(f"{what} must be an (n, d) array (one row per worker), got shape {array.shape}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ShapeError(f"{what} must have at least one row and one column, got shape {array.shape}")
    if not np.isfinite(array).all():
        rows = np.flatnonzero(~np.isfinite(array).all(axis=1))
        raise ParameterError(
            f"{what} must be finite, got NaN or inf in row(s) {rows[:10].tolist()}; treat such workers as Byzantine first"
        )
    # sqrt(d) * 2**e bounds every row norm: only inputs near the top of float64 need the row-wise pass
    if 2 * scale_exponent(array) + math.log2(array.shape[1]) < 2040:
        return array
    norms = row_norms(array)
    if not np.isfinite(norms).all():
        rows = np.flatnonzero(~np.isfinite(norms))
        raise ParameterError(
            f"{what} row(s) {rows[:10].tolist()} have a Euclidean norm beyond float64 (about 1.8e308); "
            "treat such workers as Byzantine first, like NaN/inf rows"
        )
    return array


def usable_rows(updates: FloatArray) -> BoolArray:
    """``(n,)`` mask of the rows of an ``(n, d)`` array that every rule accepts: finite entries, finite norm.

    The server drops (and counts) the other rows before it calls a rule, as it does NaN rows.
    """
    with np.errstate(invalid="ignore"):
        return np.asarray(np.isfinite(row_norms(updates)), dtype=np.bool_)


def row_norms(updates: FloatArray) -> FloatArray:
    """Euclidean norm of each row ``(n,)``, inf only when it exceeds the largest float64 (NaN for a NaN row)."""
    exponents, scaled_norms = row_scales(updates)
    with np.errstate(over="ignore"):
        return np.asarray(np.ldexp(scaled_norms, exponents), dtype=np.float64)


def row_scales(updates: FloatArray) -> tuple[npt.NDArray[np.int32], FloatArray]:
    """Per row, the exponent e_i with every |entry| below 2**e_i, and the norm of the row times 2**-e_i.

    The scaling is exact (a power of two) and leaves the largest entry in [0.5, 1), so no square
    overflows; the scaled norms lie in [0.5, sqrt(d)) (0 for a zero row).  The input is read in column
    blocks, never copied whole.
    """
    n, d = updates.shape
    peaks = np.zeros(n)
    for columns in column_blocks(d):
        peaks = np.maximum(peaks, np.abs(updates[:, columns]).max(axis=1))
    _, exponents = np.frexp(peaks)
    squares = np.zeros(n)
    for columns in column_blocks(d):
        block = np.ldexp(updates[:, columns], -exponents[:, None])
        squares += np.einsum("ij,ij->i", block, block)
    return exponents, np.sqrt(squares)


def unit_block(
    updates: FloatArray, columns: slice, exponents: npt.NDArray[np.int32], scaled_norms: FloatArray
) -> FloatArray:
    """Columns ``columns`` of the unit rows g_i / ||g_i|| ``(n, len)`` from :func:`row_scales` (zero rows stay zero)."""
    block = np.ldexp(updates[:, columns], -exponents[:, None])
    return np.divide(block, scaled_norms[:, None], out=np.zeros_like(block), where=scaled_norms[:, None] > 0)


COLUMN_BLOCK = 1 << 15
"""Columns read at a time by the row-wise passes (15 rows x 32768 x 8 bytes: 4 MB)."""


def column_blocks(d: int) -> list[slice]:
    """Slices of at most :data:`COLUMN_BLOCK` columns covering 0..d-1 (bounds the memory of row-wise passes)."""
    return [slice(start, min(start + COLUMN_BLOCK, d)) for start in range(0, d, COLUMN_BLOCK)]


def scale_exponent(*arrays: FloatArray) -> int:
    """The e with every |entry| of ``arrays`` below 2**e (0 when all are zero): the frexp exponent of the peak."""
    peak = max((max(-float(array.min()), float(array.max())) for array in arrays if array.size), default=0.0)
    return int(np.frexp(peak)[1])


def unit_exponent(updates: FloatArray) -> int:
    """The e by which :func:`at_unit_scale` divides ``updates`` (as 2**e): 0 when no square can overflow or vanish.

    Scaling is needed when the largest magnitude 2**e is so large that a sum of 4 n d squares could
    overflow, or so small (below 2**-400) that squares underflow.
    """
    exponent = scale_exponent(updates)
    n, d = updates.shape
    if exponent > -400 and 2 * exponent + math.log2(4.0 * n * d) < 1000:
        return 0
    return exponent


def at_unit_scale(rule: Callable[[FloatArray], FloatArray], updates: FloatArray) -> FloatArray:
    """``rule(updates)`` for a rule with rule(c X) = c rule(X) (c > 0) whose output lies in the input's column ranges.

    The rule runs on ``updates * 2**-e`` with e from :func:`unit_exponent` (exact; when e != 0 every
    entry is below 1 in magnitude, so no square, sum or difference overflows) and its output is scaled
    back, clipped to the column ranges (a no-op up to rounding) so that it is finite for every finite
    input; with e = 0 it runs on ``updates`` as they are (no copy, the same numbers as before scaling existed).  Scaled, entries
    more than 2**1022 times smaller than the largest lose precision (subnormal) and those 2**1074 times
    smaller become zero.
    """
    exponent = unit_exponent(updates)
    if exponent == 0:
        return np.asarray(rule(updates), dtype=np.float64)  # nothing can overflow at this scale
    unit = np.ldexp(updates, -exponent)
    result = np.clip(rule(unit), unit.min(axis=0), unit.max(axis=0))
    return np.asarray(np.ldexp(result, exponent), dtype=np.float64)


def check_int(name: str, value: object, minimum: int) -> int:
    """Return ``value`` as an int if it is an integer (not bool) at least ``minimum``, else raise ParameterError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < minimum:
        raise ParameterError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_positive(name: str, value: object, allow_zero: bool = False) -> float:
    """Return ``value`` as a float if it is a finite real > 0 (>= 0 with ``allow_zero``), else raise ParameterError."""
    bound = ">= 0" if allow_zero else "> 0"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ParameterError(f"{name} must be a finite real {bound}, got {value!r}")
    number = float(value)
    if not np.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
        raise ParameterError(f"{name} must be a finite real {bound}, got {value!r}")
    return number


def check_minority(rule: str, n: int, f: int) -> None:
    """Raise ParameterError unless f < n/2 (a Byzantine minority), naming the rule and both numbers."""
    if 2 * f >= n:
        raise ParameterError(f"{rule} needs f < n/2, got f={f} with n={n} workers")
