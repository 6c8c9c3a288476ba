"""Hostile-but-finite inputs (issue 12): every rule stays finite and inside its range for any finite rows.

Findings 1 and 2 (Krum picking a row near 1e308, Flag crashing on one 1e155 row) and the class they belong
to: rows mixing magnitudes from subnormals to 1e308, both signs, for every registered rule at the limit of
its precondition on n and f.  The oracle of a row's norm is ``math.hypot`` (exact to an ulp, no overflow
before the result itself does).
"""

from __future__ import annotations

import fractions
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from securecompute.errors import ParameterError
from securecompute.federated.aggregators import AGGREGATORS, get_aggregator
from securecompute.federated.simulation import run_byzantine

LIMIT = settings(derandomize=True, max_examples=40, deadline=None)
RULES = sorted(AGGREGATORS) + [f"nnm+{name}" for name in sorted(AGGREGATORS)]


def honest_rows(n: int, d: int, seed: int = 0) -> np.ndarray:
    return 1.0 + 0.01 * np.random.default_rng(seed).normal(size=(n, d))


def build(name: str, f: int) -> Any:
    """The rule with f (where it takes f) and Flag's m = 1 (m <= d for every d drawn)."""
    params: dict[str, Any] = {}
    base = name.removeprefix("nnm+")
    if name.startswith("nnm+") or base in ("trimmed_mean", "meamed", "phocas", "krum", "multi_krum", "bulyan"):
        params["f"] = f
    if base == "flag":
        params["m"] = 1
    return get_aggregator(name, **params)


def workers_at_the_limit(name: str, f: int) -> int:
    """The smallest n the rule accepts for f Byzantine workers."""
    base = name.removeprefix("nnm+")
    if base == "bulyan":
        return 4 * f + 3
    if base in ("krum", "multi_krum"):
        return 2 * f + 3
    return 2 * f + 1


def norm_overflows(row: np.ndarray) -> bool:
    try:
        return math.isinf(math.hypot(*row.tolist()))
    except OverflowError:
        return True


@pytest.mark.parametrize("name", ["krum", "nnm+krum", "multi_krum", "bulyan"])
def test_krum_never_selects_a_huge_finite_row(name: str) -> None:
    """Finding 1: with entries of 5e307 (norms finite, honest-attacker inner products not) the Gram trick gave
    inf - inf = NaN scores and argmin picked the attacker; now the output stays within Krum's bound."""
    honest = honest_rows(9, 10)
    rows = np.vstack([honest, np.full((2, 10), 5e307)])
    f = 1 if name == "bulyan" else 2
    result = build(name, f)(rows if name != "bulyan" else rows[:7])
    diameter = max(np.linalg.norm(a - b) for a in honest for b in honest)
    assert np.isfinite(result).all()
    assert np.linalg.norm(result - honest.mean(axis=0)) <= (math.sqrt(11 - f - 2) + 1) * diameter


def test_rows_whose_norm_overflows_are_refused_by_name_like_nan_rows() -> None:
    """Ten entries of 1e308 are finite, but their norm is not: every rule refuses them (the server drops them)."""
    rows = np.vstack([honest_rows(9, 10), np.full((2, 10), 1e308)])
    with pytest.raises(ParameterError, match=r"row\(s\) \[9, 10\] have a Euclidean norm beyond float64"):
        get_aggregator("krum", f=2)(rows)


@pytest.mark.parametrize("count", [1, 2])
def test_rows_of_1e155_no_longer_crash_flag(count: int) -> None:
    """Finding 2: squared norms of 1e155 rows overflowed, 0 * inf = NaN reached eigh (LinAlgError)."""
    rows = np.vstack([honest_rows(15 - count, 10), np.full((count, 10), 1e155)])
    for rule in (get_aggregator("flag", m=2), get_aggregator("flag", m=2, rescale=True, iterations=5)):
        result = rule(rows)
        assert np.isfinite(result).all()
        if rule.rescale:  # the output's length is the median row norm (an honest one: 13+ of 15 rows are)
            assert np.linalg.norm(result) == pytest.approx(np.median([math.hypot(*row) for row in rows]), rel=1e-12)
        else:
            assert np.linalg.norm(result) <= 15 / 2 * (1 + 1e-9)


@pytest.mark.parametrize(("aggregator", "low"), [("flag", 1e155), ("nnm+flag", 1e155), ("median", 1.6e307)])
def test_simulation_with_huge_uniform_attack_runs_and_drops_overflowing_rows(aggregator: str, low: float) -> None:
    """Finding 2 end to end: ``random_uniform`` at 1e155 ran the default rule into LinAlgError; at 1.6e307 per
    entry (d = 650) the rows' norms overflow, so the server drops and counts them like NaN rows."""
    history = run_byzantine(
        aggregator,
        "random_uniform",
        workers=7,
        byzantine=2,
        steps=3,
        seed=0,
        attack_params={"low": low, "high": 2 * low},
    )
    assert all(np.isfinite(history.accuracy))
    assert history.dropped == ([2, 2, 2] if low > 1e300 else [0, 0, 0])


