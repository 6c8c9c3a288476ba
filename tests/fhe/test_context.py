"""Keys and bytes: secret vs public contexts, fingerprints, rotation keys, strict loading."""

from __future__ import annotations

import numpy as np
import pytest

import securecompute as sc
from securecompute.errors import (
    CorruptPayloadError,
    InsecureParametersError,
    KeyMismatchError,
    MissingKeyError,
    ParameterError,
)
from securecompute.fhe import CKKSContext, EncryptedTensor, EvaluationContext, plan_einsum


@pytest.fixture(scope="module")
def ctx() -> CKKSContext:
    return CKKSContext.create(depth=2, poly_modulus_degree=8192)


def test_default_parameters_are_secure_and_at_least_2_to_14() -> None:
    ctx = CKKSContext.create(depth=3, simulate=True)
    assert ctx.params.poly_modulus_degree >= 16384
    assert ctx.params.coeff_modulus_bits == (60, 40, 40, 40, 60)


def test_insecure_parameters_are_refused() -> None:
    with pytest.raises(InsecureParametersError):
        CKKSContext.create(depth=5, poly_modulus_degree=8192)


def test_public_context_encrypts_but_cannot_decrypt(ctx: CKKSContext) -> None:
    public = ctx.public()
    assert isinstance(public, EvaluationContext)
    assert not public.is_private
    tensor = public.encrypt(np.arange(4.0))
    with pytest.raises(MissingKeyError, match="cannot decrypt"):
        public.decrypt(tensor)
    np.testing.assert_allclose(ctx.decrypt(tensor), np.arange(4.0), atol=1e-6)


def test_public_context_bytes_hold_no_secret_key(ctx: CKKSContext) -> None:
    loaded = CKKSContext.load(ctx.public().serialize())
    assert not loaded.is_private
    assert loaded.fingerprint == ctx.fingerprint
    with pytest.raises(MissingKeyError):
        loaded.decrypt(loaded.encrypt(np.ones(2)))


def test_secret_context_round_trips(ctx: CKKSContext) -> None:
    loaded = CKKSContext.load(ctx.serialize())
    assert loaded.is_private
    assert loaded.fingerprint == ctx.fingerprint
    np.testing.assert_allclose(loaded.decrypt(ctx.encrypt(np.ones(3))), np.ones(3), atol=1e-6)


def test_tensor_round_trips_through_bytes(ctx: CKKSContext) -> None:
    values = np.arange(12.0).reshape(3, 4) / 10
    public = CKKSContext.load(ctx.public().serialize())
    data = ctx.encrypt(values).serialize()
    tensor = EncryptedTensor.load(data, public)
    assert tensor.shape == (3, 4)
    assert tensor.level == ctx.depth
    np.testing.assert_allclose(ctx.decrypt(EncryptedTensor.load(tensor.serialize(), ctx)), values, atol=1e-6)


