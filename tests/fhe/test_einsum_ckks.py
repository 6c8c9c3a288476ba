"""Encrypted einsum on real CKKS: the peer set within atol 1e-3 on ``seal`` (SEAL through TenSEAL) and on
``cross`` (this project's RNS-CKKS, 7-47x slower per operation on the CPU).

On ``cross`` a representative subset runs in every encryption pattern at N = 16384; the rest of the peer
set and the random einsums run fully encrypted (the subset covers the mixed patterns of each kind of
step) on the smallest ``cross`` context deep enough for the expression (N = 8192 where depth 2 holds it).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import securecompute as sc
from securecompute.fhe import CKKSContext, EncryptedTensor
from tests.fhe.conftest import PEER_SET, operands_for, smallest_holding

ATOL = 1e-3
TWO_OPERANDS = [(e, s) for e, s in PEER_SET if len(s) == 2]
OTHERS = [(e, s) for e, s in PEER_SET if len(s) != 2]
# One of each kind: reduction, ct x pt matvec, matmul, broadcast outer product, three operands,
# repeated label, scalar operand.
CROSS_SUBSET = [
    (e, s) for e, s in PEER_SET if e in {"ij->", "ik,k->i", "ik,kj->ij", "i,j->ij", "ij,ij,ij->ij", "ii->i", ",i->i"}
]
CROSS_REST = [(e, s) for e, s in PEER_SET if (e, s) not in CROSS_SUBSET]


def _check(ctx: CKKSContext, expression: str, arrays: list[np.ndarray], encrypted: tuple[bool, ...]) -> None:
    operands = [ctx.encrypt(a) if e else a for a, e in zip(arrays, encrypted, strict=True)]
    result = sc.einsum(expression, *operands)
    assert isinstance(result, EncryptedTensor)
    np.testing.assert_allclose(ctx.decrypt(result), np.einsum(expression, *arrays), atol=ATOL, err_msg=str(encrypted))


@pytest.mark.slow
@pytest.mark.parametrize(("expression", "shapes"), TWO_OPERANDS, ids=[e for e, _ in TWO_OPERANDS])
def test_two_operand_peer_set_in_all_encryption_patterns(
    real_ctx: CKKSContext, expression: str, shapes: list[tuple[int, ...]]
) -> None:
    arrays = operands_for(shapes)
    for encrypted in [(True, False), (False, True), (True, True)]:
        _check(real_ctx, expression, arrays, encrypted)


@pytest.mark.slow
@pytest.mark.parametrize(("expression", "shapes"), OTHERS, ids=[e for e, _ in OTHERS])
def test_other_peer_expressions_fully_encrypted_and_mixed(
    real_ctx: CKKSContext, expression: str, shapes: list[tuple[int, ...]]
) -> None:
    arrays = operands_for(shapes)
    patterns = [(True,) * len(arrays)]
    if len(arrays) > 1:
        patterns.append((True,) + (False,) * (len(arrays) - 1))
    for encrypted in patterns:
        _check(real_ctx, expression, arrays, encrypted)


@pytest.mark.slow
@pytest.mark.parametrize(("expression", "shapes"), CROSS_SUBSET, ids=[e for e, _ in CROSS_SUBSET])
def test_peer_subset_on_the_cross_engine(
    cross_ctx: CKKSContext, expression: str, shapes: list[tuple[int, ...]]
) -> None:
    arrays = operands_for(shapes)
    patterns = list(itertools.product([True, False], repeat=len(arrays)))[:-1]  # every pattern but all plain
    for encrypted in patterns:
        _check(cross_ctx, expression, arrays, encrypted)


@pytest.mark.slow
@pytest.mark.parametrize(("expression", "shapes"), CROSS_REST, ids=[e for e, _ in CROSS_REST])
def test_rest_of_the_peer_set_fully_encrypted_on_the_cross_engine(
    cross_contexts: tuple[CKKSContext, ...], expression: str, shapes: list[tuple[int, ...]]
) -> None:
    arrays = operands_for(shapes)
    encrypted = (True,) * len(arrays)
    _check(smallest_holding(cross_contexts, expression, arrays, encrypted), expression, arrays, encrypted)


@st.composite
def _small_einsums(draw: st.DrawFn) -> tuple[str, list[tuple[int, ...]], tuple[bool, ...]]:
    labels = "abcd"
    sizes = {label: draw(st.integers(1, 3)) for label in labels}
    terms = [draw(st.lists(st.sampled_from(labels), min_size=1, max_size=3, unique=True)) for _ in range(2)]
    used = sorted({label for term in terms for label in term})
    output = draw(st.permutations(used))[: draw(st.integers(0, len(used)))]
    encrypted = draw(st.sampled_from(list(itertools.product([False, True], repeat=2))[1:]))
    expression = ",".join("".join(t) for t in terms) + "->" + "".join(output)
    return expression, [tuple(sizes[label] for label in term) for term in terms], encrypted


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["seal", "cross"])
@settings(max_examples=12, derandomize=True, deadline=None)
@given(_small_einsums())
def test_random_two_operand_einsums_on_real_ckks(
    engine: str, cross_contexts: tuple[CKKSContext, ...], case: tuple[str, list[tuple[int, ...]], tuple[bool, ...]]
) -> None:
    expression, shapes, encrypted = case
    arrays = operands_for(shapes, seed=7)
    context = _shared_context() if engine == "seal" else smallest_holding(cross_contexts, expression, arrays, encrypted)
    _check(context, expression, arrays, encrypted)


_CONTEXT: list[CKKSContext] = []


def _shared_context() -> CKKSContext:
    if not _CONTEXT:
        _CONTEXT.append(CKKSContext.create(depth=3, poly_modulus_degree=16384))
    return _CONTEXT[0]
