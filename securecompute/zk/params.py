"""Public parameters of zkReLU (fixed-point format, size bound, generators) and input quantisation.

Fixed point (zkDL's convention): a pre-activation or incoming gradient ``x`` (a real number) leaves
a matmul with scale ``2**(2R)``, so it is the integer ``z = floor(x * 2**(2R) + 1/2)``.  The ReLU
rescales by ``2**-R`` with round-half-up, ``rescale(z) = floor((z + 2**(R-1)) / 2**R)``, so the output
has scale ``2**R``.  Every ``z`` must be a ``B = Q + R``-bit two's-complement integer,
``-2**(B-1) <= z < 2**(B-1)``, i.e. ``|x| <= 2**(Q-1-R)`` in real terms (``Q = R = 16``: ``[-0.5, 0.5)``;
use a larger Q for a wider range).

Setup is transparent: generators come from hash-to-curve (see :mod:`securecompute.zk.group`) and
:meth:`Params.digest` hashes every setting, so a proof made under other parameters is refused.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from securecompute.errors import ParameterError
from securecompute.zk import group
from securecompute.zk.commit import column_vars
from securecompute.zk.field import MODULUS
from securecompute.zk.group import Generators

__all__ = ["MAX_LOG_N", "PROTOCOL", "Params", "quantize"]

PROTOCOL = "securecompute/zkrelu/v1"
MAX_LOG_N = 24
"""Largest supported ``max_log_n`` (2**24 elements)."""


@dataclass(frozen=True)
class Params:
    """zkReLU parameters: ``q_bits`` Q (integer bits of the rescaled value), ``frac_bits`` R, ``max_log_n``.

    Build with :meth:`setup`, which validates.  ``bits`` is B = Q + R; ``slot_vars`` is ``ceil(log2 B)``,
    the MLE variables of one element's bit slots.
    """

    q_bits: int
    frac_bits: int
    max_log_n: int

    @classmethod
    def setup(cls, q_bits: int = 16, frac_bits: int = 16, max_log_n: int = 16) -> Params:
        """Validate and return parameters (generators are derived lazily on first use and cached).

        Raises:
            ParameterError: Q outside 2..40, R outside 1..24, Q + R > 62, or max_log_n outside 1..24.
        """
        for name, value, low, high in (
            ("q_bits", q_bits, 2, 40),
            ("frac_bits", frac_bits, 1, 24),
            ("max_log_n", max_log_n, 1, MAX_LOG_N),
        ):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or not low <= value <= high:
                raise ParameterError(f"{name} must be an int in {low}..{high}, got {value!r}")
        if q_bits + frac_bits > 62:
            raise ParameterError(f"q_bits + frac_bits must be at most 62 (int64 inputs), got {q_bits + frac_bits}")
        return cls(int(q_bits), int(frac_bits), int(max_log_n))

    @property
    def bits(self) -> int:
        """B = Q + R, the two's-complement width of every input."""
        return self.q_bits + self.frac_bits

    @property
    def slot_vars(self) -> int:
        """MLE variables of one element's bit slots: ``ceil(log2 B)`` (slots beyond B are zero-weight)."""
        return math.ceil(math.log2(self.bits))

    @property
    def generator_count(self) -> int:
        """Vector generators needed by the largest table (the bits of 2**max_log_n elements with gradients)."""
        return 1 << column_vars(self.max_log_n + self.slot_vars + 1)

    @property
    def min_value(self) -> int:
        """Smallest admissible input integer, ``-2**(B-1)``."""
        return -(1 << (self.bits - 1))

    @property
    def max_value(self) -> int:
        """Largest admissible input integer, ``2**(B-1) - 1``."""
        return (1 << (self.bits - 1)) - 1

    def generators(self, columns: int | None = None) -> Generators:
        """The vector generators (all :attr:`generator_count` by default), H and G_v."""
        return group.generators(self.generator_count if columns is None else columns)

    def digest(self) -> bytes:
        """32-byte BLAKE2b digest of the protocol, curve, r, Q, R, max_log_n and generator derivation."""
        text = (
            f"{PROTOCOL}|curve=bls12_381.g1|r={MODULUS:x}|q_bits={self.q_bits}|frac_bits={self.frac_bits}"
            f"|max_log_n={self.max_log_n}|generators={self.generator_count}|dst="
        )
        return hashlib.blake2b(text.encode() + group.GENERATOR_DST, digest_size=32).digest()

    def describe(self) -> dict[str, Any]:
        """The parameters as plain JSON-able values (for reports and ``to_json``)."""
        return {
            "protocol": PROTOCOL,
            "curve": "BLS12-381 G1",
            "q_bits": self.q_bits,
            "frac_bits": self.frac_bits,
            "bits": self.bits,
            "max_log_n": self.max_log_n,
            "digest": self.digest().hex(),
        }


def quantize(values: Any, pp: Params) -> np.ndarray:
    """Quantise real pre-activations (or gradients) at scale ``2**(2R)``: ``floor(x * 2**(2R) + 1/2)``, exactly.

    The rounding and the range check are exact for every float64 input and every admissible B (up to 62):
    ``y = x * 2**(2R)`` is exact (a power-of-two scaling), ``floor(y)`` and ``y - floor(y)`` are exact, and the
    result ``floor(y) + [y - floor(y) >= 1/2]`` is formed and range-checked in int64 (no ``y + 0.5`` in floating
    point, which rounds wrongly near 0.5 and above 2**52, and no float comparison with ``2**(B-1) - 1``, which is
    not a float for B > 53).  Precision limit: a float64 has 53 significant bits, so where ``|x| * 2**(2R) >=
    2**53`` (possible only when B > 54) neighbouring inputs quantise to integers more than 1 apart; pass int64
    values straight to :func:`~securecompute.zk.prove_relu` when every bit matters.

    Args:
        values: array-like of finite reals, any shape.
        pp: the parameters (R and the admissible range).

    Returns:
        an int64 array of the same shape.

    Raises:
        ParameterError: non-numeric or non-finite values, or a value outside ``[-2**(B-1), 2**(B-1))``
            after scaling (the message names the first offending value and the real range).
    """
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ParameterError(f"quantize needs real numbers: {error}") from None
    if not np.all(np.isfinite(array)):
        raise ParameterError("quantize needs finite values; got NaN or infinity")
    limit = float(1 << 62)  # a power of two: exact; anything at or beyond it is out of every B <= 62 range
    with np.errstate(over="ignore", invalid="ignore"):
        scaled = np.ldexp(array, 2 * pp.frac_bits)  # exact, or +-inf beyond float range (caught below)
        floors = np.floor(scaled)
        outside = ~(np.abs(floors) < limit)
        fraction = np.where(outside, 0.0, scaled - floors)
    rounded = np.where(outside, 0.0, floors).astype(np.int64) + (fraction >= 0.5).astype(np.int64)
    bad = outside | (rounded < pp.min_value) | (rounded > pp.max_value)
    if np.any(bad):
        first = array[bad].flat[0]
        low = pp.min_value / float(1 << (2 * pp.frac_bits))
        high = (pp.max_value + 1) / float(1 << (2 * pp.frac_bits))
        raise ParameterError(
            f"value {first!r} is outside the range [{low}, {high}) of Q={pp.q_bits}, R={pp.frac_bits}; "
            "use a larger q_bits"
        )
    return rounded
