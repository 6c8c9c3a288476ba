"""Bit-exactness against Microsoft SEAL's own NTT (through tenseal.sealapi).

SEAL stores each RNS limb of a ciphertext in NTT form as the evaluations at psi^(2*bitrev(i)+1),
psi the smallest primitive 2n-th root: our ``order="bit_reversed"`` must reproduce it bit for bit.
BFV ciphertexts come out of the encryptor in coefficient form, so they give real, uniformly
random-looking test vectors for both directions.
"""

from __future__ import annotations

import numpy as np
import pytest

from securecompute.cross.ntt import NTT
from securecompute.cross.seal_interop import bfv_ntt_pair


def _seal_pair(n: int, limb_bits: list[int]) -> tuple[list[int], np.ndarray, np.ndarray, np.ndarray]:
    """(moduli, coefficients, SEAL's transform_to_ntt, SEAL's transform_from_ntt of that)."""
    # SEAL's 128-bit table stops at n = 32768; at 65536 its security check is off (bit-exactness only).
    secure = n <= 32768
    pair = bfv_ntt_pair(n, limb_bits=limb_bits, plain_modulus=(1 << 20) - (1 << 20) % (2 * n) + 1, secure=secure)
    return pair.moduli, pair.coefficients, pair.ntt, pair.back


CASES = [(4096, [30, 30, 30]), (8192, [30, 30, 30, 30]), (16384, [30] * 5), (65536, [30, 30])]


@pytest.mark.parametrize(("n", "limb_bits"), CASES)
def test_forward_is_bit_exact_with_seal_transform_to_ntt(n: int, limb_bits: list[int]) -> None:
    moduli, coefficients, seal_ntt, _ = _seal_pair(n, limb_bits)
    assert np.array_equal(NTT(n, moduli).forward(coefficients, order="bit_reversed"), seal_ntt)


@pytest.mark.parametrize(("n", "limb_bits"), CASES)
def test_inverse_is_bit_exact_with_seal_transform_from_ntt(n: int, limb_bits: list[int]) -> None:
    moduli, coefficients, seal_ntt, seal_back = _seal_pair(n, limb_bits)
    assert np.array_equal(seal_back, coefficients)
    assert np.array_equal(NTT(n, moduli).inverse(seal_ntt, order="bit_reversed"), seal_back)
