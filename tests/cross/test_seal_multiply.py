"""SEAL's ``multiply_plain`` and ``rescale_to_next`` reproduced bit for bit with our RNS kernels.

Real SEAL ciphertexts and plaintexts (through tenseal.sealapi, 30-bit primes) go through SEAL's
evaluator; the same inputs go through our kernels; every limb of every polynomial must agree.

* BFV keeps ciphertexts in coefficient form: ``multiply_plain`` is the negacyclic product of each
  ciphertext polynomial with the plaintext lifted to every q_i, centred (a coefficient m >= (t+1)/2
  stands for m - t), reproduced with :func:`negacyclic_multiply`.  SEAL takes a separate path for a
  plaintext with one nonzero coefficient (a monomial) and, in the SEAL bundled with tenseal 0.3.18,
  that path multiplies by the coefficient m in [0, t) as it is, without the centred lift (found by
  this test: for m = t - 2 the product is by t - 2, not by -2; both decrypt to the same message, the
  unlifted one with about t/2 times more noise).  The test pins that observed behaviour.
* CKKS keeps both operands in NTT form: ``multiply_plain`` is a pointwise product per limb.
* CKKS ``rescale_to_next``: our inverse NTT, :func:`rescale_by_last`, our forward NTT.
"""

from __future__ import annotations

import numpy as np
import pytest
from tenseal import sealapi

from securecompute.cross.modmath import mod_mul
from securecompute.cross.ntt import NTT
from securecompute.cross.rns import negacyclic_multiply, rescale_by_last
from securecompute.cross.seal_interop import ciphertext_limbs, seal_words

SIZES = [(4096, 3), (8192, 5)]  # (n, number of 30-bit primes incl. SEAL's special prime)


def _context(scheme: object, n: int, primes: int) -> sealapi.SEALContext:
    parameters = sealapi.EncryptionParameters(scheme)
    parameters.set_poly_modulus_degree(n)
    parameters.set_coeff_modulus(sealapi.CoeffModulus.Create(n, [30] * primes))
    if scheme == sealapi.SCHEME_TYPE.BFV:
        parameters.set_plain_modulus(sealapi.PlainModulus.Batching(n, 20))
    return sealapi.SEALContext(parameters, True, sealapi.SEC_LEVEL_TYPE.TC128)


def _encryptor(context: sealapi.SEALContext) -> sealapi.Encryptor:
    keys = sealapi.KeyGenerator(context)
    public = sealapi.PublicKey()
    keys.create_public_key(public)
    return sealapi.Encryptor(context, public)


def _moduli(context_data: object) -> list[int]:
    return [m.value() for m in context_data.parms().coeff_modulus()]  # type: ignore[attr-defined]


# -- BFV: coefficient form, negacyclic product -----------------------------------------------------


def _bfv_multiply_plain(
    n: int, primes: int, plaintext_of: object, centred_lift: bool = True
) -> tuple[np.ndarray, np.ndarray, list[int], int]:
    """(our product, SEAL's product, moduli, plain modulus) for a random BFV encryption times a plaintext."""
    context = _context(sealapi.SCHEME_TYPE.BFV, n, primes)
    plain_modulus = context.first_context_data().parms().plain_modulus().value()
    plaintext = plaintext_of(context, plain_modulus)  # type: ignore[operator]
    ciphertext = sealapi.Ciphertext()
    _encryptor(context).encrypt(sealapi.Plaintext("1x^3 + 2"), ciphertext)
    product = sealapi.Ciphertext()
    sealapi.Evaluator(context).multiply_plain(ciphertext, plaintext, product)
    moduli = _moduli(context.first_context_data())
    assert not ciphertext.is_ntt_form()
    assert not product.is_ntt_form()
    coefficients = np.zeros(n, dtype=np.int64)
    coefficients[: plaintext.coeff_count()] = seal_words(plaintext, (plaintext.coeff_count(),))
    # Centred lift of the plaintext into every q_i, as SEAL does before its NTT (dense plaintexts).
    threshold = (plain_modulus + 1) // 2 if centred_lift else plain_modulus
    lifted = np.stack(
        [np.where(coefficients >= threshold, coefficients + q - plain_modulus, coefficients) for q in moduli]
    )
    ours = negacyclic_multiply(ciphertext_limbs(ciphertext), lifted, moduli, n)
    return ours, ciphertext_limbs(product), moduli, plain_modulus


