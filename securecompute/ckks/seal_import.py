"""SEAL objects (through ``tenseal.sealapi``) as this package's values: parameters, keys, plaintexts, ciphertexts.

Reading only: SEAL's words come out through ``dyn_array`` (:func:`securecompute.cross.seal_interop.seal_words`),
so the arrays are SEAL's NTT-form residues exactly.  With SEAL's keys imported, every evaluation op of
:class:`~securecompute.ckks.evaluator.Evaluator` reproduces SEAL's result coefficient for coefficient.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from securecompute.ckks.ciphertext import Ciphertext
from securecompute.ckks.encoder import Plaintext
from securecompute.ckks.keys import GaloisKeys, KeySwitchingKey, PublicKey, SecretKey
from securecompute.ckks.params import CKKSParameters
from securecompute.cross.seal_interop import seal_words
from securecompute.errors import MissingKeyError, ParameterError

__all__ = [
    "ciphertext_from_seal",
    "galois_keys_from_seal",
    "parameters_from_seal",
    "plaintext_from_seal",
    "public_key_from_seal",
    "relin_key_from_seal",
    "secret_key_from_seal",
]


def parameters_from_seal(context: Any, allow_insecure: bool = False) -> CKKSParameters:
    """The parameters of a CKKS ``sealapi.SEALContext`` (its key level's full chain).

    Raises:
        ParameterError: the context is not CKKS or has no special prime.
    """
    parms = context.key_context_data().parms()
    moduli = tuple(int(m.value()) for m in parms.coeff_modulus())
    return CKKSParameters(int(parms.poly_modulus_degree()), moduli, allow_insecure=allow_insecure)


def ciphertext_from_seal(ciphertext: Any) -> Ciphertext:
    """A ``sealapi.Ciphertext`` (NTT form) as a :class:`Ciphertext` of uint64 ``(size, L, N)``.

    Raises:
        ParameterError: the ciphertext is not in NTT form (BFV).
    """
    if not ciphertext.is_ntt_form():
        raise ParameterError("the SEAL ciphertext is not in NTT form; only CKKS ciphertexts are imported")
    shape = (ciphertext.size(), ciphertext.coeff_modulus_size(), ciphertext.poly_modulus_degree())
    return Ciphertext(seal_words(ciphertext, shape).view(np.uint64), float(ciphertext.scale))


def plaintext_from_seal(plaintext: Any, n: int) -> Plaintext:
    """A CKKS ``sealapi.Plaintext`` (NTT form, limb-major) as a :class:`Plaintext` uint64 ``(L, N)``."""
    count = plaintext.coeff_count()
    if count % n:
        raise ParameterError(f"plaintext has {count} words, not a multiple of N={n}")
    return Plaintext(seal_words(plaintext, (count // n, n)).view(np.uint64), float(plaintext.scale))


def secret_key_from_seal(secret_key: Any, params: CKKSParameters) -> SecretKey:
    """SEAL's secret key: s in NTT form over all K primes."""
    data = plaintext_from_seal(secret_key.data(), params.n).data
    return SecretKey(params, data)


def public_key_from_seal(public_key: Any, params: CKKSParameters) -> PublicKey:
    """SEAL's public key: a size-2 encryption of zero at the key level."""
    return PublicKey(params, ciphertext_from_seal(public_key.data()).data)


def _switching_key(components: list[Any], params: CKKSParameters) -> KeySwitchingKey:
    data = np.stack([ciphertext_from_seal(component.data()).data for component in components])
    return KeySwitchingKey(params, data)


def relin_key_from_seal(relin_keys: Any, params: CKKSParameters) -> KeySwitchingKey:
    """SEAL's relinearisation key (for s^2): K-1 components, one per data prime."""
    if not relin_keys.has_key(2):
        raise MissingKeyError("the SEAL RelinKeys hold no key for s^2")
    return _switching_key(relin_keys.key(2), params)


def galois_keys_from_seal(galois_keys: Any, params: CKKSParameters, elements: list[int]) -> GaloisKeys:
    """SEAL's Galois keys for the given Galois elements (``3^step mod 2N``; 2N-1 conjugates).

    Raises:
        MissingKeyError: SEAL holds no key for one of ``elements``.
    """
    keys = {}
    for element in elements:
        if not galois_keys.has_key(element):
            raise MissingKeyError(f"the SEAL GaloisKeys hold no key for Galois element {element}")
        keys[int(element)] = _switching_key(galois_keys.key(element), params)
    return GaloisKeys(params, keys)
