"""The ``seal`` engine: Microsoft SEAL (through ``tenseal.sealapi``) behind the CKKS engine interface.

A thin adapter over the SEAL kits of :mod:`securecompute.fhe.seal` (which hold the SEAL objects and
keep the scale invariant); this module and those two (``seal``, ``seal_io``) are the only ones that
touch SEAL.  Raw access for SEAL-level work (an attack demonstration) goes through
:mod:`securecompute.fhe.hazmat`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from securecompute.errors import ParameterError
from securecompute.fhe.backend import CKKSEngine, CKKSKeyHolder, CostModel
from securecompute.fhe.params import CKKSParameters
from securecompute.fhe.seal import (
    MAX_RESCALE_DRIFT,
    Ciphertext,
    GaloisKeyBundle,
    SealPublicKit,
    SealSecretKit,
)

__all__ = ["FACTORY", "SealEvaluator", "SealFactory", "SealKeyHolder", "seal_cost_model"]

Plaintext = Any  # a sealapi.Plaintext


def seal_cost_model(params: CKKSParameters) -> CostModel:
    """Weights measured on SEAL 4.3 (protocols/einhops.md); a Galois key is (K-1) x 2 x K x N x 8 bytes."""
    return CostModel(
        rotation=1.0,
        diagonal=0.35,
        ciphertext_multiply=1.4,
        plain_multiply=0.35,
        galois_key_bytes=params.galois_key_bytes,
        galois_generator=3,
    )


class SealEvaluator:
    """Public SEAL evaluator (public, relinearisation and the Galois keys given to it)."""

    name = "seal"
    encrypts = True

    def __init__(self, kit: SealPublicKit | SealSecretKit) -> None:
        self.seal_kit = kit
        self.params = kit.params
        self.slots = kit.params.slots
        self.fingerprint = kit.fingerprint
        self.cost_model = seal_cost_model(kit.params)

    @property
    def rotation_steps(self) -> frozenset[int]:
        return self.seal_kit.rotation_steps

    def encode(self, values: np.ndarray, level: int) -> Plaintext:
        return self.seal_kit.encode_multiplier(values, level)

    def encrypt(self, values: np.ndarray) -> Ciphertext:
        return self.seal_kit.encrypt(values)

    def level(self, ciphertext: Ciphertext) -> int:
        return int(self.seal_kit.level(ciphertext))

    def rotate(self, ciphertext: Ciphertext, step: int) -> Ciphertext:
        return self.seal_kit.rotate(ciphertext, step)

    def rotate_many(self, ciphertext: Ciphertext, steps: Sequence[int]) -> list[Ciphertext]:
        # sealapi exposes no hoisted rotation: one key switch per step.
        return [self.seal_kit.rotate(ciphertext, step) for step in steps]

    def add(self, left: Ciphertext, right: Ciphertext) -> Ciphertext:
        return self.seal_kit.add(left, right)

    def add_plain(self, ciphertext: Ciphertext, values: np.ndarray) -> Ciphertext:
        return self.seal_kit.add_plain(ciphertext, values)

    def add_scalar(self, ciphertext: Ciphertext, value: float) -> Ciphertext:
        return self.seal_kit.add_scalar(ciphertext, value)

    def multiply(self, left: Ciphertext, right: Ciphertext) -> Ciphertext:
        return self.seal_kit.multiply(left, right)

    def multiply_plain(self, ciphertext: Ciphertext, values: np.ndarray | Plaintext) -> Ciphertext:
        return self.seal_kit.multiply_plain(ciphertext, values)

    def dot_plain(self, ciphertexts: Sequence[Ciphertext], values: Sequence[np.ndarray | Plaintext]) -> Ciphertext:
        return self.seal_kit.dot_plain(list(ciphertexts), list(values))

    def zeros(self, level: int) -> Ciphertext:
        return self.seal_kit.zeros(level)

    def check_ciphertext_products(self, levels: Iterable[int]) -> None:
        drift = self.seal_kit.rescale_drift
        bad = [level for level in levels if 0 < level < len(drift) and abs(drift[level]) > MAX_RESCALE_DRIFT]
        if bad:
            raise ParameterError(
                f"ciphertext products at level(s) {bad} would bias results by up to "
                f"{max(abs(drift[level]) for level in bad):.1e}; use scale_bits >= 40"
            )

    def ciphertext_to_bytes(self, ciphertext: Ciphertext) -> bytes:
        return self.seal_kit.ciphertext_to_bytes(ciphertext)

    def ciphertext_from_bytes(self, data: bytes) -> Ciphertext:
        return self.seal_kit.ciphertext_from_bytes(data)

    def public_bytes(self, relin_keys: bool = True) -> bytes:
        kit = self.seal_kit
        public = kit.public_kit() if isinstance(kit, SealSecretKit) else kit
        return public.to_bytes(relin_keys)

    def add_rotation_keys(self, data: bytes) -> None:
        self.seal_kit.add_galois_keys(GaloisKeyBundle.from_bytes(data))

    def public(self) -> CKKSEngine[Ciphertext, Plaintext]:
        kit = self.seal_kit
        return SealEvaluator(kit.public_kit()) if isinstance(kit, SealSecretKit) else self


class SealKeyHolder(SealEvaluator):
    """The SEAL secret-key owner: decryption, Galois key generation, secret export."""

    def __init__(self, kit: SealSecretKit) -> None:
        super().__init__(kit)
        self.secret_kit = kit

    def decrypt(self, ciphertext: Ciphertext) -> np.ndarray:
        return self.secret_kit.decrypt(ciphertext)

    def rotation_key_bytes(self, steps: Iterable[int]) -> bytes:
        return self.secret_kit.galois_keys(steps).to_bytes()

    def make_rotation_keys(self, steps: Iterable[int]) -> None:
        missing = sorted(set(steps) - self.rotation_steps)
        if missing:
            self.secret_kit.add_galois_keys(self.secret_kit.galois_keys(missing))

    def secret_bytes(self) -> bytes:
        return self.secret_kit.to_bytes()


class SealFactory:
    """Registry entry ``seal``."""

    name = "seal"

    def generate(
        self, params: CKKSParameters, *, noise: float = 0.0, seed: int | None = None
    ) -> CKKSKeyHolder[Ciphertext, Plaintext]:
        if noise:
            raise ParameterError("noise= applies to simulated contexts only; real CKKS brings its own")
        return SealKeyHolder(SealSecretKit.generate(params))

    def load_public(self, data: bytes) -> CKKSEngine[Ciphertext, Plaintext]:
        return SealEvaluator(SealPublicKit.from_bytes(data))

    def load_secret(self, data: bytes) -> CKKSKeyHolder[Ciphertext, Plaintext]:
        return SealKeyHolder(SealSecretKit.from_bytes(data))


FACTORY = SealFactory()