@pytest.mark.parametrize("name", RULES)
@LIMIT
@given(data=st.data())
def test_every_rule_is_finite_and_in_range_on_any_finite_magnitudes(name: str, data: st.DataObject) -> None:
    """The class: rows mixing 0, subnormals and 1e-300..1e308 of both signs, n and f at the precondition limit.

    The rule refuses with ParameterError exactly when some row's norm overflows float64 (the server drops
    such rows first); otherwise it returns a finite (d,) vector that lies, per coordinate, within the rows' range
    (with 0 added for centered clipping, whose centre starts there); Flag's output has norm <= n/m.
    """
    f = data.draw(st.integers(0, 2), label="f")
    n = workers_at_the_limit(name, f)
    d = data.draw(st.integers(1, 4), label="d")
    magnitude = st.one_of(
        st.just(0.0),
        st.floats(5e-324, 2.2e-308),  # subnormals
        st.floats(-300, 308.25).map(lambda exponent: 10.0**exponent),
        st.floats(154, 155).map(lambda exponent: 10.0**exponent),  # squares overflow
        st.floats(307, 308.25).map(lambda exponent: 10.0**exponent),  # sums and differences overflow too
    )
    entry = st.tuples(magnitude, st.booleans()).map(lambda pair: -pair[0] if pair[1] else pair[0])
    rows = np.array(data.draw(st.lists(st.lists(entry, min_size=d, max_size=d), min_size=n, max_size=n)))
    rule = build(name, f)
    if any(norm_overflows(row) for row in rows):
        with pytest.raises(ParameterError, match="norm beyond float64"):
            rule(rows)
        return
    result = rule(rows)
    assert result.shape == (d,)
    assert np.isfinite(result).all()
    if name.endswith("flag"):
        assert np.linalg.norm(result) <= n * (1 + 1e-9)
        return
    low, high = rows.min(axis=0), rows.max(axis=0)
    if name.endswith("centered_clipping"):
        low, high = np.minimum(low, 0.0), np.maximum(high, 0.0)
    slack = 1e-9 * np.abs(rows).max() + 1e-300
    assert (result >= low - slack).all()
    assert (result <= high + slack).all()


def test_scaling_leaves_ordinary_inputs_bit_for_bit_unchanged() -> None:
    """The power-of-two scaling is exact: a rule on 2**k X equals 2**k times the rule on X."""
    rows = np.random.default_rng(3).normal(size=(11, 6))
    for name in ("krum", "multi_krum", "median", "nnm+trimmed_mean", "bulyan"):
        f = 2 if name != "bulyan" else 1
        base = build(name, f)(rows)
        assert np.array_equal(build(name, f)(np.ldexp(rows, 900)), np.ldexp(base, 900)), name


def smoothed_weiszfeld(rows: np.ndarray, nu: float, max_iter: int, tol: float) -> np.ndarray:
    """The geometric median as written before scaling existed (the oracle for ordinary inputs)."""
    estimate = np.median(rows, axis=0)
    for _ in range(max_iter):
        weights = 1.0 / np.maximum(np.linalg.norm(rows - estimate, axis=1), nu)
        following = (weights @ rows) / weights.sum()
        step = float(np.linalg.norm(following - estimate))
        estimate = following
        if step <= tol * (1.0 + float(np.linalg.norm(estimate))):
            break
    return np.asarray(estimate)


@pytest.mark.parametrize("scale", [1e-6, 1.0, 1e3, 1e100])
def test_geometric_median_on_ordinary_input_is_the_unscaled_weiszfeld_bit_for_bit(scale: float) -> None:
    """Review: the overflow guard (weights divided by their largest value) changed ordinary results in the
    last bits; it now applies only where 1/nu-weighted sums could overflow."""
    rows = np.random.default_rng(5).normal(size=(9, 7)) * scale
    for nu, max_iter, tol in ((1e-6, 100, 1e-7), (1e-3, 7, 0.0)):
        result = get_aggregator("geometric_median", nu=nu, max_iter=max_iter, tol=tol)(rows)
        assert np.array_equal(result, smoothed_weiszfeld(rows, nu, max_iter, tol))
    tiny = get_aggregator("geometric_median", nu=1e-320)(rows)  # 1/nu overflows: the normalised weights
    assert np.isfinite(tiny).all()
    np.testing.assert_allclose(tiny, smoothed_weiszfeld(rows, 1e-300, 100, 1e-7), rtol=1e-6)


@pytest.mark.parametrize(
    "updates",
    [
        [[10**400, 1.0], [1.0, 2.0], [3.0, 4.0]],  # a Python int beyond float64: was a bare OverflowError
        [[fractions.Fraction(10**400, 3), 1.0], [1.0, 2.0], [3.0, 4.0]],
        np.ones((3, 2)) * (1 + 1j),  # was cast to its real part with only a ComplexWarning
        [["1", "2"], ["3", "4"], ["5", "6"]],  # text was parsed as numbers
    ],
    ids=["huge-int", "huge-fraction", "complex", "text"],
)
def test_inputs_that_are_not_float64_reals_are_refused_by_name(updates: Any) -> None:
    """Review: as_updates let OverflowError escape and turned complex or text input into numbers."""
    for name in ("mean", "krum", "flag", "centered_clipping"):
        rule = (
            get_aggregator(name, f=0)
            if name == "krum"
            else get_aggregator(name, m=1)
            if name == "flag"
            else get_aggregator(name)
        )
        with pytest.raises(ParameterError, match="real numbers"):
            rule(updates)


def test_flag_refuses_a_regulariser_weight_whose_squares_overflow() -> None:
    """Review: lam = 1e300 passed the constructor, then eigh raised a bare LinAlgError on every input."""
    with pytest.raises(ParameterError, match="lam <= 1e\\+100"):
        get_aggregator("flag", m=1, lam=1e300)
    rows = np.random.default_rng(3).normal(size=(7, 4))
    assert np.isfinite(get_aggregator("flag", m=1, lam=1e100)(rows)).all()
