"""Encrypted einsum in simulate mode: numpy.einsum is the oracle, plans obey their bounds."""

from __future__ import annotations

import itertools
import string

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import securecompute as sc
from securecompute.errors import (
    DepthExhaustedError,
    EinsumSyntaxError,
    KeyMismatchError,
    ParameterError,
    ShapeError,
)
from securecompute.fhe import CKKSContext, EncryptedTensor, plan_einsum
from tests.fhe.conftest import PEER_SET, operands_for


def _combinations(count: int) -> list[tuple[bool, ...]]:
    return [combo for combo in itertools.product([False, True], repeat=count) if any(combo)]


def _run(ctx: CKKSContext, expression: str, arrays: list[np.ndarray], encrypted: tuple[bool, ...]) -> np.ndarray:
    operands = [ctx.encrypt(a) if e else a for a, e in zip(arrays, encrypted, strict=True)]
    result = sc.einsum(expression, *operands)
    assert isinstance(result, EncryptedTensor)
    return ctx.decrypt(result)


@pytest.mark.parametrize(("expression", "shapes"), PEER_SET, ids=[e for e, _ in PEER_SET])
def test_peer_set_matches_numpy_for_every_encryption_pattern(
    sim: CKKSContext, expression: str, shapes: list[tuple[int, ...]]
) -> None:
    arrays = operands_for(shapes)
    expected = np.einsum(expression, *arrays)
    for encrypted in _combinations(len(arrays)):
        np.testing.assert_allclose(
            _run(sim, expression, arrays, encrypted), expected, atol=1e-12, err_msg=str(encrypted)
        )


@pytest.mark.parametrize(("expression", "shapes"), PEER_SET, ids=[e for e, _ in PEER_SET])
def test_ciphertext_times_plaintext_costs_one_level(
    sim: CKKSContext, expression: str, shapes: list[tuple[int, ...]]
) -> None:
    arrays = operands_for(shapes)
    for position in range(len(arrays)):
        operands = [sim.encrypt(a) if k == position else a for k, a in enumerate(arrays)]
        plan = plan_einsum(expression, *operands)
        assert plan.depth <= 1
        if len(arrays) > 1:
            assert plan.depth == 1


def test_result_stays_usable_by_a_later_einsum(sim: CKKSContext) -> None:
    a, b, c = operands_for([(3, 4), (4, 5), (5, 2)])
    ab = sc.einsum("ij,jk->ki", sim.encrypt(a), sim.encrypt(b))
    abc = sc.einsum("ki,kl->il", ab, sim.encrypt(c))
    np.testing.assert_allclose(sim.decrypt(abc), a @ b @ c, atol=1e-12)


def test_transpose_is_a_free_relabelling(sim: CKKSContext) -> None:
    plan = plan_einsum("ij->ji", sim.encrypt(np.ones((3, 5))))
    assert (plan.depth, plan.rotations) == (0, 0)


def test_rotations_stay_within_bound(sim: CKKSContext) -> None:
    """Matrix-vector products use about 2 sqrt(n) rotations, never one per diagonal."""
    n = 64
    matrix, vector = operands_for([(n, n), (n,)])
    plan = plan_einsum("ik,k->i", matrix, sim.encrypt(vector))
    assert plan.rotations <= 2 * int(np.sqrt(n)) + 2
    plan = plan_einsum("ik,k->i", sim.encrypt(matrix), vector)
    assert plan.rotations <= 2 * int(np.log2(n * n)) + 2 * int(np.sqrt(n)) + 2


@pytest.fixture
def tiny() -> CKKSContext:
    """512 slots, so that small tensors already span several ciphertexts."""
    return CKKSContext.create(depth=4, poly_modulus_degree=1024, simulate=True, allow_insecure=True)


@pytest.mark.parametrize(
    ("expression", "shapes"),
    [
        ("ij->ji", [(24, 30)]),
        ("ij->", [(24, 30)]),
        ("ij->i", [(24, 30)]),
        ("ij->j", [(24, 30)]),
        ("ik,kj->ij", [(24, 20), (20, 12)]),
        ("ik,k->i", [(40, 20), (20,)]),
        ("bik,bkj->bij", [(3, 9, 12), (3, 12, 8)]),
        ("i,j->ij", [(40,), (30,)]),
        ("ij,ij->ij", [(30, 30), (30, 30)]),
    ],
)
def test_tensors_over_one_ciphertext_are_correct(
    tiny: CKKSContext, expression: str, shapes: list[tuple[int, ...]]
) -> None:
    arrays = operands_for(shapes)
    assert any(tiny.encrypt(a).layout.chunks > 1 for a in arrays) or np.einsum(expression, *arrays).size > 512
    expected = np.einsum(expression, *arrays)
    for encrypted in _combinations(len(arrays)):
        np.testing.assert_allclose(_run(tiny, expression, arrays, encrypted), expected, atol=1e-12)


