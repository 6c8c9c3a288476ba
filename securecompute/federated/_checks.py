"""Input checks shared by the aggregators and the attacks (private)."""

from __future__ import annotations

import numbers

import numpy as np
import numpy.typing as npt

from securecompute.errors import ParameterError, ShapeError

FloatArray = npt.NDArray[np.float64]


def as_updates(updates: npt.ArrayLike, what: str = "updates") -> FloatArray:
    """Return ``updates`` as an ``(n, d)`` float64 array with n, d >= 1 and only finite entries.

    Raises:
        ShapeError: not two-dimensional, or an axis of length zero.
        ParameterError: a NaN or infinite entry, or entries that are not real numbers.
    """
    try:
        array = np.asarray(updates, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ParameterError(f"{what} must be an (n, d) array of real numbers, got {type(updates).__name__}") from error
    if array.ndim != 2:
        raise ShapeError(f"{what} must be an (n, d) array (one row per worker), got shape {array.shape}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ShapeError(f"{what} must have at least one row and one column, got shape {array.shape}")
    if not np.isfinite(array).all():
        rows = np.flatnonzero(~np.isfinite(array).all(axis=1))
        raise ParameterError(
            f"{what} must be finite, got NaN or inf in row(s) {rows[:10].tolist()}; treat such workers as Byzantine first"
        )
    return array


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
