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

Hot path: the input is checked in one pass (int64 viewed as uint64, so ``max < q`` also catches
negatives) and converted to float64 once; when the first GEMM's bound holds for unbalanced residues
in ``[0, q)`` (every 30-bit case up to n = 2^16; checked per stage when built) the balancing pass is
skipped.  Every later step (digit split, float Barrett, twiddle) writes with ``out=`` into per-thread
scratch buffers kept between calls, so a transform allocates only its int64 result.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from securecompute.blas import single_blas_thread
from securecompute.cross.bat import (
    INPUT_SLACK,
    MAX_DIGITS,
    DigitPlan,
    ModMatmul,
    check_residues,
    digit_bounds,
    plan_digits,
    split_digits_int,
)
from securecompute.cross.modmath import FLOAT_EXACT_LIMIT, MAX_MODULUS_BITS, shoup_multiply_uint64
from securecompute.cross.primes import is_prime, minimal_primitive_root
from securecompute.errors import ParameterError, ShapeError

if TYPE_CHECKING:
    from securecompute.cross.jax_backend import JaxNTT

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
    left_folded: np.ndarray  # (L, R, D*R) float64, ``left.folded``
    right_folded_t: np.ndarray  # (L, D*C, C) float64, ``right.folded`` transposed, C-contiguous
    raw_input_ok: bool  # the first GEMM stays exact on residues in [0, q) (no balancing pass needed)
    wide_twiddle: np.ndarray | None = None  # wide mode: (L, R, 1, C) uint64 twiddles in [0, q)
    wide_twiddle_shoup: np.ndarray | None = None  # wide mode: their Shoup companions floor(t * 2^64 / q)


@dataclass
class _Workspace:
    """Scratch buffers of one thread for one batch size: two (L*n*B) floats and the digit planes."""

    count: int
    first: np.ndarray
    second: np.ndarray
    digits: np.ndarray


