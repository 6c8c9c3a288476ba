"""numpy-style operators on EncryptedTensor (``+ - * @``, unary ``-``, ``sum``, ``T``, ``transpose``).

Each operator is written as an einsum and planned by :mod:`securecompute.fhe.plan`, so it costs what
the planner says (``plan_einsum`` shows it) and follows numpy's semantics, which the tests check:

* ``x * y``: elementwise with numpy broadcasting, ``'ab,b->ab'``-style; one level with a plaintext
  or scalar, one ciphertext product with another tensor.
* ``x @ y``: ``numpy.matmul``: 1-D operands get a length-1 axis that is dropped again, batch axes
  broadcast (``'...nk,...km->...nm'``); a scalar operand is refused as numpy refuses it.
* ``x.sum(axis)``, ``x.T``, ``x.transpose(axes)``: one-operand einsums (a transpose is free: the
  layout records it).
* ``x + y``, ``x - y``: ciphertexts add slot-wise once both sit in the row-major layout of the
  broadcast shape.  An operand already there costs nothing; any other is moved there by a planned
  einsum with the plaintext factor ``+-1`` broadcast to that shape (one level); plaintext operands
  are encrypted under the tensor's public key in that layout.  ``-x`` is ``x * -1``.
* ``x.cleaned()``: zero the filler slots where ``@``, ``*`` and ``sum`` may leave partial sums (one
  level), before the key holder decrypts a result that involved the evaluator's private plaintexts.

``__array_ufunc__ = None`` makes numpy hand ``ndarray + tensor`` to the tensor's reflected operator
instead of building an object array.  This module is hand-written: it is the user-facing face of
the planner.
"""

from __future__ import annotations

import string
from typing import TYPE_CHECKING, Any

import numpy as np

from securecompute.errors import DepthExhaustedError, ParameterError, ShapeError

if TYPE_CHECKING:
    from securecompute.fhe.plan import EinsumPlan
    from securecompute.fhe.tensor import EncryptedTensor

__all__ = ["TensorOperators", "add", "matmul", "multiply", "negative", "subtract", "tensor_sum", "transpose"]

_LETTERS = string.ascii_letters
Other = Any  # EncryptedTensor, a real array, or a real scalar


class TensorOperators:
    """Mixin giving :class:`~securecompute.fhe.tensor.EncryptedTensor` numpy's operators."""

    __array_ufunc__ = None

    def __add__(self, other: Other) -> EncryptedTensor:
        return add(_self(self), other)

    def __radd__(self, other: Other) -> EncryptedTensor:
        return add(other, _self(self))

    def __sub__(self, other: Other) -> EncryptedTensor:
        return subtract(_self(self), other)

    def __rsub__(self, other: Other) -> EncryptedTensor:
        return subtract(other, _self(self))

    def __neg__(self) -> EncryptedTensor:
        return negative(_self(self))

    def __mul__(self, other: Other) -> EncryptedTensor:
        return multiply(_self(self), other)

    def __rmul__(self, other: Other) -> EncryptedTensor:
        return multiply(other, _self(self))

    def __matmul__(self, other: Other) -> EncryptedTensor:
        return matmul(_self(self), other)

    def __rmatmul__(self, other: Other) -> EncryptedTensor:
        return matmul(other, _self(self))

    def sum(self, axis: int | tuple[int, ...] | None = None) -> EncryptedTensor:
        """Sum over ``axis`` (an int, a tuple of ints, or None for all), as ``numpy.sum``."""
        return tensor_sum(_self(self), axis)

    @property
    def T(self) -> EncryptedTensor:  # noqa: N802 - numpy's name
        """Axes reversed, as ``numpy.ndarray.T`` (free: only the layout changes)."""
        return transpose(_self(self))

    def transpose(self, *axes: Any) -> EncryptedTensor:
        """Permute axes as ``numpy.ndarray.transpose``: no argument (or None) reverses them.

        ``axes`` is ints (``t.transpose(1, 0)``) or one sequence of them (a tuple, list or array).
        """
        if len(axes) == 1 and not isinstance(axes[0], (int, np.integer)):
            return transpose(_self(self), None if axes[0] is None else _sequence(axes[0], "transpose"))
        return transpose(_self(self), tuple(axes) if axes else None)

    def cleaned(self) -> EncryptedTensor:
        """This tensor with its filler slots zeroed (one level when it has any, else itself).

        ``x @ w``, ``x * w`` and ``x.sum(...)`` may leave partial sums in slots the result does not
        use (its layout's fillers); when a plaintext ``w`` belongs to the evaluator and must stay
        private from the key holder, send back ``(x @ w).cleaned()``, as ``einsum(..., clean=True)``.
        """
        tensor = _self(self)
        if not tensor.layout.has_fillers:
            return tensor
        labels = _LETTERS[: tensor.ndim]
        from securecompute.fhe.frontend import einsum

        result = einsum(f"{labels}->{labels}", tensor, clean=True)
        assert not isinstance(result, np.ndarray)
        return result

    @classmethod
    def checked(cls, value: object) -> EncryptedTensor:
        """``value`` if it is an EncryptedTensor; else ParameterError naming what it is."""
        from securecompute.fhe.tensor import EncryptedTensor

        if not isinstance(value, EncryptedTensor):
            raise ParameterError(f"expected an EncryptedTensor, got a {type(value).__name__}; encrypt it first")
        return value


