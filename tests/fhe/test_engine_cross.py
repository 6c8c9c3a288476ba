"""What the ``cross`` engine adds beyond the conformance suite: SEAL's primes, strict bytes, array engines.

Oracles: SEAL's ``CoeffModulus.Create`` (the primes), the numpy array engine (JAX must give the same
words), numpy (slot values).
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest
from tenseal import sealapi

from securecompute.binary import MAGICS
from securecompute.errors import CorruptPayloadError, KeyMismatchError, MissingKeyError, ParameterError
from securecompute.fhe import CKKSContext, EncryptedTensor
from securecompute.fhe.engines import engine_factory
from securecompute.fhe.engines.cross import CrossCiphertext, CrossFactory, CrossKeyHolder
from securecompute.fhe.engines.cross_io import PARMS_ID_BYTES, ring_parameters
from securecompute.fhe.params import CKKSParameters
from tests.ckks.device_guard import host_copies_refused

PARAMS = CKKSParameters(8192, (60, 40, 40, 60), 40)
SLOTS = PARAMS.slots
ATOL = 1e-4


@pytest.fixture(scope="module")
def holder() -> CrossKeyHolder:
    made = engine_factory("cross").generate(PARAMS)
    assert isinstance(made, CrossKeyHolder)
    return made


def _values(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, SLOTS)


@pytest.mark.parametrize(
    ("degree", "bits"), [(8192, (60, 40, 40, 60)), (16384, (60, 40, 40, 40, 40, 60)), (32768, (60, 40, 40, 60))]
)
def test_the_chain_is_the_one_seal_picks_for_the_same_bit_sizes(degree: int, bits: tuple[int, ...]) -> None:
    params = CKKSParameters(degree, bits, 40)
    seal_primes = [q.value() for q in sealapi.CoeffModulus.Create(degree, list(bits))]
    assert list(ring_parameters(params).moduli) == seal_primes


def test_ciphertext_bytes_are_strict(holder: CrossKeyHolder) -> None:
    data = bytearray(holder.ciphertext_to_bytes(holder.encrypt(_values(1))))
    assert data[:4] == MAGICS["cross-ciphertext"]
    level_at = 5 + PARMS_ID_BYTES
    assert data[level_at] == PARAMS.depth
    for bad in (bytes(data[:-8]), bytes(data) + b"\x00"):
        with pytest.raises(CorruptPayloadError, match=r"truncated|trailing"):
            holder.ciphertext_from_bytes(bad)
    too_high = bytearray(data)
    too_high[level_at] = PARAMS.depth + 1
    with pytest.raises(CorruptPayloadError, match="level"):
        holder.ciphertext_from_bytes(bytes(too_high))
    unreduced = bytearray(data)
    unreduced[level_at + 1 : level_at + 9] = b"\xff" * 8  # first residue 2^64 - 1 >= q_0
    with pytest.raises(CorruptPayloadError, match="residue"):
        holder.ciphertext_from_bytes(bytes(unreduced))


def test_a_secret_key_must_open_its_public_key(holder: CrossKeyHolder) -> None:
    stranger = engine_factory("cross").generate(PARAMS)
    data = holder.secret_bytes()
    foreign = stranger.secret_bytes()
    key_words = len(PARAMS.coeff_modulus_bits) * PARAMS.poly_modulus_degree * 8
    swapped = data[:-key_words] + foreign[-key_words:]  # our public context, the stranger's secret
    with pytest.raises(CorruptPayloadError, match="does not belong"):
        engine_factory("cross").load_secret(swapped)


def test_public_bytes_without_relinearisation_keys_refuse_ct_x_ct(holder: CrossKeyHolder) -> None:
    evaluator = engine_factory("cross").load_public(holder.public_bytes(relin_keys=False))
    x = evaluator.encrypt(_values(2))
    np.testing.assert_allclose(
        holder.decrypt(evaluator.multiply_plain(x, _values(3))), _values(2) * _values(3), atol=ATOL
    )
    with pytest.raises(MissingKeyError, match="relinearisation"):
        evaluator.multiply(x, x)
    assert len(holder.public_bytes()) - len(holder.public_bytes(relin_keys=False)) == holder.cost_model.galois_key_bytes


def test_rotation_keys_travel_with_the_public_context_and_are_reused(holder: CrossKeyHolder) -> None:
    holder.make_rotation_keys([5, -2])
    assert {5, SLOTS - 2} <= holder.rotation_steps
    before = holder.rotation_key_bytes([5])
    holder.make_rotation_keys([5])  # held already: the same key, not a new one
    assert holder.rotation_key_bytes([5]) == before
    evaluator = engine_factory("cross").load_public(holder.public_bytes())
    values = _values(4)
    rotated = evaluator.rotate(evaluator.encrypt(values), -2)
    np.testing.assert_allclose(holder.decrypt(rotated), np.roll(values, 2), atol=ATOL)
    with pytest.raises(MissingKeyError, match="step 11"):
        evaluator.rotate_many(evaluator.encrypt(values), [5, 11])


def test_operations_refuse_foreign_objects_and_scales(holder: CrossKeyHolder) -> None:
    x = holder.encrypt(_values(5))
    assert isinstance(x, CrossCiphertext)
    with pytest.raises(ParameterError, match="Ciphertext"):
        holder.rotate(np.zeros(3), 1)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="scale"):
        holder.add(x, CrossCiphertext(x.data, 2.0**30, x.parms_id))
    with pytest.raises(ParameterError, match="level"):
        holder.encode(_values(6), PARAMS.depth + 1)
    with pytest.raises(ParameterError, match="noise"):
        engine_factory("cross").generate(PARAMS, noise=0.1)
    with pytest.raises(ParameterError, match="array_engine"):
        CrossFactory("torch")
    for data in ([[1]], None, x.data.astype(np.int64)):  # a tagged ciphertext whose data is no uint64 array
        with pytest.raises(KeyMismatchError, match=r"ciphertext data \((list|NoneType|int64 \(2, 3, 8192\))\)"):
            holder.rotate(CrossCiphertext(data, x.scale, x.parms_id), 0)


def test_every_operation_returns_a_new_ciphertext(holder: CrossKeyHolder) -> None:
    holder.make_rotation_keys([1])
    x = holder.encrypt(_values(7))
    before = x.data.copy()
    outputs = [holder.rotate(x, 0), holder.rotate(x, 1), *holder.rotate_many(x, [0, 1]), holder.add_scalar(x, 1.0)]
    assert all(out is not x and out.data is not x.data for out in outputs)
    np.testing.assert_array_equal(x.data, before)


def test_the_jax_array_engine_gives_the_numpy_engine_s_words(holder: CrossKeyHolder) -> None:
    pytest.importorskip("jax", reason="the JAX array engine needs JAX (the [jax] extra)")
    holder.make_rotation_keys([3, 8])
    on_jax = engine_factory("cross-jax").load_public(holder.public_bytes())
    x, y = holder.encrypt(_values(8)), holder.encrypt(_values(9))
    pairs: list[tuple[Any, Any]] = [
        (holder.rotate(x, 3), on_jax.rotate(x, 3)),
        (holder.multiply(x, y), on_jax.multiply(x, y)),
        (holder.dot_plain([x, y], [_values(10), _values(11)]), on_jax.dot_plain([x, y], [_values(10), _values(11)])),
    ]
    pairs += list(zip(holder.rotate_many(x, [3, 8]), on_jax.rotate_many(x, [3, 8]), strict=True))
    level = holder.level(x)
    pairs.append(  # pre-encoded multipliers (a prepared plan's): on JAX uploaded once, by encode
        (
            holder.dot_plain([x, y], [holder.encode(_values(12), level), holder.encode(_values(13), level)]),
            on_jax.dot_plain([x, y], [on_jax.encode(_values(12), level), on_jax.encode(_values(13), level)]),
        )
    )
    for ours, theirs in pairs:
        np.testing.assert_array_equal(ours.data, np.asarray(theirs.data))
        # the device-resident result crosses the boundaries as before: same bytes, same decryption
        assert on_jax.ciphertext_to_bytes(theirs) == holder.ciphertext_to_bytes(ours)
        np.testing.assert_array_equal(holder.decrypt(theirs), holder.decrypt(ours))
    loaded = on_jax.ciphertext_from_bytes(holder.ciphertext_to_bytes(x))  # strict parse, then uploaded
    assert not isinstance(loaded.data, np.ndarray)
    np.testing.assert_array_equal(np.asarray(on_jax.rotate(loaded, 8).data), holder.rotate(x, 8).data)


def test_the_jax_adapter_s_ops_copy_nothing_between_host_and_device(
    holder: CrossKeyHolder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After the uploads (bytes in, pre-encoded multipliers), the engine's ops (rotate, rotate_many, add at
    two levels, multiply, dot_plain) copy nothing between host and device (``host_copies_refused``) and
    give the numpy engine's words."""
    jax = pytest.importorskip("jax", reason="the JAX array engine needs JAX (the [jax] extra)")
    holder.make_rotation_keys([3, 8])
    on_jax = engine_factory("cross-jax").load_public(holder.public_bytes())
    x_host, y_host = holder.encrypt(_values(14)), holder.encrypt(_values(15))
    x, y = (on_jax.ciphertext_from_bytes(holder.ciphertext_to_bytes(c)) for c in (x_host, y_host))
    level = holder.level(x_host)
    multipliers = [on_jax.encode(_values(16), level), on_jax.encode(_values(17), level)]
    host_multipliers = [holder.encode(_values(16), level), holder.encode(_values(17), level)]

    def workload(engine: Any, a: Any, b: Any, plains: list[Any]) -> list[Any]:
        summed = engine.add(engine.rotate(a, 3), b)
        product = engine.multiply(summed, a)
        return [
            summed,
            product,
            *engine.rotate_many(product, [0, 3, 8]),
            engine.dot_plain([a, b], plains),
            engine.add(product, engine.rotate(a, 0)),  # mixed levels: aligned by mod-switching on the device
        ]

    workload(on_jax, x, y, multipliers)  # compile
    with host_copies_refused(monkeypatch):
        got = workload(on_jax, x, y, multipliers)
    expected = workload(holder, x_host, y_host, host_multipliers)
    for ours, theirs in zip(expected, got, strict=True):
        assert isinstance(theirs.data, jax.Array)
        np.testing.assert_array_equal(ours.data, np.asarray(theirs.data))


