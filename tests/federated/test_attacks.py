"""Attacks: their formulas, shapes, seeds and errors."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest

from securecompute.errors import ParameterError, ShapeError
from securecompute.federated.aggregators import get_aggregator
from securecompute.federated.attacks import ATTACKS, alie_z_max, flip_labels, get_attack

HONEST = np.array([[1.0, 2.0, 0.0], [3.0, 2.0, 4.0], [5.0, 2.0, 8.0]])  # mu = (3, 2, 4)
VECTOR_ATTACKS = [name for name, cls in ATTACKS.items() if not cls.data_level]


@pytest.mark.parametrize("name", VECTOR_ATTACKS)
def test_attack_returns_one_row_per_byzantine_worker(name: str) -> None:
    assert get_attack(name)(HONEST, 2, rng=0).shape == (2, 3)


@pytest.mark.parametrize("name", VECTOR_ATTACKS)
def test_no_byzantine_worker_gives_an_empty_array(name: str) -> None:
    assert get_attack(name)(HONEST, 0, rng=0).shape == (0, 3)


@pytest.mark.parametrize("name", VECTOR_ATTACKS)
def test_same_seed_gives_the_same_vectors(name: str) -> None:
    attack = get_attack(name)
    assert np.array_equal(attack(HONEST, 3, rng=5), attack(HONEST, 3, rng=5), equal_nan=True)


@pytest.mark.parametrize("name", ["gaussian", "random_uniform"])
def test_random_attacks_differ_between_seeds(name: str) -> None:
    attack = get_attack(name)
    assert not np.array_equal(attack(HONEST, 3, rng=5), attack(HONEST, 3, rng=6))


def test_sign_flip_sends_the_negated_honest_mean() -> None:
    assert np.allclose(get_attack("sign_flip")(HONEST, 2), [[-3, -2, -4]] * 2)


def test_ipm_sends_minus_epsilon_times_the_honest_mean() -> None:
    assert np.allclose(get_attack("ipm", epsilon=10.0)(HONEST, 2), [[-30, -20, -40]] * 2)


def test_ipm_default_epsilon_is_small() -> None:
    assert np.allclose(get_attack("ipm")(HONEST, 1), [[-0.3, -0.2, -0.4]])


def test_alie_default_z_is_the_z_max_formula() -> None:
    # n = 15, f = 3: s = floor(15/2 + 1) - 3 = 5, Phi(z) = (15 - 5)/15 = 2/3.
    assert alie_z_max(15, 3) == pytest.approx(NormalDist().inv_cdf(2 / 3))
    assert alie_z_max(15, 3) == pytest.approx(0.4307, abs=1e-4)


def test_alie_sends_mean_plus_z_population_std() -> None:
    honest = np.random.default_rng(1).normal(size=(12, 4))
    expected = honest.mean(axis=0) + alie_z_max(15, 3) * honest.std(axis=0)
    assert np.allclose(get_attack("alie")(honest, 3), np.tile(expected, (3, 1)))


def test_alie_with_given_z() -> None:
    # sigma of column 0 is sqrt(8/3), of column 1 zero, of column 2 sqrt(32/3)
    sigma = np.array([math.sqrt(8 / 3), 0.0, math.sqrt(32 / 3)])
    assert np.allclose(get_attack("alie", z=1.5)(HONEST, 1), [[3, 2, 4] + 1.5 * sigma])


def test_alie_z_max_refuses_a_byzantine_majority() -> None:
    with pytest.raises(ParameterError, match="n=10 workers and f=6"):
        alie_z_max(10, 6)


def test_gaussian_has_the_requested_scale() -> None:
    vectors = get_attack("gaussian", sigma=3.0)(np.zeros((2, 20000)), 2, rng=0)
    assert vectors.std() == pytest.approx(3.0, rel=0.02)


def test_mimic_copies_the_target_worker() -> None:
    assert np.array_equal(get_attack("mimic", target=2)(HONEST, 2), [HONEST[2], HONEST[2]])


def test_mimic_target_must_be_an_honest_row() -> None:
    with pytest.raises(ShapeError, match="mimic target 3"):
        get_attack("mimic", target=3)(HONEST, 1)


def test_random_uniform_defaults_to_the_unit_interval() -> None:
    vectors = get_attack("random_uniform")(HONEST, 50, rng=0)
    assert vectors.min() >= 0.0
    assert vectors.max() < 1.0


def test_random_uniform_needs_low_below_high() -> None:
    with pytest.raises(ParameterError, match="low < high"):
        get_attack("random_uniform", low=1.0, high=1.0)


@pytest.mark.parametrize(("value", "check"), [("nan", np.isnan), ("inf", np.isposinf), ("-inf", np.isneginf)])
def test_nan_inf_fills_with_the_value(value: str, check: np.ufunc) -> None:
    assert check(get_attack("nan_inf", value=value)(HONEST, 2)).all()


def test_nan_inf_vectors_are_refused_by_aggregators() -> None:
    rows = np.concatenate([HONEST, get_attack("nan_inf")(HONEST, 1)])
    with pytest.raises(ParameterError, match=r"row\(s\) \[3\]"):
        get_aggregator("median")(rows)


def test_label_flip_is_data_level() -> None:
    attack = get_attack("label_flip")
    assert attack.data_level
    assert np.array_equal(attack.flip([0, 1, 9], 10), [9, 8, 0])  # type: ignore[attr-defined]


def test_label_flip_refuses_to_forge_vectors() -> None:
    with pytest.raises(ParameterError, match="data-level"):
        get_attack("label_flip")(HONEST, 1)


def test_flip_labels_maps_y_to_c_minus_one_minus_y() -> None:
    assert np.array_equal(flip_labels(np.arange(4), 4), [3, 2, 1, 0])


@pytest.mark.parametrize(("labels", "classes"), [([0, 4], 4), ([-1], 3), ([0.5], 3), ([0], 1)])
def test_flip_labels_refuses_bad_labels(labels: list[float], classes: int) -> None:
    with pytest.raises(ParameterError):
        flip_labels(labels, classes)


def test_unknown_attack_names_the_known_ones() -> None:
    with pytest.raises(ParameterError, match=r"unknown attack 'lie'; known: alie, gaussian"):
        get_attack("lie")


def test_parameter_an_attack_does_not_take_is_refused() -> None:
    with pytest.raises(ParameterError, match="'sign_flip' does not take epsilon; it takes no parameters"):
        get_attack("sign_flip", epsilon=1.0)


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("ipm", {"epsilon": 0.0}),
        ("gaussian", {"sigma": -1.0}),
        ("alie", {"z": math.nan}),
        ("mimic", {"target": -1}),
        ("nan_inf", {"value": "zero"}),
    ],
)
def test_bad_attack_parameter_is_refused(name: str, params: dict[str, object]) -> None:
    with pytest.raises(ParameterError):
        get_attack(name, **params)


def test_negative_byzantine_count_is_refused() -> None:
    with pytest.raises(ParameterError, match="byzantine_count"):
        get_attack("sign_flip")(HONEST, -1)


def test_non_finite_honest_vectors_are_refused() -> None:
    with pytest.raises(ParameterError, match="honest must be finite"):
        get_attack("sign_flip")([[1.0, math.nan]], 1)


def test_honest_vectors_must_be_a_matrix() -> None:
    with pytest.raises(ShapeError, match="honest"):
        get_attack("sign_flip")([1.0, 2.0], 1)


def test_repr_shows_the_parameters() -> None:
    assert repr(get_attack("ipm", epsilon=10.0)) == "InnerProductManipulation(epsilon=10.0)"
