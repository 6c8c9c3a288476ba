"""EncryptedTensor operators (+ - * @, unary -, sum, T, transpose) against numpy, in simulate mode."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, mutually_broadcastable_shapes

from securecompute.errors import DepthExhaustedError, KeyMismatchError, ParameterError, ShapeError
from securecompute.fhe import CKKSContext, EncryptedTensor, plan_einsum
from securecompute.fhe.operators import add

SETTINGS = settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
SHAPES = mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=4)


@pytest.fixture(scope="module")
def ctx() -> CKKSContext:
    return CKKSContext.create(depth=6, simulate=True)


def _values(shape: tuple[int, ...], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-2.0, 2.0, shape)


@SETTINGS
@given(shapes=SHAPES, kinds=st.sampled_from(["tt", "ta", "at", "ts", "st"]), op=st.sampled_from(["+", "-", "*"]))
def test_elementwise_operators_broadcast_like_numpy(ctx: CKKSContext, shapes, kinds: str, op: str) -> None:
    left, right = _values(shapes.input_shapes[0], 1), _values(shapes.input_shapes[1], 2)
    if "s" in kinds:
        left, right = (left, 1.5) if kinds == "ts" else (-0.5, right)
    operands = [ctx.encrypt(value) if kind == "t" else value for kind, value in zip(kinds, (left, right), strict=True)]
    got = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b}[op](*operands)
    want = {"+": np.add, "-": np.subtract, "*": np.multiply}[op](left, right)
    assert isinstance(got, EncryptedTensor)
    assert got.shape == np.shape(want)
    np.testing.assert_allclose(ctx.decrypt(got), want, atol=1e-9)


@SETTINGS
@given(
    batch=mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=2, max_side=3),
    sizes=st.tuples(*[st.integers(1, 4)] * 3),
    vectors=st.sampled_from(["", "left", "right", "both"]),
    kinds=st.sampled_from(["tt", "ta", "at"]),
)
def test_matmul_follows_numpy_matmul(ctx: CKKSContext, batch, sizes, vectors: str, kinds: str) -> None:
    n, k, m = sizes
    left_shape = (k,) if vectors in ("left", "both") else (*batch.input_shapes[0], n, k)
    right_shape = (k,) if vectors in ("right", "both") else (*batch.input_shapes[1], k, m)
    left, right = _values(left_shape, 3), _values(right_shape, 4)
    operands = [ctx.encrypt(value) if kind == "t" else value for kind, value in zip(kinds, (left, right), strict=True)]
    got = operands[0] @ operands[1]
    want = np.matmul(left, right)
    assert got.shape == want.shape
    np.testing.assert_allclose(ctx.decrypt(got), want, atol=1e-9)


@SETTINGS
@given(shape=array_shapes(min_dims=1, max_dims=4, max_side=4), data=st.data())
def test_sum_and_transpose_follow_numpy(ctx: CKKSContext, shape: tuple[int, ...], data: st.DataObject) -> None:
    values = _values(shape, 5)
    tensor = ctx.encrypt(values)
    axes = data.draw(st.permutations(range(len(shape))))
    summed = data.draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1), st.just(tuple(axes[:2]))))
    np.testing.assert_allclose(ctx.decrypt(tensor.sum(summed)), values.sum(axis=summed), atol=1e-9)
    np.testing.assert_allclose(ctx.decrypt(tensor.transpose(axes)), values.transpose(axes), atol=0)
    np.testing.assert_allclose(ctx.decrypt(tensor.transpose(*axes)), values.transpose(*axes), atol=0)
    np.testing.assert_allclose(ctx.decrypt(tensor.T), values.T, atol=0)


@SETTINGS
@given(shapes=SHAPES)
def test_addition_is_commutative_and_subtraction_its_inverse(ctx: CKKSContext, shapes) -> None:
    a, b = (ctx.encrypt(_values(shape, seed)) for seed, shape in enumerate(shapes.input_shapes))
    np.testing.assert_allclose(ctx.decrypt(a + b), ctx.decrypt(b + a), atol=1e-9)
    np.testing.assert_allclose(
        ctx.decrypt((a + b) - b), np.broadcast_to(ctx.decrypt(a), shapes.result_shape), atol=1e-9
    )
    np.testing.assert_allclose(ctx.decrypt(-a + a + a), ctx.decrypt(a), atol=1e-9)


def test_numpy_array_on_the_left_dispatches_to_the_tensor(ctx: CKKSContext) -> None:
    values = _values((2, 3), 6)
    array = _values((3,), 7)
    tensor = ctx.encrypt(values)
    for got, want in [
        (array + tensor, array + values),
        (array - tensor, array - values),
        (array * tensor, array * values),
        (_values((4, 2), 8) @ tensor, _values((4, 2), 8) @ values),
    ]:
        assert isinstance(got, EncryptedTensor)
        np.testing.assert_allclose(ctx.decrypt(got), want, atol=1e-9)


def test_operators_chain_through_filler_layouts(ctx: CKKSContext) -> None:
    """A sum leaves garbage slots; adding to it moves it to the row-major layout first (one level)."""
    values, vector = _values((3, 4), 9), _values((3,), 10)
    summed = ctx.encrypt(values).sum(1)
    assert summed.layout.has_fillers
    result = summed + ctx.encrypt(vector)
    np.testing.assert_allclose(ctx.decrypt(result), values.sum(1) + vector, atol=1e-9)
    assert result.level == summed.level - 1


def test_operators_are_planned_einsums(ctx: CKKSContext) -> None:
    x, y = ctx.encrypt(_values((2, 3), 11)), ctx.encrypt(_values((3, 4), 12))
    assert plan_einsum("ab,bc->ac", x, y).depth == (x @ y).context.depth - (x @ y).level
    assert (x * 2.0).level == x.level - 1
    assert x.T.level == x.level  # a transpose only relabels the layout
    assert x.T.chunks == x.chunks


def test_bad_operands_raise_named_errors(ctx: CKKSContext) -> None:
    x = ctx.encrypt(_values((2, 3), 13))
    with pytest.raises(ShapeError, match=r"\(2, 3\) and \(4,\)"):
        _ = x + np.ones(4)
    with pytest.raises(ShapeError, match="inner lengths differ"):
        _ = x @ np.ones((2, 2))
    with pytest.raises(ShapeError, match="inner lengths differ"):
        _ = x @ np.ones((1, 2))  # numpy's matmul broadcasts no length-1 inner axis; einsum would
    with pytest.raises(ShapeError, match="0-d"):
        _ = x @ 2.0
    with pytest.raises(ShapeError, match="out of range"):
        x.sum(2)
    with pytest.raises(ShapeError, match="repeat"):
        x.sum((0, -2))
    with pytest.raises(ShapeError, match="permutation"):
        x.transpose((0,))
    with pytest.raises(ParameterError, match="str"):
        _ = x * "a"
    with pytest.raises(ParameterError, match="NaN"):
        _ = x + np.nan
    with pytest.raises(ParameterError, match="at least one EncryptedTensor"):
        add(np.ones(2), 1.0)
    other = CKKSContext.create(depth=6, simulate=True).encrypt(np.ones((2, 3)))
    with pytest.raises(KeyMismatchError):
        _ = x + other
    with pytest.raises(KeyMismatchError):
        _ = x * other


def test_numpy_never_builds_object_arrays_from_tensors(ctx: CKKSContext) -> None:
    tensor = ctx.encrypt(np.ones(3))
    assert EncryptedTensor.__array_ufunc__ is None
    with pytest.raises(TypeError):
        np.add(np.ones(3), tensor)


@pytest.mark.parametrize("value", [np.ones(3), 1.0, [1.0], None])
def test_decrypt_refuses_what_is_not_a_tensor(ctx: CKKSContext, value: object) -> None:
    with pytest.raises(ParameterError, match="expected an EncryptedTensor"):
        ctx.decrypt(value)  # type: ignore[arg-type]


@pytest.mark.slow
@pytest.mark.parametrize("context", ["real_ctx", "cross_ctx"])
def test_operators_under_real_ckks(context: str, request: pytest.FixtureRequest) -> None:
    """On ``seal`` and ``cross``, both at N = 16384 and depth 4 (the chain below spends 3 levels)."""
    real_ctx: CKKSContext = request.getfixturevalue(context)
    a, b, w = _values((2, 3), 14), _values((3,), 15), _values((3, 2), 16)
    x, y = real_ctx.encrypt(a), real_ctx.encrypt(b)
    result = ((x * y) @ w).sum(0) - 1.0
    np.testing.assert_allclose(real_ctx.decrypt(result), ((a * b) @ w).sum(0) - 1.0, atol=1e-3)
    np.testing.assert_allclose(real_ctx.decrypt(x.T + 2.0 * x.T), 3.0 * a.T, atol=1e-3)


def test_transpose_takes_none_and_arrays_as_numpy(ctx: CKKSContext) -> None:
    values = _values((2, 3, 4), 17)
    tensor = ctx.encrypt(values)
    np.testing.assert_allclose(ctx.decrypt(tensor.transpose(None)), values.transpose(None), atol=0)
    order = np.array([2, 0, 1])
    np.testing.assert_allclose(ctx.decrypt(tensor.transpose(order)), values.transpose(order), atol=0)
    with pytest.raises(ShapeError, match="sequence"):
        tensor.transpose(1.5)


def test_module_operators_refuse_plain_only_operands() -> None:
    from securecompute.fhe.operators import matmul, multiply

    with pytest.raises(ParameterError, match="at least one EncryptedTensor"):
        multiply(np.ones(2), 2.0)
    with pytest.raises(ParameterError, match="at least one EncryptedTensor"):
        matmul(np.ones(2), np.ones(2))


def test_combine_checks_depth_of_both_operands_before_any_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """A + or - whose second operand lacks the level to move refuses before moving or encrypting the first."""
    import securecompute.fhe.execute as execute

    small = CKKSContext.create(depth=1, simulate=True)
    fresh = small.encrypt(_values((2, 3, 4), 18)).sum(2)  # fillers, a level left: it would be moved
    spent = (small.encrypt(_values((3, 4), 19)) * 1.0).sum(1)  # no level left to broadcast it to (2, 3)
    assert fresh.layout.has_fillers
    assert fresh.level == 1
    assert spent.level == 0
    calls: list[object] = []
    monkeypatch.setattr(execute, "execute_plan", lambda *args: calls.append(args))
    monkeypatch.setattr(small, "encrypt", lambda *args: calls.append(args))
    with pytest.raises(DepthExhaustedError):
        _ = fresh + spent
    with pytest.raises(DepthExhaustedError):
        _ = np.ones(3) - spent
    assert calls == []


def test_cleaned_zeroes_the_partial_sums_a_plaintext_product_leaves(ctx: CKKSContext) -> None:
    vector, weights = _values((4,), 20), _values((4, 3), 21)
    product = ctx.encrypt(vector) @ weights
    assert product.layout.has_fillers
    mask = product.layout.pack(np.ones(product.shape))
    assert any(np.any(chunk.values[used == 0] != 0) for chunk, used in zip(product.chunks, mask, strict=True))
    cleaned = product.cleaned()
    assert cleaned.level == product.level - 1
    assert all(np.all(chunk.values[used == 0] == 0) for chunk, used in zip(cleaned.chunks, mask, strict=True))
    np.testing.assert_allclose(ctx.decrypt(cleaned), vector @ weights, atol=1e-9)
    fresh = ctx.encrypt(vector)
    assert fresh.cleaned() is fresh  # no fillers: nothing to zero, no level spent


@SETTINGS
@given(shape=array_shapes(min_dims=0, max_dims=4, max_side=3), data=st.data())
def test_sum_takes_negative_and_tuple_axes_as_numpy(ctx: CKKSContext, shape: tuple[int, ...], data) -> None:
    values = _values(shape, 22)
    ndim = len(shape)
    picked = data.draw(st.lists(st.integers(0, ndim - 1), unique=True) if ndim else st.just([]))
    axes = tuple(axis - ndim if data.draw(st.booleans()) else axis for axis in picked)
    np.testing.assert_allclose(ctx.decrypt(ctx.encrypt(values).sum(axes)), values.sum(axis=axes), atol=1e-9)


def test_zero_dimensional_tensors_follow_numpy(ctx: CKKSContext) -> None:
    scalar = ctx.encrypt(np.array(1.25))
    assert scalar.shape == ()
    for got, want in [
        (scalar.sum(), 1.25),
        (scalar.T, 1.25),
        (scalar.transpose(), 1.25),
        (scalar * np.ones((2, 1)), np.full((2, 1), 1.25)),
        (np.ones(3) - scalar, np.full(3, -0.25)),
    ]:
        assert got.shape == np.shape(want)
        np.testing.assert_allclose(ctx.decrypt(got), want, atol=1e-9)
    with pytest.raises(ShapeError, match="out of range"):
        scalar.sum(0)


@pytest.mark.parametrize(
    "operand", [np.arange(3), np.array([True, False, True]), 2, np.int64(-3)], ids=["ints", "bools", "int", "int64"]
)
def test_integer_and_boolean_operands_count_as_reals(ctx: CKKSContext, operand: object) -> None:
    values = _values((2, 3), 23)
    tensor = ctx.encrypt(values)
    np.testing.assert_allclose(ctx.decrypt(tensor * operand), values * operand, atol=1e-9)
    np.testing.assert_allclose(ctx.decrypt(operand - tensor), operand - values, atol=1e-9)


@pytest.mark.parametrize("operand", [np.inf, -np.inf, np.array([1.0, np.nan, 0.0]), 1j, np.ones(3, dtype=complex)])
def test_non_finite_and_complex_operands_are_refused(ctx: CKKSContext, operand: object) -> None:
    tensor = ctx.encrypt(np.ones(3))
    for apply in (lambda: tensor + operand, lambda: operand * tensor, lambda: tensor @ operand):
        with pytest.raises(ParameterError, match=r"NaN|dtype complex"):
            apply()


def test_tensors_sharing_a_layout_add_as_they_lie(ctx: CKKSContext) -> None:
    """x.T + y.T and x @ w + y @ w need no move (no level; the large transpose is never built)."""
    a, b, w = _values((64, 256), 24), _values((64, 256), 25), _values((4, 4), 26)
    x, y = ctx.encrypt(a), ctx.encrypt(b)
    for got, want in [(x.T + y.T, a.T + b.T), (y.T - x.T, b.T - a.T)]:
        assert got.layout == x.T.layout
        np.testing.assert_allclose(ctx.decrypt(got), want, atol=1e-9)
    assert (x.T + y.T).level == x.level
    small = [ctx.encrypt(values) for values in (a[:4, :4], b[:4, :4])]
    products = [tensor @ w for tensor in small]
    assert products[0].layout.has_fillers
    total = products[0] + products[1]
    assert total.level == products[0].level
    np.testing.assert_allclose(ctx.decrypt(total), (a[:4, :4] + b[:4, :4]) @ w, atol=1e-9)
