"""The executor's backend on real SEAL ciphertexts: a thin adapter over a SEAL kit."""

from __future__ import annotations

from typing import Any

import numpy as np

from securecompute.fhe.seal import Ciphertext

__all__ = ["SealBackend"]


class SealBackend:
    """Backend interface of :mod:`securecompute.fhe.execute` over ``SealPublicKit``/``SealSecretKit``."""

    def __init__(self, kit: Any) -> None:
        self._kit = kit
        self.slots = kit.params.slots

    def level(self, ciphertext: Ciphertext) -> int:
        return int(self._kit.level(ciphertext))

    def rotate(self, ciphertext: Ciphertext, step: int) -> Ciphertext:
        return self._kit.rotate(ciphertext, step)

    def add(self, left: Ciphertext, right: Ciphertext) -> Ciphertext:
        return self._kit.add(left, right)

    def multiply(self, left: Ciphertext, right: Ciphertext) -> Ciphertext:
        return self._kit.multiply(left, right)

    def multiply_plain(self, ciphertext: Ciphertext, values: np.ndarray) -> Ciphertext:
        return self._kit.multiply_plain(ciphertext, values)

    def dot_plain(self, ciphertexts: list[Ciphertext], vectors: list[np.ndarray]) -> Ciphertext:
        return self._kit.dot_plain(ciphertexts, vectors)

    def zeros(self, level: int) -> Ciphertext:
        return self._kit.zeros(level)
