"""RNS layer: CRT round trips, fast basis conversion with its u*Q error, rescale, negacyclic product.

Every reference is computed independently with Python ints (``%``, ``fractions.Fraction``,
a schoolbook O(n^2) negacyclic product), never with the functions under test.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from securecompute.cross.primes import find_ntt_primes
from securecompute.cross.rns import (
    BasisConverter,
    RNSBasis,
    compose,
    decompose,
    negacyclic_multiply,
    rescale_by_last,
)
from securecompute.errors import ParameterError, ShapeError

PRIMES_30 = find_ntt_primes(30, 1024, 4)
PRIMES_20 = find_ntt_primes(20, 1024, 3)
BASIS = RNSBasis(PRIMES_30[:3])


def _random_residues(
    rng: np.random.Generator, moduli: list[int] | tuple[int, ...], shape: tuple[int, ...]
) -> np.ndarray:
    """int64 (*shape[:-1], L, shape[-1]) with limb i uniform in [0, q_i)."""
    *batch, n = shape
    columns = [rng.integers(0, q, size=(*batch, n), dtype=np.int64) for q in moduli]
    return np.stack(columns, axis=-2)


def _crt(residues: np.ndarray, moduli: list[int] | tuple[int, ...]) -> list[int]:
    """Reference CRT of (L, n) residues, by Python ints (Garner-free: sum c_i q_hat_i mod Q)."""
    product = math.prod(moduli)
    values = []
    for column in residues.T:
        total = sum(int(x) * (product // q) * pow(product // q, -1, q) for x, q in zip(column, moduli, strict=True))
        values.append(total % product)
    return values


# -- RNSBasis --------------------------------------------------------------------------------------


def test_basis_constants_satisfy_crt_identities() -> None:
    for q, hat, hat_inverse in zip(BASIS.moduli, BASIS.punctured, BASIS.punctured_inverse, strict=True):
        assert hat * q == BASIS.product
        assert hat * hat_inverse % q == 1
    assert BASIS.fast


def test_basis_rejects_moduli_with_a_common_factor() -> None:
    with pytest.raises(ParameterError, match="share the factor 3"):
        RNSBasis([9, 15])


@pytest.mark.parametrize("moduli", [[], [4], [1], [(1 << 61) + 1], [2.5]])
def test_basis_rejects_moduli_that_are_not_odd_integers_in_range(moduli: list[object]) -> None:
    with pytest.raises(ParameterError):
        RNSBasis(moduli)  # type: ignore[arg-type]


def test_drop_last_removes_the_last_modulus() -> None:
    assert BASIS.drop_last() == RNSBasis(PRIMES_30[:2])
    with pytest.raises(ParameterError, match="only one"):
        RNSBasis([PRIMES_30[0]]).drop_last()


# -- decompose / compose ---------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=BASIS.product - 1))
def test_compose_inverts_decompose(value: int) -> None:
    assert compose(decompose(value, BASIS), BASIS).item() == value


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=-(BASIS.product - 1) // 2, max_value=(BASIS.product - 1) // 2))
def test_centred_compose_inverts_decompose_of_signed_values(value: int) -> None:
    assert compose(decompose(value, BASIS), BASIS, centred=True).item() == value


def test_decompose_of_an_object_array_matches_python_remainders() -> None:
    rng = np.random.default_rng(1)
    values = np.array([int(v) * (1 << 40) + int(w) for v, w in rng.integers(0, 1 << 40, (6, 2))], dtype=object)
    values = values.reshape(2, 3)
    residues = decompose(values, BASIS)
    assert residues.shape == (2, 3, 3)
    assert residues.dtype == np.int64
    for index in np.ndindex(2, 3):
        for limb, q in enumerate(BASIS.moduli):
            assert residues[index[0], limb, index[1]] == values[index] % q


def test_decompose_of_signed_int64_gives_nonnegative_residues() -> None:
    values = np.array([-5, -1, 0, 7], dtype=np.int64)
    residues = decompose(values, BASIS)
    expected = np.array([[v % q for v in values.tolist()] for q in BASIS.moduli], dtype=np.int64)
    assert np.array_equal(residues, expected)


def test_compose_matches_the_reference_crt_on_random_residues() -> None:
    residues = _random_residues(np.random.default_rng(2), BASIS.moduli, (64,))
    assert compose(residues, BASIS).tolist() == _crt(residues, BASIS.moduli)


def test_decompose_rejects_values_outside_the_accepted_range() -> None:
    with pytest.raises(ParameterError, match="outside"):
        decompose(BASIS.product, BASIS)
    with pytest.raises(ParameterError, match="outside"):
        decompose(-(BASIS.product + 1) // 2, BASIS)
    with pytest.raises(ParameterError, match="integer dtype"):
        decompose(np.array([1.0, 2.0]), BASIS)


def test_compose_rejects_out_of_range_residues_and_wrong_limb_count() -> None:
    residues = np.zeros((3, 4), dtype=np.int64)
    residues[1, 2] = BASIS.moduli[1]
    with pytest.raises(ParameterError, match="limb 1"):
        compose(residues, BASIS)
    with pytest.raises(ShapeError, match="L=3"):
        compose(np.zeros((2, 4), dtype=np.int64), BASIS)


# -- fast basis conversion -------------------------------------------------------------------------


def _bconv_reference(residues: np.ndarray, source: list[int], target: list[int]) -> tuple[list[list[int]], list[int]]:
    """Per coefficient: the overflow u = floor(sum_i c_i / q_i) and (X + u*Q) mod p_j, by Python ints."""
    product = math.prod(source)
    expected, overflows = [], []
    for column, value in zip(residues.T, _crt(residues, source), strict=True):
        scaled = [int(x) * pow(product // q, -1, q) % q for x, q in zip(column, source, strict=True)]
        overflow = math.floor(sum(Fraction(c, q) for c, q in zip(scaled, source, strict=True)))
        overflows.append(overflow)
        expected.append([(value + overflow * product) % p for p in target])
    return [list(row) for row in zip(*expected, strict=True)], overflows


@pytest.mark.parametrize(
    ("source", "target"),
    [
        (PRIMES_30[:3], PRIMES_20),  # wide source, narrow target: c_i reduced modulo p_j first
        (PRIMES_20, PRIMES_30[:2]),  # narrow source, wide target
        (PRIMES_30[:2], [PRIMES_30[3], *PRIMES_20[:1]]),
    ],
)
def test_basis_conversion_equals_x_plus_u_q_with_u_below_source_limb_count(
    source: list[int], target: list[int]
) -> None:
    residues = _random_residues(np.random.default_rng(3), source, (200,))
    converted = BasisConverter(source, target).convert(residues)
    expected, overflows = _bconv_reference(residues, source, target)
    assert converted.tolist() == expected
    assert all(0 <= u <= len(source) - 1 for u in overflows)
    assert max(overflows) == len(source) - 1  # the bound is reached on random data: the error is real


def test_basis_conversion_of_all_maximal_residues_stays_within_the_bound() -> None:
    source, target = PRIMES_30[:3], PRIMES_20
    residues = np.array([[q - 1] * 8 for q in source], dtype=np.int64)
    expected, overflows = _bconv_reference(residues, source, target)
    assert BasisConverter(source, target).convert(residues).tolist() == expected
    assert all(0 <= u <= 2 for u in overflows)


@pytest.mark.parametrize(
    ("source", "target", "one_gemm"),
    [
        (PRIMES_30 + PRIMES_20, PRIMES_30[:1], True),  # 7 source limbs, one GEMM
        (find_ntt_primes(60, 1024, 2), PRIMES_30[:2], True),  # 60-bit source: more data digits
        (PRIMES_30[:2], find_ntt_primes(59, 1024, 2), False),  # 59-bit targets: per-target wide fallback
    ],
)
def test_basis_conversion_picks_one_gemm_when_its_bound_holds_and_is_exact_either_way(
    source: list[int], target: list[int], one_gemm: bool
) -> None:
    converter = BasisConverter(source, target)
    assert converter.one_gemm is one_gemm
    if one_gemm:
        assert converter.folded is not None
        assert converter.plan is not None
        assert converter.folded.shape == (len(target), converter.plan.digits * len(source))
        assert converter.plan.bound + max(target) <= 2**53
    random = _random_residues(np.random.default_rng(7), source, (64,))
    maximal = np.array([[q - 1] * 8 for q in source], dtype=np.int64)
    for residues in (random, maximal):
        expected, overflows = _bconv_reference(residues, source, target)
        assert converter.convert(residues).tolist() == expected
        assert all(0 <= u <= len(source) - 1 for u in overflows)


def test_basis_conversion_is_exact_on_limbs_shared_with_the_source() -> None:
    source, target = PRIMES_30[:3], [PRIMES_30[1], PRIMES_20[0]]
    residues = _random_residues(np.random.default_rng(4), source, (50,))
    converted = BasisConverter(source, target).convert(residues)
    assert np.array_equal(converted[0], residues[1])


def test_basis_conversion_keeps_batch_dimensions() -> None:
    source, target = PRIMES_30[:3], PRIMES_20[:2]
    residues = _random_residues(np.random.default_rng(5), source, (2, 3, 16))
    converter = BasisConverter(source, target)
    converted = converter.convert(residues)
    assert converted.shape == (2, 3, 2, 16)
    assert np.array_equal(converted[1, 2], converter.convert(residues[1, 2]))


def test_basis_conversion_rejects_residues_of_the_wrong_basis() -> None:
    converter = BasisConverter(PRIMES_30[:3], PRIMES_20)
    with pytest.raises(ShapeError):
        converter.convert(np.zeros((2, 8), dtype=np.int64))


# -- rescale ---------------------------------------------------------------------------------------


def _rescale_reference(values: list[int], moduli: list[int] | tuple[int, ...]) -> list[int]:
    """round(X / q_last) mod Q' with exact rationals (q_last odd: no ties)."""
    q_last, rest = moduli[-1], math.prod(moduli[:-1])
    return [round(Fraction(value, q_last)) % rest for value in values]


