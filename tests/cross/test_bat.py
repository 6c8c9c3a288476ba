"""ModMatmul: exact W @ X mod q with float64 digit GEMMs, and its exactness bound."""

from __future__ import annotations

import numpy as np
import pytest

from securecompute.cross.bat import INPUT_SLACK, ModMatmul, plan_digits
from securecompute.errors import ParameterError, ShapeError

Q30 = 1073479681
Q20 = 1032193  # 20 bits


def _reference(weights: np.ndarray, data: np.ndarray, moduli: list[int]) -> np.ndarray:
    """Python-int matmul mod q: weights (L, R, K), data (..., L, K, cols)."""
    out = np.empty((*data.shape[:-3], len(moduli), weights.shape[1], data.shape[-1]), dtype=object)
    for index in np.ndindex(*data.shape[:-3]):
        for limb, q in enumerate(moduli):
            product = weights[limb].astype(object) @ data[index][limb].astype(object)
            out[(*index, limb)] = product % q
    return out.astype(np.int64)


def _largest_two_digit_k(q: int) -> int:
    half = (q - 1) // 2
    low, high = 1, 1 << 16
    while low < high:  # largest K with a plan of at most two digits
        middle = (low + high + 1) // 2
        try:
            plan_digits(half + INPUT_SLACK, half, middle, q, max_digits=2)
            low = middle
        except ParameterError:
            high = middle - 1
    return low


def test_random_matmul_is_exact() -> None:
    rng = np.random.default_rng(1)
    moduli = [Q30, 1073053697, Q20]
    weights = rng.integers(-(1 << 40), 1 << 40, size=(3, 5, 64))
    data = np.stack([rng.integers(0, q, size=(2, 64, 7)) for q in moduli], axis=1)  # (2, L, K, cols)
    assert np.array_equal(
        ModMatmul(weights, moduli).apply(data), _reference(weights % np.array(moduli).reshape(-1, 1, 1), data, moduli)
    )


def test_shared_weights_are_reduced_per_modulus() -> None:
    rng = np.random.default_rng(2)
    moduli = [Q30, Q20]
    weights = rng.integers(0, 1 << 62, size=(4, 16))
    data = np.stack([rng.integers(0, q, size=(16, 3)) for q in moduli])  # (L, K, cols)
    expected = _reference(np.stack([weights % q for q in moduli]), data, moduli)
    assert np.array_equal(ModMatmul(weights, moduli).apply(data), expected)


@pytest.mark.parametrize("fill", ["q-1", "half", "minus_half"])
def test_extreme_inputs_at_largest_k_are_exact(fill: str) -> None:
    q = Q30
    terms = _largest_two_digit_k(q)
    assert terms >= 512  # the documented two-digit reach of a 30-bit modulus
    value = {"q-1": q - 1, "half": (q - 1) // 2, "minus_half": (q + 1) // 2}[fill]
    weights = np.full((1, 3, terms), (q - 1) // 2, dtype=np.int64)
    data = np.full((1, terms, 2), value, dtype=np.int64)
    product = ModMatmul(weights, [q], max_digits=2)
    assert product.plan.digits == 2
    assert product.plan.bound + q <= 1 << 53
    assert np.array_equal(product.apply(data), _reference(weights, data, [q]))


def test_one_more_term_than_the_bound_allows_is_refused() -> None:
    terms = _largest_two_digit_k(Q30) + 1
    with pytest.raises(ParameterError, match=f"K={terms}"):
        ModMatmul(np.ones((2, terms), dtype=np.int64), [Q30], max_digits=2, max_constant_digits=1)
    # Allowed to split the constant too, the same K gets a wide plan.
    assert ModMatmul(np.ones((2, terms), dtype=np.int64), [Q30], max_digits=2).plan.wide


def test_small_modulus_needs_no_digit_split() -> None:
    assert ModMatmul(np.ones((2, 4096), dtype=np.int64), [Q20]).plan.digits == 1


def test_thirty_bit_modulus_uses_two_fifteen_bit_digits() -> None:
    plan = ModMatmul(np.ones((2, 128), dtype=np.int64), [Q30]).plan
    assert (plan.digits, plan.digit_bits) == (2, 15)


def test_wide_modulus_plan_is_exact() -> None:
    q = (1 << 40) - 87  # odd, 40 bits; more digits keep the GEMM exact
    rng = np.random.default_rng(3)
    weights = rng.integers(0, q, size=(1, 4, 32))
    data = rng.integers(0, q, size=(1, 32, 5))
    product = ModMatmul(weights, [q])
    assert product.plan.digits > 2
    assert np.array_equal(product.apply(data), _reference(weights, data, [q]))


def test_impossible_plan_is_refused_with_numbers() -> None:
    with pytest.raises(ParameterError, match="2\\^53"):
        ModMatmul(np.ones((1, 64), dtype=np.int64), [(1 << 60) - 93], max_digits=2, max_constant_digits=2)


def test_data_outside_residues_is_refused() -> None:
    product = ModMatmul(np.ones((2, 4), dtype=np.int64), [Q20])
    with pytest.raises(ParameterError, match="residues"):
        product.apply(np.full((1, 4, 1), Q20, dtype=np.int64))


def test_wrong_k_is_refused() -> None:
    product = ModMatmul(np.ones((2, 4), dtype=np.int64), [Q20])
    with pytest.raises(ShapeError, match="K=4"):
        product.apply(np.zeros((1, 5, 1), dtype=np.int64))
