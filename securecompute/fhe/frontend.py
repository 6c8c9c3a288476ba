"""``securecompute.einsum`` and ``plan_einsum``: numpy.einsum on encrypted and plain operands."""

from __future__ import annotations

import hashlib
import threading
import weakref
from collections import OrderedDict
from dataclasses import replace
from typing import Any

import numpy as np

from securecompute.errors import DepthExhaustedError, KeyMismatchError, ParameterError
from securecompute.fhe.execute import execute_plan
from securecompute.fhe.parser import parse_einsum
from securecompute.fhe.plan import EinsumPlan, build_plan
from securecompute.fhe.prepare import PreparedPlan
from securecompute.fhe.tensor import EncryptedTensor

__all__ = ["einsum", "plan_einsum"]

Operand = EncryptedTensor | np.ndarray | float | int
_CACHE: OrderedDict[tuple[Any, ...], EinsumPlan] = OrderedDict()
_CACHE_SIZE = 64
# Per engine (dropped with it): plan key -> the plan with its plaintexts encoded for that engine.
_PREPARED: weakref.WeakKeyDictionary[Any, OrderedDict[tuple[Any, ...], PreparedPlan]] = weakref.WeakKeyDictionary()
_PREPARED_PLAINTEXTS = 1024  # most plaintexts kept per engine (about 1 GiB at N = 2^15, depth 4, worst case)
_CACHE_LOCK = threading.Lock()  # einsum may run on several threads: guards both caches' bookkeeping


def plan_einsum(expression: str, *operands: Operand, clean: bool = False) -> EinsumPlan:
    """Plan ``expression`` for these operands without computing anything.

    ``clean=True`` plans a result whose slots hold nothing but its values (see :func:`einsum`).

    Raises:
        EinsumSyntaxError, ShapeError: as numpy.einsum would refuse the expression.
        KeyMismatchError: encrypted operands from different contexts.
        ParameterError: no encrypted operand, or an operand of another type.
    """
    return _planned(expression, operands, clean)[0]


def _planned(expression: str, operands: tuple[Operand, ...], clean: bool) -> tuple[EinsumPlan, tuple[Any, ...]]:
    """The plan and its cache key."""
    tensors = [_check_operand(operand, k) for k, operand in enumerate(operands)]
    encrypted = [t for t in tensors if isinstance(t, EncryptedTensor)]
    if not encrypted:
        raise ParameterError("plan_einsum needs at least one EncryptedTensor operand")
    context = encrypted[0].context
    for tensor in encrypted[1:]:
        if tensor.context.fingerprint != context.fingerprint:
            raise KeyMismatchError(
                "einsum operands were encrypted under different contexts "
                f"({context.fingerprint.hex()[:12]} and {tensor.context.fingerprint.hex()[:12]})"
            )
    spec = parse_einsum(expression, *(tuple(t.shape) for t in tensors))
    key = (
        spec.inputs,
        spec.output,
        spec.operand_shapes,
        context.params.to_bytes(),
        context.backend.cost_model,
        clean,
        *(t.layout if isinstance(t, EncryptedTensor) else _digest(t) for t in tensors),
    )
    with _CACHE_LOCK:
        cached = _CACHE.get(key)
        if cached is not None:
            _CACHE.move_to_end(key)
    if cached is not None:
        return replace(cached, spec=spec), key
    plan = build_plan(
        spec,
        [t.layout if isinstance(t, EncryptedTensor) else None for t in tensors],
        [None if isinstance(t, EncryptedTensor) else t for t in tensors],
        context.slots,
        clean=clean,
        cost_model=context.backend.cost_model,
    )
    with _CACHE_LOCK:
        _CACHE[key] = plan
        if len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return plan, key