# --- the operators ----------------------------------------------------------------------------


def multiply(left: Other, right: Other) -> EncryptedTensor:
    """Elementwise product with numpy broadcasting (at least one operand an EncryptedTensor)."""
    shapes = [_shape(left), _shape(right)]
    output = _broadcast(shapes, "*")
    labels = _LETTERS[: len(output)]
    terms = ",".join(labels[len(output) - len(shape) :] for shape in shapes)
    return _einsum(f"{terms}->{labels}", left, right)


def negative(tensor: EncryptedTensor) -> EncryptedTensor:
    """``-tensor`` (one plaintext multiplication: a level)."""
    return multiply(tensor, -1.0)


def add(left: Other, right: Other) -> EncryptedTensor:
    """Elementwise sum with numpy broadcasting."""
    return _combine(left, right, 1.0)


def subtract(left: Other, right: Other) -> EncryptedTensor:
    """Elementwise difference with numpy broadcasting."""
    return _combine(left, right, -1.0)


def matmul(left: Other, right: Other) -> EncryptedTensor:
    """``numpy.matmul``: 1-D operands promoted and demoted, batch axes broadcast.

    Raises:
        ShapeError: a 0-d operand, or inner lengths that differ (numpy broadcasts no length-1 inner axis).
    """
    shapes = [_shape(left), _shape(right)]
    if any(len(shape) == 0 for shape in shapes):
        raise ShapeError(f"matmul: operands of shapes {shapes[0]} and {shapes[1]}; 0-d operands are refused, use *")
    inner_left = shapes[0][-1]
    inner_right = shapes[1][0] if len(shapes[1]) == 1 else shapes[1][-2]
    if inner_left != inner_right:
        raise ShapeError(
            f"matmul: inner lengths differ: {shapes[0]} @ {shapes[1]} ({inner_left} != {inner_right}); "
            "accepted: the last axis of the left equal to the second-to-last (or only) axis of the right"
        )
    left_term = "k" if len(shapes[0]) == 1 else "...nk"
    right_term = "k" if len(shapes[1]) == 1 else "...km"
    output = (
        ("..." if max(map(len, shapes)) > 2 or "..." in left_term + right_term else "")
        + ("n" if len(shapes[0]) > 1 else "")
        + ("m" if len(shapes[1]) > 1 else "")
    )
    if len(shapes[0]) > 2 or len(shapes[1]) > 2:
        _broadcast([shapes[0][:-2], shapes[1][:-2]], "@ (batch axes)")
    return _einsum(f"{left_term},{right_term}->{output}", left, right)


def tensor_sum(tensor: EncryptedTensor, axis: int | tuple[int, ...] | None = None) -> EncryptedTensor:
    """Sum over ``axis`` as ``numpy.sum`` (no ``keepdims``).

    Raises:
        ShapeError: an axis out of range or repeated.
    """
    summed = set(range(tensor.ndim)) if axis is None else set(_axes(axis, tensor.ndim, "sum"))
    labels = _LETTERS[: tensor.ndim]
    kept = "".join(label for position, label in enumerate(labels) if position not in summed)
    return _einsum(f"{labels}->{kept}", tensor)