_LABELS = "abcde"


@st.composite
def _einsums(draw: st.DrawFn) -> tuple[str, list[tuple[int, ...]], tuple[bool, ...]]:
    count = draw(st.integers(1, 3))
    sizes = {label: draw(st.integers(1, 4)) for label in _LABELS}
    terms = [draw(st.lists(st.sampled_from(_LABELS), min_size=0, max_size=3)) for _ in range(count)]
    used = sorted({label for term in terms for label in term})
    explicit = draw(st.booleans())
    if explicit:
        output = draw(st.permutations(used)).copy()
        output = output[: draw(st.integers(0, len(output)))]
        expression = ",".join("".join(t) for t in terms) + "->" + "".join(output)
    else:
        expression = ",".join("".join(t) for t in terms)
    shapes = [tuple(sizes[label] for label in term) for term in terms]
    encrypted = draw(st.lists(st.booleans(), min_size=count, max_size=count))
    assume(any(encrypted))
    return expression, shapes, tuple(encrypted)


@settings(max_examples=150, derandomize=True, deadline=None)
@given(_einsums())
def test_random_einsums_match_numpy(case: tuple[str, list[tuple[int, ...]], tuple[bool, ...]]) -> None:
    expression, shapes, encrypted = case
    ctx = CKKSContext.create(depth=8, simulate=True)
    arrays = operands_for(shapes, seed=len(expression))
    try:
        expected = np.einsum(expression, *arrays)
    except ValueError:
        with pytest.raises((ShapeError, EinsumSyntaxError)):
            plan_einsum(expression, *[ctx.encrypt(a) if e else a for a, e in zip(arrays, encrypted, strict=True)])
        return
    np.testing.assert_allclose(_run(ctx, expression, arrays, encrypted), expected, atol=1e-10)


def test_simulated_noise_perturbs_results_reproducibly() -> None:
    a = operands_for([(4, 4)])[0]
    results = []
    for _ in range(2):
        ctx = CKKSContext.create(depth=3, simulate=True, noise=1e-6, seed=3)
        results.append(ctx.decrypt(sc.einsum("ij->i", ctx.encrypt(a))))
    np.testing.assert_array_equal(results[0], results[1])
    assert 0 < np.abs(results[0] - a.sum(axis=1)).max() < 1e-4


def test_plaintext_only_einsum_is_numpy() -> None:
    a, b = operands_for([(2, 3), (3, 4)])
    np.testing.assert_array_equal(sc.einsum("ij,jk->ik", a, b), np.einsum("ij,jk->ik", a, b))


def test_depth_is_refused_before_any_work() -> None:
    ctx = CKKSContext.create(depth=1, simulate=True)
    a, b = operands_for([(2, 3), (3, 4)])
    x, y = ctx.encrypt(a), ctx.encrypt(b)
    with pytest.raises(DepthExhaustedError, match="consumes 2 level") as raised:
        sc.einsum("ij,jk->ik", x, y)
    assert (raised.value.needed, raised.value.available) == (2, 1)


def test_operands_from_two_contexts_are_refused(sim: CKKSContext) -> None:
    other = CKKSContext.create(depth=3, simulate=True)
    with pytest.raises(KeyMismatchError, match="different contexts"):
        sc.einsum("i,i->", sim.encrypt(np.ones(3)), other.encrypt(np.ones(3)))


def test_decrypting_with_another_context_is_refused(sim: CKKSContext) -> None:
    other = CKKSContext.create(depth=3, simulate=True)
    with pytest.raises(KeyMismatchError):
        other.decrypt(sim.encrypt(np.ones(3)))


def test_syntax_error_points_at_the_character(sim: CKKSContext) -> None:
    with pytest.raises(EinsumSyntaxError) as raised:
        sc.einsum("ij,j3->i", sim.encrypt(np.ones((2, 2))), np.ones((2, 2)))
    assert raised.value.position == 4


def test_shape_conflict_names_label_and_sizes(sim: CKKSContext) -> None:
    with pytest.raises(ShapeError, match=r"'j'.*3.*4"):
        sc.einsum("ij,jk->ik", sim.encrypt(np.ones((2, 3))), np.ones((4, 2)))


def test_non_numeric_operand_is_refused(sim: CKKSContext) -> None:
    with pytest.raises(ParameterError, match="operand 1"):
        sc.einsum("i,i->", sim.encrypt(np.ones(3)), "abc")


@pytest.mark.parametrize("bad", [np.array([np.nan]), np.zeros((0, 3)), np.array(["a"])])
def test_bad_values_are_refused_at_encryption(sim: CKKSContext, bad: np.ndarray) -> None:
    with pytest.raises((ParameterError, ShapeError)):
        sim.encrypt(bad)