class NTT:
    """Negacyclic number-theoretic transform of length ``n`` over L RNS limbs, exact.

    Args:
        n: transform length, a power of two >= 2.
        moduli: L distinct primes with q = 1 (mod 2n), each of at most 60 bits.  30-bit primes are the
            fast two-digit case; wider ones use more data digits while a plan with the constant kept
            whole exists (``bound + q <= 2^53``); beyond that (48..60 bits, or long GEMMs at 40+ bits)
            the NTT switches to its wide mode (``self.wide``): the constants are split into digits
            too, partial GEMMs are recombined exactly with uint64 Shoup products and the twiddle is a
            uint64 Shoup product (see :class:`~securecompute.cross.bat.ModMatmul`); slower, exact.
        backend: ``"numpy"``, or ``"jax"`` (optional extra ``[jax]``): the same stages jitted on
            ``jax.devices()[0]`` (CPU or GPU; refused on TPU), results identical to numpy's; see
            :mod:`securecompute.cross.jax_backend`.
        rows: optional R of the R x C split (a power of two dividing n); default :func:`default_layout`.

    Attributes:
        psi: per modulus, the smallest primitive 2n-th root of unity.
        rows, cols: the R x C layout.

    Raises:
        ParameterError: bad n, rows or moduli (not prime, not 1 mod 2n, too wide for exact GEMMs).
        ParameterError: a backend other than numpy or jax.
        NotAvailableError: jax on a TPU (no native float64).
        DependencyMissingError: backend="jax" without JAX installed.
    """

    def __init__(self, n: int, moduli: list[int] | tuple[int, ...], backend: str = "numpy", rows: int | None = None):
        if n < 2 or n & (n - 1):
            raise ParameterError(f"n={n} must be a power of two >= 2")
        if backend not in ("numpy", "jax"):
            raise ParameterError(f"backend={backend!r} is unknown; accepted: 'numpy', 'jax'")
        self.n = n
        self.moduli = tuple(int(q) for q in moduli)
        if not self.moduli:
            raise ParameterError("moduli is empty: expected at least one NTT-friendly prime")
        for q in self.moduli:
            if q.bit_length() > MAX_MODULUS_BITS or not is_prime(q) or (q - 1) % (2 * n):
                raise ParameterError(
                    f"modulus {q} must be a prime of at most {MAX_MODULUS_BITS} bits with q = 1 mod 2n={2 * n}"
                )
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
        try:  # fast mode: the twiddle and both GEMMs keep their constants whole (every 30-bit case)
            self._twiddle_plan: DigitPlan = plan_digits(half + INPUT_SLACK, half, 1, largest)
            plan_digits(half + INPUT_SLACK, half, max(self.rows, self.cols), largest)
            self.wide = False
        except ParameterError:  # wide mode; the twiddle plan is then descriptive only (Shoup does the twiddle)
            self._twiddle_plan = plan_digits(half + INPUT_SLACK, half, 1, largest, MAX_DIGITS, MAX_DIGITS)
            self.wide = True
        self._stages: dict[tuple[str, str], _Stages] = {}
        self._q3 = self._q.reshape(limbs, 1, 1)
        self._inverse_q3 = 1.0 / self._q3
        self._q4 = self._q
        self._inverse_q4 = self._inverse_q
        self._half_q4 = self._half_q
        self._q_unsigned = np.array(self.moduli, dtype=np.uint64)
        self._q_unsigned4 = self._q_unsigned.reshape(limbs, 1, 1, 1)
        self._local = threading.local()
        self.backend = backend
        self._jax: JaxNTT | None = None
        if backend == "jax":  # lazy: imports jax only here (DependencyMissingError without it)
            from securecompute.cross.jax_backend import JaxNTT

            self._jax = JaxNTT(self)

    @single_blas_thread
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
        if self._jax is not None:
            return self._jax.forward(coefficients, order)
        stages = self._stages_for("forward", order)
        array, batch, count = self._check(coefficients)
        limbs, rows, cols = len(self.moduli), self.rows, self.cols
        out = np.empty((count, limbs, self.n), dtype=np.int64)
        if count == 0:
            return out.reshape(*batch, limbs, self.n)
        if self.wide:
            self._forward_wide(array, count, stages, order, out)
            return out.reshape(*batch, limbs, self.n)
        work = self._workspace(count, stages)
        # (B, L, R, C) -> (L, R, B, C): the batch joins the columns of step 1 and the rows of step 3.
        grid = work.first.reshape(limbs, rows, count, cols)
        np.copyto(grid, array.reshape(count, limbs, rows, cols).transpose(1, 2, 0, 3))
        if not stages.raw_input_ok:
            np.subtract(grid, self._q4, out=grid, where=grid > self._half_q4)
        flat = work.first.reshape(limbs, rows, count * cols)
        plan = stages.left.plan
        step1 = work.digits[: limbs * plan.digits * rows * count * cols].reshape(limbs, plan.digits * rows, -1)
        _split_into(flat, [step1[:, i * rows : (i + 1) * rows] for i in range(plan.digits)], plan, work.second)
        product = work.second.reshape(limbs, rows, count * cols)
        np.matmul(stages.left_folded, step1, out=product)
        _reduce(product, self._q3, self._inverse_q3, work.first)
        self._twiddle_into(work, stages.twiddle, count)  # work.second: twiddled (L, R, B, C)
        self._right_into(work, stages, count)  # work.second: (L, R*B, C) = Out[k1, b, k2], centred
        result = work.second.reshape(limbs, rows, count, cols)
        np.add(result, self._q4, out=result, where=result < 0)
        if order == "natural":  # flat k = k1 + R*k2
            target = out.reshape(count, limbs, cols, rows).transpose(1, 3, 0, 2)
        else:
            target = out.reshape(count, limbs, rows, cols).transpose(1, 2, 0, 3)
        np.copyto(target, result, casting="unsafe")
        return out.reshape(*batch, limbs, self.n)

    @single_blas_thread
    def inverse(self, evaluations: np.ndarray, order: str = "bit_reversed") -> np.ndarray:
        """Inverse of :meth:`forward` for the same ``order``: int64 ``(..., L, n)`` coefficients.

        Raises:
            ShapeError, ParameterError: wrong shape, dtype, order, or values outside ``[0, q_l)``.
        """
        if self._jax is not None:
            return self._jax.inverse(evaluations, order)
        stages = self._stages_for("inverse", order)
        array, batch, count = self._check(evaluations)
        limbs, rows, cols = len(self.moduli), self.rows, self.cols
        out = np.empty((count, limbs, self.n), dtype=np.int64)
        if count == 0:
            return out.reshape(*batch, limbs, self.n)
        if self.wide:
            self._inverse_wide(array, count, stages, order, out)
            return out.reshape(*batch, limbs, self.n)
        work = self._workspace(count, stages)
        grid = work.second.reshape(limbs, rows, count, cols)
        if order == "natural":  # natural-order evaluations: flat k = k2*R + k1 -> In[k1, k2]
            np.copyto(grid, array.reshape(count, limbs, cols, rows).transpose(1, 3, 0, 2))
        else:
            np.copyto(grid, array.reshape(count, limbs, rows, cols).transpose(1, 2, 0, 3))
        if not stages.raw_input_ok:
            np.subtract(grid, self._q4, out=grid, where=grid > self._half_q4)
        self._right_into(work, stages, count)
        self._twiddle_into(work, stages.twiddle, count)
        plan = stages.left.plan
        flat = work.second.reshape(limbs, rows, count * cols)
        step3 = work.digits[: limbs * plan.digits * rows * count * cols].reshape(limbs, plan.digits * rows, -1)
        _split_into(flat, [step3[:, i * rows : (i + 1) * rows] for i in range(plan.digits)], plan, work.first)
        result = work.first.reshape(limbs, rows, count * cols)
        np.matmul(stages.left_folded, step3, out=result)
        _reduce(result, self._q3, self._inverse_q3, work.second)
        np.add(result, self._q3, out=result, where=result < 0)
        target = out.reshape(count, limbs, rows, cols).transpose(1, 2, 0, 3)
        np.copyto(target, result.reshape(limbs, rows, count, cols), casting="unsafe")
        return out.reshape(*batch, limbs, self.n)

    # -- wide mode (moduli of 48..60 bits): int64 digits, split constants, uint64 Shoup ---------------

    def _forward_wide(self, array: np.ndarray, count: int, stages: _Stages, order: str, out: np.ndarray) -> None:
        limbs, rows, cols = len(self.moduli), self.rows, self.cols
        left, right = stages.left, stages.right
        grid = array.reshape(count, limbs, rows, cols).transpose(1, 2, 0, 3).reshape(limbs, rows, count * cols)
        step1 = left.left_wide(split_digits_int(left.centre_int(grid), left.plan, axis=1))  # (L, R, B*C)
        step2 = self._twiddle_wide(step1.reshape(limbs, rows, count, cols), stages)
        values = right.centre_int(step2.reshape(limbs, rows * count, cols))
        result = right.right_wide(split_digits_int(values, right.plan, axis=2)).reshape(limbs, rows, count, cols)
        if order == "natural":  # flat k = k1 + R*k2
            target = out.reshape(count, limbs, cols, rows).transpose(1, 3, 0, 2)
        else:
            target = out.reshape(count, limbs, rows, cols).transpose(1, 2, 0, 3)
        np.copyto(target, result, casting="unsafe")

    def _inverse_wide(self, array: np.ndarray, count: int, stages: _Stages, order: str, out: np.ndarray) -> None:
        limbs, rows, cols = len(self.moduli), self.rows, self.cols
        left, right = stages.left, stages.right
        if order == "natural":  # natural-order evaluations: flat k = k2*R + k1 -> In[k1, k2]
            grid = array.reshape(count, limbs, cols, rows).transpose(1, 3, 0, 2)
        else:
            grid = array.reshape(count, limbs, rows, cols).transpose(1, 2, 0, 3)
        values = right.centre_int(grid.reshape(limbs, rows * count, cols))
        step1 = right.right_wide(split_digits_int(values, right.plan, axis=2))  # (L, R*B, C)
        step2 = self._twiddle_wide(step1.reshape(limbs, rows, count, cols), stages)
        values = left.centre_int(step2.reshape(limbs, rows, count * cols))
        result = left.left_wide(split_digits_int(values, left.plan, axis=1))
        target = out.reshape(count, limbs, rows, cols).transpose(1, 2, 0, 3)
        np.copyto(target, result.reshape(limbs, rows, count, cols), casting="unsafe")

    def _twiddle_wide(self, values: np.ndarray, stages: _Stages) -> np.ndarray:
        """uint64 ``(L, R, B, C)`` residues times the twiddles ``(L, R, 1, C)`` mod q (Shoup), in ``[0, q)``."""
        assert stages.wide_twiddle is not None and stages.wide_twiddle_shoup is not None
        return shoup_multiply_uint64(values, stages.wide_twiddle, stages.wide_twiddle_shoup, self._q_unsigned4)

    # -- hot-path helpers ------------------------------------------------------------------------

    def _check(self, values: np.ndarray) -> tuple[np.ndarray, tuple[int, ...], int]:
        """Check ``(..., L, n)`` residues; return them as ``(B, L, n)``, the batch shape and B."""
        array = np.asarray(values)
        limbs = len(self.moduli)
        if array.ndim < 2 or array.shape[-2:] != (limbs, self.n):
            raise ShapeError(f"expected shape (..., L={limbs}, n={self.n}); got {array.shape}")
        batch = array.shape[:-2]
        count = math.prod(batch)
        flat = array.reshape(count, limbs, self.n)
        if flat.dtype == np.int64 and count:
            # One pass: as uint64 a negative value is huge, so ``max < q`` checks both ends.
            peak = flat.view(np.uint64).max(axis=(0, 2))
            if bool((peak < self._q_unsigned).all()):
                return flat, batch, count
        check_residues(flat, self.moduli, axis=1)
        return flat, batch, count

    def _workspace(self, count: int, stages: _Stages) -> _Workspace:
        """Per-thread scratch buffers for a batch of ``count`` (the last size used is kept).

        Reused across calls (no page faults on fresh temporaries); thread-local, so concurrent calls on
        one :class:`NTT` from several threads do not share buffers.
        """
        work: _Workspace | None = getattr(self._local, "work", None)
        size = len(self.moduli) * self.n * count
        digits = max(self._twiddle_plan.digits, stages.left.plan.digits, stages.right.plan.digits)
        if work is None or work.count != count or work.digits.size < digits * size:
            work = _Workspace(count, np.empty(size), np.empty(size), np.empty(digits * size))
            self._local.work = work
        return work

    def _twiddle_into(self, work: _Workspace, twiddle: np.ndarray, count: int) -> None:
        """``work.second * T mod q`` elementwise (BAT with K = 1), centred, back into ``work.second``."""
        limbs, rows, cols = len(self.moduli), self.rows, self.cols
        plan = self._twiddle_plan
        size = limbs * rows * count * cols
        values = work.second.reshape(limbs, rows, count, cols)
        slots = [work.digits[i * size : (i + 1) * size].reshape(values.shape) for i in range(plan.digits)]
        scratch = work.first.reshape(values.shape)
        _split_into(values, slots, plan, scratch)
        np.multiply(slots[0], twiddle[0], out=values)
        for index in range(1, plan.digits):
            np.multiply(slots[index], twiddle[index], out=scratch)
            values += scratch
        _reduce(values, self._q4, self._inverse_q4, scratch)

    def _right_into(self, work: _Workspace, stages: _Stages, count: int) -> None:
        """``work.second @ F`` over the last axis, (L, R*B, C) centred, result back in ``work.second``."""
        limbs, rows, cols = len(self.moduli), self.rows, self.cols
        plan = stages.right.plan
        values = work.second.reshape(limbs, rows * count, cols)
        digits = work.digits[: limbs * rows * count * plan.digits * cols].reshape(limbs, rows * count, -1)
        _split_into(values, [digits[..., i * cols : (i + 1) * cols] for i in range(plan.digits)], plan, work.first)
        result = work.first.reshape(values.shape)
        np.matmul(digits, stages.right_folded_t, out=result)
        _reduce(result, self._q3, self._inverse_q3, values)
        work.first, work.second = work.second, work.first

    # -- constants ------------------------------------------------------------------------------

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
        if self.wide:
            return self._build_wide(lefts, twiddles, rights)
        plan = self._twiddle_plan
        folded = np.empty((plan.digits, len(self.moduli), rows, 1, cols), dtype=np.float64)
        for limb, (q, twiddle) in enumerate(zip(self.moduli, twiddles, strict=True)):
            for index in range(plan.digits):
                shifted = _scale(twiddle, pow(2, plan.digit_bits * index, q), q)
                folded[index, limb, :, 0, :] = np.where(shifted > (q - 1) // 2, shifted - q, shifted)
        left = ModMatmul(np.stack(lefts), self.moduli, max_constant_digits=1)
        right = ModMatmul(np.stack(rights), self.moduli, max_constant_digits=1)
        first = left if direction == "forward" else right
        largest = max(self.moduli)
        raw_bound = first.terms * sum(digit_bounds(largest - 1, first.plan.digits, first.plan.digit_bits))
        raw_ok = raw_bound * ((largest - 1) // 2) + largest <= FLOAT_EXACT_LIMIT
        right_t = np.ascontiguousarray(right.folded.transpose(0, 2, 1))
        return _Stages(left, folded, right, left.folded, right_t, raw_ok)

    def _build_wide(self, lefts: list[np.ndarray], twiddles: list[np.ndarray], rights: list[np.ndarray]) -> _Stages:
        """Wide-mode stages: ModMatmuls free to split their constants, uint64 twiddles with Shoup companions."""
        left, right = ModMatmul(np.stack(lefts), self.moduli), ModMatmul(np.stack(rights), self.moduli)
        limbs, rows, cols = len(self.moduli), self.rows, self.cols
        twiddle = np.stack(twiddles).astype(np.uint64).reshape(limbs, rows, 1, cols)
        companions = np.empty_like(twiddle)
        for limb, q in enumerate(self.moduli):
            companions[limb] = np.asarray((twiddle[limb].astype(object) << 64) // q).astype(np.uint64)
        right_t = np.ascontiguousarray(right.folded.transpose(0, 2, 1))
        empty = np.empty((0, limbs, rows, 1, cols), dtype=np.float64)
        return _Stages(left, empty, right, left.folded, right_t, False, twiddle, companions)


def _powers(root: int, count: int, q: int) -> np.ndarray:
    """``root^e mod q`` for e = 0 .. count-1, int64 ``(count,)``."""
    values = [1] * count
    for exponent in range(1, count):
        values[exponent] = values[exponent - 1] * root % q
    return np.array(values, dtype=np.int64)


def _scale(values: np.ndarray, factor: int, q: int) -> np.ndarray:
    """``values * factor mod q`` exactly (Python ints), int64 out."""
    return np.asarray((values.astype(object) * factor) % q).astype(np.int64)


def _split_into(values: np.ndarray, slots: list[np.ndarray], plan: DigitPlan, scratch: np.ndarray) -> None:
    """Balanced digits of float64 integers ``values`` into ``slots`` (low digit first), 4 passes per digit.

    Same digits as :func:`securecompute.cross.bat.split_digits`; ``values`` is left untouched unless it is
    one of the slots, ``scratch`` (same shape, distinct) is overwritten.
    """
    if plan.digits == 1:
        np.copyto(slots[0], values)
        return
    scale, inverse = float(1 << plan.digit_bits), 1.0 / float(1 << plan.digit_bits)
    scratch = scratch.reshape(values.shape)
    rest = values
    for index in range(plan.digits - 1):
        high = slots[index + 1]
        np.multiply(rest, inverse, out=high)
        np.rint(high, out=high)
        np.multiply(high, scale, out=scratch)
        np.subtract(rest, scratch, out=slots[index])
        rest = high


def _reduce(values: np.ndarray, q: np.ndarray, inverse_q: np.ndarray, scratch: np.ndarray) -> None:
    """In place ``values - rint(values/q)*q`` (:func:`securecompute.cross.modmath.rint_reduce_centred`), no temporaries."""
    scratch = scratch.reshape(values.shape)
    np.multiply(values, inverse_q, out=scratch)
    np.rint(scratch, out=scratch)
    np.multiply(scratch, q, out=scratch)
    np.subtract(values, scratch, out=values)
