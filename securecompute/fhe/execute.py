"""Run an :class:`~securecompute.fhe.plan.EinsumPlan` on a backend.

The executor knows the step vocabulary and nothing about CKKS: an engine
(:class:`~securecompute.fhe.backend.CKKSEngine`: SEAL ciphertexts, simulated slot vectors, ...)
supplies rotate, add, the two multiplications, a plaintext dot product with one rescale, and an
encryption of zero.  Registers hold lists of ciphertext chunks.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from securecompute.fhe.backend import CKKSEngine
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

__all__ = ["Backend", "execute_plan"]

Ciphertext = Any
Backend = CKKSEngine[Any, Any]
"""What the executor runs on: any registered engine (kept under its old name)."""


def execute_plan(plan: EinsumPlan, inputs: dict[int, list[Ciphertext]], backend: Backend) -> list[Ciphertext]:
    """Run every step; ``inputs`` maps each encrypted operand index to its chunks.

    Returns:
        the chunks of the result, laid out as ``plan.output_layout``.
    """
    registers = {plan.leaf_registers[operand]: chunks for operand, chunks in inputs.items()}
    for step in progress(plan.steps, desc="einsum steps", unit="step"):
        registers[step.target] = _run(step, registers, backend)
    return registers[plan.output_register]


def _run(step: Step, registers: dict[int, list[Ciphertext]], backend: Backend) -> list[Ciphertext]:
    if isinstance(step, LinearStep):
        return _linear(step, registers[step.source], backend)
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
            backend.multiply_plain(chunk, values) if np.any(values) else backend.zeros(backend.level(chunk) - 1)
            for chunk, values in zip(source, step.plain, strict=True)
        ]
    if isinstance(step, RotateSumStep):
        return _rotate_sum(step, registers[step.source], backend)
    if isinstance(step, ReduceAxisStep):
        chunks = list(registers[step.source])
        for multiple in doubling_steps(step.count):
            chunks = [backend.add(c, backend.rotate(c, step.stride * multiple % step.slots)) for c in chunks]
        return chunks
    raise TypeError(f"unknown step {type(step).__name__}")


def _linear(step: LinearStep, source: list[Ciphertext], backend: Backend) -> list[Ciphertext]:
    transform = step.transform
    babies: dict[tuple[int, int], Ciphertext] = {}
    for chunk, rotations in transform.baby_rotations().items():
        for baby in sorted(rotations):
            babies[(chunk, baby)] = backend.rotate(source[chunk], baby)
    output: list[Ciphertext] = []
    for chunk_out in range(transform.output_chunks):
        accumulated = None
        for giant, terms in sorted(transform.terms.get(chunk_out, {}).items()):
            operands = [source[chunk] if baby == 0 else babies[(chunk, baby)] for chunk, baby, _ in terms]
            inner = backend.dot_plain(operands, [diagonal for _, _, diagonal in terms])
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
