"""Prepared plans: every plaintext encoded once, at the level where it is used, same results."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import securecompute as sc
from securecompute.errors import DepthExhaustedError, ParameterError
from securecompute.fhe import CKKSContext, EncryptedTensor, plan_einsum
from securecompute.fhe.execute import execute_plan
from securecompute.fhe.prepare import prepare
from securecompute.fhe.steps import LinearStep, MultiplyPlainStep
from tests.fhe.conftest import operands_for


class _CountingEngine:
    """Wraps an engine and counts its encodings by level."""

    def __init__(self, engine: Any) -> None:
        self.engine, self.levels = engine, []

    def encode(self, values: np.ndarray, level: int) -> Any:
        self.levels.append(level)
        return self.engine.encode(values, level)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.engine, name)


def _nonzero_plaintexts(plan: Any) -> int:
    count = 0
    for step in plan.steps:
        if isinstance(step, LinearStep):
            count += step.transform.diagonals
        elif isinstance(step, MultiplyPlainStep):
            count += sum(bool(np.any(row)) for row in step.plain)
    return count


@pytest.mark.parametrize(
    ("expression", "shapes"),
    [("ik,kj->ij", [(4, 6), (6, 3)]), ("ij,ij->ij", [(3, 5), (3, 5)]), ("ij->j", [(5, 7)])],
)
def test_prepare_encodes_each_plaintext_once_and_runs_to_numpy(expression: str, shapes: list[Any]) -> None:
    ctx = CKKSContext.create(depth=4, backend="simulate")
    arrays = operands_for(shapes, seed=3)
    operands = [ctx.encrypt(arrays[0]), *arrays[1:]]
    plan = plan_einsum(expression, *operands)
    engine = _CountingEngine(ctx.backend)
    prepared = prepare(plan, engine)  # type: ignore[arg-type]
    assert prepared.encoded == len(engine.levels) == _nonzero_plaintexts(plan)
    assert set(engine.levels) <= set(range(ctx.depth - plan.depth + 1, ctx.depth + 1))
    for _ in range(2):
        chunks = execute_plan(plan, {0: operands[0].chunks}, engine, prepared)  # type: ignore[arg-type]
        result = ctx.decrypt(EncryptedTensor(ctx, plan.output_layout, chunks))
        np.testing.assert_allclose(result, np.einsum(expression, *arrays), atol=1e-9)
    assert len(engine.levels) == prepared.encoded  # nothing encoded again


def test_operands_at_lower_levels_get_plaintexts_at_those_levels() -> None:
    ctx = CKKSContext.create(depth=4, backend="simulate")
    a, b = operands_for([(3, 4), (4, 2)], seed=4)
    plan = plan_einsum("ik,kj->ij", ctx.encrypt(a), b)
    engine = _CountingEngine(ctx.backend)
    prepare(plan, engine, {0: 2})  # type: ignore[arg-type]
    assert set(engine.levels) == {2}
    with pytest.raises(DepthExhaustedError):
        prepare(plan, ctx.backend, {0: 0})
    with pytest.raises(ParameterError, match="each encrypted operand"):
        prepare(plan, ctx.backend, {1: 3})


@pytest.mark.parametrize("context", ["real_ctx", "cross_small_ctx"])
def test_einsum_reuses_the_prepared_plaintexts_across_calls(context: str, request: pytest.FixtureRequest) -> None:
    """On ``seal`` (N = 16384) and ``cross`` (N = 8192): the cache is per engine."""
    real_ctx: CKKSContext = request.getfixturevalue(context)
    a, b = operands_for([(3, 4), (4, 5)], seed=5)
    x = real_ctx.encrypt(a)
    first = real_ctx.decrypt(sc.einsum("ik,kj->ij", x, b))
    from securecompute.fhe.frontend import _PREPARED

    cached = list(_PREPARED[real_ctx.backend].values())[-1]
    encoded = cached.encoded
    assert encoded == _nonzero_plaintexts(cached.plan)
    second = real_ctx.decrypt(sc.einsum("ik,kj->ij", x, b))
    assert cached.encoded == encoded
    np.testing.assert_allclose(first, a @ b, atol=1e-3)
    np.testing.assert_allclose(second, a @ b, atol=1e-3)


def test_the_planner_weighs_plans_by_the_engine_cost_model() -> None:

    from securecompute.fhe.backend import CostModel
    from securecompute.fhe.parser import parse_einsum
    from securecompute.fhe.plan import build_plan

    ctx = CKKSContext.create(depth=4, backend="simulate")
    x = ctx.encrypt(np.ones((8, 8)))
    spec = parse_einsum("ij,jk->ik", (8, 8), (8, 8))
    default = build_plan(spec, [x.layout, None], [None, np.ones((8, 8))], ctx.slots, cost_model=ctx.backend.cost_model)
    assert default.cost_model == ctx.backend.cost_model
    assert default.key_bytes == len(default.rotation_steps) * ctx.backend.cost_model.galois_key_bytes
    other = CostModel(galois_key_bytes=7, galois_generator=5)
    plan = build_plan(spec, [x.layout, None], [None, np.ones((8, 8))], ctx.slots, cost_model=other)
    assert plan.key_bytes == 7 * len(plan.rotation_steps)
    assert plan.galois_elements == sorted(pow(5, s, 4 * ctx.slots) for s in plan.rotation_steps)


def test_a_different_cost_model_changes_the_chosen_plan() -> None:
    from securecompute.fhe.backend import CostModel
    from securecompute.fhe.parser import parse_einsum
    from securecompute.fhe.plan import build_plan

    ctx = CKKSContext.create(depth=4, backend="simulate")
    shapes = [(4, 8), (8, 4), (4, 8)]
    spec = parse_einsum("ij,jk,kl->il", *shapes)
    layouts = [ctx.encrypt(np.ones(shapes[0])).layout, None, ctx.encrypt(np.ones(shapes[2])).layout]
    plain = [None, np.ones(shapes[1]), None]
    usual = build_plan(spec, layouts, plain, ctx.slots, cost_model=CostModel())
    dear_diagonals = build_plan(spec, layouts, plain, ctx.slots, cost_model=CostModel(diagonal=1e3, plain_multiply=1e3))
    assert dear_diagonals.plaintext_multiplications < usual.plaintext_multiplications
    assert dear_diagonals.depth == usual.depth


def test_the_einsum_plaintext_cache_never_holds_more_than_its_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    from securecompute.fhe import frontend

    ctx = CKKSContext.create(depth=4, backend="simulate")
    a, b = operands_for([(3, 4), (4, 5)], seed=6)
    x = ctx.encrypt(a)
    needed = plan_einsum("ik,kj->ij", x, b).plaintext_multiplications
    monkeypatch.setattr(frontend, "_PREPARED_PLAINTEXTS", needed - 1)
    np.testing.assert_allclose(ctx.decrypt(sc.einsum("ik,kj->ij", x, b)), a @ b, atol=1e-9)
    assert not frontend._PREPARED.get(ctx.backend)  # a plan over the bound alone runs unprepared, keeps nothing
    monkeypatch.setattr(frontend, "_PREPARED_PLAINTEXTS", needed)
    sc.einsum("ik,kj->ij", x, b)
    assert sum(p.encoded for p in frontend._PREPARED[ctx.backend].values()) <= needed
    low = sc.einsum("ij,j->ij", x, np.ones(4))  # another plan: the least recently used one goes
    np.testing.assert_allclose(ctx.decrypt(sc.einsum("ik,kj->ij", low, b)), a @ b, atol=1e-9)
    assert sum(p.encoded for p in frontend._PREPARED[ctx.backend].values()) <= needed


def test_a_prepared_plan_runs_only_its_own_plan_on_its_own_engine() -> None:
    ctx = CKKSContext.create(depth=4, backend="simulate")
    other = CKKSContext.create(depth=4, backend="simulate")
    a, b = operands_for([(3, 4), (4, 5)], seed=7)
    x = ctx.encrypt(a)
    plan = plan_einsum("ik,kj->ij", x, b)
    prepared = prepare(plan, ctx.backend)
    with pytest.raises(ParameterError, match="another plan or engine"):
        execute_plan(plan_einsum("ik,kj->ij", x, 2 * b), {0: x.chunks}, ctx.backend, prepared)
    with pytest.raises(ParameterError, match="another plan or engine"):
        execute_plan(plan, {0: x.chunks}, other.backend, prepared)
    chunks = execute_plan(plan, {0: x.chunks}, ctx.backend, prepared)
    np.testing.assert_allclose(ctx.decrypt(EncryptedTensor(ctx, plan.output_layout, chunks)), a @ b, atol=1e-9)


def test_a_plan_made_for_another_slot_count_is_refused_not_run() -> None:
    big = CKKSContext.create(depth=3, backend="simulate")
    small = CKKSContext.create(depth=3, poly_modulus_degree=8192, backend="simulate", allow_insecure=True)
    a = np.random.default_rng(8).normal(size=(64, 128))
    plan = plan_einsum("ij->j", small.encrypt(a))  # run on 2x the slots, its rotations sum the wrong slots
    with pytest.raises(ParameterError, match="slots"):
        execute_plan(plan, {0: big.encrypt(a).chunks}, big.backend)
    with pytest.raises(ParameterError, match="slots"):
        prepare(plan, big.backend)


def test_prepared_plans_never_keep_an_engine_and_its_keys_alive() -> None:
    import gc
    import weakref

    from securecompute.fhe import frontend

    ctx = CKKSContext.create(depth=3, backend="simulate")
    a, b = operands_for([(3, 4), (4, 2)], seed=9)
    x = ctx.encrypt(a)
    sc.einsum("ik,kj->ij", x, b)
    prepared = prepare(plan_einsum("ik,kj->ij", x, b), ctx.backend)
    engine = weakref.ref(ctx.backend)
    del ctx, x
    gc.collect()
    assert engine() is None  # einsum's cache dropped its entry with the engine
    with pytest.raises(ParameterError, match="no longer exists"):
        prepared.engine  # noqa: B018
    assert all(key() is not None for key in frontend._PREPARED.keyrefs())


def test_einsum_from_many_threads_with_constant_eviction_stays_correct(monkeypatch: pytest.MonkeyPatch) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from securecompute.fhe import frontend

    monkeypatch.setattr(frontend, "_CACHE_SIZE", 1)
    monkeypatch.setattr(frontend, "_PREPARED_PLAINTEXTS", 8)
    ctx = CKKSContext.create(depth=3, backend="simulate")
    a = operands_for([(3, 4)], seed=10)[0]
    x = ctx.encrypt(a)
    weights = [np.full((4, k), float(k)) for k in range(1, 7)]

    def run(k: int) -> bool:
        w = weights[k % len(weights)]
        return bool(np.allclose(ctx.decrypt(sc.einsum("ik,kj->ij", x, w)), a @ w, atol=1e-9))

    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(run, range(96)))


@pytest.mark.parametrize(
    "bad",
    [
        {"rotation": 0.0},
        {"diagonal": float("nan")},
        {"plain_multiply": -1.0},
        {"galois_key_bytes": -8},
        {"galois_generator": 4},
        {"galois_generator": 1},
        {"ciphertext_multiply": True},
    ],
)
def test_a_cost_model_with_impossible_weights_is_refused(bad: dict[str, Any]) -> None:
    from securecompute.fhe.backend import CostModel

    with pytest.raises(ParameterError):
        CostModel(**bad)
