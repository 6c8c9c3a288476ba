"""SEAL as the oracle: real ciphertext limbs in and out of ``tenseal.sealapi`` as numpy arrays.

Used by the tests, the known-answer-vector generator, the CLI and the benchmarks to check the
kernels bit for bit against SEAL's own C++ NTT.  The parameters may be insecure on purpose (the
security check can be switched off): only the arithmetic is compared, no key is ever relied on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from securecompute.errors import ParameterError

__all__ = ["SealNttPair", "bfv_ntt_pair", "ciphertext_limbs", "seal_words"]


def seal_words(container: Any, shape: tuple[int, ...]) -> np.ndarray:
    """The uint64 words of a ``sealapi`` Ciphertext or Plaintext as int64 of ``shape``."""
    array = container.dyn_array()
    words = np.fromiter((array.at(i) for i in range(array.size())), dtype=np.uint64, count=array.size())
    return words.astype(np.int64).reshape(shape)


def ciphertext_limbs(ciphertext: Any) -> np.ndarray:
    """The RNS data of a ``sealapi.Ciphertext``, (polynomials, limbs, n) int64."""
    shape = (ciphertext.size(), ciphertext.coeff_modulus_size(), ciphertext.poly_modulus_degree())
    return seal_words(ciphertext, shape)


@dataclass(frozen=True)
class SealNttPair:
    """A fresh BFV ciphertext in coefficient form and SEAL's NTT of it.

    Attributes:
        moduli: the data primes, one per limb.
        coefficients: (2, L, n) int64, coefficient form.
        ntt: (2, L, n) int64, SEAL's ``transform_to_ntt`` (bit-reversed evaluation order).
        back: (2, L, n) int64, SEAL's ``transform_from_ntt`` of ``ntt``.
        seal_forward: runs SEAL's ``transform_to_ntt`` once more on the same ciphertext (for timing).
    """

    moduli: list[int]
    coefficients: np.ndarray
    ntt: np.ndarray
    back: np.ndarray
    seal_forward: Callable[[], None]


def bfv_ntt_pair(
    n: int,
    *,
    limb_bits: list[int] | None = None,
    moduli: list[int] | None = None,
    plain_modulus: int = 257,
    secure: bool = False,
) -> SealNttPair:
    """Encrypt a small plaintext under fresh BFV keys and transform it with SEAL.

    Args:
        n: ring degree (a power of two).
        limb_bits: bit sizes of the coefficient primes SEAL should pick (the last is SEAL's special
            prime and is not a data limb); or
        moduli: the coefficient primes themselves (each = 1 mod 2n).
        plain_modulus: BFV plaintext modulus.
        secure: enforce SEAL's 128-bit check (off by default: arithmetic vectors only).

    Raises:
        ParameterError: SEAL refuses the parameters (its message included).
    """
    from tenseal import sealapi

    if (limb_bits is None) == (moduli is None):
        raise ParameterError("give exactly one of limb_bits= or moduli=")
    parameters = sealapi.EncryptionParameters(sealapi.SCHEME_TYPE.BFV)
    parameters.set_poly_modulus_degree(n)
    if limb_bits is not None:
        parameters.set_coeff_modulus(sealapi.CoeffModulus.Create(n, list(limb_bits)))
    else:
        parameters.set_coeff_modulus([sealapi.Modulus(q) for q in moduli or []])
    parameters.set_plain_modulus(sealapi.Modulus(plain_modulus))
    level = sealapi.SEC_LEVEL_TYPE.TC128 if secure else sealapi.SEC_LEVEL_TYPE.NONE
    context = sealapi.SEALContext(parameters, True, level)
    if not context.parameters_set():
        raise ParameterError(f"SEAL refused n={n}, moduli {moduli or limb_bits}: {context.parameters_error_message()}")
    keys = sealapi.KeyGenerator(context)
    public = sealapi.PublicKey()
    keys.create_public_key(public)
    ciphertext = sealapi.Ciphertext()
    sealapi.Encryptor(context, public).encrypt(sealapi.Plaintext("3x^5 + 1"), ciphertext)
    evaluator = sealapi.Evaluator(context)
    in_ntt, back = sealapi.Ciphertext(), sealapi.Ciphertext()
    evaluator.transform_to_ntt(ciphertext, in_ntt)
    evaluator.transform_from_ntt(in_ntt, back)
    data_moduli = [m.value() for m in context.first_context_data().parms().coeff_modulus()]

    def seal_forward() -> None:
        evaluator.transform_to_ntt(ciphertext, sealapi.Ciphertext())

    return SealNttPair(
        data_moduli, ciphertext_limbs(ciphertext), ciphertext_limbs(in_ntt), ciphertext_limbs(back), seal_forward
    )
