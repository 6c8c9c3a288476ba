"""Negacyclic NTT over RNS limbs as float64 GEMMs (CROSS's 3-step "MAT" layout), bit-exact with SEAL.

For a limb modulo q with psi the smallest primitive 2n-th root of unity (SEAL's and OpenFHE's
choice) the forward transform of ``a`` (a polynomial modulo X^n + 1) is

    A[k] = sum_j a_j psi^(j*(2k+1)),        k = 0 .. n-1     ("natural" order),

and SEAL/OpenFHE store it in bit-reversed order, ``out[i] = A[bitrev(i)]`` ("bit_reversed").
With n = R*C, j = C*j1 + j2 and k = k1 + R*k2 (omega = psi^2, omega^n = 1):

    A[k1 + R*k2] = sum_j2 psi^(2R*j2*k2) * psi^(j2*(2k1+1)) * sum_j1 psi^(C*j1*(2k1+1)) * a[j1, j2]

where ``a[j1, j2] = a_(C*j1 + j2)`` is the coefficient vector read row-major as an R x C matrix:
step 1 is the R x R GEMM ``F1 @ a`` with ``F1[k1, j1] = psi^(C*j1*(2k1+1))`` (the negacyclic
twist psi^(C*j1) fused in), step 2 multiplies elementwise by ``T[k1, j2] = psi^(j2*(2k1+1))``
(twist psi^j2 fused in), step 3 is the C x C GEMM ``@ F3`` with ``F3[j2, k2] = psi^(2R*j2*k2)``.
The result ``Out[k1, k2] = A[k1 + R*k2]`` is the natural order read column-major.  Because
``bitrev_n(i1*C + i2) = bitrev_C(i2)*R + bitrev_R(i1)``, permuting the rows of F1 and T by
bitrev_R and the columns of F3 by bitrev_C (offline) makes the row-major result exactly the
bit-reversed order: no runtime permutation.  The inverse runs the same steps backwards with
psi^-1, 1/n folded into its last matrix.

Layout: R = 2^ceil(log2(n)/2), C = n/R (64 x 64 at n = 4096, 128 x 64 at 8192, 128 x 128 at
16384), so both GEMMs have K <= 256 up to n = 2^16 and 30-bit moduli fit the two-digit plan of
:mod:`securecompute.cross.bat`.  Data is held as (L, R, B, C) internally: batch B joins the
columns of step 1 (one (R, D*R) @ (D*R, B*C) GEMM per limb) and the rows of step 3 (one
(R*B, D*C) @ (D*C, C) GEMM per limb).  Hand-written: this is the capability itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from securecompute.cross.bat import (
    INPUT_SLACK,
    DigitPlan,
    ModMatmul,
    centre_float,
    check_residues,
    plan_digits,
    split_digits,
)
from securecompute.cross.modmath import rint_reduce_centred
from securecompute.cross.primes import is_prime, minimal_primitive_root
from securecompute.errors import NotAvailableError, ParameterError, ShapeError

__all__ = ["NTT", "ORDERS", "bit_reverse_permutation", "default_layout"]

ORDERS = ("bit_reversed", "natural")


def default_layout(n: int) -> tuple[int, int]:
    """The (R, C) split used for length ``n``: R = 2^ceil(log2(n)/2), C = n / R."""
    log_n = n.bit_length() - 1
    rows = 1 << ((log_n + 1) // 2)
    return rows, n // rows


def bit_reverse_permutation(size: int) -> np.ndarray:
    """``perm[i] = bitrev(i)`` over log2(size) bits, int64 ``(size,)``; size a power of two."""
    bits = size.bit_length() - 1
    indices = np.arange(size, dtype=np.int64)
    reversed_ = np.zeros(size, dtype=np.int64)
    for bit in range(bits):
        reversed_ |= ((indices >> bit) & 1) << (bits - 1 - bit)
    return reversed_


@dataclass(frozen=True)
class _Stages:
    """Precomputed constants of one direction and one order."""

    left: ModMatmul  # R x R, applied from the left
    twiddle: np.ndarray  # (D, L, R, 1, C) float64 balanced digit-folded twiddles
    right: ModMatmul  # holds W = F3^T (C x C); applied from the right


class NTT:
    """Negacyclic number-theoretic transform of length ``n`` over L RNS limbs, exact.

    Args:
        n: transform length, a power of two >= 2.
        moduli: L distinct primes with q = 1 (mod 2n), each below 2^50 (30-bit primes are the fast
            two-digit case; wider ones use more digits).
        backend: ``"numpy"`` (the only backend of this increment).
        rows: optional R of the R x C split (a power of two dividing n); default :func:`default_layout`.

    Attributes:
        psi: per modulus, the smallest primitive 2n-th root of unity.
        rows, cols: the R x C layout.

    Raises:
        ParameterError: bad n, rows or moduli (not prime, not 1 mod 2n, too wide for exact GEMMs).
        NotAvailableError: a backend other than numpy.
    """

    def __init__(self, n: int, moduli: list[int] | tuple[int, ...], backend: str = "numpy", rows: int | None = None):
        if n < 2 or n & (n - 1):
            raise ParameterError(f"n={n} must be a power of two >= 2")
        if backend != "numpy":
            raise NotAvailableError(f"backend={backend!r} is not available yet; accepted: 'numpy'")
        self.n = n
        self.moduli = tuple(int(q) for q in moduli)
        if not self.moduli:
            raise ParameterError("moduli is empty: expected at least one NTT-friendly prime")
        for q in self.moduli:
            if q.bit_length() > 50 or not is_prime(q) or (q - 1) % (2 * n):
                raise ParameterError(f"modulus {q} must be a prime below 2^50 with q = 1 mod 2n={2 * n}")
        self.rows, self.cols = default_layout(n) if rows is None else (rows, n // rows)
        if self.rows < 1 or self.rows & (self.rows - 1) or self.rows > n:
            raise ParameterError(f"rows={rows} must be a power of two dividing n={n}")
        self.psi = tuple(minimal_primitive_root(2 * n, q) for q in self.moduli)
        limbs = len(self.moduli)
        self._q = np.array(self.moduli, dtype=np.float64).reshape(limbs, 1, 1, 1)
        self._inverse_q = 1.0 / self._q
        self._half_q = np.array([(q - 1) // 2 for q in self.moduli], dtype=np.float64).reshape(limbs, 1, 1, 1)
        largest = max(self.moduli)
        half = (largest - 1) // 2
        self._twiddle_plan: DigitPlan = plan_digits(half + INPUT_SLACK, half, 1, largest)
        self._stages: dict[tuple[str, str], _Stages] = {}

    def forward(self, coefficients: np.ndarray, order: str = "bit_reversed") -> np.ndarray:
        """Forward negacyclic NTT.

        Args:
            coefficients: integer ``(..., L, n)`` residues, limb l in ``[0, q_l)``.
            order: ``"bit_reversed"`` (SEAL/OpenFHE: ``out[i] = A[bitrev(i)]``) or ``"natural"``.

        Returns:
            int64 ``(..., L, n)`` evaluations ``A[k] = sum_j a_j psi^(j(2k+1)) mod q_l``.

        Raises:
            ShapeError, ParameterError: wrong shape, dtype, order, or values outside ``[0, q_l)``.
        """
        stages = self._stages_for("forward", order)
        batch, grid = self._load(coefficients, transpose=False)
        step1 = stages.left.left(self._digits(grid, axis=1))  # (L, R, B*C)
        step2 = self._twiddle(step1.reshape(grid.shape), stages.twiddle)
        result = self._step_right(step2, stages.right)  # (L, R, B, C), Out[k1, k2]
        return self._store(result, batch, transpose=order == "natural")

    def inverse(self, evaluations: np.ndarray, order: str = "bit_reversed") -> np.ndarray:
        """Inverse of :meth:`forward` for the same ``order``: int64 ``(..., L, n)`` coefficients.

        Raises:
            ShapeError, ParameterError: wrong shape, dtype, order, or values outside ``[0, q_l)``.
        """
        stages = self._stages_for("inverse", order)
        batch, grid = self._load(evaluations, transpose=order == "natural")
        step1 = self._step_right(grid, stages.right)
        step2 = self._twiddle(step1, stages.twiddle)
        result = stages.left.left(self._digits(step2, axis=1)).reshape(step2.shape)
        return self._store(result, batch, transpose=False)

    # -- hot-path helpers ------------------------------------------------------------------------

    def _load(self, values: np.ndarray, transpose: bool) -> tuple[tuple[int, ...], np.ndarray]:
        """Check ``(..., L, n)`` residues; return the batch shape and balanced float64 (L, R, B, C)."""
        array = np.asarray(values)
        limbs = len(self.moduli)
        if array.ndim < 2 or array.shape[-2:] != (limbs, self.n):
            raise ShapeError(f"expected shape (..., L={limbs}, n={self.n}); got {array.shape}")
        check_residues(array, self.moduli, axis=-2)
        batch = array.shape[:-2]
        count = int(np.prod(batch, dtype=np.int64))
        if transpose:  # natural-order evaluations: flat k = k2*R + k1 -> In[k1, k2]
            grid = array.reshape(count, limbs, self.cols, self.rows).transpose(1, 3, 0, 2)
        else:
            grid = array.reshape(count, limbs, self.rows, self.cols).transpose(1, 2, 0, 3)
        return batch, centre_float(grid, self._q, self._half_q)

    def _store(self, grid: np.ndarray, batch: tuple[int, ...], transpose: bool) -> np.ndarray:
        """Centred float64 (L, R, B, C) -> int64 ``(*batch, L, n)`` in ``[0, q)`` (column-major if ``transpose``)."""
        np.add(grid, self._q, out=grid, where=grid < 0)
        moved = grid.transpose(2, 0, 3, 1) if transpose else grid.transpose(2, 0, 1, 3)
        return moved.astype(np.int64).reshape(*batch, len(self.moduli), self.n)

    def _digits(self, grid: np.ndarray, axis: int) -> np.ndarray:
        limbs, _, count, _ = grid.shape
        digits = split_digits(grid, self._left_plan, axis=axis)
        return digits.reshape(limbs, -1, count * self.cols)

    def _twiddle(self, grid: np.ndarray, twiddle: np.ndarray) -> np.ndarray:
        """Elementwise ``grid * T mod q`` as a sum of digit products (BAT with K = 1), centred float64."""
        plan = self._twiddle_plan
        digits = split_digits(grid, plan, axis=0).reshape(plan.digits, *grid.shape)
        total = digits[0] * twiddle[0]
        for index in range(1, plan.digits):
            total += digits[index] * twiddle[index]
        return rint_reduce_centred(total, self._q, self._inverse_q)

    def _step_right(self, grid: np.ndarray, matmul: ModMatmul) -> np.ndarray:
        """``grid @ F`` over the last axis: (L, R, B, C) -> (L, R, B, C), via ``ModMatmul.right``."""
        limbs, rows, count, cols = grid.shape
        digits = split_digits(grid, matmul.plan, axis=3)  # (L, R, B, D*C), digit-major
        result = matmul.right(digits.reshape(limbs, rows * count, -1))
        return result.reshape(limbs, rows, count, cols)

    # -- constants ------------------------------------------------------------------------------

    @property
    def _left_plan(self) -> DigitPlan:
        return self._stages_for("forward", "bit_reversed").left.plan

    def _stages_for(self, direction: str, order: str) -> _Stages:
        if order not in ORDERS:
            raise ParameterError(f"order={order!r} is not one of {ORDERS}")
        key = (direction, order)
        if key not in self._stages:
            self._stages[key] = self._build(direction, order == "bit_reversed")
        return self._stages[key]

    def _build(self, direction: str, bit_reversed: bool) -> _Stages:
        rows, cols, two_n = self.rows, self.cols, 2 * self.n
        row_perm = bit_reverse_permutation(rows) if bit_reversed else np.arange(rows, dtype=np.int64)
        col_perm = bit_reverse_permutation(cols) if bit_reversed else np.arange(cols, dtype=np.int64)
        k1 = row_perm.reshape(-1, 1)  # output row i1 holds k1 = bitrev_R(i1)
        j_rows = np.arange(rows, dtype=np.int64).reshape(1, -1)
        j_cols = np.arange(cols, dtype=np.int64)
        # psi exponents mod 2n.
        f1 = (cols * j_rows * (2 * k1 + 1)) % two_n  # (R, R): [k1-row i1, j1]
        tw = (j_cols.reshape(1, -1) * (2 * k1 + 1)) % two_n  # (R, C): [i1, j2]
        f3 = (2 * rows * j_cols.reshape(-1, 1) * col_perm.reshape(1, -1)) % two_n  # (C, C): [j2, i2]
        lefts, twiddles, rights = [], [], []
        for q, psi in zip(self.moduli, self.psi, strict=True):
            powers = _powers(psi, two_n, q)
            if direction == "forward":
                lefts.append(powers[f1])
                twiddles.append(powers[tw])
                rights.append(powers[f3].T)  # ModMatmul holds W = F3^T
            else:
                scale = pow(self.n, -1, q)
                inverse_powers = powers[(two_n - np.arange(two_n)) % two_n]
                # G1[j1, i1] = n^-1 psi^-(C j1 (2 k1(i1) + 1)); G3 rows by bitrev_C: G3[i2, j2] = psi^-(2R k2(i2) j2).
                lefts.append(_scale(inverse_powers[f1.T], scale, q))
                twiddles.append(inverse_powers[tw])
                rights.append(inverse_powers[f3.T].T)
        plan = self._twiddle_plan
        folded = np.empty((plan.digits, len(self.moduli), rows, 1, cols), dtype=np.float64)
        for limb, (q, twiddle) in enumerate(zip(self.moduli, twiddles, strict=True)):
            for index in range(plan.digits):
                shifted = _scale(twiddle, pow(2, plan.digit_bits * index, q), q)
                folded[index, limb, :, 0, :] = np.where(shifted > (q - 1) // 2, shifted - q, shifted)
        return _Stages(ModMatmul(np.stack(lefts), self.moduli), folded, ModMatmul(np.stack(rights), self.moduli))


def _powers(root: int, count: int, q: int) -> np.ndarray:
    """``root^e mod q`` for e = 0 .. count-1, int64 ``(count,)``."""
    values = [1] * count
    for exponent in range(1, count):
        values[exponent] = values[exponent - 1] * root % q
    return np.array(values, dtype=np.int64)


def _scale(values: np.ndarray, factor: int, q: int) -> np.ndarray:
    """``values * factor mod q`` exactly (Python ints), int64 out."""
    return np.asarray((values.astype(object) * factor) % q).astype(np.int64)
