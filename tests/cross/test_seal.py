"""Bit-exactness against Microsoft SEAL's own NTT (through tenseal.sealapi).

SEAL stores each RNS limb of a ciphertext in NTT form as the evaluations at psi^(2*bitrev(i)+1),
psi the smallest primitive 2n-th root: our ``order="bit_reversed"`` must reproduce it bit for bit.
BFV ciphertexts come out of the encryptor in coefficient form, so they give real, uniformly
random-looking test vectors for both directions.
"""

from __future__ import annotations

import numpy as np
import pytest
from tenseal import sealapi

from securecompute.cross.ntt import NTT


def _limbs(ciphertext: object) -> np.ndarray:
    """Ciphertext data as int64 (poly, limb, coefficient)."""
    array = ciphertext.dyn_array()  # type: ignore[attr-defined]
    values = np.fromiter((array.at(i) for i in range(array.size())), dtype=np.uint64, count=array.size())
    shape = (ciphertext.size(), ciphertext.coeff_modulus_size(), ciphertext.poly_modulus_degree())  # type: ignore[attr-defined]
    return values.astype(np.int64).reshape(shape)


def _seal_pair(n: int, limb_bits: list[int]) -> tuple[list[int], np.ndarray, np.ndarray, np.ndarray]:
    """(moduli, coefficients, SEAL's transform_to_ntt, SEAL's transform_from_ntt of that)."""
    parameters = sealapi.EncryptionParameters(sealapi.SCHEME_TYPE.BFV)
    parameters.set_poly_modulus_degree(n)
    parameters.set_coeff_modulus(sealapi.CoeffModulus.Create(n, limb_bits))
    parameters.set_plain_modulus(sealapi.PlainModulus.Batching(n, 20))
    context = sealapi.SEALContext(parameters, True, sealapi.SEC_LEVEL_TYPE.TC128)
    keys = sealapi.KeyGenerator(context)
    public = sealapi.PublicKey()
    keys.create_public_key(public)
    ciphertext = sealapi.Ciphertext()
    sealapi.Encryptor(context, public).encrypt(sealapi.Plaintext("3x^5 + 1"), ciphertext)
    evaluator = sealapi.Evaluator(context)
    in_ntt, back = sealapi.Ciphertext(), sealapi.Ciphertext()
    evaluator.transform_to_ntt(ciphertext, in_ntt)
    evaluator.transform_from_ntt(in_ntt, back)
    assert in_ntt.is_ntt_form()
    assert not ciphertext.is_ntt_form()
    moduli = [m.value() for m in context.first_context_data().parms().coeff_modulus()]
    return moduli, _limbs(ciphertext), _limbs(in_ntt), _limbs(back)


CASES = [(4096, [30, 30, 30]), (8192, [30, 30, 30, 30]), (16384, [30] * 5)]


@pytest.mark.parametrize(("n", "limb_bits"), CASES)
def test_forward_is_bit_exact_with_seal_transform_to_ntt(n: int, limb_bits: list[int]) -> None:
    moduli, coefficients, seal_ntt, _ = _seal_pair(n, limb_bits)
    assert np.array_equal(NTT(n, moduli).forward(coefficients, order="bit_reversed"), seal_ntt)


@pytest.mark.parametrize(("n", "limb_bits"), CASES)
def test_inverse_is_bit_exact_with_seal_transform_from_ntt(n: int, limb_bits: list[int]) -> None:
    moduli, coefficients, seal_ntt, seal_back = _seal_pair(n, limb_bits)
    assert np.array_equal(seal_back, coefficients)
    assert np.array_equal(NTT(n, moduli).inverse(seal_ntt, order="bit_reversed"), seal_back)
