"""JAX backend of :class:`securecompute.cross.ntt.NTT`: the same float64-GEMM 3-step NTT, jitted for GPU/CPU.

Use it as ``NTT(n, moduli, backend="jax")``; ``forward`` / ``inverse`` then take and return numpy int64
``(..., L, n)`` arrays identical, bit for bit, to the numpy backend's (and so to SEAL's).  For
throughput on an accelerator keep the data on the device: :meth:`JaxNTT.to_device` and
:meth:`JaxNTT.forward_device` / :meth:`JaxNTT.inverse_device` skip the host round trip and the
input check.

Same algorithm, same constants.  Nothing is recomputed here: the stage constants (the digit-folded
R x R matrix of step 1, the digit-folded twiddles of step 2, the transposed digit-folded C x C matrix
of step 3, the digit plans and the "raw input is safe" flag) are read from the numpy object's own
precomputation (``NTT._stages_for``), and the moduli and their float reciprocals from the same
arrays the numpy path uses, so the two backends cannot diverge.  The jitted function is one XLA
program per (direction, order, batch size, L): balance (when needed), balanced digit split,
GEMM, float Barrett ``x - rint(x * (1/q)) * q``, twiddle, digit split, GEMM, float Barrett, final
``+ q`` correction and the output permutation; batch and limbs are array dimensions (batched
GEMMs over L), with no Python loop over limbs inside the program.

What runs on the device: everything from the int64 -> float64 conversion to the float64 -> int64
conversion of the result.  On the host: the input check (one pass, numpy, as in the numpy path) and
the transfers, unless the ``*_device`` methods are used.

Exactness.  Every value handled is an integer held in float64; every product and every sum of the
GEMMs stays below 2^53 by the digit plans that :mod:`securecompute.cross.bat` proves when the NTT is
built (bound + q <= 2^53), so the result of each GEMM is exact in any summation order, blocking or
fused multiply-add; the digit splits multiply by powers of two and round (exact), and the float
Barrett's quotient ``rint(x * (1/q))`` is the same IEEE-754 correctly rounded product as numpy's, so
the remainders agree exactly.  This needs true IEEE float64 arithmetic: CPUs and NVIDIA/AMD GPUs have
it (XLA lowers a float64 dot to DGEMM / cuBLAS ``Dgemm``; TF32 and the ``precision`` setting only
touch float32, and ``Precision.HIGHEST`` is passed anyway).  TPUs have no native float64 (XLA
emulates or demotes it), so on a TPU this path is not exact: :class:`JaxNTT` refuses a TPU device
with :class:`~securecompute.errors.NotAvailableError` (CROSS's integer u8 BAT kernels are the TPU
route, not this one).

float64 in JAX.  JAX computes in 32 bits unless ``jax_enable_x64`` is on.  This module does NOT flip
the global flag at import (that would change the dtypes of every other JAX program in the process);
every device transfer, trace and call is made inside ``jax.enable_x64(True)``, JAX's thread-local
context manager for that flag (the successor of ``jax.experimental.enable_x64``), and the x64 state
is part of the jit cache key, so the programs compiled here are always the float64 ones.

Memory layout (as in the numpy path): input ``(B, L, n)`` int64, viewed as ``(B, L, R, C)``, becomes
``(L, R, B, C)`` float64 on the device: step 1 is the batched GEMM ``(L, R, D*R) @ (L, D*R, B*C)``
(digits stacked along K, batch in the columns), step 3 is ``(L, R*B, D*C) @ (L, D*C, C)`` (batch in
the rows); the output permutation (bit-reversed: ``(B, L, R, C)``; natural: ``(B, L, C, R)``) is one
XLA transpose.  Peak device memory is about (2 + D) float64 copies of the data (D = 2 digits for
30-bit moduli) plus the int64 input and output.

Limit: only the NTT's fast mode (``NTT.wide`` false: every constant whole in float64 with
``bound + q <= 2^53``, so moduli up to 47 bits and fewer for long GEMMs; every 30-bit case).  The wide
mode for 48..60-bit moduli (constants split into digits, partial GEMMs recombined by uint64 Shoup
products, see :class:`~securecompute.cross.bat.ModMatmul`) is numpy only: :class:`JaxNTT` refuses it
with :class:`~securecompute.errors.NotAvailableError` naming the limit.

JAX is imported lazily (importing :mod:`securecompute.cross` never imports it); without it,
``backend="jax"`` raises :class:`~securecompute.errors.DependencyMissingError` naming the extra.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from securecompute.errors import DependencyMissingError, NotAvailableError, ShapeError

if TYPE_CHECKING:
    from securecompute.cross.ntt import NTT

__all__ = ["JaxNTT", "exact_device", "import_jax"]

INSTALL_HINT = "pip install 'securecompute[jax]'"


def import_jax() -> Any:
    """Import and return the ``jax`` module, or raise :class:`DependencyMissingError` naming the extra."""
    try:
        import jax
    except ImportError as error:
        raise DependencyMissingError(f"backend='jax' needs JAX, which is not installed: {INSTALL_HINT}") from error
    return jax


def exact_device(jax: Any, device: Any = None) -> Any:
    """``device`` (default ``jax.devices()[0]``) after checking its float64 GEMMs are exact (not a TPU).

    Raises:
        NotAvailableError: the device is a TPU (float64 is emulated or demoted there).
    """
    chosen = jax.devices()[0] if device is None else device
    platform = str(chosen.platform).lower()
    if platform == "tpu" or (device is None and jax.default_backend() == "tpu"):
        raise NotAvailableError(
            f"backend='jax' is exact only with native float64 GEMMs; device {chosen} is a TPU, which has "
            "none (float64 is emulated or demoted there): use a CPU or GPU device, or backend='numpy'"
        )
    return chosen


@dataclass(frozen=True)
class _Static:
    """Shape and plan parameters baked into one jitted program (hashable: a jit static argument)."""

    rows: int
    cols: int
    natural: bool
    raw_input_ok: bool
    left_digits: int
    left_bits: int
    right_digits: int
    right_bits: int
    twiddle_digits: int
    twiddle_bits: int


@dataclass(frozen=True)
class _DeviceStages:
    """Device copies of one (direction, order) stage set of the numpy NTT."""

    static: _Static
    left: Any  # (L, R, D*R) float64
    twiddle: Any  # (Dt, L, R, 1, C) float64
    right_t: Any  # (L, D*C, C) float64


class JaxNTT:
    """Runs an :class:`~securecompute.cross.ntt.NTT`'s precomputed stages as jitted JAX programs.

    Args:
        ntt: the NTT whose constants are used (any backend; only its precomputation is read).
        device: a ``jax.Device``; default ``jax.devices()[0]``.

    Raises:
        DependencyMissingError: JAX is not installed (``pip install 'securecompute[jax]'``).
        NotAvailableError: the device is a TPU (no native float64, so the GEMMs would not be exact), or
            the NTT is in wide mode (``ntt.wide``: moduli of 48..60 bits, or long GEMMs at 40+ bits), whose
            uint64 Shoup recombination this backend does not implement.
    """

    def __init__(self, ntt: NTT, device: Any = None) -> None:
        jax = import_jax()
        self._jax = jax
        self.ntt = ntt
        self.device = exact_device(jax, device)
        if ntt.wide:
            widest = max(ntt.moduli).bit_length()
            raise NotAvailableError(
                f"backend='jax' runs only the NTT's fast mode (each constant whole in float64, bound + q <= 2^53: "
                f"moduli up to 47 bits, and fewer for long GEMMs); this NTT (n={ntt.n}, widest modulus {widest} "
                "bits) needs the wide mode (constants split into digits, uint64 Shoup recombination), which is "
                "numpy only: use backend='numpy'"
            )
        limbs = len(ntt.moduli)
        with jax.enable_x64(True):
            # The very arrays the numpy path multiplies by: q, 1/q (float64) and (q-1)/2.
            self._q = jax.device_put(np.asarray(ntt._q3).reshape(limbs), self.device)
            self._inverse_q = jax.device_put(np.asarray(ntt._inverse_q3).reshape(limbs), self.device)
            self._half_q = jax.device_put(np.asarray(ntt._half_q4).reshape(limbs), self.device)
        self._stages: dict[tuple[str, str], _DeviceStages] = {}

    # -- host API (numpy in, numpy out, checked) ------------------------------------------------------

    def forward(self, coefficients: np.ndarray, order: str = "bit_reversed") -> np.ndarray:
        """Same contract as :meth:`securecompute.cross.ntt.NTT.forward`; computed on the device."""
        return self._host("forward", coefficients, order)

    def inverse(self, evaluations: np.ndarray, order: str = "bit_reversed") -> np.ndarray:
        """Same contract as :meth:`securecompute.cross.ntt.NTT.inverse`; computed on the device."""
        return self._host("inverse", evaluations, order)

    # -- device API (no host round trip, no input check) ----------------------------------------------

    def to_device(self, values: np.ndarray) -> Any:
        """``values`` as an int64 ``jax.Array`` of shape ``(B, L, n)`` on this device (checked residues).

        Raises:
            ShapeError, ParameterError: as :meth:`forward`.
        """
        array, _, _ = self.ntt._check(values)
        with self._jax.enable_x64(True):
            return self._jax.device_put(np.ascontiguousarray(array, dtype=np.int64), self.device)

    def forward_device(self, values: Any, order: str = "bit_reversed") -> Any:
        """Forward NTT of int64 residues ``(B, L, n)`` already on the device; returns an int64 ``jax.Array``.

        The caller guarantees residues in ``[0, q_l)`` (e.g. from :meth:`to_device` or a previous
        transform); the call is asynchronous (``.block_until_ready()`` to wait).
        """
        return self._device("forward", values, order)

    def inverse_device(self, values: Any, order: str = "bit_reversed") -> Any:
        """Inverse of :meth:`forward_device` for the same ``order``."""
        return self._device("inverse", values, order)

    def device_program(self, direction: str) -> tuple[Callable[[Any, Any], Any], tuple[Any, ...]]:
        """The bit-reversed transform as a pure function for other jitted programs: ``(fn, constants)``.

        ``fn(data, constants)`` maps int64 ``(B, L, n)`` residues (traced or on the device) to int64
        ``(B, L, n)``; ``constants`` are this NTT's device arrays, to be passed as a jit argument.
        """
        stages = self._stages_for(direction, "bit_reversed")
        constants = (stages.left, stages.twiddle, stages.right_t, self._q, self._inverse_q, self._half_q)
        return partial(_apply, _kernels(self._jax)[direction], stages.static), constants

    # -- internals ------------------------------------------------------------------------------------

    def _host(self, direction: str, values: np.ndarray, order: str) -> np.ndarray:
        stages = self._stages_for(direction, order)  # checks ``order`` first, as the numpy path does
        array, batch, count = self.ntt._check(values)
        limbs, n = len(self.ntt.moduli), self.ntt.n
        if count == 0:
            return np.empty((*batch, limbs, n), dtype=np.int64)
        jax = self._jax
        with jax.enable_x64(True):
            data = jax.device_put(np.ascontiguousarray(array, dtype=np.int64), self.device)
            result = self._run(direction, stages, data)
            out = np.asarray(jax.device_get(result), dtype=np.int64)
        return out.reshape(*batch, limbs, n)

    def _device(self, direction: str, values: Any, order: str) -> Any:
        stages = self._stages_for(direction, order)
        shape = tuple(values.shape)
        if len(shape) != 3 or shape[1:] != (len(self.ntt.moduli), self.ntt.n):
            raise ShapeError(f"expected a device array (B, L={len(self.ntt.moduli)}, n={self.ntt.n}); got {shape}")
        with self._jax.enable_x64(True):
            return self._run(direction, stages, values)

    def _run(self, direction: str, stages: _DeviceStages, data: Any) -> Any:
        kernel = _kernels(self._jax)[direction]
        return kernel(
            data, stages.left, stages.twiddle, stages.right_t, self._q, self._inverse_q, self._half_q, stages.static
        )

    def _stages_for(self, direction: str, order: str) -> _DeviceStages:
        key = (direction, order)
        cached = self._stages.get(key)
        if cached is not None:
            return cached
        host = self.ntt._stages_for(direction, order)  # validates ``order``; builds the numpy constants once
        twiddle_plan = self.ntt._twiddle_plan
        static = _Static(
            rows=self.ntt.rows,
            cols=self.ntt.cols,
            natural=order == "natural",
            raw_input_ok=host.raw_input_ok,
            left_digits=host.left.plan.digits,
            left_bits=host.left.plan.digit_bits,
            right_digits=host.right.plan.digits,
            right_bits=host.right.plan.digit_bits,
            twiddle_digits=twiddle_plan.digits,
            twiddle_bits=twiddle_plan.digit_bits,
        )
        jax = self._jax
        with jax.enable_x64(True):
            stages = _DeviceStages(
                static,
                jax.device_put(host.left_folded, self.device),
                jax.device_put(host.twiddle, self.device),
                jax.device_put(host.right_folded_t, self.device),
            )
        self._stages[key] = stages
        return stages


# -- the jitted programs ------------------------------------------------------------------------------

_KERNELS: dict[str, Callable[..., Any]] = {}


def _kernels(jax: Any) -> dict[str, Callable[..., Any]]:
    """The two jitted programs, built on first use (so that ``jax`` is imported only then)."""
    if not _KERNELS:
        _KERNELS["forward"] = jax.jit(partial(_forward_program, jax), static_argnums=(7,))
        _KERNELS["inverse"] = jax.jit(partial(_inverse_program, jax), static_argnums=(7,))
    return _KERNELS


def _apply(kernel: Callable[..., Any], static: _Static, data: Any, constants: tuple[Any, ...]) -> Any:
    return kernel(data, *constants, static)


def _split(jnp: Any, values: Any, digits: int, bits: int) -> list[Any]:
    """Balanced digits of float64 integers, low first (the digits of ``bat.split_digits``; exact steps)."""
    if digits == 1:
        return [values]
    scale, inverse = float(1 << bits), 1.0 / float(1 << bits)
    parts, rest = [], values
    for _ in range(digits - 1):
        high = jnp.rint(rest * inverse)
        parts.append(rest - high * scale)
        rest = high
    parts.append(rest)
    return parts


def _reduce(jnp: Any, values: Any, q: Any, inverse_q: Any) -> Any:
    """Centred float Barrett ``x - rint(x * (1/q)) * q`` (``modmath.rint_reduce_centred``)."""
    return values - jnp.rint(values * inverse_q) * q


def _left(jax: Any, left: Any, values: Any, q3: Any, inverse_q3: Any, static: _Static) -> Any:
    """``(L, R, M)`` centred -> ``left @ digits`` reduced, ``(L, R, M)``: digits stacked along K (axis 1)."""
    jnp = jax.numpy
    digits = jnp.concatenate(_split(jnp, values, static.left_digits, static.left_bits), axis=1)
    product = jnp.matmul(left, digits, precision=jax.lax.Precision.HIGHEST)
    return _reduce(jnp, product, q3, inverse_q3)


def _right(jax: Any, right_t: Any, values: Any, q3: Any, inverse_q3: Any, static: _Static) -> Any:
    """``(L, M, C)`` centred -> ``digits @ right_t`` reduced, ``(L, M, C)``: digits stacked along the last axis."""
    jnp = jax.numpy
    digits = jnp.concatenate(_split(jnp, values, static.right_digits, static.right_bits), axis=2)
    product = jnp.matmul(digits, right_t, precision=jax.lax.Precision.HIGHEST)
    return _reduce(jnp, product, q3, inverse_q3)


def _twiddle(jax: Any, twiddle: Any, values: Any, q4: Any, inverse_q4: Any, static: _Static) -> Any:
    """``(L, R, B, C)`` centred times the digit-folded twiddles ``(Dt, L, R, 1, C)``, reduced."""
    jnp = jax.numpy
    parts = _split(jnp, values, static.twiddle_digits, static.twiddle_bits)
    total = parts[0] * twiddle[0]
    for index in range(1, static.twiddle_digits):
        total = total + parts[index] * twiddle[index]
    return _reduce(jnp, total, q4, inverse_q4)


def _forward_program(
    jax: Any, data: Any, left: Any, twiddle: Any, right_t: Any, q: Any, inverse_q: Any, half_q: Any, static: _Static
) -> Any:
    """int64 ``(B, L, n)`` residues -> int64 ``(B, L, n)`` forward NTT (one XLA program)."""
    jnp = jax.numpy
    count, limbs, n = data.shape
    rows, cols = static.rows, static.cols
    q3, inverse_q3 = q.reshape(limbs, 1, 1), inverse_q.reshape(limbs, 1, 1)
    q4, inverse_q4 = q.reshape(limbs, 1, 1, 1), inverse_q.reshape(limbs, 1, 1, 1)
    grid = data.astype(jnp.float64).reshape(count, limbs, rows, cols).transpose(1, 2, 0, 3)  # (L, R, B, C)
    if not static.raw_input_ok:
        grid = jnp.where(grid > half_q.reshape(limbs, 1, 1, 1), grid - q4, grid)
    step1 = _left(jax, left, grid.reshape(limbs, rows, count * cols), q3, inverse_q3, static)
    step2 = _twiddle(jax, twiddle, step1.reshape(limbs, rows, count, cols), q4, inverse_q4, static)
    step3 = _right(jax, right_t, step2.reshape(limbs, rows * count, cols), q3, inverse_q3, static)
    result = jnp.where(step3 < 0, step3 + q3, step3).reshape(limbs, rows, count, cols)  # Out[l, k1, b, k2]
    # natural: flat k = k1 + R*k2 -> (B, L, C, R); bit-reversed: row-major (B, L, R, C).
    moved = result.transpose(2, 0, 3, 1) if static.natural else result.transpose(2, 0, 1, 3)
    return moved.reshape(count, limbs, n).astype(jnp.int64)


def _inverse_program(
    jax: Any, data: Any, left: Any, twiddle: Any, right_t: Any, q: Any, inverse_q: Any, half_q: Any, static: _Static
) -> Any:
    """int64 ``(B, L, n)`` evaluations -> int64 ``(B, L, n)`` coefficients (one XLA program)."""
    jnp = jax.numpy
    count, limbs, n = data.shape
    rows, cols = static.rows, static.cols
    q3, inverse_q3 = q.reshape(limbs, 1, 1), inverse_q.reshape(limbs, 1, 1)
    q4, inverse_q4 = q.reshape(limbs, 1, 1, 1), inverse_q.reshape(limbs, 1, 1, 1)
    values = data.astype(jnp.float64)
    if static.natural:  # flat k = k2*R + k1 -> In[l, k1, b, k2]
        grid = values.reshape(count, limbs, cols, rows).transpose(1, 3, 0, 2)
    else:
        grid = values.reshape(count, limbs, rows, cols).transpose(1, 2, 0, 3)
    if not static.raw_input_ok:
        grid = jnp.where(grid > half_q.reshape(limbs, 1, 1, 1), grid - q4, grid)
    step1 = _right(jax, right_t, grid.reshape(limbs, rows * count, cols), q3, inverse_q3, static)
    step2 = _twiddle(jax, twiddle, step1.reshape(limbs, rows, count, cols), q4, inverse_q4, static)
    step3 = _left(jax, left, step2.reshape(limbs, rows, count * cols), q3, inverse_q3, static)
    result = jnp.where(step3 < 0, step3 + q3, step3).reshape(limbs, rows, count, cols)
    return result.transpose(2, 0, 1, 3).reshape(count, limbs, n).astype(jnp.int64)
