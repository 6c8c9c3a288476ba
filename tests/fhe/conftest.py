"""Shared fixtures: one real CKKS context per session (keys accumulate), simulated ones per test."""

from __future__ import annotations

import numpy as np
import pytest

from securecompute.fhe import CKKSContext, plan_einsum

# The EinHops peer set (issue #3) plus repeated labels and ellipsis: (expression, shapes).
PEER_SET = [
    ("ij->ji", [(2, 3)]),
    ("ij->", [(2, 3)]),
    ("ij->j", [(2, 3)]),
    ("ij->i", [(2, 3)]),
    ("i,i->", [(3,), (3,)]),
    ("ik,k->i", [(2, 3), (3,)]),
    ("ik,kj->ij", [(2, 3), (3, 5)]),
    ("ij,ij,ij->ij", [(2, 3)] * 3),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]),
    ("ik,jkl,il->ij", [(2, 3), (5, 3, 7), (2, 7)]),
    ("pqrs,tuqvr->pstuv", [(2, 3, 5, 7), (1, 4, 3, 2, 5)]),
    ("bik,bkj->bij", [(2, 3, 4), (2, 4, 5)]),
    ("i,j->ij", [(3,), (4,)]),
    ("ijk,ikl->ijl", [(3, 2, 5), (3, 5, 3)]),
    ("bthd,bThd->bhtT", [(2, 5, 8, 16)] * 2),
    ("ii->i", [(4, 4)]),
    ("ii->", [(4, 4)]),
    ("iij->j", [(3, 3, 2)]),
    ("...ij,...jk->...ik", [(2, 1, 3, 4), (5, 4, 2)]),
    ("ij,jk", [(2, 3), (3, 4)]),
    (",i->i", [(), (3,)]),
]


def operands_for(shapes: list[tuple[int, ...]], seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.uniform(-1.0, 1.0, shape) for shape in shapes]


@pytest.fixture
def sim() -> CKKSContext:
    return CKKSContext.create(depth=6, simulate=True)


@pytest.fixture(scope="session")
def real_ctx() -> CKKSContext:
    return CKKSContext.create(depth=4, poly_modulus_degree=16384)


@pytest.fixture(scope="session")
def cross_ctx() -> CKKSContext:
    """The ``cross`` engine (securecompute.ckks) at the parameters of ``real_ctx``."""
    return CKKSContext.create(depth=4, poly_modulus_degree=16384, backend="cross")


@pytest.fixture(scope="session")
def cross_small_ctx() -> CKKSContext:
    """The ``cross`` engine at N = 8192, depth 2 (primes 60, 40, 40, 60 bits; 128-bit secure).

    The same lowering, kernels and key switching as ``cross_ctx`` with half the slots and two fewer
    primes: 4-5x faster on the CPU, so that the whole peer set fits the suite's time on ``cross``.
    """
    return CKKSContext.create(depth=2, poly_modulus_degree=8192, backend="cross")


@pytest.fixture(scope="session")
def cross_contexts(cross_small_ctx: CKKSContext, cross_ctx: CKKSContext) -> tuple[CKKSContext, ...]:
    """The ``cross`` contexts, smallest first (N = 8192 depth 2, N = 16384 depth 4)."""
    contexts = (cross_small_ctx, cross_ctx)
    assert [context.engine_name for context in contexts] == ["cross", "cross"]
    return contexts


def smallest_holding(
    contexts: tuple[CKKSContext, ...], expression: str, arrays: list[np.ndarray], encrypted: tuple[bool, ...]
) -> CKKSContext:
    """The first of ``contexts`` whose depth holds the plan of ``expression`` on these operands.

    Raises:
        AssertionError: no context is deep enough (the test's contexts must hold its expressions).
    """
    for context in contexts:
        operands = [context.encrypt(a) if e else a for a, e in zip(arrays, encrypted, strict=True)]
        if plan_einsum(expression, *operands).depth <= context.params.depth:
            return context
    raise AssertionError(f"no context is deep enough for {expression!r} with pattern {encrypted}")