def _batched_plaintext(context: sealapi.SEALContext, plain_modulus: int) -> sealapi.Plaintext:
    """A dense plaintext: random slots through SEAL's BatchEncoder."""
    encoder = sealapi.BatchEncoder(context)
    slots = np.random.default_rng(11).integers(0, plain_modulus, encoder.slot_count())
    plaintext = sealapi.Plaintext()
    encoder.encode([int(v) for v in slots], plaintext)
    return plaintext


@pytest.mark.parametrize(("n", "primes"), SIZES)
def test_bfv_multiply_plain_is_bit_exact_with_seal(n: int, primes: int) -> None:
    ours, seal, _, _ = _bfv_multiply_plain(n, primes, _batched_plaintext)
    assert seal.shape == (2, primes - 1, n)
    assert np.array_equal(ours, seal)


def _monomial(coefficient_of: object) -> object:
    def build(context: sealapi.SEALContext, plain_modulus: int) -> sealapi.Plaintext:
        return sealapi.Plaintext(f"{coefficient_of(plain_modulus):X}x^5")  # type: ignore[operator]

    return build


def test_bfv_multiply_plain_by_a_lower_half_monomial_is_bit_exact_with_seal() -> None:
    ours, seal, _, _ = _bfv_multiply_plain(4096, 3, _monomial(lambda t: 3))
    assert np.array_equal(ours, seal)


def test_bfv_multiply_plain_by_an_upper_half_monomial_uses_the_unlifted_coefficient_in_seal() -> None:
    ours, seal, _, _ = _bfv_multiply_plain(4096, 3, _monomial(lambda t: t - 2), centred_lift=False)
    assert np.array_equal(ours, seal)
    lifted, _, _, _ = _bfv_multiply_plain(4096, 3, _monomial(lambda t: t - 2), centred_lift=True)
    assert not np.array_equal(lifted, seal)


# -- CKKS: NTT form, pointwise product; rescale ---------------------------------------------------


def _ckks_product(
    n: int, primes: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, sealapi.Ciphertext, list[int], sealapi.SEALContext]:
    """(ciphertext limbs, plaintext limbs, SEAL's product limbs, SEAL's product, moduli, context)."""
    context = _context(sealapi.SCHEME_TYPE.CKKS, n, primes)
    encoder = sealapi.CKKSEncoder(context)
    rng = np.random.default_rng(n)
    scale = float(1 << 20)
    plaintext, message = sealapi.Plaintext(), sealapi.Plaintext()
    encoder.encode([float(v) for v in rng.uniform(-1, 1, encoder.slot_count())], scale, plaintext)
    encoder.encode([float(v) for v in rng.uniform(-1, 1, encoder.slot_count())], scale, message)
    ciphertext = sealapi.Ciphertext()
    _encryptor(context).encrypt(message, ciphertext)
    product = sealapi.Ciphertext()
    sealapi.Evaluator(context).multiply_plain(ciphertext, plaintext, product)
    moduli = _moduli(context.first_context_data())
    assert ciphertext.is_ntt_form()
    assert plaintext.is_ntt_form()
    assert product.is_ntt_form()
    limbs = len(moduli)
    return (
        ciphertext_limbs(ciphertext),
        seal_words(plaintext, (limbs, n)),
        ciphertext_limbs(product),
        product,
        moduli,
        context,
    )


@pytest.mark.parametrize(("n", "primes"), SIZES)
def test_ckks_multiply_plain_is_a_bit_exact_pointwise_product(n: int, primes: int) -> None:
    ciphertext, plaintext, seal, _, moduli, _ = _ckks_product(n, primes)
    ours = np.stack([mod_mul(ciphertext[:, limb], plaintext[limb], q) for limb, q in enumerate(moduli)], axis=1)
    assert seal.shape == (2, primes - 1, n)
    assert np.array_equal(ours, seal)


@pytest.mark.parametrize(("n", "primes"), SIZES)
def test_ckks_rescale_to_next_is_bit_exact_with_inverse_ntt_rescale_forward_ntt(n: int, primes: int) -> None:
    _, _, product_limbs, product, moduli, context = _ckks_product(n, primes)
    rescaled = sealapi.Ciphertext()
    sealapi.Evaluator(context).rescale_to_next(product, rescaled)
    seal = ciphertext_limbs(rescaled)
    coefficients = NTT(n, moduli).inverse(product_limbs, order="bit_reversed")
    ours = NTT(n, moduli[:-1]).forward(rescale_by_last(coefficients, moduli), order="bit_reversed")
    assert seal.shape == (2, primes - 2, n)
    assert np.array_equal(ours, seal)
