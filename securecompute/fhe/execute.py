"""Run an :class:`~securecompute.fhe.plan.EinsumPlan` on a backend.

The executor knows the step vocabulary and nothing about CKKS: an engine
(:class:`~securecompute.fhe.backend.CKKSEngine`: SEAL ciphertexts, simulated slot vectors, ...)
supplies rotate (and the batch ``rotate_many`` it may hoist, used for a linear transform's baby
steps), add, the two multiplications, a plaintext dot product with one rescale, and an encryption of
zero.  Registers hold lists of ciphertext chunks.  Plaintext operands (diagonals, masks) come from a
:class:`~securecompute.fhe.prepare.PreparedPlan` when one is given, encoded once at the level where
they are used; otherwise the engine encodes the arrays on every call.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from securecompute.errors import ParameterError
from securecompute.fhe.plan import EinsumPlan
from securecompute.fhe.steps import (
    LinearStep,
    MultiplyPlainStep,
    MultiplyStep,
    ReduceAxisStep,
    ReplicateStep,
    RotateSumStep,
    Step,
    TileStep,
    doubling_steps,
)
from securecompute.progress import progress

if TYPE_CHECKING:
    from securecompute.fhe.prepare import PreparedPlan

__all__ = ["Backend", "execute_plan"]

Ciphertext = Any


class Backend(Protocol):
    """The part of :class:`~securecompute.fhe.backend.CKKSEngine` the executor uses (every engine has it)."""

    def level(self, ciphertext: Any, /) -> int: ...

    def rotate(self, ciphertext: Any, step: int, /) -> Any: ...

    def rotate_many(self, ciphertext: Any, steps: Sequence[int], /) -> list[Any]: ...

    def add(self, left: Any, right: Any, /) -> Any: ...

    def multiply(self, left: Any, right: Any, /) -> Any: ...

    def multiply_plain(self, ciphertext: Any, values: Any, /) -> Any: ...

    def dot_plain(self, ciphertexts: Sequence[Any], values: Sequence[Any], /) -> Any: ...

    def zeros(self, level: int, /) -> Any: ...


def execute_plan(
    plan: EinsumPlan,
    inputs: dict[int, list[Ciphertext]],
    backend: Backend,
    prepared: PreparedPlan | None = None,
    *,
    show_progress: bool = True,
) -> list[Ciphertext]:
    """Run every step; ``inputs`` maps each encrypted operand index to its chunks.

    Args:
        prepared: plaintexts of this plan already encoded for ``backend`` (see
            :func:`securecompute.fhe.prepare.prepare`); missing ones are encoded and kept there.

    Returns:
        the chunks of the result, laid out as ``plan.output_layout``.

    Raises:
        ParameterError: ``backend`` has another slot count than the plan was made for (its rotations
            and diagonals would compute garbage), or ``prepared`` was made for another plan or another
            engine (its plaintexts are keyed by the identity of its own plan's arrays).
    """
    slots = getattr(backend, "slots", plan.slots)  # the level-only stand-in of prepare() has none
    if slots != plan.slots:
        raise ParameterError(f"the plan was made for {plan.slots} slots; this engine has {slots}: plan it for this one")
    if prepared is not None and (
        prepared.plan is not plan or (prepared.engine is not backend and not getattr(backend, "level_only", False))
    ):
        raise ParameterError("the prepared plan was made for another plan or engine; prepare this plan for this engine")
    registers = {plan.leaf_registers[operand]: chunks for operand, chunks in inputs.items()}
    steps = progress(plan.steps, desc="einsum steps", unit="step") if show_progress else plan.steps
    for step in steps:
        registers[step.target] = _run(step, registers, backend, prepared)
    return registers[plan.output_register]


def _plain(values: np.ndarray, level: int, prepared: PreparedPlan | None, owner: object, row: int = -1) -> Any:
    """The multiplier for a ciphertext at ``level``: encoded once when a prepared plan is given.

    ``owner`` (with ``row``) is the plan's own array ``values`` is (a row of): rows of a 2-D array
    are fresh views on every access, so the key is the owner's identity, never the view's.
    """
    return values if prepared is None else prepared.plaintext(values, level, (id(owner), row))


def _run(
    step: Step, registers: dict[int, list[Ciphertext]], backend: Backend, prepared: PreparedPlan | None
) -> list[Ciphertext]:
    if isinstance(step, LinearStep):
        return _linear(step, registers[step.source], backend, prepared)
    if isinstance(step, ReplicateStep):
        return _replicate(step, registers[step.source], backend)
    if isinstance(step, TileStep):
        source = registers[step.source]
        return [source[chunk % len(source)] for chunk in range(step.chunks)]
    if isinstance(step, MultiplyStep):
        left, right = registers[step.left], registers[step.right]
        return [backend.multiply(a, b) for a, b in zip(left, right, strict=True)]
    if isinstance(step, MultiplyPlainStep):
        source = registers[step.source]
        return [
            backend.multiply_plain(chunk, _plain(values, backend.level(chunk), prepared, step.plain, row))
            if np.any(values)
            else backend.zeros(backend.level(chunk) - 1)
            for row, (chunk, values) in enumerate(zip(source, step.plain, strict=True))
        ]
    if isinstance(step, RotateSumStep):
        return _rotate_sum(step, registers[step.source], backend)
    if isinstance(step, ReduceAxisStep):
        chunks = list(registers[step.source])
        for multiple in doubling_steps(step.count):
            chunks = [backend.add(c, backend.rotate(c, step.stride * multiple % step.slots)) for c in chunks]
        return chunks
    raise TypeError(f"unknown step {type(step).__name__}")


def _linear(
    step: LinearStep, source: list[Ciphertext], backend: Backend, prepared: PreparedPlan | None = None
) -> list[Ciphertext]:
    transform = step.transform
    babies: dict[tuple[int, int], Ciphertext] = {}
    for chunk, rotations in transform.baby_rotations().items():
        steps = sorted(rotations)
        babies.update(zip(((chunk, baby) for baby in steps), backend.rotate_many(source[chunk], steps), strict=True))
    output: list[Ciphertext] = []
    for chunk_out in range(transform.output_chunks):
        accumulated = None
        for giant, terms in sorted(transform.terms.get(chunk_out, {}).items()):
            operands = [source[chunk] if baby == 0 else babies[(chunk, baby)] for chunk, baby, _ in terms]
            level = min(backend.level(operand) for operand in operands)
            inner = backend.dot_plain(
                operands, [_plain(diagonal, level, prepared, diagonal) for _, _, diagonal in terms]
            )
            if giant:
                inner = backend.rotate(inner, giant)
            accumulated = inner if accumulated is None else backend.add(accumulated, inner)
        output.append(accumulated if accumulated is not None else backend.zeros(backend.level(source[0]) - 1))
    return output


def _replicate(step: ReplicateStep, source: list[Ciphertext], backend: Backend) -> list[Ciphertext]:
    chunks = list(source)
    for multiple in doubling_steps(step.count):
        shift = step.stride * multiple
        if shift < step.slots:
            chunks = [backend.add(chunk, backend.rotate(chunk, (-shift) % step.slots)) for chunk in chunks]
        else:
            moved = shift // step.slots
            chunks = [backend.add(chunks[c], chunks[(c - moved) % len(chunks)]) for c in range(len(chunks))]
    return chunks


def _rotate_sum(step: RotateSumStep, source: list[Ciphertext], backend: Backend) -> list[Ciphertext]:
    chunks, outer = list(source), step.outer
    keep = max(1, step.inner // step.slots)
    while outer > 1 and len(chunks) > keep:
        half = len(chunks) // 2
        chunks = [backend.add(chunks[c], chunks[c + half]) for c in range(half)]
        outer //= 2
    for multiple in doubling_steps(outer):
        shift = step.inner * multiple % step.slots
        chunks = [backend.add(chunk, backend.rotate(chunk, shift)) for chunk in chunks]
    return chunks
