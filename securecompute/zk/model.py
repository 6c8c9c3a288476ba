"""Fixed-point MLP models for zero-knowledge inference proofs, and the model owner's weight commitments.

An :class:`MlpModel` is a stack of linear layers ``Z_l = X_l W_l + b_l`` with ``X_{l+1} = ReLU(rescale(Z_l))``
after every layer but the last.  Fixed point (zkDL's convention, with the package's ``Params``): inputs,
activations and weights carry scale ``2**R``, biases and pre-activations ``2**(2R)``, and ``rescale`` is
zkReLU's round-half-up shift by R.  The logits ``Z_L`` stay at scale ``2**(2R)`` (their argmax is that of the
real logits).  Every weight, bias and input is a B-bit integer (``B = Q + R``); every hidden pre-activation must
be one too (zkReLU decomposes it), which :func:`mlp_reference` checks.

The model owner commits to the padded weight and bias tables once (:func:`commit_model`) and publishes the
:class:`ModelCommitment`; verifiers pin it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from securecompute.errors import ParameterError
from securecompute.zk import group
from securecompute.zk.commit import BlindSource, Commitment, commit
from securecompute.zk.params import Params
from securecompute.zk.witness import relu_reference

__all__ = [
    "CommittedModel",
    "MlpModel",
    "ModelCommitment",
    "commit_model",
    "log2_ceil",
    "mlp_reference",
    "pad_matrix",
    "quantize_input",
]

MAX_LAYERS = 16
"""Deepest model accepted (the proof parser bounds the layer count by it)."""


def log2_ceil(size: int) -> int:
    """``ceil(log2 size)`` for size >= 1 (0 for 1)."""
    return (size - 1).bit_length()


def pad_matrix(values: np.ndarray, rows_vars: int, cols_vars: int) -> np.ndarray:
    """Zero-pad a 2-d int array to ``2**rows_vars x 2**cols_vars`` and flatten it row-major (int64 or object)."""
    padded = np.zeros((1 << rows_vars, 1 << cols_vars), dtype=values.dtype)
    padded[: values.shape[0], : values.shape[1]] = values
    return padded.ravel()


@dataclass(frozen=True)
class MlpModel:
    """Integer weights ``W_l`` (``d_{l-1} x d_l``, scale ``2**R``) and biases ``b_l`` (``d_l``, scale ``2**(2R)``)."""

    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]

    @property
    def dims(self) -> tuple[int, ...]:
        """``(d_0, d_1, ..., d_L)``: input features, then each layer's outputs."""
        return (self.weights[0].shape[0], *(w.shape[1] for w in self.weights))

    @property
    def depth(self) -> int:
        return len(self.weights)

    @classmethod
    def quantize(cls, pp: Params, layers: Sequence[tuple[Any, Any]]) -> MlpModel:
        """Quantise real ``(W, b)`` pairs: ``W -> round(W 2**R)``, ``b -> round(b 2**(2R))`` (half up).

        Raises:
            ParameterError: no layers, more than 16, mismatched shapes, non-finite values or values outside
                the B-bit range.
        """
        if not isinstance(pp, Params):
            raise ParameterError(f"pp must be a Params, got {type(pp).__name__}")
        if not 1 <= len(layers) <= MAX_LAYERS:
            raise ParameterError(f"an MLP needs 1..{MAX_LAYERS} layers, got {len(layers)}")
        weights, biases = [], []
        for index, (weight, bias) in enumerate(layers):
            w = _fixed(weight, pp.frac_bits, pp, f"W{index + 1}")
            b = _fixed(bias, 2 * pp.frac_bits, pp, f"b{index + 1}")
            weights.append(w)
            biases.append(b)
        return cls.from_integers(pp, weights, biases)

    @classmethod
    def from_integers(cls, pp: Params, weights: Sequence[Any], biases: Sequence[Any]) -> MlpModel:
        """Validate integer weights and biases (already at scales ``2**R`` and ``2**(2R)``)."""
        if not 1 <= len(weights) <= MAX_LAYERS or len(weights) != len(biases):
            raise ParameterError(f"an MLP needs 1..{MAX_LAYERS} layers with one bias each, got {len(weights)}")
        checked_w, checked_b = [], []
        previous = None
        for index, (weight, bias) in enumerate(zip(weights, biases, strict=True)):
            w = _integers(weight, pp, f"W{index + 1}", 2)
            b = _integers(bias, pp, f"b{index + 1}", 1)
            if b.shape[0] != w.shape[1]:
                raise ParameterError(f"b{index + 1} has {b.shape[0]} entries, W{index + 1} has {w.shape[1]} columns")
            if previous is not None and w.shape[0] != previous:
                raise ParameterError(f"W{index + 1} has {w.shape[0]} rows, the previous layer outputs {previous}")
            previous = w.shape[1]
            checked_w.append(w)
            checked_b.append(b)
        return cls(tuple(checked_w), tuple(checked_b))

    @classmethod
    def from_federated(cls, pp: Params, model: Any, params: Any) -> MlpModel:
        """The package's digits MLP (:class:`securecompute.federated.models.MLP`) with a flat ``params`` vector."""
        arrays = model.unpack(params)
        if len(arrays) % 2:
            raise ParameterError(f"{type(model).__name__} has no (W, b) layer structure")
        return cls.quantize(pp, [(arrays[i], arrays[i + 1]) for i in range(0, len(arrays), 2)])


