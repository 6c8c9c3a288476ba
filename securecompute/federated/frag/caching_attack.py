"""Why FRAG's published "multiplicative caching" is not IND-CPA: recover it from one chosen plaintext.

The construction (as read in the author's public OpenFHE code; ``protocols/frag.md`` section 9):
encrypt the all-ones vector once, ct1 = (b0, b1); "encrypt" m as P_m * ct1 (one plaintext product),
then "randomise" by adding (e, -e).  Whatever e is, c0 + c1 = P_m * (b0 + b1).  So the ciphertext of ONE
plaintext the attacker chose gives B = b0 + b1, and every other message encrypted from the same cache
follows from one division in R_q: no secret key is used.  :func:`run_caching_attack` runs this on real
SEAL ciphertexts through ``tenseal.sealapi`` (the kit reached through :mod:`securecompute.fhe.hazmat`),
computing in SEAL's NTT domain prime by prime.

This module exists to demonstrate the break (tests, the notebook); nothing in FRAG encrypts this way.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from tenseal import sealapi

from securecompute.fhe.hazmat import seal_kit
from securecompute.fhe.seal_io import seal_load, seal_save
from securecompute.randomness import Seed, as_generator

if TYPE_CHECKING:
    from securecompute.fhe.context import CKKSContext

__all__ = ["CachingAttackOutcome", "run_caching_attack", "run_pool_control"]

PRODUCT_SCALE = 2.0**20
"""Scale of the cached product's plaintexts (any public value; the attack does not depend on it)."""


@dataclass(frozen=True)
class CachingAttackOutcome:
    """What the attacker got.

    Attributes:
        secret: (slots,) the victim's vector.
        stolen: (slots,) what the attacker decoded without the key.
        exact_polynomial: the recovered plaintext polynomial equals the victim's encoding word for word.
        owner_decryption: (slots,) what the key holder decrypts from the victim's ciphertext.
    """

    secret: np.ndarray
    stolen: np.ndarray
    exact_polynomial: bool
    owner_decryption: np.ndarray

    @property
    def max_error(self) -> float:
        """max |stolen - secret| (encoding precision at scale 2^20, about 1e-4)."""
        return float(np.abs(self.stolen - self.secret).max())


def run_caching_attack(context: CKKSContext, seed: Seed = 0) -> CachingAttackOutcome:
    """Encrypt a random secret with the cached scheme under ``context``'s key, then break it from one chosen plaintext.

    Args:
        context: a secret ``seal`` context (its SEAL kit is reached through :mod:`securecompute.fhe.hazmat`;
            the secret key is used only to show the ciphertext is legitimate).
        seed: seed of the secret vector.
    """
    kit: Any = seal_kit(context)
    slots, degree, level = kit.params.slots, kit.params.poly_modulus_degree, kit.params.depth
    parms_id = kit._parms[level]
    moduli = [q.value() for q in kit._sc.get_context_data(parms_id).parms().coeff_modulus()]
    encoder, evaluator = kit._encoder, kit._evaluator

    def encode(values: np.ndarray) -> Any:
        plain = sealapi.Plaintext()
        encoder.encode(values.tolist(), parms_id, PRODUCT_SCALE, plain)
        return plain

    cache = kit.encrypt(np.ones(slots))  # ct1 = Enc(1), made once

    def cached_encrypt(values: np.ndarray) -> Any:
        out = sealapi.Ciphertext()
        evaluator.multiply_plain(cache, encode(values), out)
        return out  # + (e, -e): cancels in c0 + c1 below whatever e is, so it is left out

    secret = as_generator(seed).uniform(-1.0, 1.0, size=slots)
    victim = cached_encrypt(secret)
    owner = sealapi.Plaintext()
    kit._decryptor.decrypt(victim, owner)

    chosen = np.full(slots, 0.5)  # the attacker's one chosen plaintext
    recovered = _recover(kit, cached_encrypt(chosen), encode(chosen), victim)
    (expected,) = _words(encode(secret), 1, len(moduli), degree)
    stolen_plain = _plaintext_from_words(encode(np.zeros(slots)), recovered.reshape(-1), kit._sc)
    return CachingAttackOutcome(
        secret,
        np.asarray(encoder.decode_double(stolen_plain), dtype=np.float64),
        recovered.tolist() == expected,
        np.asarray(encoder.decode_double(owner), dtype=np.float64),
    )


