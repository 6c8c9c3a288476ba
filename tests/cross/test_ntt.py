"""The GEMM NTT against naive O(n^2) evaluation and negacyclic products."""

from __future__ import annotations

import numpy as np
import pytest

from securecompute.cross.ntt import NTT, bit_reverse_permutation, default_layout
from securecompute.cross.primes import find_ntt_primes
from securecompute.errors import ParameterError, ShapeError


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


def test_unknown_backend_is_refused() -> None:
    with pytest.raises(ParameterError, match="'torch' is unknown"):
        NTT(16, [65537], backend="torch")


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


# -- fast-path coverage: input checks, dtypes, workspace reuse, balancing pass --------------------


def test_negative_values_are_refused_on_the_fast_check() -> None:
    moduli = find_ntt_primes(30, 16, 2)
    transform = NTT(16, moduli)
    data = _random_residues(moduli, 16, (3,), seed=4)
    data[2, 1, 7] = -1
    with pytest.raises(ParameterError, match=r"limb 1 .*residues"):
        transform.forward(data)
    data[2, 1, 7] = moduli[1]  # q itself, on the second limb only
    with pytest.raises(ParameterError, match=r"limb 1 .*residues"):
        transform.inverse(data)


@pytest.mark.parametrize("dtype", [np.int32, np.uint32, np.uint64, np.int16])
def test_other_integer_dtypes_give_the_int64_result(dtype: type) -> None:
    moduli = find_ntt_primes(14, 16, 2)  # fits every dtype above
    transform = NTT(16, moduli)
    data = _random_residues(moduli, 16, (2,), seed=6)
    expected = transform.forward(data)
    assert np.array_equal(transform.forward(data.astype(dtype)), expected)
    assert np.array_equal(transform.inverse(expected.astype(dtype)), data)


def test_float_input_is_refused() -> None:
    transform = NTT(16, [65537])
    with pytest.raises(ParameterError, match="integer dtype"):
        transform.forward(np.zeros((1, 16)))


def test_empty_batch_gives_an_empty_result() -> None:
    moduli = find_ntt_primes(30, 16, 2)
    transform = NTT(16, moduli)
    for method in (transform.forward, transform.inverse):
        result = method(np.zeros((0, 2, 16), dtype=np.int64))
        assert result.shape == (0, 2, 16)
        assert result.dtype == np.int64


def test_alternating_batch_sizes_reuse_the_workspace_correctly() -> None:
    n = 64
    moduli = find_ntt_primes(30, n, 2)
    transform = NTT(n, moduli)
    single = _random_residues(moduli, n, (), seed=10)
    several = _random_residues(moduli, n, (5,), seed=11)
    expected_single = [transform.forward(single, order=order) for order in ORDERS_UNDER_TEST]
    expected_several = transform.forward(several)
    for _ in range(2):
        for order, expected in zip(ORDERS_UNDER_TEST, expected_single, strict=True):
            assert np.array_equal(transform.forward(single, order=order), expected)
        assert np.array_equal(transform.forward(several), expected_several)
        assert np.array_equal(transform.inverse(expected_several), several)


def test_results_are_fresh_arrays_not_views_of_the_workspace() -> None:
    moduli = find_ntt_primes(30, 64, 1)
    transform = NTT(64, moduli)
    data = _random_residues(moduli, 64, (), seed=12)
    first = transform.forward(data)
    kept = first.copy()
    transform.forward(_random_residues(moduli, 64, (), seed=13))
    assert np.array_equal(first, kept)
    assert first.flags.writeable


def test_concurrent_threads_do_not_share_scratch_buffers() -> None:
    from concurrent.futures import ThreadPoolExecutor

    n = 1024
    moduli = find_ntt_primes(30, n, 3)
    transform = NTT(n, moduli)
    inputs = [_random_residues(moduli, n, (2,), seed=20 + k) for k in range(8)]
    expected = [transform.forward(x) for x in inputs]
    with ThreadPoolExecutor(max_workers=4) as pool:
        for _ in range(3):
            results = list(pool.map(transform.forward, inputs))
            assert all(np.array_equal(r, e) for r, e in zip(results, expected, strict=True))


@pytest.mark.parametrize("rows", [256, 1])
@pytest.mark.parametrize("order", ["bit_reversed", "natural"])
def test_wide_moduli_with_long_gemms_balance_the_input_first(rows: int, order: str) -> None:
    # 40-bit q with K = 256: the GEMM bound only holds for balanced input, so the balancing pass runs.
    n = 256
    moduli = find_ntt_primes(40, n, 1)
    transform = NTT(n, moduli, rows=rows)
    direction = "forward" if rows == 256 else "inverse"
    assert not transform._stages_for(direction, order).raw_input_ok
    data = _random_residues(moduli, n, (), seed=rows)
    data[0, :4] = moduli[0] - 1  # the largest residues, worst case of the unbalanced bound
    natural = transform.forward(data, order="natural")
    assert natural[0].tolist() == _naive_forward(data[0], moduli[0], transform.psi[0])
    assert np.array_equal(transform.inverse(transform.forward(data, order=order), order=order), data)


def test_all_largest_residues_stay_exact_at_sixteen_thousand() -> None:
    # Exactness stress for the unbalanced first GEMM: every input q-1 (the bound's worst case).
    n = 16384
    moduli = find_ntt_primes(30, n, 2)
    transform = NTT(n, moduli)
    q = np.array(moduli, dtype=np.int64).reshape(-1, 1)
    data = np.broadcast_to(q - 1, (2, n)).copy()
    # a = -1 everywhere: A[k] = -sum_j psi^(j(2k+1)); check a few points with Python ints.
    natural = transform.forward(data, order="natural")
    for limb, modulus in enumerate(moduli):
        psi = transform.psi[limb]
        for k in (0, 1, n // 2, n - 1):
            point = pow(psi, 2 * k + 1, modulus)
            total = (pow(point, n, modulus) - 1) * pow(point - 1, -1, modulus) % modulus
            assert natural[limb, k] == (-total) % modulus
    assert np.array_equal(transform.inverse(transform.forward(data)), data)


ORDERS_UNDER_TEST = ("bit_reversed", "natural")
