"""The simulate backend: the same plans on numpy slot vectors, with level accounting.

No encryption happens here.  A simulated ciphertext is its slot vector and its level; every step
of a plan runs exactly as on SEAL (same rotations, same diagonals, same level consumption), and
optional Gaussian noise of a chosen standard deviation is added after each operation to mimic
CKKS's approximate arithmetic.  Used by notebooks, planning and fast tests.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from securecompute.errors import DepthExhaustedError

__all__ = ["SimulatedBackend", "SimulatedCiphertext"]


@dataclass(frozen=True)
class SimulatedCiphertext:
    """Slot values, (S,) float64, and the levels left."""

    values: np.ndarray
    level: int


class SimulatedBackend:
    """Numpy implementation of the executor's backend interface."""

    def __init__(self, slots: int, noise: float = 0.0, seed: int | np.random.Generator | None = 0) -> None:
        self.slots = slots
        self.noise = noise
        self._rng = np.random.default_rng(seed)

    def encrypt(self, values: np.ndarray, level: int) -> SimulatedCiphertext:
        return self._fresh(np.asarray(values, dtype=np.float64), level)

    def decrypt(self, ciphertext: SimulatedCiphertext) -> np.ndarray:
        return ciphertext.values.copy()

    def level(self, ciphertext: SimulatedCiphertext) -> int:
        return ciphertext.level

    def rotate(self, ciphertext: SimulatedCiphertext, step: int) -> SimulatedCiphertext:
        return self._fresh(np.roll(ciphertext.values, -step), ciphertext.level)

    def add(self, left: SimulatedCiphertext, right: SimulatedCiphertext) -> SimulatedCiphertext:
        return SimulatedCiphertext(left.values + right.values, min(left.level, right.level))

    def multiply(self, left: SimulatedCiphertext, right: SimulatedCiphertext) -> SimulatedCiphertext:
        level = self._consume(min(left.level, right.level))
        return self._fresh(left.values * right.values, level)

    def multiply_plain(self, ciphertext: SimulatedCiphertext, values: np.ndarray) -> SimulatedCiphertext:
        return self._fresh(ciphertext.values * values, self._consume(ciphertext.level))

    def dot_plain(self, ciphertexts: list[SimulatedCiphertext], vectors: list[np.ndarray]) -> SimulatedCiphertext:
        level = self._consume(min(c.level for c in ciphertexts))
        total = sum((c.values * v for c, v in zip(ciphertexts, vectors, strict=True)), np.zeros(self.slots))
        return self._fresh(total, level)

    def zeros(self, level: int) -> SimulatedCiphertext:
        return SimulatedCiphertext(np.zeros(self.slots), level)

    def _consume(self, level: int) -> int:
        if level < 1:
            raise DepthExhaustedError("multiplication needs 1 level, but the ciphertext has 0 left", 1, 0)
        return level - 1

    def _fresh(self, values: np.ndarray, level: int) -> SimulatedCiphertext:
        if self.noise:
            values = values + self._rng.normal(0.0, self.noise, values.shape)
        return SimulatedCiphertext(values, level)