def test_contexts_select_the_engine_by_name_and_round_trip_through_envelopes() -> None:
    ctx = CKKSContext.create(depth=1, poly_modulus_degree=8192, backend="cross")
    assert ctx.engine_name == "cross"
    values = np.arange(12.0).reshape(3, 4) / 10
    public = CKKSContext.load(ctx.public().serialize())
    assert public.engine_name == "cross"
    assert not hasattr(public.backend, "decrypt")
    tensor = EncryptedTensor.load(public.encrypt(values).serialize(), ctx)
    np.testing.assert_allclose(ctx.decrypt(tensor * 2.0), 2 * values, atol=ATOL)
    restored = CKKSContext.load(ctx.serialize())
    assert isinstance(restored, CKKSContext)
    assert restored.fingerprint == ctx.fingerprint
    np.testing.assert_allclose(restored.decrypt(tensor), values, atol=ATOL)


def test_concurrent_encryptions_never_share_a_mask(holder: CrossKeyHolder) -> None:
    """FRAG's Enc(0) pool encrypts from a thread while the caller encrypts: draws must not be shared."""
    outputs: list[Any] = []

    def work() -> None:
        outputs.extend(holder.zeros(PARAMS.depth) for _ in range(3))

    threads = [threading.Thread(target=work) for _ in range(3)]
    for thread in threads:
        thread.start()
    outputs.extend(holder.encrypt(np.zeros(4)) for _ in range(3))
    for thread in threads:
        thread.join()
    masks = {out.data[1].tobytes() for out in outputs}
    assert len(masks) == len(outputs) == 12


def test_einsum_on_the_jax_array_engine_keeps_its_ciphertexts_on_the_device() -> None:
    """A prepared einsum through ``cross-jax`` (rotations, pre-encoded multipliers, ct x ct): device arrays
    between ops, the plain einsum's values after decryption."""
    jax = pytest.importorskip("jax", reason="the JAX array engine needs JAX (the [jax] extra)")
    from securecompute.fhe.frontend import einsum

    ctx = CKKSContext.create(depth=2, poly_modulus_degree=8192, backend="cross-jax")
    rng = np.random.default_rng(14)  # test data only
    matrix, vector = rng.uniform(-1, 1, (4, 8)), rng.uniform(-1, 1, 8)
    encrypted = ctx.encrypt(matrix)
    for expression, operands, expected in (
        ("ik,k->i", (encrypted, vector), matrix @ vector),
        ("ij,ij->ij", (encrypted, encrypted), matrix * matrix),
    ):
        result = einsum(expression, *operands)
        assert isinstance(result, EncryptedTensor)
        assert all(isinstance(chunk.data, jax.Array) for chunk in result.chunks)
        np.testing.assert_allclose(ctx.decrypt(result), expected, atol=ATOL)
