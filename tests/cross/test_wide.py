"""Wide moduli (48..60 bits): ModMatmul and NTT with the constant split into digits too, exact and SEAL-equal."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from securecompute.cross.bat import ModMatmul, largest_terms
from securecompute.cross.modmath import shoup_multiply_uint64
from securecompute.cross.ntt import NTT
from securecompute.cross.primes import find_ntt_primes
from securecompute.cross.seal_interop import ciphertext_limbs
from securecompute.errors import NotAvailableError, ParameterError

# (bits, max data digits, max constant digits): limits that keep the largest K in the low thousands.
WIDTHS = [(48, 3, 2), (50, 3, 2), (55, 4, 2), (59, 5, 2), (60, 5, 2)]


def _prime(bits: int, n: int = 16) -> int:
    return find_ntt_primes(bits, n, 1)[0]


def _reference(weights: np.ndarray, data: np.ndarray, q: int) -> list[list[int]]:
    """Python-int ``weights @ data mod q`` for (R, K) and (K, cols) int64 arrays."""
    product = weights.astype(object) @ data.astype(object)
    return [[int(v) % q for v in row] for row in product]


@pytest.mark.parametrize(("bits", "max_digits", "max_constant_digits"), WIDTHS)
@pytest.mark.parametrize("fill", ["random", "q-1"])
def test_wide_modmatmul_is_exact_at_its_largest_k(
    bits: int, max_digits: int, max_constant_digits: int, fill: str
) -> None:
    q = _prime(bits)
    assert q.bit_length() == bits
    terms = largest_terms(q, max_digits, max_constant_digits)
    assert 16 <= terms <= 20000
    rng = np.random.default_rng(bits)
    if fill == "random":
        weights = rng.integers(0, q, size=(2, terms))
        data = rng.integers(0, q, size=(terms, 3))
        data[:, 0] = q - 1
    else:
        weights = np.full((2, terms), q - 1, dtype=np.int64)
        weights[1] = (q - 1) // 2  # the largest centred constant
        data = np.full((terms, 3), q - 1, dtype=np.int64)
        data[:, 1] = (q - 1) // 2
        data[:, 2] = (q + 1) // 2  # the most negative centred residue
    product = ModMatmul(weights, [q], max_digits, max_constant_digits)
    assert product.plan.wide
    assert product.plan.bound <= 1 << 53
    assert product.plan.digits * product.plan.constant_digits <= max_digits * max_constant_digits
    assert product.apply(data[None])[0].tolist() == _reference(weights, data, q)
    with pytest.raises(ParameterError, match=f"K={terms + 1}"):
        ModMatmul(np.ones((1, terms + 1), dtype=np.int64), [q], max_digits, max_constant_digits)


def test_sixty_bit_default_plan_is_four_by_two_at_ntt_sizes() -> None:
    q = _prime(60, 1 << 14)
    for terms in (64, 128):
        plan = ModMatmul(np.ones((1, terms), dtype=np.int64), [q]).plan
        assert (plan.digits, plan.digit_bits, plan.constant_digits, plan.constant_digit_bits) == (4, 15, 2, 30)
        assert plan.bound <= 1 << 53


def test_mixed_width_moduli_share_one_wide_plan() -> None:
    moduli = [_prime(60), _prime(40), 1073479681]
    rng = np.random.default_rng(7)
    weights = rng.integers(-(1 << 62), 1 << 62, size=(3, 4, 100))
    data = np.stack([rng.integers(0, q, size=(2, 100, 5)) for q in moduli], axis=1)  # (2, L, K, cols)
    product = ModMatmul(weights, moduli)
    assert product.plan.wide
    out = product.apply(data)
    for batch in range(2):
        for limb, q in enumerate(moduli):
            assert out[batch, limb].tolist() == _reference(weights[limb] % q, data[batch, limb], q)


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from([_prime(48), _prime(55), _prime(60), (1 << 62) - 57]),
    st.lists(st.integers(0, (1 << 64) - 1), min_size=1, max_size=20),
    st.integers(0, 1 << 62),
)
def test_uint64_shoup_matches_python(q: int, values: list[int], constant: int) -> None:
    values += [0, 1, q - 1, q, (1 << 64) - 1]
    b = constant % q
    out = shoup_multiply_uint64(np.array(values, dtype=np.uint64), np.uint64(b), np.uint64((b << 64) // q), q)
    assert [int(v) for v in out] == [v * b % q for v in values]


# -- NTT -------------------------------------------------------------------------------------------


def _residues(moduli: list[int], n: int, batch: tuple[int, ...], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([rng.integers(0, q, size=(*batch, n)) for q in moduli], axis=-2)


def _naive_forward(a: list[int], q: int, psi: int) -> list[int]:
    n = len(a)
    return [sum(a[j] * pow(psi, j * (2 * k + 1), q) for j in range(n)) % q for k in range(n)]


def _naive_negacyclic(a: list[int], b: list[int], q: int) -> list[int]:
    n = len(a)
    out = [0] * n
    for i in range(n):
        for j in range(n):
            if i + j < n:
                out[i + j] += a[i] * b[j]
            else:
                out[i + j - n] -= a[i] * b[j]
    return [v % q for v in out]


@pytest.mark.parametrize("bits", [50, 60])
@pytest.mark.parametrize("n", [1024, 4096])
def test_wide_ntt_round_trip(bits: int, n: int) -> None:
    moduli = find_ntt_primes(bits, n, 2)
    transform = NTT(n, moduli)
    assert transform.wide
    data = _residues(moduli, n, (2,), seed=n + bits)
    data[1, :, : n // 2] = np.array(moduli).reshape(-1, 1) - 1  # all-(q-1) half
    for order in ("bit_reversed", "natural"):
        evaluations = transform.forward(data, order=order)
        assert evaluations.dtype == np.int64
        assert evaluations.min() >= 0
        assert np.array_equal(transform.inverse(evaluations, order=order), data)
    natural, reversed_ = transform.forward(data, order="natural"), transform.forward(data, order="bit_reversed")
    from securecompute.cross.ntt import bit_reverse_permutation

    assert np.array_equal(reversed_, natural[..., bit_reverse_permutation(n)])


@pytest.mark.parametrize("bits", [48, 50, 60])
def test_wide_ntt_matches_naive_evaluation(bits: int) -> None:
    n = 64
    moduli = find_ntt_primes(bits, n, 2)
    transform = NTT(n, moduli)
    data = _residues(moduli, n, (), seed=bits)
    data[1, :8] = moduli[1] - 1
    natural = transform.forward(data, order="natural")
    for limb, q in enumerate(moduli):
        assert natural[limb].tolist() == _naive_forward([int(v) for v in data[limb]], q, transform.psi[limb])


@pytest.mark.parametrize("bits", [50, 60])
@pytest.mark.parametrize("n", [64, 256])
def test_wide_ntt_negacyclic_product_matches_python_ints(bits: int, n: int) -> None:
    moduli = find_ntt_primes(bits, n, 1)
    q = moduli[0]
    transform = NTT(n, moduli)
    a, b = _residues(moduli, n, (), seed=1), _residues(moduli, n, (), seed=2)
    b[0, :4] = q - 1
    pointwise = (transform.forward(a).astype(object) * transform.forward(b).astype(object)) % q
    product = transform.inverse(pointwise.astype(np.int64))
    assert product[0].tolist() == _naive_negacyclic([int(v) for v in a[0]], [int(v) for v in b[0]], q)


def test_jax_backend_refuses_wide_mode_naming_the_limit() -> None:
    pytest.importorskip("jax", reason="the JAX backend needs the optional extra [jax]")
    with pytest.raises(NotAvailableError, match="47 bits"):
        NTT(1024, find_ntt_primes(60, 1024, 1), backend="jax")


def test_modulus_over_sixty_bits_is_refused() -> None:
    with pytest.raises(ParameterError, match="60 bits"):
        NTT(16, [(1 << 61) - 1])


# -- SEAL: a real CKKS ciphertext with a 60-bit limb -------------------------------------------------


def test_ckks_ciphertext_ntt_is_bit_exact_with_seal() -> None:
    from tenseal import sealapi  # a core dependency: never skipped

    n = 8192  # [60, 40, 40, 60] = 200 bits needs n = 8192 under TC128
    parameters = sealapi.EncryptionParameters(sealapi.SCHEME_TYPE.CKKS)
    parameters.set_poly_modulus_degree(n)
    parameters.set_coeff_modulus(sealapi.CoeffModulus.Create(n, [60, 40, 40, 60]))
    context = sealapi.SEALContext(parameters, True, sealapi.SEC_LEVEL_TYPE.TC128)
    assert context.parameters_set(), context.parameters_error_message()
    keys = sealapi.KeyGenerator(context)
    public = sealapi.PublicKey()
    keys.create_public_key(public)
    encoder = sealapi.CKKSEncoder(context)
    plain = sealapi.Plaintext()
    encoder.encode([0.5 * i - 3.25 for i in range(n // 2)], 2.0**40, plain)
    in_ntt = sealapi.Ciphertext()
    sealapi.Encryptor(context, public).encrypt(plain, in_ntt)
    assert in_ntt.is_ntt_form()
    coefficient_form = sealapi.Ciphertext()
    sealapi.Evaluator(context).transform_from_ntt(in_ntt, coefficient_form)
    moduli = [m.value() for m in context.first_context_data().parms().coeff_modulus()]
    assert [q.bit_length() for q in moduli] == [60, 40, 40]
    seal_ntt, coefficients = ciphertext_limbs(in_ntt), ciphertext_limbs(coefficient_form)  # (2, 3, n)
    assert not np.array_equal(seal_ntt, coefficients)
    transform = NTT(n, moduli)
    assert transform.wide
    forward = transform.forward(coefficients, order="bit_reversed")
    for limb in range(len(moduli)):  # limb by limb, the 60-bit limb first
        assert np.array_equal(forward[:, limb], seal_ntt[:, limb]), f"limb {limb} ({moduli[limb].bit_length()} bits)"
    assert np.array_equal(transform.inverse(seal_ntt, order="bit_reversed"), coefficients)
    # The 60-bit limb alone (wide) and a 40-bit limb alone (fast mode) agree with SEAL too.
    alone = NTT(n, moduli[:1])
    assert alone.wide
    assert np.array_equal(alone.forward(coefficients[:, :1]), seal_ntt[:, :1])
    fast = NTT(n, moduli[1:2])
    assert not fast.wide
    assert np.array_equal(fast.inverse(seal_ntt[:, 1:2]), coefficients[:, 1:2])
