"""CKKS encoder bit-exact with SEAL's ``CKKSEncoder.encode``: slot map, special FFT, rounding, RNS.

Encode (SEAL 4.3, ``ckks.h encode_internal``): slot i goes to position ``idx[i]`` of a length-N
complex vector and its conjugate to ``idx[i + N/2]``, where ``idx`` is SEAL's
``matrix_reps_index_map`` (powers of the generator 3 modulo 2N, bit-reversed); a Gentleman-Sande
inverse transform with SEAL's root table (glibc ``cos``/``sin`` through ``math``, 8-fold symmetry)
and the factor ``scale / N`` folded into its last stage; real parts rounded half away from zero
(``std::round``); integers reduced into every prime (exact, Python integers past 2^63) and
forward-transformed per limb.  Every floating-point operation is a separate IEEE operation in
SEAL's order (complex products as ``(ac - bd, ad + bc)``, no fused multiply-add), vectorised over
the butterflies of one stage, so the results match SEAL bit for bit.  Decoding here is the exact
CRT value scaled in double and the forward transform; it is accurate, not bit-exact with SEAL.
Hand-written: the scheme itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from securecompute.blas import single_blas_thread
from securecompute.ckks.ciphertext import check_plaintext_data
from securecompute.ckks.params import CKKSParameters
from securecompute.ckks.ring import forward, inverse
from securecompute.cross.ntt import bit_reverse_permutation
from securecompute.cross.rns import compose
from securecompute.errors import ParameterError, ShapeError

__all__ = ["CKKSEncoder", "Plaintext"]


@dataclass(frozen=True)
class Plaintext:
    """An encoded message in NTT form at one level.

    Attributes:
        data: uint64 ``(L, N)``, limb l modulo ``q_l`` (L = level + 1): a numpy array, or a ``jax.Array``
            on the device once a JAX engine holds it (``Evaluator.on_engine``, ``mod_switch_plain``).
        scale: the scaling factor Delta the values were multiplied by.
    """

    data: Any  # np.ndarray, or jax.Array on a JAX engine
    scale: float

    @property
    def level(self) -> int:
        """Chain index: number of limbs minus one."""
        return int(self.data.shape[0]) - 1


class CKKSEncoder:
    """Encode complex vectors into plaintexts and decode them back, with SEAL's conventions.

    Args:
        params: the scheme parameters (N and the chain).
    """

    def __init__(self, params: CKKSParameters) -> None:
        self.params = params
        n = params.n
        self._index_map = _index_map(n)
        self._inverse_roots, self._roots = _root_tables(n)

    @single_blas_thread
    def encode(
        self, values: np.ndarray | list[complex] | list[float], scale: float, level: int | None = None
    ) -> Plaintext:
        """Encode up to N/2 real or complex values at ``scale`` on chain index ``level`` (default: the top data level).

        Returns:
            a :class:`Plaintext` identical, limb for limb, to SEAL's ``CKKSEncoder.encode`` result.

        Raises:
            ShapeError: more than N/2 values or not one-dimensional.
            ParameterError: a non-finite value or scale, or a scale / value too large for the level
                (SEAL's bounds: ``int(log2 scale) + 1`` and ``ceil(log2 max|coef|) + 1`` must stay below
                the level's total modulus bits).
        """
        params = self.params
        level = params.max_level if level is None else level
        params.check_level(level, allow_key_level=True)
        moduli = params.moduli_at(level)
        total_bits = sum(q.bit_length() for q in moduli)
        array = np.asarray(values)
        slots = params.slots
        if array.ndim != 1 or array.shape[0] > slots:
            raise ShapeError(
                f"values must be one-dimensional with at most N/2={slots} entries; got shape {array.shape}"
            )
        if array.dtype.kind not in "biufc":
            raise ParameterError(f"values must be real or complex numbers, got dtype {array.dtype}")
        array = array.astype(np.complex128)
        if not np.all(np.isfinite(array)):
            raise ParameterError("values contain NaN or infinity; only finite values can be encoded")
        if not (math.isfinite(scale) and scale > 0):
            raise ParameterError(f"scale={scale!r} must be a positive finite number")
        if int(math.log2(scale)) + 1 >= total_bits:
            raise ParameterError(
                f"scale={scale} (2^{math.log2(scale):.1f}) is too large for level {level} of {total_bits} bits"
            )
        coefficients = self._embed(array, scale)
        largest = float(np.max(np.abs(coefficients))) if coefficients.size else 0.0
        if math.ceil(math.log2(max(largest, 1.0))) + 1 >= total_bits:
            raise ParameterError(
                f"encoded values reach 2^{math.log2(max(largest, 1.0)):.1f}: too large for level {level} of {total_bits} bits"
            )
        residues = _to_rns(coefficients, moduli)
        return Plaintext(forward(params.n, moduli, residues), float(scale))

    @single_blas_thread
    def encode_scalar(self, value: float, scale: float, level: int | None = None) -> Plaintext:
        """SEAL's ``encode(double, parms_id, scale)``: round(value * scale) in every slot of every limb.

        The constant polynomial's NTT is that constant at every evaluation point, so no transform runs.

        Raises:
            ParameterError: a non-finite value, or ``value * scale`` too large for the level.
        """
        params = self.params
        level = params.max_level if level is None else level
        params.check_level(level, allow_key_level=True)
        moduli = params.moduli_at(level)
        total_bits = sum(q.bit_length() for q in moduli)
        scaled = value * scale
        if not math.isfinite(scaled):
            raise ParameterError(f"value={value!r} times scale={scale!r} is not finite")
        magnitude_bits = 2 if abs(scaled) < 1 else int(math.log2(abs(scaled))) + 2
        if magnitude_bits >= total_bits:
            raise ParameterError(f"value*scale={scaled} is too large for level {level} of {total_bits} bits")
        integer = int(_round_half_away(np.array([scaled]))[0])
        column = np.array([integer % q for q in moduli], dtype=np.uint64).reshape(-1, 1)
        return Plaintext(np.repeat(column, params.n, axis=1), float(scale))

    @single_blas_thread
    def decode(self, plaintext: Plaintext) -> np.ndarray:
        """Complex slot values ``(N/2,)`` of a plaintext (exact CRT, then the forward special FFT).

        Raises:
            ShapeError: the plaintext's data is not a uint64 array whose limbs fit the parameters.
        """
        params = self.params
        check_plaintext_data(plaintext.data, params)
        data = np.asarray(plaintext.data)  # host numpy: a JAX engine's device plaintext is copied here
        moduli = params.moduli_at(plaintext.level)
        integers = compose(inverse(params.n, moduli, data).view(np.int64), moduli, centred=True)
        inverse_scale = 1.0 / plaintext.scale
        real = np.array([float(c) for c in integers]) * inverse_scale
        return self._unembed(real)

    # -- the special FFT --------------------------------------------------------------------------

    def _embed(self, values: np.ndarray, scale: float) -> np.ndarray:
        """SEAL's inverse transform of the slot vector; rounded real parts ``(N,)`` float64."""
        n = self.params.n
        real = np.zeros(n)
        imag = np.zeros(n)
        count = values.shape[0]
        real[self._index_map[:count]] = values.real
        imag[self._index_map[:count]] = values.imag
        real[self._index_map[self.params.slots : self.params.slots + count]] = values.real
        imag[self._index_map[self.params.slots : self.params.slots + count]] = -values.imag
        roots_re, roots_im = self._inverse_roots
        fix = scale / float(n)
        gap, blocks, root = 1, n // 2, 1
        while blocks > 1:
            r_re = roots_re[root : root + blocks, None]
            r_im = roots_im[root : root + blocks, None]
            root += blocks
            x_re, y_re = _halves(real, blocks, gap)
            x_im, y_im = _halves(imag, blocks, gap)
            d_re, d_im = x_re - y_re, x_im - y_im
            x_re += y_re
            x_im += y_im
            y_re[...] = d_re * r_re - d_im * r_im
            y_im[...] = d_re * r_im + d_im * r_re
            gap, blocks = gap * 2, blocks // 2
        scaled_re, scaled_im = roots_re[root] * fix, roots_im[root] * fix
        x_re, y_re = _halves(real, 1, gap)
        x_im, y_im = _halves(imag, 1, gap)
        d_re, d_im = x_re - y_re, x_im - y_im
        x_re[...] = (x_re + y_re) * fix
        y_re[...] = d_re * scaled_re - d_im * scaled_im
        return _round_half_away(real)

    def _unembed(self, real: np.ndarray) -> np.ndarray:
        """SEAL's forward transform (Cooley-Tukey) of real coefficients; the slot values ``(N/2,)``."""
        n = self.params.n
        values_re = real.astype(np.float64).copy()
        values_im = np.zeros(n)
        roots_re, roots_im = self._roots
        gap, blocks, root = n // 2, 1, 1
        while blocks < n:
            r_re = roots_re[root : root + blocks, None]
            r_im = roots_im[root : root + blocks, None]
            root += blocks
            x_re, y_re = _halves(values_re, blocks, gap)
            x_im, y_im = _halves(values_im, blocks, gap)
            v_re = y_re * r_re - y_im * r_im
            v_im = y_re * r_im + y_im * r_re
            y_re[...] = x_re - v_re
            y_im[...] = x_im - v_im
            x_re += v_re
            x_im += v_im
            gap, blocks = gap // 2, blocks * 2
        slots = self.params.slots
        positions = self._index_map[:slots]
        return np.asarray(values_re[positions] + 1j * values_im[positions])


def _halves(vector: np.ndarray, blocks: int, gap: int) -> tuple[np.ndarray, np.ndarray]:
    """Views ``(blocks, gap)`` of the first and second halves of each butterfly block."""
    grid = vector.reshape(blocks, 2, gap)
    return grid[:, 0, :], grid[:, 1, :]


def _round_half_away(values: np.ndarray) -> np.ndarray:
    """``std::round``: nearest integer, halves away from zero (float64, exact)."""
    truncated = np.trunc(values)
    return np.asarray(np.where(np.abs(values - truncated) >= 0.5, truncated + np.sign(values), truncated))


def _to_rns(coefficients: np.ndarray, moduli: tuple[int, ...]) -> np.ndarray:
    """Integer-valued float64 ``(N,)`` -> uint64 residues ``(L, N)``, exactly (Python ints past 2^62)."""
    if not coefficients.size or float(np.max(np.abs(coefficients))) < 2.0**62:
        integers = coefficients.astype(np.int64)
        column = np.array(moduli, dtype=np.int64).reshape(-1, 1)
        return np.asarray(np.remainder(integers[None, :], column).astype(np.uint64))
    exact = [int(c) for c in coefficients.tolist()]
    return np.array([[c % q for c in exact] for q in moduli], dtype=np.uint64)


@lru_cache(maxsize=8)
def _index_map(n: int) -> np.ndarray:
    """SEAL's ``matrix_reps_index_map``: slot i -> position ``(N,)`` int64 (conjugates in the second half)."""
    slots = n // 2
    reverse = bit_reverse_permutation(n)
    index = np.empty(n, dtype=np.int64)
    position = 1
    for i in range(slots):
        index[i] = reverse[(position - 1) // 2]
        index[slots + i] = reverse[(2 * n - position - 1) // 2]
        position = position * 3 % (2 * n)
    index.setflags(write=False)
    return index


@lru_cache(maxsize=8)
def _root_tables(n: int) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """SEAL's inverse (encode) and forward (decode) root tables as (real, imaginary) float64 ``(N,)``."""
    m = 2 * n
    base = [(math.cos(2 * math.pi * k / m), math.sin(2 * math.pi * k / m)) for k in range(m // 8 + 1)]

    def root(k: int) -> tuple[float, float]:
        k %= m
        if k <= m // 8:
            return base[k]
        if k <= m // 4:
            re, im = base[m // 4 - k]
            return im, re
        if k <= m // 2:
            re, im = root(m // 2 - k)
            return -re, im
        if k <= 3 * m // 4:
            re, im = root(k - m // 2)
            return -re, -im
        re, im = root(m - k)
        return re, -im

    reverse = bit_reverse_permutation(n)
    inverse_roots = np.zeros((2, n))
    forward_roots = np.zeros((2, n))
    for i in range(1, n):
        re, im = root(int(reverse[i - 1]) + 1)
        inverse_roots[:, i] = (re, -im)
        forward_roots[:, i] = root(int(reverse[i]))
    return (inverse_roots[0], inverse_roots[1]), (forward_roots[0], forward_roots[1])
