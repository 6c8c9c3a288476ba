"""The NTT's wide mode (48..60-bit moduli) on JAX: split constants, exact partial GEMMs, uint64 Shoup recombination.

:class:`~securecompute.cross.jax_backend.JaxNTT` runs the fast mode only.  :class:`JaxWideNTT` runs a
wide-mode :class:`~securecompute.cross.ntt.NTT` (``ntt.wide``) as one jitted program per direction,
with the numpy object's own constants, step for step as ``NTT._forward_wide`` / ``_inverse_wide``:

1. residues centred in int64, split into D balanced int64 digits of d bits (``bat._int_digits``), the
   small digits converted to float64 and stacked along K;
2. E partial GEMMs with the split constant planes (each exact: ``|G_j| <= 2^53`` by the plan);
3. each ``G_j`` made non-negative by adding ``q * ceil(2^53 / q)`` and multiplied by ``2^(e*j) mod q`` with
   a uint64 Shoup product (the high word from four 32 x 32-bit products, as ``modmath.mulhi_uint64``),
   the E terms added mod q (``bat._WideReduction.combine``; the first term needs only a sign fix when
   every q exceeds 2^53);
4. the twiddle as a uint64 Shoup product with the precomputed companions.

Every step is integer arithmetic or an exact float64 GEMM, so the words equal the numpy path's (and
SEAL's).  ``forward`` / ``inverse`` take and return numpy int64 ``(..., L, n)``; ``device_program``
gives the same transform as a pure function for other jitted programs (:mod:`securecompute.ckks.device`
inlines it into each op).  The module also holds the exact uint64 modular products of that engine:
:func:`mulhi`, :func:`shoup_multiply` (constants) and :func:`mul_mod` (Barrett, any modulus below 2^61).  Same device rules as ``JaxNTT`` (float64 in
``jax.enable_x64``; a TPU is refused).  Hand-written: the kernel itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from securecompute.cross.jax_backend import import_jax
from securecompute.errors import NotAvailableError, ParameterError

if TYPE_CHECKING:
    from securecompute.cross.bat import ModMatmul
    from securecompute.cross.ntt import NTT

__all__ = ["JaxWideNTT", "barrett_columns", "mul_mod", "mulhi", "shoup_multiply"]


@dataclass(frozen=True)
class _GemmStatic:
    """One wide ModMatmul's plan, baked into the program."""

    digits: int
    digit_bits: int
    constant_digits: int
    skip_first: bool


@dataclass(frozen=True)
class _Static:
    rows: int
    cols: int
    left: _GemmStatic
    right: _GemmStatic


