"""The ciphertext value: NTT-form RNS residues with their scale; the level is the limb count minus one."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Ciphertext"]


@dataclass(frozen=True)
class Ciphertext:
    """A CKKS ciphertext (c_0, ..., c_(size-1)) decrypting to ``sum_k c_k s^k``.

    Attributes:
        data: uint64 ``(size, L, N)`` NTT-form residues (SEAL's bit-reversed order), limb l modulo
            ``q_l``; L = level + 1.  Treated as immutable: every operation returns a new array.
        scale: the scaling factor of the encrypted message.
    """

    data: np.ndarray
    scale: float

    @property
    def size(self) -> int:
        """Number of polynomials: 2 fresh, 3 after a multiplication before relinearisation."""
        return int(self.data.shape[0])

    @property
    def level(self) -> int:
        """Chain index (SEAL's ``chain_index``): number of limbs minus one."""
        return int(self.data.shape[1]) - 1
