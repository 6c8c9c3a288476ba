"""The GEMM NTT against naive O(n^2) evaluation and negacyclic products."""

from __future__ import annotations

import numpy as np
import pytest

from securecompute.cross.ntt import NTT, bit_reverse_permutation, default_layout
from securecompute.cross.primes import find_ntt_primes
from securecompute.errors import NotAvailableError, ParameterError, ShapeError


def _random_residues(moduli: list[int], n: int, batch: tuple[int, ...], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([rng.integers(0, q, size=(*batch, n)) for q in moduli], axis=-2)


def _naive_forward(coefficients: np.ndarray, q: int, psi: int) -> list[int]:
    """A[k] = sum_j a_j psi^(j(2k+1)) mod q, natural order, Python ints."""
    n = len(coefficients)
    return [sum(int(a) * pow(psi, j * (2 * k + 1), q) for j, a in enumerate(coefficients)) % q for k in range(n)]


def _naive_negacyclic(a: np.ndarray, b: np.ndarray, q: int) -> np.ndarray:
    """a * b mod (X^n + 1, q), O(n^2) with Python ints."""
    n = len(a)
    out = [0] * n
    for i, x in enumerate(a.tolist()):
        for j, y in enumerate(b.tolist()):
            if i + j < n:
                out[i + j] += x * y
            else:
                out[i + j - n] -= x * y
    return np.array([v % q for v in out], dtype=np.int64)


@pytest.mark.parametrize("n", [16, 64, 256])
def test_forward_matches_naive_evaluation_at_odd_psi_powers(n: int) -> None:
    moduli = find_ntt_primes(30, n, 2)
    transform = NTT(n, moduli)
    data = _random_residues(moduli, n, (), seed=n)
    natural = transform.forward(data, order="natural")
    for limb, q in enumerate(moduli):
        assert natural[limb].tolist() == _naive_forward(data[limb], q, transform.psi[limb])


@pytest.mark.parametrize("n", [16, 64, 256])
def test_bit_reversed_order_holds_evaluation_at_psi_2_bitrev_plus_1(n: int) -> None:
    moduli = find_ntt_primes(30, n, 1)
    transform = NTT(n, moduli)
    data = _random_residues(moduli, n, (), seed=n + 1)
    q, psi = moduli[0], transform.psi[0]
    reversed_ = transform.forward(data)[0]
    for index, k in enumerate(bit_reverse_permutation(n).tolist()):
        point = pow(psi, 2 * k + 1, q)
        assert reversed_[index] == sum(int(a) * pow(point, j, q) for j, a in enumerate(data[0])) % q


@pytest.mark.parametrize("order", ["bit_reversed", "natural"])
@pytest.mark.parametrize("n", [2, 16, 128, 2048, 8192])
def test_inverse_undoes_forward(n: int, order: str) -> None:
    moduli = find_ntt_primes(30, n, 3)
    transform = NTT(n, moduli)
    data = _random_residues(moduli, n, (2, 3), seed=7)
    assert np.array_equal(transform.inverse(transform.forward(data, order=order), order=order), data)


@pytest.mark.parametrize("n", [16, 64, 256, 1024])
@pytest.mark.parametrize("bits", [20, 30])
def test_pointwise_product_is_negacyclic_convolution(n: int, bits: int) -> None:
    moduli = find_ntt_primes(bits, n, 2)
    transform = NTT(n, moduli)
    a = _random_residues(moduli, n, (), seed=1)
    b = _random_residues(moduli, n, (), seed=2)
    q = np.array(moduli, dtype=np.int64).reshape(-1, 1)
    product = transform.inverse(transform.forward(a) * transform.forward(b) % q)
    for limb, modulus in enumerate(moduli):
        assert np.array_equal(product[limb], _naive_negacyclic(a[limb], b[limb], modulus))


@pytest.mark.parametrize("n", [16, 512, 4096])
def test_orders_are_a_bit_reversal_of_each_other(n: int) -> None:
    moduli = find_ntt_primes(30, n, 2)
    transform = NTT(n, moduli)
    data = _random_residues(moduli, n, (3,), seed=5)
    natural = transform.forward(data, order="natural")
    assert np.array_equal(transform.forward(data, order="bit_reversed"), natural[..., bit_reverse_permutation(n)])


def test_batch_entries_transform_independently() -> None:
    n = 256
    moduli = find_ntt_primes(30, n, 2)
    transform = NTT(n, moduli)
    data = _random_residues(moduli, n, (4,), seed=9)
    batched = transform.forward(data)
    for index in range(4):
        assert np.array_equal(batched[index], transform.forward(data[index]))


def test_every_layout_gives_the_same_transform() -> None:
    n = 256
    moduli = find_ntt_primes(30, n, 1)
    data = _random_residues(moduli, n, (), seed=3)
    results = [NTT(n, moduli, rows=rows).forward(data) for rows in (1, 4, 16, 64, 256)]
    assert all(np.array_equal(result, results[0]) for result in results)


def test_default_layout_is_square_or_taller() -> None:
    assert [default_layout(n) for n in (16, 4096, 8192, 16384)] == [(4, 4), (64, 64), (128, 64), (128, 128)]


def test_non_ntt_friendly_modulus_is_refused() -> None:
    with pytest.raises(ParameterError, match="1 mod 2n"):
        NTT(1024, [7681])  # prime, but 7680 is not a multiple of 2048


def test_non_power_of_two_length_is_refused() -> None:
    with pytest.raises(ParameterError, match="power of two"):
        NTT(100, [65537])


def test_other_backends_are_not_available_yet() -> None:
    with pytest.raises(NotAvailableError, match="jax"):
        NTT(16, [65537], backend="jax")


def test_unknown_order_is_refused() -> None:
    transform = NTT(16, [65537])
    with pytest.raises(ParameterError, match="order"):
        transform.forward(np.zeros((1, 16), dtype=np.int64), order="reversed")


def test_wrong_shape_is_refused() -> None:
    transform = NTT(16, [65537])
    with pytest.raises(ShapeError, match="n=16"):
        transform.forward(np.zeros((1, 8), dtype=np.int64))


def test_values_outside_residues_are_refused() -> None:
    transform = NTT(16, [65537])
    with pytest.raises(ParameterError, match="residues"):
        transform.forward(np.full((1, 16), 65537, dtype=np.int64))