def test_rescale_by_last_rounds_to_nearest_on_random_values() -> None:
    residues = _random_residues(np.random.default_rng(6), BASIS.moduli, (256,))
    rescaled = rescale_by_last(residues, BASIS)
    assert rescaled.shape == (2, 256)
    expected = _rescale_reference(_crt(residues, BASIS.moduli), BASIS.moduli)
    assert _crt(rescaled, BASIS.moduli[:2]) == expected


def test_rescale_by_last_on_values_next_to_rounding_boundaries() -> None:
    q_last, product = BASIS.moduli[-1], BASIS.product
    half = q_last // 2
    values = [
        0,
        1,
        half,
        half + 1,
        q_last - 1,
        q_last,
        5 * q_last + half,
        5 * q_last + half + 1,
        product - 1,
        product - half - 1,
    ]
    residues = decompose(np.array(values, dtype=object), BASIS)
    assert _crt(rescale_by_last(residues, BASIS), BASIS.moduli[:2]) == _rescale_reference(values, BASIS.moduli)


def test_rescale_by_last_agrees_with_rounding_the_centred_value() -> None:
    values = [-(BASIS.product - 1) // 2, -BASIS.moduli[-1] // 2, -1, 3, (BASIS.product - 1) // 2]
    residues = decompose(np.array(values, dtype=object), BASIS)
    rest = math.prod(BASIS.moduli[:2])
    expected = [round(Fraction(v, BASIS.moduli[-1])) % rest for v in values]
    assert _crt(rescale_by_last(residues, BASIS), BASIS.moduli[:2]) == expected


def test_rescale_by_last_needs_two_moduli() -> None:
    with pytest.raises(ParameterError, match="only one"):
        rescale_by_last(np.zeros((1, 4), dtype=np.int64), [PRIMES_30[0]])


# -- negacyclic product ----------------------------------------------------------------------------


def _naive_negacyclic(a: list[int], b: list[int], q: int) -> list[int]:
    """Schoolbook product modulo (X^n + 1, q) with Python ints."""
    n = len(a)
    full = np.convolve(np.array(a, dtype=object), np.array(b, dtype=object))
    folded = [int(full[k]) - (int(full[k + n]) if k + n < len(full) else 0) for k in range(n)]
    return [value % q for value in folded]


@pytest.mark.parametrize("n", [16, 64, 256, 1024])
@pytest.mark.parametrize("bits", [20, 30, 40])
def test_negacyclic_multiply_matches_the_schoolbook_product(n: int, bits: int) -> None:
    moduli = find_ntt_primes(bits, n, 2)
    rng = np.random.default_rng(n + bits)
    a, b = _random_residues(rng, moduli, (n,)), _random_residues(rng, moduli, (n,))
    product = negacyclic_multiply(a, b, moduli, n)
    for limb, q in enumerate(moduli):
        assert product[limb].tolist() == _naive_negacyclic(a[limb].tolist(), b[limb].tolist(), q)


def _kronecker_negacyclic(a: list[int], b: list[int], q: int) -> list[int]:
    """Product modulo (X^n + 1, q) by Kronecker substitution: pack each polynomial into one Python int.

    With coefficients below q, every coefficient of the full product is below n * q^2 < 2^slot, so
    evaluating at X = 2^slot and multiplying the two big ints (CPython's Karatsuba) gives the product's
    coefficients as slot-bit fields: an independent exact reference that is fast enough at n = 2^16.
    """
    n = len(a)
    slot = (n * q * q).bit_length() + 1
    packed = [int("".join(format(c, f"0{slot}b") for c in reversed(poly)), 2) for poly in (a, b)]
    digits = format(packed[0] * packed[1], "b").zfill(slot * (2 * n - 1))
    full = [int(digits[len(digits) - slot * (k + 1) : len(digits) - slot * k], 2) for k in range(2 * n - 1)]
    return [(full[k] - (full[k + n] if k + n < len(full) else 0)) % q for k in range(n)]


def test_the_kronecker_reference_agrees_with_the_schoolbook_product() -> None:
    q = find_ntt_primes(30, 64, 1)[0]
    rng = np.random.default_rng(9)
    a, b = rng.integers(0, q, 64).tolist(), rng.integers(0, q, 64).tolist()
    assert _kronecker_negacyclic(a, b, q) == _naive_negacyclic(a, b, q)


@pytest.mark.slow
@pytest.mark.parametrize("bits", [30, 50])  # 30: the fast digit plan; 50: the wide path
def test_negacyclic_multiply_at_n_2_16_matches_the_kronecker_reference(bits: int) -> None:
    n = 1 << 16
    moduli = find_ntt_primes(bits, n, 2)
    rng = np.random.default_rng(bits)
    a, b = _random_residues(rng, moduli, (n,)), _random_residues(rng, moduli, (n,))
    product = negacyclic_multiply(a, b, moduli, n)
    # The big-int reference takes seconds per limb at this size: limb 0 is checked (both limbs share the code path).
    assert product[0].tolist() == _kronecker_negacyclic(a[0].tolist(), b[0].tolist(), moduli[0])


def test_negacyclic_multiply_broadcasts_a_plaintext_over_a_ciphertext() -> None:
    n, moduli = 32, PRIMES_30[:2]
    rng = np.random.default_rng(7)
    ciphertext, plaintext = _random_residues(rng, moduli, (2, n)), _random_residues(rng, moduli, (n,))
    product = negacyclic_multiply(ciphertext, plaintext, moduli, n)
    assert product.shape == (2, 2, n)
    assert np.array_equal(product[1], negacyclic_multiply(ciphertext[1], plaintext, moduli, n))


def test_negacyclic_multiply_by_x_shifts_with_a_sign_flip() -> None:
    n, moduli = 16, PRIMES_30[:1]
    q = moduli[0]
    a = np.arange(1, n + 1, dtype=np.int64).reshape(1, n)
    x = np.zeros((1, n), dtype=np.int64)
    x[0, 1] = 1
    expected = np.concatenate([[q - n], np.arange(1, n)]).reshape(1, n)
    assert np.array_equal(negacyclic_multiply(a, x, moduli, n), expected)


def test_negacyclic_multiply_rejects_a_shape_that_does_not_match_n() -> None:
    with pytest.raises(ShapeError, match="n=32"):
        negacyclic_multiply(np.zeros((1, 16), dtype=np.int64), np.zeros((1, 16), dtype=np.int64), PRIMES_30[:1], 32)
