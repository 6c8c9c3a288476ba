"""Every registered CKKS engine obeys the same laws (numpy is the oracle), one suite for all.

The suite is parametrised over :func:`securecompute.fhe.engines.engine_names`: an engine that
registers itself is run through every test here unchanged.  Parameters are small (N = 8192, two
levels) so that the real engines stay fast.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from securecompute.errors import CorruptPayloadError, DepthExhaustedError, KeyMismatchError, ParameterError
from securecompute.fhe.backend import CKKSEngine, CKKSKeyHolder
from securecompute.fhe.engines import engine_factory, engine_names
from securecompute.fhe.params import CKKSParameters

PARAMS = CKKSParameters(8192, (60, 40, 40, 60), 40)  # depth 2, 128-bit secure
OTHER_PARAMS = CKKSParameters(8192, (60, 40, 60), 40)  # depth 1: a foreign parameter set
SLOTS = PARAMS.slots
ATOL = 1e-4  # CKKS noise at scale 2^40 after a few operations, with room

Holder = CKKSKeyHolder[Any, Any]


@pytest.fixture(scope="module", params=engine_names())
def holder(request: pytest.FixtureRequest) -> Holder:
    return engine_factory(request.param).generate(PARAMS)


@pytest.fixture(scope="module")
def public(holder: Holder) -> CKKSEngine[Any, Any]:
    return holder.public()


def _vector(seed: int, scale: float = 1.0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-scale, scale, SLOTS)


def test_engine_names_its_registry_entry_and_parameters(holder: Holder) -> None:
    assert engine_factory(holder.name).name == holder.name
    assert holder.params == PARAMS
    assert holder.slots == PARAMS.slots
    assert len(holder.fingerprint) == 32


def test_the_public_evaluator_cannot_decrypt_and_shares_the_fingerprint(holder: Holder, public: Any) -> None:
    assert not hasattr(public, "decrypt")
    assert not hasattr(public, "secret_bytes")
    assert public.fingerprint == holder.fingerprint
    values = _vector(1)
    np.testing.assert_allclose(holder.decrypt(public.encrypt(values)), values, atol=ATOL)


def test_encrypt_decrypt_round_trip_at_the_top_level(holder: Holder) -> None:
    values = _vector(2)
    ciphertext = holder.encrypt(values)
    assert holder.level(ciphertext) == PARAMS.depth
    np.testing.assert_allclose(holder.decrypt(ciphertext), values, atol=ATOL)


def test_short_input_is_zero_padded_and_bad_input_refused(holder: Holder) -> None:
    out = holder.decrypt(holder.encrypt(np.array([1.5, -2.0])))
    np.testing.assert_allclose(out[:2], [1.5, -2.0], atol=ATOL)
    np.testing.assert_allclose(out[2:], 0.0, atol=ATOL)
    for bad in (np.full(3, np.nan), np.zeros(SLOTS + 1), np.zeros((2, 2))):
        with pytest.raises(ParameterError):
            holder.encrypt(bad)


@settings(max_examples=8, derandomize=True, deadline=None)
@given(st.integers(-SLOTS, 2 * SLOTS), st.integers(-SLOTS, 2 * SLOTS))
def test_rotations_compose_like_np_roll(holder: Holder, first: int, second: int) -> None:
    holder.make_rotation_keys([first % SLOTS, second % SLOTS, (first + second) % SLOTS])
    values = _vector(3)
    ciphertext = holder.encrypt(values)
    twice = holder.rotate(holder.rotate(ciphertext, first), second)
    once = holder.rotate(ciphertext, first + second)
    expected = np.roll(values, -(first + second))
    np.testing.assert_allclose(holder.decrypt(twice), expected, atol=ATOL)
    np.testing.assert_allclose(holder.decrypt(once), expected, atol=ATOL)
    assert holder.level(twice) == PARAMS.depth


def test_hoisted_rotate_many_equals_single_rotations(holder: Holder) -> None:
    steps = [0, 1, 5, -3, SLOTS - 1]
    holder.make_rotation_keys(steps)
    ciphertext = holder.encrypt(_vector(4))
    many = holder.rotate_many(ciphertext, steps)
    assert len(many) == len(steps)
    for step, rotated in zip(steps, many, strict=True):
        np.testing.assert_allclose(holder.decrypt(rotated), holder.decrypt(holder.rotate(ciphertext, step)), atol=ATOL)


def test_additions_match_numpy_and_keep_the_level(holder: Holder) -> None:
    a, b, c = _vector(5), _vector(6), _vector(7)
    x, y = holder.encrypt(a), holder.encrypt(b)
    np.testing.assert_allclose(holder.decrypt(holder.add(x, y)), a + b, atol=ATOL)
    np.testing.assert_allclose(holder.decrypt(holder.add_plain(x, c)), a + c, atol=ATOL)
    np.testing.assert_allclose(holder.decrypt(holder.add_scalar(x, -0.25)), a - 0.25, atol=ATOL)
    assert holder.level(holder.add(x, y)) == holder.level(holder.add_scalar(x, 1.0)) == PARAMS.depth
    with pytest.raises(ParameterError):
        holder.add_scalar(x, float("inf"))


def test_add_aligns_to_the_lower_level(holder: Holder) -> None:
    a, b = _vector(8), _vector(9)
    low = holder.multiply_plain(holder.encrypt(a), np.ones(SLOTS))
    out = holder.add(holder.encrypt(b), low)
    assert holder.level(out) == PARAMS.depth - 1
    np.testing.assert_allclose(holder.decrypt(out), a + b, atol=ATOL)


def test_products_match_numpy_and_use_one_level_each(holder: Holder) -> None:
    a, b, m = _vector(10), _vector(11), _vector(12)
    x, y = holder.encrypt(a), holder.encrypt(b)
    product = holder.multiply(x, y)
    assert holder.level(product) == PARAMS.depth - 1
    np.testing.assert_allclose(holder.decrypt(product), a * b, atol=ATOL)
    plain = holder.multiply_plain(x, m)
    assert holder.level(plain) == PARAMS.depth - 1
    np.testing.assert_allclose(holder.decrypt(plain), a * m, atol=ATOL)
    deeper = holder.multiply(product, plain)
    assert holder.level(deeper) == 0
    np.testing.assert_allclose(holder.decrypt(deeper), a * b * a * m, atol=ATOL)
    with pytest.raises(DepthExhaustedError):
        holder.multiply_plain(deeper, m)
    with pytest.raises(DepthExhaustedError):
        holder.multiply(deeper, deeper)


def test_dot_plain_matches_numpy_with_arrays_and_encoded_plaintexts(holder: Holder) -> None:
    columns = [_vector(13 + k) for k in range(3)]
    weights = [_vector(20 + k) for k in range(3)]
    ciphertexts = [holder.encrypt(column) for column in columns]
    expected = sum(c * w for c, w in zip(columns, weights, strict=True))
    from_arrays = holder.dot_plain(ciphertexts, weights)
    encoded = [holder.encode(w, PARAMS.depth) for w in weights]
    from_plaintexts = holder.dot_plain(ciphertexts, encoded)
    for out in (from_arrays, from_plaintexts):
        assert holder.level(out) == PARAMS.depth - 1
        np.testing.assert_allclose(holder.decrypt(out), expected, atol=ATOL)
    np.testing.assert_allclose(
        holder.decrypt(holder.multiply_plain(ciphertexts[0], encoded[0])), columns[0] * weights[0], atol=ATOL
    )
    with pytest.raises(ParameterError):
        holder.dot_plain(ciphertexts, weights[:2])


def test_a_plaintext_encoded_for_another_level_is_refused(holder: Holder) -> None:
    wrong = holder.encode(_vector(30), PARAMS.depth - 1)
    with pytest.raises(ParameterError):
        holder.multiply_plain(holder.encrypt(_vector(31)), wrong)
    with pytest.raises(ParameterError, match="level"):
        holder.encode(_vector(30), 0)


def test_zeros_are_zero_at_every_level(holder: Holder) -> None:
    for level in range(PARAMS.depth + 1):
        zero = holder.zeros(level)
        assert holder.level(zero) == level
        np.testing.assert_allclose(holder.decrypt(zero), 0.0, atol=ATOL)
    with pytest.raises(ParameterError):
        holder.zeros(PARAMS.depth + 1)


def test_ciphertext_codec_round_trips(holder: Holder, public: Any) -> None:
    values = _vector(40)
    for ciphertext in (holder.encrypt(values), holder.multiply_plain(holder.encrypt(values), np.full(SLOTS, 0.5))):
        data = holder.ciphertext_to_bytes(ciphertext)
        loaded = public.ciphertext_from_bytes(data)
        assert public.level(loaded) == holder.level(ciphertext)
        np.testing.assert_allclose(holder.decrypt(loaded), holder.decrypt(ciphertext), atol=1e-9)


def test_key_bytes_round_trip_through_the_factory(holder: Holder) -> None:
    factory = engine_factory(holder.name)
    evaluator = factory.load_public(holder.public_bytes())
    assert evaluator.fingerprint == holder.fingerprint
    assert not hasattr(evaluator, "decrypt")
    values = _vector(41)
    restored = factory.load_secret(holder.secret_bytes())
    assert restored.fingerprint == holder.fingerprint
    np.testing.assert_allclose(restored.decrypt(evaluator.encrypt(values)), values, atol=ATOL)
    evaluator.add_rotation_keys(holder.rotation_key_bytes([7]))
    assert 7 in evaluator.rotation_steps
    rotated = evaluator.rotate(evaluator.encrypt(values), 7)
    np.testing.assert_allclose(holder.decrypt(rotated), np.roll(values, -7), atol=ATOL)


def test_cost_model_follows_the_galois_convention(holder: Holder) -> None:
    cost = holder.cost_model
    assert cost.galois_element(1, SLOTS) == pow(cost.galois_generator, 1, 2 * PARAMS.poly_modulus_degree)
    assert min(cost.rotation, cost.diagonal, cost.ciphertext_multiply, cost.plain_multiply) > 0
    assert cost.galois_key_bytes >= 0


def test_ciphertexts_of_other_parameters_are_refused(holder: Holder) -> None:
    foreign = engine_factory(holder.name).generate(OTHER_PARAMS)
    data = foreign.ciphertext_to_bytes(foreign.encrypt(_vector(50)))
    with pytest.raises(CorruptPayloadError):
        holder.ciphertext_from_bytes(data)
    with pytest.raises(CorruptPayloadError):
        holder.ciphertext_from_bytes(b"\x00" * 64)


def test_rotation_keys_of_another_key_holder_are_refused(holder: Holder, public: Any) -> None:
    stranger = engine_factory(holder.name).generate(PARAMS)
    assert stranger.fingerprint != holder.fingerprint
    with pytest.raises(KeyMismatchError):
        public.add_rotation_keys(stranger.rotation_key_bytes([3]))
    with pytest.raises(CorruptPayloadError):
        public.add_rotation_keys(b"garbage")


def test_key_bytes_of_the_wrong_role_are_refused(holder: Holder) -> None:
    factory = engine_factory(holder.name)
    with pytest.raises(CorruptPayloadError):
        factory.load_public(holder.secret_bytes())
    with pytest.raises(CorruptPayloadError):
        factory.load_secret(holder.public_bytes())


def test_plaintexts_encoded_for_a_lower_level_multiply_there(holder: Holder) -> None:
    a, m = _vector(60), _vector(61)
    low = holder.multiply_plain(holder.encrypt(a), np.ones(SLOTS))  # level depth - 1
    level = holder.level(low)
    encoded = holder.encode(m, level)
    for out in (holder.multiply_plain(low, encoded), holder.dot_plain([low], [encoded])):
        assert holder.level(out) == level - 1
        np.testing.assert_allclose(holder.decrypt(out), a * m, atol=ATOL)
    with pytest.raises(ParameterError):
        holder.multiply_plain(holder.encrypt(a), encoded)  # made for level depth - 1, used at depth


def test_an_engine_that_claims_to_encrypt_hides_the_values(holder: Holder) -> None:
    values = np.round(_vector(62), 3)
    first, second = (holder.ciphertext_to_bytes(holder.encrypt(values)) for _ in range(2))
    if not holder.encrypts:
        assert values.astype("<f8").tobytes() in first  # simulation: the slots in the clear, and it says so
        return
    assert first != second  # randomised encryption
    assert values.astype("<f8").tobytes() not in first
    assert values.astype("<f4").tobytes() not in first
    # FRAG re-randomises replies by adding zeros(level): they must be fresh encryptions, never transparent
    ciphertext = holder.encrypt(values)
    for level in (PARAMS.depth, 1):
        assert holder.ciphertext_to_bytes(holder.zeros(level)) != holder.ciphertext_to_bytes(holder.zeros(level))
    assert holder.ciphertext_to_bytes(holder.add(ciphertext, holder.zeros(PARAMS.depth))) != first
    assert holder.ciphertext_to_bytes(holder.add(ciphertext, holder.zeros(PARAMS.depth))) != (
        holder.ciphertext_to_bytes(ciphertext)
    )


def test_no_engine_accepts_another_engines_bytes() -> None:
    holders = {name: engine_factory(name).generate(PARAMS) for name in engine_names()}
    for name, holder in holders.items():
        for other_name, other in holders.items():
            if other_name.split("-")[0] == name.split("-")[0]:
                continue  # array-engine variants of one engine ("cross", "cross-jax") share its byte formats
            factory = engine_factory(other_name)
            with pytest.raises(CorruptPayloadError):
                other.ciphertext_from_bytes(holder.ciphertext_to_bytes(holder.encrypt(_vector(63))))
            with pytest.raises(CorruptPayloadError):
                factory.load_public(holder.public_bytes())
            with pytest.raises(CorruptPayloadError):
                factory.load_secret(holder.secret_bytes())
            with pytest.raises(CorruptPayloadError):
                other.add_rotation_keys(holder.rotation_key_bytes([1]))


def test_ciphertexts_and_plaintexts_objects_of_other_parameters_are_refused(holder: Holder) -> None:
    foreign = engine_factory(holder.name).generate(OTHER_PARAMS)  # same N, another chain
    own = holder.zeros(1)
    with pytest.raises(KeyMismatchError):
        holder.add(own, foreign.zeros(1))
    with pytest.raises(KeyMismatchError):
        holder.level(foreign.encrypt(_vector(64)))
    with pytest.raises(ParameterError):
        holder.multiply_plain(own, foreign.encode(_vector(65), 1))
