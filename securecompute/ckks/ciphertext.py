"""The ciphertext value: NTT-form RNS residues with their scale; the level is the limb count minus one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from securecompute.errors import ShapeError

if TYPE_CHECKING:
    from securecompute.ckks.params import CKKSParameters

__all__ = ["Ciphertext", "check_ciphertext", "check_plaintext_data", "is_array"]


@dataclass(frozen=True)
class Ciphertext:
    """A CKKS ciphertext (c_0, ..., c_(size-1)) decrypting to ``sum_k c_k s^k``.

    Attributes:
        data: uint64 ``(size, L, N)`` NTT-form residues (SEAL's bit-reversed order), limb l modulo
            ``q_l``; L = level + 1: a numpy array, or a ``jax.Array`` on the device for results of the
            JAX engine (``np.asarray`` brings it to the host).  Treated as immutable: every operation
            returns a new array.
        scale: the scaling factor of the encrypted message.
    """

    data: Any  # np.ndarray, or jax.Array from the JAX engine
    scale: float

    @property
    def size(self) -> int:
        """Number of polynomials: 2 fresh, 3 after a multiplication before relinearisation."""
        return int(self.data.shape[0])

    @property
    def level(self) -> int:
        """Chain index (SEAL's ``chain_index``): number of limbs minus one."""
        return int(self.data.shape[1]) - 1


def is_array(data: object) -> bool:
    """Whether ``data`` is an array (numpy, or a ``jax.Array``): it has ``dtype``, ``ndim`` and ``shape``."""
    return all(hasattr(data, attribute) for attribute in ("dtype", "ndim", "shape"))


def check_ciphertext(ciphertext: object, params: CKKSParameters, name: str = "ciphertext") -> Ciphertext:
    """``ciphertext`` after checking it is a :class:`Ciphertext` whose data fits ``params``.

    Raises:
        ShapeError: another type, or data that is not a uint64 array (numpy or JAX)
            ``(size >= 2, 1 <= L <= max_level + 1, N)``.
    """
    if not isinstance(ciphertext, Ciphertext):
        raise ShapeError(f"{name} must be a Ciphertext, got {type(ciphertext).__name__}")
    data = ciphertext.data
    if not is_array(data):
        raise ShapeError(f"{name} data must be a uint64 array (numpy or JAX), got {type(data).__name__}")
    if (
        data.dtype != np.uint64
        or data.ndim != 3
        or data.shape[0] < 2
        or data.shape[2] != params.n
        or not 1 <= data.shape[1] <= params.max_level + 1
    ):
        raise ShapeError(
            f"{name} must be a Ciphertext of uint64 (size >= 2, L <= {params.max_level + 1}, N={params.n}); "
            f"got {data.dtype} {data.shape}"
        )
    return ciphertext


def check_plaintext_data(data: Any, params: CKKSParameters, name: str = "plaintext") -> None:
    """Raise ShapeError unless ``data`` is a uint64 array (numpy or JAX) ``(1 <= L <= max_level + 1, N)``."""
    if not is_array(data):
        raise ShapeError(f"{name} data must be a uint64 array (numpy or JAX), got {type(data).__name__}")
    if (
        data.dtype != np.uint64
        or data.ndim != 2
        or data.shape[1] != params.n
        or not 1 <= data.shape[0] <= params.max_level + 1
    ):
        raise ShapeError(
            f"{name} must be uint64 (L <= {params.max_level + 1}, N={params.n}); got {data.dtype} {data.shape}"
        )