class JaxWideNTT:
    """A wide-mode NTT's forward and inverse (SEAL's bit-reversed order) as jitted JAX programs.

    Args:
        ntt: a numpy :class:`~securecompute.cross.ntt.NTT` with ``ntt.wide`` true (its constants are used).
        device: a ``jax.Device``; default ``jax.devices()[0]``.

    Raises:
        ParameterError: the NTT is not in wide mode (use ``NTT(..., backend="jax")``).
        NotAvailableError: the device is a TPU (no native float64).
        DependencyMissingError: JAX is not installed.
    """

    def __init__(self, ntt: NTT, device: Any = None) -> None:
        if not ntt.wide:
            raise ParameterError("JaxWideNTT runs wide-mode NTTs only; use NTT(n, moduli, backend='jax') for this one")
        jax = import_jax()
        self._jax = jax
        self.ntt = ntt
        self.device = jax.devices()[0] if device is None else device
        if str(self.device.platform).lower() == "tpu":
            raise NotAvailableError(f"device {self.device} is a TPU, which has no native float64: use a CPU or GPU")
        self._programs: dict[str, tuple[_Static, tuple[Any, ...]]] = {}

    def forward(self, coefficients: np.ndarray, order: str = "bit_reversed") -> np.ndarray:
        """Same contract as :meth:`securecompute.cross.ntt.NTT.forward` (bit-reversed order only)."""
        return self._host("forward", coefficients, order)

    def inverse(self, evaluations: np.ndarray, order: str = "bit_reversed") -> np.ndarray:
        """Same contract as :meth:`securecompute.cross.ntt.NTT.inverse` (bit-reversed order only)."""
        return self._host("inverse", evaluations, order)

    def device_program(self, direction: str) -> tuple[Callable[[Any, Any], Any], tuple[Any, ...]]:
        """The transform as a pure function for other jitted programs: ``(fn, constants)``.

        ``fn(data, constants)`` maps int64 ``(B, L, n)`` residues (a traced or device array) to int64
        ``(B, L, n)`` in SEAL's bit-reversed order; ``constants`` are this NTT's device arrays (pass
        them as a jit argument so they are not baked into the caller's program).
        """
        if direction not in ("forward", "inverse"):
            raise ParameterError(f"direction={direction!r}; accepted: 'forward', 'inverse'")
        static, constants = self._constants(direction)
        return partial(_apply, _program(self._jax, direction), static), constants

    def _host(self, direction: str, values: np.ndarray, order: str) -> np.ndarray:
        if order != "bit_reversed":
            raise ParameterError(f"order={order!r}: the JAX wide NTT runs SEAL's 'bit_reversed' order only")
        array, batch, count = self.ntt._check(values)
        limbs, n = len(self.ntt.moduli), self.ntt.n
        if count == 0:
            return np.empty((*batch, limbs, n), dtype=np.int64)
        static, constants = self._constants(direction)
        jax = self._jax
        with jax.enable_x64(True):
            data = jax.device_put(np.ascontiguousarray(array, dtype=np.int64), self.device)
            result = _program(jax, direction)(data, constants, static)
            out = np.asarray(jax.device_get(result), dtype=np.int64)
        return out.reshape(*batch, limbs, n)

    def _constants(self, direction: str) -> tuple[_Static, tuple[Any, ...]]:
        cached = self._programs.get(direction)
        if cached is not None:
            return cached
        stages = self.ntt._stages_for(direction, "bit_reversed")
        assert stages.wide_twiddle is not None and stages.wide_twiddle_shoup is not None
        jax = self._jax
        static = _Static(self.ntt.rows, self.ntt.cols, _gemm_static(stages.left), _gemm_static(stages.right))
        with jax.enable_x64(True):
            put = partial(jax.device_put, device=self.device)
            constants = (
                _gemm_constants(put, stages.left, transpose=False),
                _gemm_constants(put, stages.right, transpose=True),
                put(stages.wide_twiddle),
                put(stages.wide_twiddle_shoup),
                put(np.array(self.ntt.moduli, dtype=np.uint64).reshape(-1, 1, 1, 1)),
            )
        self._programs[direction] = (static, constants)
        return static, constants


def _gemm_static(matmul: ModMatmul) -> _GemmStatic:
    plan = matmul.plan
    return _GemmStatic(plan.digits, plan.digit_bits, len(matmul._wide.factors), bool(matmul._wide.skip_first))


def _gemm_constants(put: Callable[[Any], Any], matmul: ModMatmul, transpose: bool) -> tuple[Any, ...]:
    """Device copies of a ModMatmul's constant planes and its _WideReduction constants."""
    wide = matmul._wide
    planes = np.ascontiguousarray(matmul.planes.transpose(0, 1, 3, 2)) if transpose else matmul.planes
    return (
        put(planes),
        put(wide.q),
        put(wide.q_signed),
        put(wide.half),
        put(wide.offset),
        put(np.stack(wide.factors)),
        put(np.stack(wide.companions)),
    )


_PROGRAMS: dict[str, Callable[..., Any]] = {}


def _program(jax: Any, direction: str) -> Callable[..., Any]:
    if not _PROGRAMS:
        _PROGRAMS["forward"] = jax.jit(partial(_forward, jax), static_argnums=(2,))
        _PROGRAMS["inverse"] = jax.jit(partial(_inverse, jax), static_argnums=(2,))
    return _PROGRAMS[direction]


def _apply(program: Callable[..., Any], static: _Static, data: Any, constants: tuple[Any, ...]) -> Any:
    return program(data, constants, static)


def mulhi(jnp: Any, a: Any, b: Any) -> Any:
    """``floor(a * b / 2^64)`` of uint64 arrays (broadcast), exactly: the high word of the 128-bit product."""
    return _mulhi(jnp, a, b)


