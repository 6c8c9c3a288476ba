"""The fixed vocabulary of SIMD steps that an einsum plan is made of.

Every step reads registers (lists of ciphertext chunks) and writes one new register.  Levels:
a linear transform, a plaintext multiplication and a ciphertext multiplication each consume one;
replicate, tile, rotate-and-sum and the in-place axis sum consume none.  Rotation counts are exact,
per ciphertext.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from securecompute.fhe.lineartransform import LinearTransform

__all__ = [
    "LinearStep",
    "MultiplyPlainStep",
    "MultiplyStep",
    "ReduceAxisStep",
    "ReplicateStep",
    "RotateSumStep",
    "Step",
    "TileStep",
    "doubling_steps",
]


def doubling_steps(count: int) -> list[int]:
    """Multipliers 1, 2, 4, ... below ``count`` (a power of two): log2(count) doublings."""
    return [1 << j for j in range(count.bit_length() - 1)]


@dataclass
class Step:
    """Base: ``target`` is the register written."""

    target: int

    levels = 0

    def sources(self) -> tuple[int, ...]:
        """Registers read."""
        return tuple(getattr(self, name) for name in ("source", "left", "right") if hasattr(self, name))

    def rotation_steps(self) -> set[int]:
        """Left-rotation steps (mod S) this step performs."""
        return set()

    @property
    def rotations(self) -> int:
        return 0

    @property
    def plaintext_multiplications(self) -> int:
        return 0

    @property
    def ciphertext_multiplications(self) -> int:
        return 0

    def describe(self) -> str:
        raise NotImplementedError


@dataclass
class LinearStep(Step):
    """Apply a sparse linear transform (BSGS over its nonzero diagonals)."""

    source: int
    transform: LinearTransform
    purpose: str = "linear transform"
    levels = 1

    def rotation_steps(self) -> set[int]:
        return self.transform.rotation_steps()

    @property
    def rotations(self) -> int:
        return self.transform.rotations

    @property
    def plaintext_multiplications(self) -> int:
        return self.transform.diagonals

    def describe(self) -> str:
        t = self.transform
        return (
            f"{self.purpose}: {t.diagonals} diagonals, baby step {t.baby_step} x stride {t.stride}, {t.rotations} rotations, "
            f"{t.input_chunks}->{t.output_chunks} ciphertexts"
        )


@dataclass
class ReplicateStep(Step):
    """Copy data at index 0 of an axis of ``count`` entries and ``stride`` slots to every index.

    Done by log2(count) rotate-right-and-add doublings; across ciphertexts (stride >= S) the
    doubling moves whole chunks and costs no rotation.
    """

    source: int
    stride: int
    count: int
    chunks: int
    slots: int
    label: str = ""

    def rotation_steps(self) -> set[int]:
        return {(-self.stride * m) % self.slots for m in doubling_steps(self.count) if self.stride * m < self.slots}

    @property
    def rotations(self) -> int:
        return self.chunks * sum(1 for m in doubling_steps(self.count) if self.stride * m < self.slots)

    def describe(self) -> str:
        return (
            f"replicate {self.label or 'axis'}: {self.count} copies at stride {self.stride}, {self.rotations} rotations"
        )


@dataclass
class TileStep(Step):
    """Extend a periodic vector to ``chunks`` ciphertexts: chunk c is source chunk c mod n."""

    source: int
    chunks: int

    def describe(self) -> str:
        return f"tile to {self.chunks} ciphertexts (free)"


@dataclass
class MultiplyStep(Step):
    """Slot-wise ciphertext x ciphertext product (relinearise, rescale)."""

    left: int
    right: int
    chunks: int
    levels = 1

    @property
    def ciphertext_multiplications(self) -> int:
        return self.chunks

    def describe(self) -> str:
        return f"multiply ciphertext x ciphertext: {self.chunks} products"


@dataclass
class MultiplyPlainStep(Step):
    """Slot-wise product with a plaintext vector per chunk."""

    source: int
    plain: np.ndarray = field(repr=False)  # (chunks, S) float64
    levels = 1

    @property
    def plaintext_multiplications(self) -> int:
        return int(self.plain.shape[0])

    def describe(self) -> str:
        return f"multiply by plaintext: {self.plain.shape[0]} products"


@dataclass
class RotateSumStep(Step):
    """Sum over the outermost ``outer`` blocks of ``inner`` slots each.

    Chunk halves are added first while the reduced part spans ciphertexts; the rest is
    log2 rotate-left-and-add steps by inner, 2*inner, ...  The result is inner-periodic.
    """

    source: int
    outer: int
    inner: int
    slots: int
    labels: str = ""

    def _in_chunk_count(self) -> int:
        return self.outer if self.inner >= self.slots else min(self.outer, self.slots // self.inner)

    def rotation_steps(self) -> set[int]:
        if self.inner >= self.slots:
            return set()
        return {(self.inner * m) % self.slots for m in doubling_steps(self._in_chunk_count())}

    @property
    def rotations(self) -> int:
        if self.inner >= self.slots:
            return 0
        output_chunks = max(1, self.inner // self.slots)
        return output_chunks * len(doubling_steps(self._in_chunk_count()))

    def describe(self) -> str:
        return f"rotate-and-sum over {self.labels or 'outer axes'} ({self.outer} terms): {self.rotations} rotations"


@dataclass
class ReduceAxisStep(Step):
    """Sum an inner axis of ``count`` entries at ``stride`` slots in place, in every ciphertext.

    log2(count) rotate-left-and-add steps; the sum lands at index 0 of the axis and the other
    indices keep garbage, which the result's layout records as a filler axis.
    """

    source: int
    stride: int
    count: int
    chunks: int
    slots: int
    label: str = ""

    def rotation_steps(self) -> set[int]:
        return {self.stride * m % self.slots for m in doubling_steps(self.count)}

    @property
    def rotations(self) -> int:
        return self.chunks * len(doubling_steps(self.count))

    def describe(self) -> str:
        return f"sum {self.label or 'axis'} in place ({self.count} terms at stride {self.stride}): {self.rotations} rotations"
