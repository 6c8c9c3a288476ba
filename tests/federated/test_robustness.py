"""Robustness: with f arbitrary Byzantine rows, each rule stays within its guaranteed distance of the honest mean.

The honest rows lie in [-10, 10]^d; the Byzantine rows are anywhere in [-1e6, 1e6]^d, either independent or
all placed at one point (the strongest placement against distance-based rules).  Notation in the bounds:
mu = honest mean, rho = max_i ||x_i - mu||, D = honest diameter, [lo, hi] and w = hi - lo the honest range of
one coordinate, h = n - f honest rows.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from securecompute.federated.aggregators import get_aggregator

FloatArray = np.ndarray[Any, np.dtype[np.float64]]
ROBUST = settings(derandomize=True, max_examples=60, deadline=None)
SLACK = 1e-7


@st.composite
def attacked(draw: st.DrawFn, minimum_n: Any) -> tuple[FloatArray, FloatArray, int]:
    """(honest (h, d), all rows (n, d) with the Byzantine rows spliced in at random places, f)."""
    f = draw(st.integers(1, 3))
    n = draw(st.integers(minimum_n(f), minimum_n(f) + 3))
    d = draw(st.integers(1, 4))
    honest = draw(arrays(np.float64, (n - f, d), elements=st.floats(-10, 10)))
    far = st.floats(-1e6, 1e6)
    if draw(st.booleans()):
        byzantine = draw(arrays(np.float64, (f, d), elements=far))
    else:
        byzantine = np.tile(draw(arrays(np.float64, (1, d), elements=far)), (f, 1))
    order = draw(st.permutations(range(n)))
    rows = np.concatenate([honest, byzantine])[list(order)]
    return honest, rows, f


def majority(f: int) -> int:
    return 2 * f + 1


def krum_size(f: int) -> int:
    return 2 * f + 3


def bulyan_size(f: int) -> int:
    return 4 * f + 3


def honest_diameter(honest: FloatArray) -> float:
    return max((float(np.linalg.norm(a - b)) for a, b in itertools.combinations(honest, 2)), default=0.0)


def within_honest_range(result: FloatArray, honest: FloatArray, widen: float) -> bool:
    low, high = honest.min(axis=0), honest.max(axis=0)
    width = (high - low) * widen
    return bool(np.all(result >= low - width - SLACK) and np.all(result <= high + width + SLACK))


@ROBUST
@given(attacked(majority))
def test_median_stays_in_the_honest_range(case: tuple[FloatArray, FloatArray, int]) -> None:
    honest, rows, _ = case
    assert within_honest_range(get_aggregator("median")(rows), honest, widen=0.0)


@ROBUST
@given(attacked(majority))
def test_trimmed_mean_stays_in_the_honest_range(case: tuple[FloatArray, FloatArray, int]) -> None:
    honest, rows, f = case
    assert within_honest_range(get_aggregator("trimmed_mean", f=f)(rows), honest, widen=0.0)


@ROBUST
@given(attacked(majority))
def test_meamed_stays_within_one_honest_width_of_the_range(case: tuple[FloatArray, FloatArray, int]) -> None:
    honest, rows, f = case
    assert within_honest_range(get_aggregator("meamed", f=f)(rows), honest, widen=1.0)


@ROBUST
@given(attacked(majority))
def test_phocas_stays_within_one_honest_width_of_the_range(case: tuple[FloatArray, FloatArray, int]) -> None:
    honest, rows, f = case
    assert within_honest_range(get_aggregator("phocas", f=f)(rows), honest, widen=1.0)


@ROBUST
@given(attacked(bulyan_size))
def test_bulyan_stays_within_one_honest_width_of_the_range(case: tuple[FloatArray, FloatArray, int]) -> None:
    # The median of the theta selected values is in [lo, hi]; beta of them are honest, so the beta closest
    # ones are within w of it.
    honest, rows, f = case
    assert within_honest_range(get_aggregator("bulyan", f=f)(rows), honest, widen=1.0)


@ROBUST
@given(attacked(krum_size))
def test_krum_stays_near_the_honest_mean(case: tuple[FloatArray, FloatArray, int]) -> None:
    # An honest row scores at most (n - f - 2) D^2; the chosen row has at least n - 2f - 1 >= 2 honest rows
    # among its neighbours, each within sqrt(n - f - 2) D of it, so it is within (sqrt(n - f - 2) + 1) D of mu.
    honest, rows, f = case
    n = rows.shape[0]
    bound = (math.sqrt(n - f - 2) + 1) * honest_diameter(honest)
    assert np.linalg.norm(get_aggregator("krum", f=f)(rows) - honest.mean(axis=0)) <= bound + 1e-6


@ROBUST
@given(attacked(krum_size))
def test_multi_krum_stays_near_the_honest_mean(case: tuple[FloatArray, FloatArray, int]) -> None:
    # With m <= n - f every selected row scores below some honest row, so the Krum bound holds for each.
    honest, rows, f = case
    n = rows.shape[0]
    bound = (math.sqrt(n - f - 2) + 1) * honest_diameter(honest)
    assert np.linalg.norm(get_aggregator("multi_krum", f=f)(rows) - honest.mean(axis=0)) <= bound + 1e-6


@ROBUST
@given(attacked(majority))
def test_geometric_median_stays_near_the_honest_mean(case: tuple[FloatArray, FloatArray, int]) -> None:
    # Comparing the sum of distances at the minimiser and at mu gives (h - f) ||z - mu|| <= 2 h rho.
    honest, rows, f = case
    h = honest.shape[0]
    mean = honest.mean(axis=0)
    rho = float(np.max(np.linalg.norm(honest - mean, axis=1)))
    result = get_aggregator("geometric_median", max_iter=1000, tol=1e-12)(rows)
    assert np.linalg.norm(result - mean) <= 2 * h * rho / (h - f) + 1e-4


@ROBUST
@given(attacked(majority), st.integers(1, 6))
def test_centered_clipping_obeys_its_contraction_bound(case: tuple[FloatArray, FloatArray, int], steps: int) -> None:
    # With tau >= (||mu|| + rho)(n - f)/(n - 2f) the honest rows are never clipped (starting from centre 0), and
    # each step gives e' <= (f/n) e + f tau / n, hence e_L <= (f/n)^L ||mu|| + f tau / (n - f).
    honest, rows, f = case
    n = rows.shape[0]
    mean = honest.mean(axis=0)
    rho = float(np.max(np.linalg.norm(honest - mean, axis=1)))
    start = float(np.linalg.norm(mean))
    tau = (start + rho) * (n - f) / (n - 2 * f) + 1e-3
    result = get_aggregator("centered_clipping", tau=tau, iterations=steps)(rows)
    bound = (f / n) ** steps * start + f * tau / (n - f)
    assert np.linalg.norm(result - mean) <= bound + 1e-6


@ROBUST
@given(attacked(majority), st.sampled_from(["trimmed_mean", "median"]))
def test_nnm_then_coordinate_rule_stays_near_the_honest_mean(
    case: tuple[FloatArray, FloatArray, int], rule: str
) -> None:
    # Each honest row's n - f nearest rows are within D of it, so its mixed row is within D + rho of mu; the
    # coordinate-wise rule then stays within the mixed honest range.
    honest, rows, f = case
    mean = honest.mean(axis=0)
    rho = float(np.max(np.linalg.norm(honest - mean, axis=1)))
    result = get_aggregator(f"nnm+{rule}", f=f)(rows)
    assert np.max(np.abs(result - mean)) <= honest_diameter(honest) + rho + 1e-6


def test_the_plain_mean_is_not_robust() -> None:
    honest = np.zeros((6, 2))
    rows = np.concatenate([honest, [[1e6, 1e6]]])
    assert np.linalg.norm(get_aggregator("mean")(rows)) > 1e5