def einsum(expression: str, *operands: Operand, clean: bool = False) -> EncryptedTensor | np.ndarray:
    """numpy.einsum semantics on any mix of EncryptedTensor and plain arrays.

    With no encrypted operand the result is ``numpy.einsum``'s.  Otherwise the result is an
    EncryptedTensor under the operands' context.  Depth is checked before any ciphertext work,
    and a secret context makes the Galois keys the plan needs on first use.

    Args:
        clean: zero the result's garbage slots (one more level when there are any).  Sums over
            inner axes leave partial sums in slots the result does not use; when plaintext
            operands belong to the evaluator and must stay private from the key holder, pass
            ``clean=True`` before sending the result back.  CKKS noise can still leak about
            them: this is not circuit privacy (protocols/einhops.md).

    Raises:
        DepthExhaustedError: an operand has fewer levels left than the plan consumes from it.
        MissingKeyError: an evaluation context lacks rotation keys the plan needs.
        EinsumSyntaxError, ShapeError, KeyMismatchError, ParameterError: see plan_einsum.
    """
    if not any(isinstance(operand, EncryptedTensor) for operand in operands):
        result: np.ndarray = np.einsum(expression, *(np.asarray(operand, dtype=np.float64) for operand in operands))
        return result
    plan, key = _planned(expression, operands, clean)
    inputs: dict[int, list[Any]] = {}
    for operand, needed in plan.leaf_depth.items():
        tensor = operands[operand]
        assert isinstance(tensor, EncryptedTensor)
        if tensor.level < needed:
            raise DepthExhaustedError(
                f"einsum {expression!r} consumes {needed} level(s) from operand {operand}, which has "
                f"{tensor.level} left; create the context with a larger depth",
                needed=needed,
                available=tensor.level,
            )
        inputs[operand] = tensor.chunks
    context = next(op for op in operands if isinstance(op, EncryptedTensor)).context
    if plan.ciphertext_multiplications:
        top = max(t.level for t in operands if isinstance(t, EncryptedTensor))
        context.check_ciphertext_products(range(max(1, top - plan.depth + 1), top + 1))
    context.ensure_rotation_steps(plan.rotation_steps)
    engine = context.backend
    prepared = _prepared(engine, key, plan)
    if prepared is None:  # too many plaintexts to hold: encode each one when used, as an unprepared plan does
        chunks = execute_plan(plan, inputs, engine)
    else:
        prepared.prepare_for({operand: min(engine.level(c) for c in chunks) for operand, chunks in inputs.items()})
        chunks = execute_plan(prepared.plan, inputs, engine, prepared)
        _evict(engine)
    return EncryptedTensor(context, plan.output_layout, chunks)


def _prepared(engine: Any, key: tuple[Any, ...], plan: EinsumPlan) -> PreparedPlan | None:
    """The engine's prepared copy of the plan under ``key`` (made now if absent); None for a plan too large to keep."""
    if plan.plaintext_multiplications > _PREPARED_PLAINTEXTS:
        return None
    with _CACHE_LOCK:
        plans = _PREPARED.setdefault(engine, OrderedDict())
        if key in plans:
            plans.move_to_end(key)
        else:
            plans[key] = PreparedPlan(plan, engine)
        return plans[key]


def _evict(engine: Any) -> None:
    """Drop the engine's least recently used prepared plans until it keeps at most _PREPARED_PLAINTEXTS plaintexts."""
    with _CACHE_LOCK:
        plans = _PREPARED.get(engine, OrderedDict())
        while plans and sum(p.encoded for p in plans.values()) > _PREPARED_PLAINTEXTS:
            plans.popitem(last=False)


def _check_operand(operand: Any, position: int) -> EncryptedTensor | np.ndarray:
    if isinstance(operand, EncryptedTensor):
        return operand
    try:
        values = np.asarray(operand)
    except Exception:
        values = np.asarray(None)
    if values.dtype.kind not in "biuf":
        raise ParameterError(
            f"einsum operand {position} is a {type(operand).__name__}; accepted: EncryptedTensor or a real array"
        )
    return values.astype(np.float64)


def _digest(values: np.ndarray) -> str:
    return hashlib.blake2b(values.tobytes() + str(values.shape).encode(), digest_size=16).hexdigest()