def shoup_multiply(jnp: Any, a: Any, b: Any, companion: Any, q: Any) -> Any:
    """``a * b mod q`` in ``[0, q)`` for uint64 ``a < 2^64``, a constant ``b < q < 2^63`` and its Shoup companion
    ``floor(b * 2^64 / q)`` (``modmath.shoup_multiply_uint64``); with ``b = 1`` it reduces any uint64 mod q."""
    return _shoup(jnp, a, b, companion, q)


def barrett_columns(moduli: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The constants of :func:`mul_mod` as uint64 columns ``(L, 1)``: ``q``, ``mu = floor(2^(2s) / q)``, ``s``.

    s is the bit length of q (``2^(s-1) <= q < 2^s``), so mu lies in ``[2^s, 2^(s+1)]`` (``2^(s+1)`` only for
    a power of two) and fits 62 bits.

    Raises:
        ParameterError: a modulus below 3 or of 62 bits or more.
    """
    bad = [q for q in moduli if not 3 <= q < (1 << 61)]
    if bad:
        raise ParameterError(f"moduli {bad} are outside [3, 2^61), the range of the exact JAX product")
    column = np.array(moduli, dtype=np.uint64).reshape(-1, 1)
    bits = np.array([q.bit_length() for q in moduli], dtype=np.uint64).reshape(-1, 1)
    mu = np.array([(1 << (2 * q.bit_length())) // q for q in moduli], dtype=np.uint64).reshape(-1, 1)
    return column, mu, bits


def mul_mod(jnp: Any, a: Any, b: Any, q: Any, mu: Any, bits: Any) -> Any:
    """``a * b mod q`` in ``[0, q)`` for uint64 residues in ``[0, q)``, q < 2^61, exactly (Barrett, HAC 14.42).

    With ``x = a*b < q^2 < 2^(2s)`` as the 128-bit pair ``(high, low)``: ``t = floor(x / 2^(s-1))``
    (below ``2^(s+1)``), the quotient estimate ``floor(t * mu / 2^(s+1))`` is ``floor(x / q)`` or up to 2
    less, so ``x - estimate * q`` lies in ``[0, 3q)`` below 2^63 and is exact in wrapped uint64; two
    conditional subtractions make it canonical (the words of ``ring.mul_mod``).  ``q, mu, bits`` are the
    columns of :func:`barrett_columns` (broadcast against a and b).
    """
    one = jnp.uint64(1)
    low, high = a * b, _mulhi(jnp, a, b)
    t = (high << (jnp.uint64(65) - bits)) | (low >> (bits - one))
    shift = bits + one
    estimate = (_mulhi(jnp, t, mu) << (jnp.uint64(64) - shift)) | ((t * mu) >> shift)
    remainder = low - estimate * q
    remainder = jnp.minimum(remainder, remainder - q)
    return jnp.minimum(remainder, remainder - q)


def _mulhi(jnp: Any, a: Any, b: Any) -> Any:
    """``floor(a * b / 2^64)`` of uint64 arrays from four 32 x 32-bit products (``modmath.mulhi_uint64``)."""
    mask, shift = jnp.uint64(0xFFFFFFFF), jnp.uint64(32)
    a_low, a_high = a & mask, a >> shift
    b_low, b_high = b & mask, b >> shift
    low_low, low_high, high_low = a_low * b_low, a_low * b_high, a_high * b_low
    middle = (low_low >> shift) + (low_high & mask) + (high_low & mask)
    return a_high * b_high + (low_high >> shift) + (high_low >> shift) + (middle >> shift)


def _shoup(jnp: Any, a: Any, b: Any, companion: Any, q: Any) -> Any:
    """``a * b mod q`` in ``[0, q)`` for uint64 a, constant b and its companion (``modmath.shoup_multiply_uint64``)."""
    result = a * b - _mulhi(jnp, a, companion) * q
    return jnp.minimum(result, result - q)


def _centre(jnp: Any, values: Any, q_signed: Any, half: Any) -> Any:
    values = values.astype(jnp.int64)
    return jnp.where(values > half, values - q_signed, values)


def _int_digits(jnp: Any, values: Any, digits: int, bits: int, axis: int) -> Any:
    """Balanced int64 digits as float64, stacked digit-major along ``axis`` (``bat.split_digits_int``)."""
    half, shift = jnp.int64(1 << (bits - 1)), jnp.int64(bits)
    parts, rest = [], values
    for _ in range(digits - 1):
        high = jnp.right_shift(rest + half, shift)
        parts.append(rest - jnp.left_shift(high, shift))
        rest = high
    parts.append(rest)
    return jnp.concatenate([part.astype(jnp.float64) for part in parts], axis=axis)


def _combine(jnp: Any, partials: list[Any], constants: tuple[Any, ...], static: _GemmStatic) -> Any:
    """``sum_j 2^(e*j) G_j mod q`` in uint64 (``bat._WideReduction.combine``)."""
    _, q, q_signed, _, offset, factors, companions = constants
    total = None
    for index, partial_product in enumerate(partials):
        shifted = partial_product.astype(jnp.int64)
        if index == 0 and static.skip_first:
            term = jnp.where(shifted < 0, shifted + q_signed, shifted).astype(jnp.uint64)
        else:
            term = _shoup(jnp, (shifted + offset).astype(jnp.uint64), factors[index], companions[index], q)
        if total is None:
            total = term
        else:
            total = total + term
            total = jnp.minimum(total, total - q)
    return total


def _left(jax: Any, values: Any, constants: tuple[Any, ...], static: _GemmStatic) -> Any:
    """``(L, R, M)`` uint64 residues -> ``planes @ digits`` combined, uint64 ``(L, R, M)``."""
    jnp = jax.numpy
    planes, _, q_signed, half = constants[:4]
    digits = _int_digits(jnp, _centre(jnp, values, q_signed, half), static.digits, static.digit_bits, axis=1)
    highest = jax.lax.Precision.HIGHEST
    return _combine(jnp, [jnp.matmul(plane, digits, precision=highest) for plane in planes], constants, static)


def _right(jax: Any, values: Any, constants: tuple[Any, ...], static: _GemmStatic) -> Any:
    """``(L, M, C)`` uint64 residues -> ``digits @ planes^T`` combined, uint64 ``(L, M, C)``."""
    jnp = jax.numpy
    planes_t, _, q_signed, half = constants[:4]
    digits = _int_digits(jnp, _centre(jnp, values, q_signed, half), static.digits, static.digit_bits, axis=2)
    highest = jax.lax.Precision.HIGHEST
    return _combine(jnp, [jnp.matmul(digits, plane, precision=highest) for plane in planes_t], constants, static)


def _forward(jax: Any, data: Any, constants: tuple[Any, ...], static: _Static) -> Any:
    jnp = jax.numpy
    left, right, twiddle, twiddle_shoup, q4 = constants
    count, limbs, n = data.shape
    rows, cols = static.rows, static.cols
    grid = data.reshape(count, limbs, rows, cols).transpose(1, 2, 0, 3).reshape(limbs, rows, count * cols)
    step1 = _left(jax, grid.astype(jnp.uint64), left, static.left).reshape(limbs, rows, count, cols)
    step2 = _shoup(jnp, step1, twiddle, twiddle_shoup, q4)
    step3 = _right(jax, step2.reshape(limbs, rows * count, cols), right, static.right)
    result = step3.reshape(limbs, rows, count, cols).transpose(2, 0, 1, 3)
    return result.reshape(count, limbs, n).astype(jnp.int64)


def _inverse(jax: Any, data: Any, constants: tuple[Any, ...], static: _Static) -> Any:
    jnp = jax.numpy
    left, right, twiddle, twiddle_shoup, q4 = constants
    count, limbs, n = data.shape
    rows, cols = static.rows, static.cols
    grid = data.reshape(count, limbs, rows, cols).transpose(1, 2, 0, 3).reshape(limbs, rows * count, cols)
    step1 = _right(jax, grid.astype(jnp.uint64), right, static.right).reshape(limbs, rows, count, cols)
    step2 = _shoup(jnp, step1, twiddle, twiddle_shoup, q4)
    step3 = _left(jax, step2.reshape(limbs, rows, count * cols), left, static.left)
    result = step3.reshape(limbs, rows, count, cols).transpose(2, 0, 1, 3)
    return result.reshape(count, limbs, n).astype(jnp.int64)