@dataclass(frozen=True)
class ModelCommitment:
    """The public commitment to a model: layer dimensions and Hyrax commitments of each padded ``W_l`` and ``b_l``."""

    dims: tuple[int, ...]
    weights: tuple[Commitment, ...]
    biases: tuple[Commitment, ...]

    def same_as(self, other: ModelCommitment) -> bool:
        """Same dimensions and the same points (by canonical encoding)."""
        if self.dims != other.dims or len(self.weights) != len(other.weights) or len(self.biases) != len(other.biases):
            return False
        if len(self.weights) != len(self.biases):  # a hand-built object; parsed ones always match
            return False
        pairs = [*zip(self.weights, other.weights, strict=True), *zip(self.biases, other.biases, strict=True)]
        return all(same_commitment(left, right) for left, right in pairs)


def same_commitment(left: Commitment, right: Commitment) -> bool:
    """Same shape and points."""
    return (
        left.num_vars == right.num_vars
        and left.col_vars == right.col_vars
        and len(left.rows) == len(right.rows)
        and all(group.encode_point(x) == group.encode_point(y) for x, y in zip(left.rows, right.rows, strict=True))
    )


@dataclass(frozen=True)
class CommittedModel:
    """What the model owner keeps: the model, its public commitment, and the padded tables with their row blinds."""

    model: MlpModel
    commitment: ModelCommitment
    weight_tables: tuple[np.ndarray, ...]
    weight_blinds: tuple[list[int], ...]
    bias_tables: tuple[np.ndarray, ...]
    bias_blinds: tuple[list[int], ...]


def commit_model(pp: Params, model: MlpModel, *, seed: int | None = None) -> CommittedModel:
    """Commit to every padded ``W_l`` (``2**k x 2**c``, row-major) and ``b_l`` (``2**c``) with fresh row blinds.

    Args:
        seed: None (blinds from :mod:`secrets`) or an int for reproducible tests only (the stream is keyed by a
            hash of the parameters and every weight, as zkReLU's seeded proofs are).

    Raises:
        ParameterError: a table larger than ``2**max_log_n`` entries.
    """
    if not isinstance(model, MlpModel):
        raise ParameterError(f"model must be an MlpModel, got {type(model).__name__}")
    dims = model.dims
    for index in range(model.depth):
        k, c = log2_ceil(dims[index]), log2_ceil(dims[index + 1])
        if k + c > pp.max_log_n:
            raise ParameterError(f"W{index + 1} pads to 2**{k + c} entries, over 2**{pp.max_log_n} (max_log_n)")
    context = hashlib.blake2b(b"securecompute/zkmlp/v1/model", digest_size=32)
    context.update(pp.digest())
    for table in (*model.weights, *model.biases):
        context.update(np.asarray(table, dtype="<i8").tobytes())
    blinds = BlindSource(None if seed is None else _check_seed(seed), context.digest())
    generators = pp.generators()
    weight_tables, weight_blinds, weight_coms = [], [], []
    bias_tables, bias_blinds, bias_coms = [], [], []
    for index in range(model.depth):
        k, c = log2_ceil(dims[index]), log2_ceil(dims[index + 1])
        w_table = pad_matrix(model.weights[index], k, c)
        b_table = pad_matrix(model.biases[index][None, :], 0, c)
        w_com, w_blinds = commit(w_table.tolist(), k + c, blinds, generators)
        b_com, b_blinds = commit(b_table.tolist(), c, blinds, generators)
        weight_tables.append(w_table)
        weight_blinds.append(w_blinds)
        weight_coms.append(w_com)
        bias_tables.append(b_table)
        bias_blinds.append(b_blinds)
        bias_coms.append(b_com)
    commitment = ModelCommitment(dims, tuple(weight_coms), tuple(bias_coms))
    return CommittedModel(
        model, commitment, tuple(weight_tables), tuple(weight_blinds), tuple(bias_tables), tuple(bias_blinds)
    )