def transpose(tensor: EncryptedTensor, axes: tuple[int, ...] | None = None) -> EncryptedTensor:
    """Permute axes as ``numpy.transpose`` (None reverses them).

    Raises:
        ShapeError: ``axes`` is not a permutation of the tensor's axes.
    """
    order = tuple(reversed(range(tensor.ndim))) if axes is None else _axes(axes, tensor.ndim, "transpose")
    if sorted(order) != list(range(tensor.ndim)):
        raise ShapeError(f"transpose: axes {axes} are not a permutation of {tuple(range(tensor.ndim))}")
    labels = _LETTERS[: tensor.ndim]
    return _einsum(f"{labels}->{''.join(labels[axis] for axis in order)}", tensor)


# --- helpers -------------------------------------------------------------------------------------


def _self(value: object) -> EncryptedTensor:
    return TensorOperators.checked(value)


def _einsum(expression: str, *operands: Other) -> EncryptedTensor:
    from securecompute.fhe.frontend import einsum
    from securecompute.fhe.tensor import EncryptedTensor

    converted = [_operand(value) for value in operands]
    if not any(isinstance(value, EncryptedTensor) for value in converted):
        raise ParameterError("these operators need at least one EncryptedTensor operand; use numpy for plain arrays")
    result = einsum(expression, *converted)
    assert isinstance(result, EncryptedTensor)
    return result


def _sequence(axes: Any, what: str) -> tuple[Any, ...]:
    """``axes`` as a tuple (ShapeError if it is not a sequence)."""
    try:
        return tuple(axes)
    except TypeError:
        raise ShapeError(f"{what}: axes {axes!r} are not an int or a sequence of ints") from None


def _operand(value: Other) -> Any:
    """A tensor as is; anything else as a float64 array (ParameterError if it is not real)."""
    from securecompute.fhe.tensor import EncryptedTensor

    if isinstance(value, EncryptedTensor):
        return value
    try:
        array = np.asarray(value)
    except Exception:
        array = np.asarray(None)
    if array.dtype.kind not in "biuf":
        raise ParameterError(
            f"operand of type {type(value).__name__} (dtype {array.dtype}) is not accepted; "
            "accepted: EncryptedTensor, real (float, int or bool) arrays and scalars within float64"
        )
    if not np.all(np.isfinite(array)):
        raise ParameterError("operand holds NaN or infinite values; accepted: finite reals")
    return array.astype(np.float64)


def _shape(value: Other) -> tuple[int, ...]:
    operand = _operand(value)
    return tuple(operand.shape)


def _broadcast(shapes: list[tuple[int, ...]], operator: str) -> tuple[int, ...]:
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        raise ShapeError(
            f"operands of shapes {shapes[0]} and {shapes[1]} do not broadcast for {operator}; "
            "accepted: numpy broadcasting (equal lengths or 1, aligned from the right)"
        ) from None


def _axes(axes: int | tuple[int, ...], ndim: int, what: str) -> tuple[int, ...]:
    values = (axes,) if isinstance(axes, (int, np.integer)) else _sequence(axes, what)
    normalised = []
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not -ndim <= value < ndim:
            raise ShapeError(f"{what}: axis {value!r} is out of range for {ndim} axes; accepted: {-ndim}..{ndim - 1}")
        normalised.append(int(value) % ndim)
    if len(set(normalised)) != len(normalised):
        raise ShapeError(f"{what}: axes {axes} repeat an axis")
    return tuple(normalised)


