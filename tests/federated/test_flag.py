"""Flag Aggregator: the paper's formulas on cases worked by hand, the Gram path against a direct d-space
reference, monotone IRLS, and the cost at d = 1e6."""

from __future__ import annotations

import itertools
import tracemalloc
from typing import Any

import numpy as np
import pytest

from securecompute.errors import ParameterError
from securecompute.federated.aggregators import get_aggregator
from securecompute.federated.flag import FlagAggregator, flag_objective

FloatArray = np.ndarray[Any, np.dtype[np.float64]]


def reference_flag(
    updates: FloatArray, m: int, lam: float, iterations: int, seed: int, tol: float = 1e-10
) -> FloatArray:
    """The paper's code written out in d-space: explicit Y (d x m), QR start, SVD of the weighted columns."""
    p, d = updates.shape
    unit = (updates / np.linalg.norm(updates, axis=1, keepdims=True)).T  # d x p
    pairs = [(i, j) for i in range(p) for j in range(p) if i != j]

    def objective(frame: FloatArray) -> float:
        total = sum(np.sqrt(max(1 - np.sum((frame.T @ unit[:, i]) ** 2), 0)) for i in range(p))
        if lam > 0:
            diffs = [np.sum((frame.T @ (unit[:, i] - unit[:, j])) ** 2) for i, j in pairs]
            total += lam / (p * (p - 1)) * sum(np.sqrt(abs(1 - value)) for value in diffs)
        return float(total)

    frame, _ = np.linalg.qr(np.random.default_rng(seed).uniform(-0.5, 0.5, size=(d, m)))
    value = objective(frame)
    for step in range(iterations):
        columns = [(abs(1 - np.sum((frame.T @ unit[:, i]) ** 2)) + 1e-7) ** -0.25 * unit[:, i] for i in range(p)]
        if lam > 0:
            for i, j in pairs:
                diff = unit[:, i] - unit[:, j]
                weight = lam / (p * (p - 1)) * (abs(1 - np.sum((frame.T @ diff) ** 2)) + 1e-7) ** -0.25
                columns.append(weight * diff)
        left, singular, _ = np.linalg.svd(np.stack(columns, axis=1), full_matrices=False)
        rank = int(np.sum(singular > 1e-9 * singular[0]))
        candidate = left[:, : min(m, rank)]
        candidate_value = objective(candidate)
        if step > 0 and candidate_value >= value:
            break
        decrease = value - candidate_value
        frame, value = candidate, candidate_value
        if decrease <= tol or value <= tol:
            break
    return np.asarray(frame @ (frame.T @ unit.sum(axis=1)) / m)


def test_identical_gradients_give_p_over_m_times_the_unit_gradient() -> None:
    # Y spans g/||g||, every g~_i = (0.6, 0.8, 0), so (1/m) Y Y^T sum_i g~_i = (p/m) (0.6, 0.8, 0).
    result = get_aggregator("flag", m=2)(np.tile([[3.0, 4.0, 0.0]], (5, 1)))
    assert np.allclose(result, 2.5 * np.array([0.6, 0.8, 0.0]))


def test_rescale_restores_the_median_norm() -> None:
    result = get_aggregator("flag", m=2, rescale=True)(np.tile([[3.0, 4.0, 0.0]], (5, 1)))
    assert np.allclose(result, [3.0, 4.0, 0.0])


def test_converged_one_dimensional_flag_picks_the_majority_direction() -> None:
    # g~ = e1, e1, e2.  For m = 1, A(e1) = 0 + 0 + 1 = 1 < A(e2) = 2, and the aggregate is e1 e1^T (2 e1 + e2) = 2 e1.
    result = get_aggregator("flag", m=1, iterations=50)([[2.0, 0.0, 0.0], [5.0, 0.0, 0.0], [0.0, 3.0, 0.0]])
    assert np.allclose(result, [2.0, 0.0, 0.0])


def test_two_dimensional_flag_keeps_both_directions_and_divides_by_m() -> None:
    # span(e1, e2) reconstructs every worker: (1/2)(2 e1 + e2) = (1, 0.5, 0) and the objective reaches 0.
    rule = FlagAggregator(m=2, iterations=50)
    result = rule(np.array([[2.0, 0.0, 0.0], [5.0, 0.0, 0.0], [0.0, 3.0, 0.0]]))
    assert np.allclose(result, [1.0, 0.5, 0.0])
    assert rule.last_objectives[-1] == pytest.approx(0.0, abs=1e-6)