def quantize_input(x: Any, pp: Params) -> np.ndarray:
    """Real inputs (rows x features) at scale ``2**R``: ``floor(x 2**R + 1/2)`` as int64, B-bit range checked."""
    try:
        array = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ParameterError(f"inputs must be real numbers: {error}") from None
    return _fixed(array, pp.frac_bits, pp, "x")


def mlp_reference(pp: Params, model: MlpModel, x: Any) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The integers the proof commits to: ``Z_l`` (each layer, scale ``2**(2R)``) and ``A_l`` (hidden layers).

    Args:
        x: int array (rows x d_0) at scale ``2**R`` (:func:`quantize_input`).

    Returns:
        ``(zs, activations)``: L arrays ``Z_l`` (rows x d_l) and L - 1 arrays ``A_l = ReLU(rescale(Z_l))``.

    Raises:
        ParameterError: bad shapes or ranges, or a hidden pre-activation outside the B-bit range (the layer
            and the largest magnitude are named: use a larger ``q_bits``).
    """
    inputs = _integers(x, pp, "x", 2)
    if inputs.shape[1] != model.dims[0]:
        raise ParameterError(f"x has {inputs.shape[1]} features, the model takes {model.dims[0]}")
    zs: list[np.ndarray] = []
    activations: list[np.ndarray] = []
    current = inputs
    for index in range(model.depth):
        z = _exact_matmul(current, model.weights[index]) + model.biases[index][None, :].astype(object)
        zs.append(_narrow(z))
        if index + 1 < model.depth:
            worst = max(abs(int(z.min())), abs(int(z.max())))
            if worst > -pp.min_value:
                raise ParameterError(
                    f"layer {index + 1} pre-activations reach magnitude {worst}, outside the {pp.bits}-bit range of "
                    f"Q={pp.q_bits}, R={pp.frac_bits}; use a larger q_bits"
                )
            a, _ = relu_reference(zs[-1], pp)
            activations.append(a)
            current = a
    return zs, activations


def _exact_matmul(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """``left @ right`` in Python ints (no int64 overflow whatever the sizes)."""
    return np.asarray(left.astype(object) @ right.astype(object), dtype=object)


def _narrow(values: np.ndarray) -> np.ndarray:
    """int64 when every value fits, else the object array as is."""
    if values.size and (int(values.min()) < -(1 << 62) or int(values.max()) >= 1 << 62):
        return values
    return values.astype(np.int64)


def _fixed(values: Any, shift: int, pp: Params, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(array)):
        raise ParameterError(f"{name} has NaN or infinite values")
    scaled = np.floor(np.ldexp(array, shift) + 0.5)
    limit = float(-pp.min_value)
    if scaled.size and (scaled.min() < -limit or scaled.max() > limit - 1):
        raise ParameterError(
            f"{name} has values outside the {pp.bits}-bit range at scale 2**{shift} (Q={pp.q_bits}, R={pp.frac_bits})"
        )
    return scaled.astype(np.int64)


def _integers(values: Any, pp: Params, name: str, ndim: int) -> np.ndarray:
    array = np.asarray(values)
    if array.dtype.kind not in "iu":
        raise ParameterError(f"{name} must be an integer array (quantise it first), got dtype {array.dtype}")
    if array.ndim != ndim or 0 in array.shape:
        raise ParameterError(f"{name} must be a non-empty {ndim}-d array, got shape {array.shape}")
    if int(array.min()) < pp.min_value or int(array.max()) > pp.max_value:
        raise ParameterError(
            f"{name} has values outside [{pp.min_value}, {pp.max_value}], the {pp.bits}-bit range of "
            f"Q={pp.q_bits}, R={pp.frac_bits}"
        )
    return array.astype(np.int64)


def _check_seed(seed: Any) -> int:
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ParameterError(f"seed must be None or a non-negative int, got {seed!r}")
    return int(seed) % (1 << 256)