def run_pool_control(context: CKKSContext, pool: Any, seed: Seed = 0) -> tuple[float, np.ndarray]:
    """The same recovery algebra against pooled encryptions (Enc(0) + constant): it must fail.

    The attacker obtains the pooled ciphertext of its chosen constant 0.5 and the pooled ciphertext
    of a secret constant, runs exactly the division of :func:`run_caching_attack` and decodes.

    Returns:
        the secret constant, and what the attacker decoded (slots,): garbage, far from the secret.
    """
    kit: Any = seal_kit(context)
    level = kit.params.depth
    parms_id = kit._parms[level]
    secret = float(as_generator(seed).uniform(-1.0, 1.0))
    victim = pool.encrypt_constant(secret)
    chosen = pool.encrypt_constant(0.5)
    chosen_plain = sealapi.Plaintext()
    kit._encoder.encode(0.5, parms_id, chosen.scale, chosen_plain)  # the attacker knows the public encoding
    recovered = _recover(kit, chosen, chosen_plain, victim)
    template = sealapi.Plaintext()
    kit._encoder.encode([0.0] * kit.params.slots, parms_id, victim.scale, template)
    stolen_plain = _plaintext_from_words(template, recovered.reshape(-1), kit._sc)
    return secret, np.asarray(kit._encoder.decode_double(stolen_plain), dtype=np.float64)


def _recover(kit: Any, chosen: Any, chosen_plain: Any, victim: Any) -> np.ndarray:
    """(primes, N) words of (v0 + v1) / ((c0 + c1) / P_chosen): the cache-recovery algebra, prime by prime (NTT)."""
    degree = kit.params.poly_modulus_degree
    moduli = [q.value() for q in kit._sc.get_context_data(chosen.parms_id()).parms().coeff_modulus()]
    c0, c1 = _words(chosen, 2, len(moduli), degree)
    (p_chosen,) = _words(chosen_plain, 1, len(moduli), degree)
    v0, v1 = _words(victim, 2, len(moduli), degree)
    recovered = np.zeros((len(moduli), degree), dtype=np.uint64)
    for j, q in enumerate(moduli):
        for i in range(degree):
            cache_sum = (c0[j][i] + c1[j][i]) * pow(p_chosen[j][i], -1, q) % q
            recovered[j, i] = (v0[j][i] + v1[j][i]) * pow(cache_sum, -1, q) % q if cache_sum else 0
    return recovered


def _words(obj: Any, polys: int, primes: int, degree: int) -> list[list[list[int]]]:
    """The (polys, primes, degree) 64-bit words of a SEAL ciphertext or plaintext, as Python ints."""
    flat = obj.dyn_array()
    words = [flat.at(i) for i in range(polys * primes * degree)]
    return [
        [words[(p * primes + j) * degree : (p * primes + j + 1) * degree] for j in range(primes)] for p in range(polys)
    ]


def _plaintext_from_words(template: Any, words: np.ndarray, context: Any) -> Any:
    """A plaintext like ``template`` (parms_id, scale) holding ``words``, through SEAL's uncompressed format."""
    major, minor = seal_save(template)[3:5]

    def framed(body: bytes) -> bytes:  # SEALHeader: magic, size, version, compr_mode none, reserved, total
        return struct.pack("<HBBBBHQ", 0xA15E, 16, major, minor, 0, 0, 16 + len(body)) + body

    array = framed(struct.pack("<Q", words.size) + words.astype("<u8").tobytes())
    members = struct.pack("<4QQd", *template.parms_id(), words.size, template.scale) + array
    return seal_load(sealapi.Plaintext(), context, framed(members), "recovered plaintext")