def test_tensor_from_another_context_is_refused(ctx: CKKSContext) -> None:
    other = CKKSContext.create(depth=2, poly_modulus_degree=8192)
    data = other.encrypt(np.ones(3)).serialize()
    with pytest.raises(KeyMismatchError, match="fingerprint"):
        EncryptedTensor.load(data, ctx)
    with pytest.raises(KeyMismatchError):
        ctx.decrypt(other.encrypt(np.ones(3)))


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage"])
def test_damaged_tensor_bytes_raise_corrupt_payload(ctx: CKKSContext, damage: str) -> None:
    data = bytearray(ctx.encrypt(np.ones(3)).serialize())
    if damage == "truncate":
        data = data[:-100]
    elif damage == "flip":
        data[len(data) // 2] ^= 0x10
    else:
        data = bytearray(b"SCPK" + bytes(200))
    with pytest.raises(CorruptPayloadError):
        EncryptedTensor.load(bytes(data), ctx)


def test_context_bytes_of_wrong_kind_are_refused(ctx: CKKSContext) -> None:
    with pytest.raises(CorruptPayloadError, match="expected"):
        CKKSContext.load(ctx.encrypt(np.ones(2)).serialize())


def test_evaluator_needs_rotation_keys_from_the_secret_holder(ctx: CKKSContext) -> None:
    public = CKKSContext.load(ctx.public().serialize())
    values = np.arange(6.0).reshape(2, 3)
    tensor = public.encrypt(values)
    plan = plan_einsum("ij->", tensor)
    with pytest.raises(MissingKeyError, match="rotation step"):
        sc.einsum("ij->", tensor)
    public.add_rotation_keys(ctx.rotation_keys(plan))
    assert plan.rotation_steps <= public.rotation_steps
    np.testing.assert_allclose(ctx.decrypt(sc.einsum("ij->", tensor)), values.sum(), atol=1e-5)


def test_rotation_keys_for_another_context_are_refused(ctx: CKKSContext) -> None:
    other = CKKSContext.create(depth=2, poly_modulus_degree=8192)
    with pytest.raises(KeyMismatchError):
        ctx.public().add_rotation_keys(other.rotation_keys([1]))


def test_simulated_context_has_no_bytes() -> None:
    ctx = CKKSContext.create(depth=2, simulate=True)
    with pytest.raises(ParameterError, match="simulated"):
        ctx.serialize()
    with pytest.raises(ParameterError, match="simulated"):
        ctx.encrypt(np.ones(2)).serialize()


def test_noise_is_for_simulated_contexts_only() -> None:
    with pytest.raises(ParameterError, match="noise"):
        CKKSContext.create(depth=2, poly_modulus_degree=8192, noise=1e-3)


def test_repr_says_what_it_is(ctx: CKKSContext) -> None:
    assert "secret" in repr(ctx)
    assert "public" in repr(ctx.public())
    assert "shape=(2,)" in repr(ctx.encrypt(np.ones(2)))


def test_backend_names_the_engine_and_simulate_is_an_alias() -> None:
    by_name = CKKSContext.create(depth=2, backend="simulate")
    by_flag = CKKSContext.create(depth=2, simulate=True)
    assert by_name.engine_name == by_flag.engine_name == "simulate"
    assert by_name.simulate
    assert by_flag.simulate
    with pytest.raises(
        ParameterError, match="unknown CKKS engine 'nope'; registered: cross, cross-jax, seal, simulate"
    ):
        CKKSContext.create(depth=2, backend="nope")
    with pytest.raises(ParameterError, match="contradicts"):
        CKKSContext.create(depth=2, backend="seal", simulate=True)


def test_tensor_bytes_of_another_engine_or_parameters_are_refused(ctx: CKKSContext) -> None:
    from securecompute.encoding import pack, unpack
    from securecompute.errors import EngineMismatchError

    envelope = unpack(ctx.encrypt(np.ones(3)).serialize())
    for field, value, match in [
        ("engine", b"cross", "'cross' engine"),
        ("params", CKKSContext.create(depth=1, poly_modulus_degree=8192, simulate=True).params.to_bytes(), "param"),
    ]:
        forged = pack(envelope.kind, {**envelope.sections, field: value}, envelope.fingerprint)
        with pytest.raises(EngineMismatchError, match=match):
            EncryptedTensor.load(forged, ctx)


def test_context_envelopes_name_their_engine_and_parameters(ctx: CKKSContext) -> None:
    from securecompute.encoding import unpack

    envelope = unpack(ctx.public().serialize())
    assert envelope.section("engine") == b"seal"
    assert envelope.section("params") == ctx.params.to_bytes()


def test_the_engine_registry_refuses_bad_names_paths_and_misnamed_factories(monkeypatch: pytest.MonkeyPatch) -> None:
    from securecompute.fhe import engines
    from securecompute.fhe.engines.simulate import FACTORY

    monkeypatch.setattr(engines, "_LAZY", dict(engines._LAZY))
    monkeypatch.setattr(engines, "_LOADED", dict(engines._LOADED))
    for name in ("seal", "Upper", "", "a b", "é"):
        with pytest.raises(ParameterError):
            engines.register_engine(name, FACTORY)
    with pytest.raises(ParameterError, match="module:attribute"):
        engines.register_engine("no-colon", "securecompute.fhe.engines.simulate")
    with pytest.raises(ParameterError, match="calls itself"):
        engines.register_engine("twin", FACTORY)  # would make envelopes name an engine that is not this one
    engines.register_engine("missing", "securecompute.fhe.engines.nothing_here:FACTORY")
    with pytest.raises(ParameterError, match="cannot be loaded"):
        engines.engine_factory("missing")
    engines.register_engine("renamed", "securecompute.fhe.engines.simulate:FACTORY")
    with pytest.raises(ParameterError, match="calls itself"):
        engines.engine_factory("renamed")
    twin = type("Twin", (), {"name": "twin", "generate": FACTORY.generate})()
    engines.register_engine("twin", twin)
    assert engines.engine_factory("twin") is twin