def test_one_step_at_large_d_is_the_flag_mean() -> None:
    # ||Y0^T g~||^2 ~ m/d ~ 0 makes every first-step weight ~ 1: the top-m left singular subspace of G~.
    updates = np.random.default_rng(3).normal(size=(6, 4000))
    unit = (updates / np.linalg.norm(updates, axis=1, keepdims=True)).T
    left = np.linalg.svd(unit, full_matrices=False)[0][:, :2]
    expected = left @ (left.T @ unit.sum(axis=1)) / 2
    assert np.allclose(get_aggregator("flag", m=2)(updates), expected, rtol=1e-2, atol=1e-3)


@pytest.mark.parametrize(
    ("p", "d", "m", "lam", "iterations"),
    [
        (5, 8, 2, 0.0, 1),
        (5, 8, 3, 0.0, 1),
        (5, 8, 2, 0.7, 1),
        (6, 10, 3, 0.0, 20),
        (6, 10, 2, 2.0, 20),
        (5, 3, 2, 0.0, 1),
        (5, 20, 8, 0.0, 1),
    ],
)
def test_gram_path_equals_the_direct_reference(p: int, d: int, m: int, lam: float, iterations: int) -> None:
    updates = np.random.default_rng(p * d + m).normal(size=(p, d)) + 0.5
    ours = FlagAggregator(m=m, lam=lam, iterations=iterations, seed=11)(updates)
    assert np.allclose(ours, reference_flag(updates, m, lam, iterations, seed=11), atol=1e-9)


@pytest.mark.parametrize("lam", [0.0, 1.0])
def test_more_iterations_never_increase_the_objective(lam: float) -> None:
    updates = np.random.default_rng(5).normal(size=(9, 40))
    updates[:6] += 3.0  # a majority that shares a direction
    rule = FlagAggregator(m=3, lam=lam, iterations=40, tol=0.0)
    rule(updates)
    after_first_step = rule.last_objectives[1:]
    assert len(after_first_step) >= 2
    assert all(later <= earlier for earlier, later in itertools.pairwise(after_first_step))
    assert after_first_step[-1] < rule.last_objectives[0]


def test_converged_objective_is_no_worse_than_one_step() -> None:
    updates = np.random.default_rng(6).normal(size=(9, 40))
    one, many = FlagAggregator(m=3, iterations=1), FlagAggregator(m=3, iterations=30)
    one(updates)
    many(updates)
    assert many.last_objectives[-1] <= one.last_objectives[-1]


def test_objective_from_projections_matches_its_formula() -> None:
    # p = 2 unit gradients with projections (0.6, 0) and (0, 0.8): v = 0.36, 0.64; pair ||.||^2 = 1.0.
    projections = np.array([[0.6, 0.0], [0.0, 0.8]])
    assert flag_objective(projections, 0.0) == pytest.approx(0.8 + 0.6)
    assert flag_objective(projections, 4.0) == pytest.approx(0.8 + 0.6 + 4.0 / 2 * 2 * 0.0)


def test_same_int_seed_gives_the_same_result_on_every_call() -> None:
    updates = np.random.default_rng(7).normal(size=(5, 12))
    rule = FlagAggregator(m=2, seed=4)
    assert np.array_equal(rule(updates), rule(updates))


def test_generator_seed_draws_a_new_start_each_call() -> None:
    updates = np.random.default_rng(7).normal(size=(5, 12))
    rule = FlagAggregator(m=2, seed=np.random.default_rng(4))
    rule(updates)
    first = rule.last_objectives[0]
    rule(updates)
    assert rule.last_objectives[0] != first


def test_zero_gradient_is_ignored_rather_than_nan() -> None:
    result = get_aggregator("flag", m=1, iterations=20)([[1.0, 0.0], [0.0, 0.0], [2.0, 0.0]])
    assert np.allclose(result, [2.0, 0.0])


def test_all_zero_gradients_aggregate_to_zero() -> None:
    assert np.array_equal(get_aggregator("flag", m=1)(np.zeros((4, 3))), np.zeros(3))


def test_flag_does_not_take_f() -> None:
    with pytest.raises(ParameterError, match="'flag' does not take f"):
        get_aggregator("flag", f=3)


def test_fifteen_workers_at_a_million_coordinates_never_copy_the_input() -> None:
    """Memory, not time (timing belongs to benchmarks/): no d x d object, not even one input copy."""
    updates = np.random.default_rng(0).normal(size=(15, 1_000_000))  # 120 MB; a d x d matrix would be 8 TB
    rule = FlagAggregator(m=8)
    tracemalloc.start()
    result = rule(updates)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert result.shape == (1_000_000,)
    assert peak < 40e6  # well below one copy of the input (120 MB)