def test_explain_lists_steps_and_costs(sim: CKKSContext) -> None:
    a, b = operands_for([(4, 8), (8, 4)])
    text = plan_einsum("ik,kj->ij", sim.encrypt(a), sim.encrypt(b)).explain()
    for word in ("depth", "rotations", "ciphertext", "Galois keys", "multiply"):
        assert word in text


def test_plan_reports_galois_elements(sim: CKKSContext) -> None:
    plan = plan_einsum("ij->", sim.encrypt(np.ones((4, 4))))
    assert plan.galois_elements == sorted(pow(3, s, 4 * sim.slots) for s in plan.rotation_steps)
    assert plan.key_bytes == len(plan.rotation_steps) * sim.galois_key_bytes()


def test_labels_are_letters_only() -> None:
    assert set(_LABELS) <= set(string.ascii_lowercase)


def test_in_place_reduction_leaves_garbage_that_a_later_einsum_ignores(sim: CKKSContext) -> None:
    a, b = operands_for([(8, 8), (8, 3)])
    row_sums = sc.einsum("ij->i", sim.encrypt(a))
    assert isinstance(row_sums, EncryptedTensor)
    assert row_sums.layout.has_fillers
    np.testing.assert_allclose(sim.decrypt(row_sums), a.sum(axis=1), atol=1e-12)
    chained = sc.einsum("i,ik->k", row_sums, sim.encrypt(b))
    np.testing.assert_allclose(sim.decrypt(chained), a.sum(axis=1) @ b, atol=1e-12)


def test_matrix_vector_needs_no_transform(sim: CKKSContext) -> None:
    matrix, vector = operands_for([(64, 64), (64,)])
    for operands in ([sim.encrypt(matrix), vector], [matrix, sim.encrypt(vector)]):
        plan = plan_einsum("ik,k->i", *operands)
        assert (plan.depth, plan.rotations, plan.plaintext_multiplications) == (1, 6, 1)


def test_clean_result_holds_nothing_but_its_values(sim: CKKSContext) -> None:
    """Filler slots hold partial sums of the evaluator's plaintext; clean=True never leaves any."""
    weights, vector = operands_for([(3, 8), (8,)])
    encrypted = sim.encrypt(vector)
    raw = sc.einsum("ik,k->i", weights, encrypted)
    clean = sc.einsum("ik,k->i", weights, encrypted, clean=True)
    assert isinstance(raw, EncryptedTensor)
    assert isinstance(clean, EncryptedTensor)
    assert raw.layout.has_fillers
    valid = clean.layout.pack(np.ones(clean.shape)) != 0
    assert np.abs(raw.chunks[0].values[~valid[0]]).max() > 1e-3
    np.testing.assert_allclose(clean.chunks[0].values[~valid[0]], 0.0, atol=1e-12)
    np.testing.assert_allclose(sim.decrypt(clean), weights @ vector, atol=1e-12)
    assert plan_einsum("ik,k->i", weights, encrypted, clean=True).depth == 1


@pytest.mark.parametrize(("expression", "shapes"), PEER_SET, ids=[e for e, _ in PEER_SET])
def test_clean_plans_mask_whatever_fillers_remain(
    sim: CKKSContext, expression: str, shapes: list[tuple[int, ...]]
) -> None:
    arrays = operands_for(shapes)
    operands = [sim.encrypt(arrays[0]), *arrays[1:]]
    plan = plan_einsum(expression, *operands, clean=True)
    if plan.output_layout.has_fillers:
        assert plan.groups[-1][0].startswith("clean result")
    result = sc.einsum(expression, *operands, clean=True)
    assert isinstance(result, EncryptedTensor)
    valid = result.layout.pack(np.ones(result.shape)) != 0
    for chunk, keep in zip(result.chunks, valid, strict=True):
        np.testing.assert_allclose(chunk.values[~keep], 0.0, atol=1e-12)
    np.testing.assert_allclose(sim.decrypt(result), np.einsum(expression, *arrays), atol=1e-12)


def test_plans_are_not_shared_between_parameter_sets() -> None:
    small = CKKSContext.create(depth=2, poly_modulus_degree=16384, simulate=True)
    large = CKKSContext.create(depth=6, poly_modulus_degree=16384, simulate=True)
    a = np.ones((4, 4))
    first = plan_einsum("ij->", small.encrypt(a))
    second = plan_einsum("ij->", large.encrypt(a))
    assert first.galois_key_bytes < second.galois_key_bytes


def test_cached_plan_reports_the_expression_asked_for(sim: CKKSContext) -> None:
    tensor = sim.encrypt(np.ones((2, 3)))
    plan_einsum("ij->i", tensor)
    assert plan_einsum("ij -> i", tensor).spec.expression == "ij -> i"