def _combine(left: Other, right: Other, sign: float) -> EncryptedTensor:
    """``left + sign * right``, slot-wise once both sit in the row-major layout of the broadcast shape.

    Both operands are planned (their depth and rotation keys checked) before either is encrypted or moved.
    """
    from securecompute.fhe.tensor import EncryptedTensor

    operands = [_operand(left), _operand(right)]
    output = _broadcast([tuple(operand.shape) for operand in operands], "+" if sign > 0 else "-")
    tensors = [operand for operand in operands if isinstance(operand, EncryptedTensor)]
    if not tensors:
        raise ParameterError("+ and - here need at least one EncryptedTensor operand; use numpy for plain arrays")
    for tensor in tensors[1:]:
        tensor.check_context(tensors[0].context)
    context = tensors[0].context
    same = _same_layout_combination(operands, output, sign)
    if same is not None:
        return same
    plans = [
        _alignment(operand, output, factor, context) for operand, factor in zip(operands, (1.0, sign), strict=True)
    ]
    for plan in plans:
        if plan is not None:
            context.ensure_rotation_steps(plan.rotation_steps)  # MissingKeyError before any work too
    aligned = [
        _align(operand, output, factor, plan, context)
        for operand, factor, plan in zip(operands, (1.0, sign), plans, strict=True)
    ]
    chunks = [context.backend.add(a, b) for a, b in zip(aligned[0].chunks, aligned[1].chunks, strict=True)]
    return EncryptedTensor(context, aligned[0].layout, chunks)


def _alignment(operand: Any, output: tuple[int, ...], factor: float, context: Any) -> EinsumPlan | None:
    """The plan moving ``factor * operand`` to the row-major layout of ``output``; None when none is needed.

    Raises:
        DepthExhaustedError: moving the operand needs a level it does not have.
    """
    from securecompute.fhe.layout import TensorLayout
    from securecompute.fhe.parser import parse_einsum
    from securecompute.fhe.plan import build_plan
    from securecompute.fhe.tensor import EncryptedTensor

    if not isinstance(operand, EncryptedTensor):
        return None
    if operand.layout == TensorLayout.row_major(output, context.slots) and factor == 1.0:
        return None
    labels = _LETTERS[: len(output)]
    spec = parse_einsum(f"{labels[len(output) - operand.ndim :]},{labels}->{labels}", operand.shape, output)
    scale = np.full(output, factor)
    plan = build_plan(
        spec, [operand.layout, None], [None, scale], context.slots, context.galois_key_bytes(), row_major=True
    )
    if operand.level < plan.depth:
        raise DepthExhaustedError(
            f"aligning an operand of shape {operand.shape} for + or - needs {plan.depth} level(s); "
            f"it has {operand.level} left; create the context with a larger depth",
            needed=plan.depth,
            available=operand.level,
        )
    return plan


def _align(
    operand: Any, output: tuple[int, ...], factor: float, plan: EinsumPlan | None, context: Any
) -> EncryptedTensor:
    """``factor * operand`` broadcast to ``output`` in the row-major layout (encrypted under ``context``)."""
    from securecompute.fhe.execute import execute_plan
    from securecompute.fhe.tensor import EncryptedTensor

    if not isinstance(operand, EncryptedTensor):
        return context.encrypt(factor * np.broadcast_to(operand, output))  # type: ignore[no-any-return]
    if plan is None:
        return operand
    return EncryptedTensor(context, plan.output_layout, execute_plan(plan, {0: operand.chunks}, context.backend))


def _same_layout_combination(operands: list[Any], output: tuple[int, ...], sign: float) -> EncryptedTensor | None:
    """``left + sign * right`` added as they lie when both tensors share one layout of ``output``; else None.

    Results of the same operation (``x @ w + y @ w``, ``x.T + y.T``) share a layout, fillers and all:
    adding them slot-wise needs no move (a ``-`` scales the right by -1 first, where that keeps its
    layout).  Garbage in the fillers stays garbage; the result has the same layout.
    """
    from securecompute.fhe.frontend import einsum, plan_einsum
    from securecompute.fhe.tensor import EncryptedTensor

    left, right = operands
    if not (isinstance(left, EncryptedTensor) and isinstance(right, EncryptedTensor)):
        return None
    if left.shape != output or right.shape != output or left.layout != right.layout:
        return None
    if sign != 1.0:
        labels = _LETTERS[: len(output)]
        expression = f"{labels},->{labels}"
        if plan_einsum(expression, right, np.array(sign)).output_layout != left.layout:
            return None
        right = einsum(expression, right, np.array(sign))
    chunks = [left.context.backend.add(a, b) for a, b in zip(left.chunks, right.chunks, strict=True)]
    return EncryptedTensor(left.context, left.layout, chunks)
