"""How a tensor sits in CKKS slots.

A tensor of logical shape ``shape`` is stored with its axes in a *storage order* (a permutation of
the logical axes, outermost first), each axis zero-padded to a power of two, flattened row-major.
Call the padded size P.  If P <= S (the slot count) the P values repeat S/P times across the slot
vector (a *periodic* layout: slot t holds flat index t mod P); otherwise the flat vector is cut into
P/S ciphertexts of S slots each (chunk c holds flat indices [cS, (c+1)S)).

Periodicity is what lets the planner replicate an operand along labels it lacks for free and makes
rotate-and-sum reductions over the outermost axes leave exact replicas behind.  A storage order
other than the logical order is a free transpose: the axes are put back in order when the tensor
is decrypted.

The storage may also hold *filler* axes, written as negative entries -f in ``storage``: f slots of
which only the first holds data, the rest garbage.  They are what a rotate-and-sum over an inner
axis leaves behind (the sum lands at index 0 of that axis).  Decryption reads index 0, and a later
contraction reads such a tensor through a linear transform that only touches valid slots (one
level, where a clean layout might have been used in place).  The garbage holds partial sums: when
plaintext operands must stay private from the key holder, ask einsum for a clean result, which
masks it (one more level; ``protocols/einhops.md``).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod

import numpy as np
from einops import rearrange

from securecompute.errors import ShapeError

__all__ = ["TensorLayout", "next_power_of_two"]


def next_power_of_two(size: int) -> int:
    """Smallest power of two >= ``size`` (1 for 0 and 1)."""
    return 1 if size <= 1 else 1 << (size - 1).bit_length()


@dataclass(frozen=True)
class TensorLayout:
    """Storage of one tensor in slot vectors.

    Attributes:
        shape: logical shape of the tensor.
        storage: slot axes outermost first: a logical axis (>= 0), or a filler of f slots (-f).
        slots: slots per ciphertext, S.
    """

    shape: tuple[int, ...]
    storage: tuple[int, ...]
    slots: int

    @classmethod
    def row_major(cls, shape: tuple[int, ...], slots: int) -> TensorLayout:
        """The layout a fresh encryption uses: logical order."""
        return cls(tuple(shape), tuple(range(len(shape))), slots)

    @property
    def order(self) -> tuple[int, ...]:
        """Logical axes in storage order, outermost first (fillers left out)."""
        return tuple(axis for axis in self.storage if axis >= 0)

    @property
    def has_fillers(self) -> bool:
        return any(axis < 0 for axis in self.storage)

    @property
    def padded(self) -> tuple[int, ...]:
        """Sizes of the slot axes in storage order (fillers included)."""
        return tuple(next_power_of_two(self.shape[axis]) if axis >= 0 else -axis for axis in self.storage)

    @property
    def period(self) -> int:
        """P, the padded size: number of distinct slots the tensor occupies."""
        return prod(self.padded)

    @property
    def chunks(self) -> int:
        """Number of ciphertexts."""
        return max(1, self.period // self.slots)

    def strides(self) -> dict[int, int]:
        """Flat stride of each logical axis in the padded row-major storage."""
        strides: dict[int, int] = {}
        step = 1
        for axis, size in zip(reversed(self.storage), reversed(self.padded), strict=True):
            if axis >= 0:
                strides[axis] = step
            step *= size
        return strides

    def pack(self, array: np.ndarray) -> np.ndarray:
        """Lay ``array`` (of ``shape``) out as slot vectors.

        Returns:
            (chunks, slots) float64.
        """
        values = np.asarray(array, dtype=np.float64)
        if values.shape != self.shape:
            raise ShapeError(f"array of shape {values.shape} does not fit a layout of shape {self.shape}")
        stored = np.transpose(values, self.order) if values.ndim else values.reshape(())
        stored = stored.reshape(tuple(1 if axis < 0 else self.shape[axis] for axis in self.storage))
        padding = [(0, padded - size) for padded, size in zip(self.padded, stored.shape, strict=True)]
        flat = (np.pad(stored, padding) if padding else stored).reshape(-1)
        if flat.size < self.slots:
            flat = np.tile(flat, self.slots // flat.size)
        return rearrange(flat, "(chunk slot) -> chunk slot", slot=self.slots)

    def unpack(self, vectors: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`pack`: (chunks, slots) slot values -> array of ``shape``."""
        flat = np.asarray(vectors, dtype=np.float64).reshape(-1)[: self.period]
        stored = flat.reshape(self.padded) if self.padded else flat.reshape(())
        cropped = stored[tuple(slice(0, self.shape[axis]) if axis >= 0 else 0 for axis in self.storage)]
        return np.transpose(cropped, np.argsort(self.order)) if self.order else cropped
