"""Sparse linear maps on slot vectors, by generalised diagonals and baby-step/giant-step.

A linear map between two slot layouts is given by its nonzero entries (output flat index, input
flat index, value); it is never a dense S x S matrix.  Entries are grouped into *diagonals*: entry
(dst, src) lies on diagonal d = (src - dst) mod L, where L is the period of the computation (the
larger of the two layouts' periods, or S when either spans several ciphertexts), so that

    out[t] = sum_d D_d[t] * x[t + d]          (x rotated left by d)

and the baby-step/giant-step split evaluates it with |baby steps| + |giant steps| rotations and
one plaintext multiplication per diagonal, all at one level.  When every diagonal is a multiple
of 2^e, work modulo L / 2^e on d / 2^e; diagonals are then written as d = m * s for an odd stride
s (invertible modulo a power of two, so m = d / s), and m = g*n1 + r:

    out = sum_g rot_{g*n1*s}( sum_r rot_{-g*n1*s}(D_d) * rot_{r*s}(x) )     (rotations times 2^e).

The stride matters for permutations: a transpose of an n x n block has 2n-1 diagonals spaced
n-1 apart, which are contiguous in m.  s and n1 are chosen per map from the actual diagonal set to
minimise rotations.  This is hand-written: it is the heart of the lowering.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from securecompute.errors import ParameterError

__all__ = ["LinearTransform", "build_linear_transform", "count_diagonals"]

MAX_DIAGONAL_ELEMENTS = 1 << 26  # 512 MiB of float64 diagonals: refuse larger maps


@dataclass
class LinearTransform:
    """A planned linear map from ``input_chunks`` ciphertexts to ``output_chunks`` ciphertexts.

    Attributes:
        slots: S.
        period: L, the period of every diagonal (a power of two dividing S).
        stride: s, the odd diagonal stride; baby_step: n1.
        terms: per output chunk, per giant rotation (slots, left), the list of
            (input chunk, baby rotation in slots, pre-rotated diagonal of shape (S,)).
    """

    slots: int
    period: int
    input_chunks: int
    output_chunks: int
    stride: int
    baby_step: int
    terms: dict[int, dict[int, list[tuple[int, int, np.ndarray]]]] = field(repr=False)

    @property
    def diagonals(self) -> int:
        """Number of plaintext multiplications (nonzero diagonals over all chunk pairs)."""
        return sum(len(group) for giants in self.terms.values() for group in giants.values())

    def baby_rotations(self) -> dict[int, set[int]]:
        """Per input chunk, the nonzero baby rotation steps it needs."""
        needed: dict[int, set[int]] = {}
        for giants in self.terms.values():
            for group in giants.values():
                for chunk, baby, _ in group:
                    if baby:
                        needed.setdefault(chunk, set()).add(baby)
        return needed

    def rotation_steps(self) -> set[int]:
        """Every left-rotation step (mod S) the transform performs; each needs a Galois key."""
        steps = {baby for babies in self.baby_rotations().values() for baby in babies}
        steps |= {giant for giants in self.terms.values() for giant in giants if giant}
        return steps

    @property
    def rotations(self) -> int:
        """Number of rotations performed."""
        babies = sum(len(steps) for steps in self.baby_rotations().values())
        return babies + sum(1 for giants in self.terms.values() for giant in giants if giant)


def _period(input_period: int, output_period: int, slots: int) -> int:
    if input_period > slots or output_period > slots:
        return slots
    return max(input_period, output_period)


def _diagonal_keys(
    dst: np.ndarray, src: np.ndarray, input_period: int, output_period: int, slots: int
) -> tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    period = _period(input_period, output_period, slots)
    out_chunk, position = np.divmod(dst, period if period < slots else slots)
    in_chunk, source = np.divmod(src, slots)
    if period < slots:
        out_chunk = np.zeros_like(dst)
        position = dst
    diagonal = (source - position) % period
    return period, out_chunk, in_chunk, diagonal, position


def count_diagonals(dst: np.ndarray, src: np.ndarray, input_period: int, output_period: int, slots: int) -> int:
    """Number of distinct (output chunk, input chunk, diagonal) triples the entries occupy."""
    period, out_chunk, in_chunk, diagonal, _ = _diagonal_keys(dst, src, input_period, output_period, slots)
    chunks_in = max(1, input_period // slots)
    keys = (out_chunk * chunks_in + in_chunk) * period + diagonal
    if keys.size == 0:
        return 0
    # Keys are bounded by chunks x period, so marking a bitmap counts them in linear time (np.unique sorts).
    seen = np.zeros(int(keys.max()) + 1, dtype=bool)
    seen[keys] = True
    return int(np.count_nonzero(seen))


def build_linear_transform(
    dst: np.ndarray, src: np.ndarray, values: np.ndarray, input_period: int, output_period: int, slots: int
) -> LinearTransform:
    """Group entries into diagonals and choose the baby step that minimises rotations.

    Args:
        dst: (E,) int64 output flat indices, each < output_period.
        src: (E,) int64 input flat indices, each < input_period.
        values: (E,) float64 entries; entries with equal (dst, src) are summed.
        input_period, output_period: padded sizes of the two layouts (powers of two).
        slots: S.

    Raises:
        ParameterError: the diagonals would exceed MAX_DIAGONAL_ELEMENTS values.
    """
    period, out_chunk, in_chunk, diagonal, position = _diagonal_keys(dst, src, input_period, output_period, slots)
    chunks_in = max(1, input_period // slots)
    chunks_out = max(1, output_period // slots)
    keys = (out_chunk * chunks_in + in_chunk) * period + diagonal
    unique_keys, key_index = np.unique(keys, return_inverse=True)
    if unique_keys.size * slots > MAX_DIAGONAL_ELEMENTS:  # each diagonal is stored at full length S
        raise ParameterError(
            f"linear transform needs {unique_keys.size} diagonals of {slots} slots, over the "
            f"{MAX_DIAGONAL_ELEMENTS}-value limit; use a smaller tensor or more ciphertexts"
        )
    flat = key_index * period + position % period
    dense = np.bincount(flat, weights=values, minlength=unique_keys.size * period).reshape(unique_keys.size, period)
    keep = np.any(dense != 0.0, axis=1)
    unique_keys, dense = unique_keys[keep], dense[keep]
    pair, diagonals = np.divmod(unique_keys, period)
    pair_out, pair_in = np.divmod(pair, chunks_in)
    shift = _common_twos(diagonals, period)
    reduced_period = period >> shift
    stride, baby_step = _best_split(pair_out, pair_in, diagonals >> shift, reduced_period)
    multiples = (diagonals >> shift) * pow(stride, -1, reduced_period) % reduced_period
    terms: dict[int, dict[int, list[tuple[int, int, np.ndarray]]]] = {}
    giants, babies = np.divmod(multiples, baby_step)
    giant_rotations = (giants * baby_step * stride % reduced_period) << shift
    baby_rotations = (babies * stride % reduced_period) << shift
    tiled = np.tile(dense, (1, slots // period))
    # Diagonals sharing a giant step are pre-rotated together (one roll per giant step, not per diagonal).
    for giant_rotation in np.unique(giant_rotations):
        rows = np.flatnonzero(giant_rotations == giant_rotation)
        rotated = np.roll(tiled[rows], int(giant_rotation), axis=1)
        for row, diagonal in zip(rows, rotated, strict=True):
            terms.setdefault(int(pair_out[row]), {}).setdefault(int(giant_rotation), []).append(
                (int(pair_in[row]), int(baby_rotations[row]), diagonal)
            )
    return LinearTransform(slots, period, chunks_in, chunks_out, stride, baby_step, terms)


def _common_twos(diagonals: np.ndarray, period: int) -> int:
    """Largest e with every diagonal a multiple of 2^e (and 2^e <= period)."""
    shift = period.bit_length() - 1
    for value in np.unique(diagonals):
        if value:
            shift = min(shift, (int(value) & -int(value)).bit_length() - 1)
    return shift


def _best_split(pair_out: np.ndarray, pair_in: np.ndarray, diagonals: np.ndarray, period: int) -> tuple[int, int]:
    """(stride s, baby step n1) with the fewest rotations; s from 1 and the commonest odd gaps."""
    strides = [1]
    if diagonals.size > 2 and period > 2:
        gaps = np.diff(np.sort(np.unique(diagonals)))
        values, counts = np.unique(gaps[gaps % 2 == 1], return_counts=True)
        strides += [int(v) for v in values[np.argsort(-counts)][:3] if v != 1]
    best, best_cost = (1, 1), None
    for stride in strides:
        multiples = diagonals * pow(stride, -1, period) % period
        candidate = 1
        while candidate <= period:
            giants, babies = np.divmod(multiples, candidate)
            baby_cost = np.unique(pair_in[babies != 0] * period + babies[babies != 0]).size
            giant_cost = np.unique(pair_out[giants != 0] * period + giants[giants != 0]).size
            cost = int(baby_cost + giant_cost)
            if best_cost is None or cost < best_cost:
                best, best_cost = (stride, candidate), cost
            candidate *= 2
    return best
