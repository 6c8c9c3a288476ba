"""Each aggregation rule on small cases worked by hand, plus its parameter, shape and registry errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from securecompute.errors import ParameterError, ShapeError
from securecompute.federated.aggregators import AGGREGATORS, NearestNeighbourMixing, get_aggregator

# Five points of the plane; squared distances: p0-p1 = p0-p2 = 1, p1-p2 = 2, p1-p3 = p2-p3 = 5, p0-p3 = 8,
# p3-p4 = 128, p1-p4 = p2-p4 = 181, p0-p4 = 200.  With f = 1 Krum sums the n - f - 2 = 2 nearest others:
# scores p0 = 2, p1 = p2 = 1 + 2 = 3, p3 = 5 + 5 = 10, p4 = 128 + 181 = 309.
KRUM_POINTS = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [2.0, 2.0], [10.0, 10.0]])

# Column 0 is 0, 4, 5, 9, 10.5 (f = 1).  MeaMed: median 5, distances 5, 1, 0, 4, 5.5, keep the 4 closest
# (drop 10.5): (0 + 4 + 5 + 9) / 4 = 4.5.  Phocas: trimmed mean (4 + 5 + 9) / 3 = 6, distances 6, 2, 1, 3, 4.5,
# drop 0: (4 + 5 + 9 + 10.5) / 4 = 7.125.  Column 1 is constant 1.
SKEWED = np.array([[0.0, 1.0], [4.0, 1.0], [5.0, 1.0], [9.0, 1.0], [10.5, 1.0]])


def test_mean_averages_rows() -> None:
    assert np.allclose(get_aggregator("mean")([[1, 2], [3, 4], [5, 9]]), [3, 5])


def test_median_is_coordinate_wise() -> None:
    assert np.allclose(get_aggregator("median")([[1, 5], [2, 0], [10, 3]]), [2, 3])


def test_median_of_even_count_averages_the_middle_pair() -> None:
    assert np.allclose(get_aggregator("median")([[1], [2], [3], [10]]), [2.5])


def test_trimmed_mean_drops_f_from_each_end_per_coordinate() -> None:
    # column 0 sorted 1, 2, 4, 10 -> (2 + 4) / 2; column 1 sorted 0, 3, 5, 100 -> (3 + 5) / 2
    assert np.allclose(get_aggregator("trimmed_mean", f=1)([[1, 5], [2, 0], [10, 3], [4, 100]]), [3, 4])


def test_meamed_keeps_values_closest_to_the_median() -> None:
    assert np.allclose(get_aggregator("meamed", f=1)(SKEWED), [4.5, 1.0])


def test_phocas_keeps_values_closest_to_the_trimmed_mean() -> None:
    assert np.allclose(get_aggregator("phocas", f=1)(SKEWED), [7.125, 1.0])


def test_krum_returns_the_row_of_lowest_score() -> None:
    assert np.array_equal(get_aggregator("krum", f=1)(KRUM_POINTS), [0.0, 0.0])


def test_multi_krum_averages_the_m_lowest_scores() -> None:
    assert np.allclose(get_aggregator("multi_krum", f=1, m=3)(KRUM_POINTS), [1 / 3, 1 / 3])


def test_multi_krum_defaults_to_n_minus_f_rows() -> None:
    # p0..p3: (0 + 1 + 0 + 2) / 4 in each coordinate
    assert np.allclose(get_aggregator("multi_krum", f=1)(KRUM_POINTS), [0.75, 0.75])


def test_geometric_median_of_an_equilateral_triangle_is_its_centre() -> None:
    # The coordinate median (1, 0) is not the answer; Weiszfeld must move to the centroid (1, 1/sqrt 3).
    triangle = [[0.0, 0.0], [2.0, 0.0], [1.0, math.sqrt(3.0)]]
    result = get_aggregator("geometric_median", nu=1e-9, tol=1e-12, max_iter=500)(triangle)
    assert np.allclose(result, [1.0, 1 / math.sqrt(3.0)], atol=1e-7)


def test_geometric_median_of_collinear_points_is_the_middle_one() -> None:
    assert np.allclose(get_aggregator("geometric_median")([[0.0], [1.0], [10.0]]), [1.0], atol=1e-6)


def test_centered_clipping_clips_offsets_to_tau() -> None:
    # From centre 0: (3, 4) has norm 5 and becomes (0.6, 0.8); (0, 0.5) is inside tau = 1; mean (0.3, 0.65).
    rule = get_aggregator("centered_clipping", tau=1.0, iterations=1)
    assert np.allclose(rule([[3.0, 4.0], [0.0, 0.5]]), [0.3, 0.65])


def test_centered_clipping_carries_its_centre_to_the_next_call() -> None:
    rule = get_aggregator("centered_clipping", tau=1.0, iterations=1)
    rows = np.array([[3.0, 4.0], [0.0, 0.5]])
    first = rule(rows)
    offsets = rows - first
    clipped = offsets * np.minimum(1.0, 1.0 / np.linalg.norm(offsets, axis=1))[:, None]
    assert np.allclose(rule(rows), first + clipped.mean(axis=0))


def test_centered_clipping_reset_starts_again_from_zero() -> None:
    rule = get_aggregator("centered_clipping", tau=1.0, iterations=1)
    first = rule([[3.0, 4.0], [0.0, 0.5]])
    rule([[3.0, 4.0], [0.0, 0.5]])
    rule.reset()  # type: ignore[attr-defined]
    assert np.allclose(rule([[3.0, 4.0], [0.0, 0.5]]), first)


def test_centered_clipping_refuses_a_new_dimension_without_reset() -> None:
    rule = get_aggregator("centered_clipping")
    rule([[1.0, 2.0]])
    with pytest.raises(ShapeError, match="length 2"):
        rule([[1.0, 2.0, 3.0]])


def test_bulyan_selects_by_repeated_krum_then_averages_around_the_median() -> None:
    # n = 7, f = 1: repeated Krum (n - f - 2 neighbours in the shrinking pool) picks 2, 3, 1, 4, 0 and never
    # 100; theta = 5, beta = 3: the values closest to the median 2 are 2, 1, 3, mean 2.
    column = np.array([[0.0], [1.0], [2.0], [3.0], [4.0], [5.0], [100.0]])
    assert np.allclose(get_aggregator("bulyan", f=1)(column), [2.0])


def test_nnm_replaces_each_row_by_its_nearest_neighbours_mean() -> None:
    # f = 1, n = 3: each row averages itself and its nearest other row.
    mixed = NearestNeighbourMixing(f=1).mix(np.array([[0.0], [1.0], [10.0]]))
    assert np.allclose(mixed, [[0.5], [0.5], [5.5]])


def test_nnm_composes_with_a_rule_that_takes_f() -> None:
    assert np.allclose(get_aggregator("nnm+trimmed_mean", f=1)([[0.0], [1.0], [10.0]]), [0.5])


def test_nnm_composes_with_a_rule_without_f() -> None:
    assert np.allclose(get_aggregator("nnm+mean", f=1)([[0.0], [1.0], [10.0]]), [6.5 / 3])


def test_composite_passes_other_parameters_to_the_rule() -> None:
    rule = get_aggregator("nnm+multi_krum", f=1, m=2)
    assert rule.rule.m == 2  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("name", "params", "n", "message"),
    [
        ("krum", {"f": 1}, 4, r"n >= 2f \+ 3 = 5 workers for f=1, got n=4"),
        ("multi_krum", {"f": 2}, 6, r"n >= 2f \+ 3 = 7 workers for f=2, got n=6"),
        ("multi_krum", {"f": 1, "m": 6}, 5, "m <= n, got m=6 with n=5"),
        ("bulyan", {"f": 1}, 6, r"n >= 4f \+ 3 = 7 workers for f=1, got n=6"),
        ("trimmed_mean", {"f": 2}, 4, "f < n/2, got f=2 with n=4"),
        ("meamed", {"f": 3}, 5, "f < n/2, got f=3 with n=5"),
        ("phocas", {"f": 1}, 2, "f < n/2, got f=1 with n=2"),
        ("nnm+mean", {"f": 2}, 4, "f < n/2, got f=2 with n=4"),
        ("nnm+krum", {"f": 1}, 4, r"n >= 2f \+ 3 = 5"),
        ("flag", {"m": 4}, 5, "m <= d, got m=4 with d=3"),
    ],
)
def test_precondition_is_refused_with_the_numbers(name: str, params: dict[str, int], n: int, message: str) -> None:
    rule = get_aggregator(name, **params)
    with pytest.raises(ParameterError, match=message):
        rule(np.ones((n, 3)))


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("trimmed_mean", {"f": -1}),
        ("krum", {"f": 1.5}),
        ("bulyan", {"f": True}),
        ("multi_krum", {"f": 1, "m": 0}),
        ("geometric_median", {"nu": 0.0}),
        ("geometric_median", {"max_iter": 0}),
        ("geometric_median", {"tol": -1.0}),
        ("centered_clipping", {"tau": -1.0}),
        ("centered_clipping", {"iterations": 0}),
        ("flag", {"m": 0}),
        ("flag", {"lam": -0.5}),
        ("flag", {"lam": math.nan}),
        ("flag", {"iterations": 0}),
        ("flag", {"rescale": "yes"}),
        ("flag", {"seed": -1}),
    ],
)
def test_bad_parameter_is_refused_when_built(name: str, params: dict[str, object]) -> None:
    with pytest.raises(ParameterError):
        get_aggregator(name, **params)


RULES_WITH_PARAMS: list[tuple[str, dict[str, int]]] = [
    (name, {"f": 1} if name in {"trimmed_mean", "meamed", "phocas", "krum", "multi_krum", "bulyan"} else {})
    for name in AGGREGATORS
    if name != "flag"
] + [("nnm+median", {"f": 1}), ("flag", {"m": 2})]


@pytest.mark.parametrize(("name", "params"), RULES_WITH_PARAMS)
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_input_is_refused(name: str, params: dict[str, int], bad: float) -> None:
    updates = np.ones((7, 3))
    updates[4, 1] = bad
    with pytest.raises(ParameterError, match=r"finite, got NaN or inf in row\(s\) \[4\]"):
        get_aggregator(name, **params)(updates)


@pytest.mark.parametrize(("name", "params"), RULES_WITH_PARAMS)
@pytest.mark.parametrize("shape", [(3,), (2, 2, 2), (0, 3), (3, 0)])
def test_wrong_shape_is_refused(name: str, params: dict[str, int], shape: tuple[int, ...]) -> None:
    with pytest.raises(ShapeError, match="shape"):
        get_aggregator(name, **params)(np.ones(shape))


@pytest.mark.parametrize(("name", "params"), RULES_WITH_PARAMS)
def test_every_rule_returns_a_float_vector_of_length_d(name: str, params: dict[str, int]) -> None:
    updates = np.random.default_rng(0).normal(size=(7, 5))
    result = get_aggregator(name, **params)(updates)
    assert result.shape == (5,)
    assert result.dtype == np.float64


def test_unknown_aggregator_names_the_known_ones() -> None:
    with pytest.raises(ParameterError, match=r"unknown aggregator 'krumm'; known: .*krum.*multi_krum"):
        get_aggregator("krumm")


def test_unknown_rule_after_nnm_is_refused() -> None:
    with pytest.raises(ParameterError, match="unknown aggregator 'avg'"):
        get_aggregator("nnm+avg", f=1)


def test_nnm_without_f_is_refused() -> None:
    with pytest.raises(ParameterError, match="needs f"):
        get_aggregator("nnm+mean")


def test_parameter_a_rule_does_not_take_is_refused() -> None:
    with pytest.raises(ParameterError, match="'median' does not take f; it takes no parameters"):
        get_aggregator("median", f=1)


def test_missing_required_parameter_is_refused() -> None:
    with pytest.raises(ParameterError, match="'krum' needs f"):
        get_aggregator("krum")


def test_name_is_case_insensitive() -> None:
    assert get_aggregator("NNM+Median", f=1).name == "nnm+median"


def test_repr_shows_the_parameters() -> None:
    assert repr(get_aggregator("multi_krum", f=2, m=3)) == "MultiKrum(f=2, m=3)"
