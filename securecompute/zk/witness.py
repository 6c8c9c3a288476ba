"""The prover's witness for zkReLU: validated integer inputs, ReLU outputs and the bit advice.

``relu_reference`` is the integer semantics the proof commits to (round-half-up rescale, ReLU, the
backward mask); ``build_witness`` lays the tensors out as the tables of :mod:`securecompute.zk.relu`
(padded to ``2**m`` elements, advice flattened as ``((i * 2**tau) + t) * 2**k + j``).  Inputs are validated
here, before any group operation, and bad input raises ParameterError.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from securecompute.errors import ParameterError
from securecompute.zk.params import Params

__all__ = ["Witness", "build_stack_witness", "build_witness", "relu_reference"]


def relu_reference(z: Any, pp: Params, grad_a: Any | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """The integers the proof commits to: ``A = ReLU(rescale(Z))`` and ``G_Z = 1[Z >= 0] rescale(G_A)``.

    Args:
        z: int array (scale ``2**(2R)``), any shape.
        grad_a: int array of the same shape, or None.

    Returns:
        ``(a, grad_z)`` as int64 arrays of the input shape (scale ``2**R``); ``grad_z`` is None without
        ``grad_a``.

    Raises:
        ParameterError: non-integer input, shape mismatch, or values outside the B-bit range.
    """
    z_values = _check_input(z, pp, "z")
    rescaled = _rescale(z_values, pp)
    a = np.where(z_values >= 0, rescaled, 0)
    if grad_a is None:
        return a, None
    grad_values = _check_input(grad_a, pp, "grad_a")
    if grad_values.shape != z_values.shape:
        raise ParameterError(f"grad_a has shape {grad_values.shape}, but z has shape {z_values.shape}")
    return a, np.where(z_values >= 0, _rescale(grad_values, pp), 0)


@dataclass
class Witness:
    """The prover's tables, padded to ``2**m`` elements; Python ints (signed small values or field elements).

    Internal: tests build inconsistent witnesses from it to play cheating provers.
    """

    n: int
    z: list[int]
    a: list[int]
    bits: list[int]
    grad_a: list[int] | None = None
    grad_z: list[int] | None = None
    instances: int = 1
    """k stacked instances of n elements each (instance-major, each padded to ``2**m``, k padded to ``2**kappa``)."""

    @property
    def log_size(self) -> int:
        """All element variables, ``m + kappa``."""
        return (len(self.z) - 1).bit_length()

    @property
    def instance_vars(self) -> int:
        """kappa = ``ceil(log2 k)``, the instance variables (the highest element variables)."""
        return (self.instances - 1).bit_length()

    @property
    def backward(self) -> bool:
        return self.grad_a is not None


def build_witness(pp: Params, z: Any, grad_a: Any | None = None) -> Witness:
    """The honest witness for inputs ``z`` (and ``grad_a``); validates everything (ParameterError)."""
    if not isinstance(pp, Params):
        raise ParameterError(f"pp must be a Params from Params.setup, got {type(pp).__name__}")
    a, grad_z = relu_reference(z, pp, grad_a)
    z_values = _check_input(z, pp, "z").ravel()
    n = z_values.size
    if n == 0 or n > 1 << pp.max_log_n:
        raise ParameterError(f"z must have 1..2**{pp.max_log_n} elements, got {n}")
    size = max(2, 1 << (n - 1).bit_length())
    blocks = [z_values]
    if grad_a is not None:
        blocks.append(_check_input(grad_a, pp, "grad_a").ravel())
    slots = 1 << pp.slot_vars
    shifts = np.arange(pp.bits, dtype=np.int64)
    advice = np.zeros((size, len(blocks), slots), dtype=np.int64)
    for block, values in enumerate(blocks):
        # arithmetic shifts of int64 give the two's-complement bits of negative values
        advice[:n, block, : pp.bits] = (values[:, None] >> shifts[None, :]) & 1
    return Witness(
        n=n,
        z=_pad(z_values, size),
        a=_pad(a.ravel(), size),
        bits=advice.ravel().tolist(),
        grad_a=None if grad_a is None else _pad(blocks[1], size),
        grad_z=None if grad_z is None else _pad(grad_z.ravel(), size),
    )


def build_stack_witness(pp: Params, zs: Sequence[Any], grads: Sequence[Any] | None = None) -> Witness:
    """The honest witness of k stacked instances: each as :func:`build_witness`, concatenated instance-major.

    Every instance must have the same number of elements n (pad smaller layers with zeros: ``ReLU(0) = 0``, so
    zero padding satisfies the relation).  The stack of ``2**kappa`` instances (zero instances after the k
    given) of ``2**m`` elements must fit ``2**max_log_n``.
    """
    if isinstance(zs, np.ndarray) and zs.ndim >= 1:
        zs = list(zs)
    if not isinstance(zs, Sequence) or isinstance(zs, (str, bytes)) or len(zs) == 0:
        raise ParameterError("zs must be a non-empty sequence of integer arrays, one per instance")
    if grads is not None:
        if isinstance(grads, np.ndarray) and grads.ndim >= 1:
            grads = list(grads)
        if not isinstance(grads, Sequence) or len(grads) != len(zs):
            raise ParameterError(f"grads must be None or one array per instance ({len(zs)}), got {grads!r:.60}")
    parts = [build_witness(pp, z, None if grads is None else grads[index]) for index, z in enumerate(zs)]
    sizes = {part.n for part in parts}
    if len(sizes) != 1:
        raise ParameterError(f"every stacked instance must have the same number of elements, got {sorted(sizes)}")
    k = len(parts)
    padded = 1 << (k - 1).bit_length()
    first = parts[0]
    if len(first.z) * padded > 1 << pp.max_log_n:
        raise ParameterError(
            f"{k} instances of {len(first.z)} (padded) elements exceed 2**{pp.max_log_n} stacked elements"
        )

    def stack(tables: list[list[int]]) -> list[int]:
        return [value for table in tables for value in table] + [0] * (len(tables[0]) * (padded - k))

    backward = grads is not None
    return Witness(
        n=first.n,
        z=stack([part.z for part in parts]),
        a=stack([part.a for part in parts]),
        bits=stack([part.bits for part in parts]),
        grad_a=stack([part.grad_a for part in parts if part.grad_a is not None]) if backward else None,
        grad_z=stack([part.grad_z for part in parts if part.grad_z is not None]) if backward else None,
        instances=k,
    )


def _check_input(values: Any, pp: Params, name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.dtype.kind not in "iu":
        raise ParameterError(f"{name} must be an integer array (use quantize()), got dtype {array.dtype}")
    if array.size and (int(array.min()) < pp.min_value or int(array.max()) > pp.max_value):
        raise ParameterError(
            f"{name} has values outside [{pp.min_value}, {pp.max_value}], the {pp.bits}-bit range of "
            f"Q={pp.q_bits}, R={pp.frac_bits}"
        )
    return array.astype(np.int64)


def _rescale(values: np.ndarray, pp: Params) -> np.ndarray:
    """Round-half-up division by ``2**R``: ``floor((x + 2**(R-1)) / 2**R)`` (arithmetic shift)."""
    return (values + (1 << (pp.frac_bits - 1))) >> pp.frac_bits


def _pad(values: np.ndarray, size: int) -> list[int]:
    padded = [int(value) for value in values]
    return padded + [0] * (size - len(padded))
