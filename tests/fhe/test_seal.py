"""Tests for securecompute.fhe.seal: the CKKS layer over tenseal.sealapi (real SEAL, N=8192)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tenseal import sealapi

from securecompute.errors import (
    CorruptPayloadError,
    DepthExhaustedError,
    InsecureParametersError,
    KeyMismatchError,
    MissingKeyError,
    ParameterError,
)
from securecompute.fhe.params import SECURITY_MAX_COEFF_BITS, CKKSParameters
from securecompute.fhe.seal import GaloisKeyBundle, SealPublicKit, SealSecretKit
from securecompute.fhe.seal_io import seal_save

pytestmark = pytest.mark.slow

PARAMS = CKKSParameters(8192, (45, 40, 40, 40, 45), 40)  # depth 3, 210 bits <= 218
SLOTS = PARAMS.slots
STEPS = (1, 5, -3, SLOTS - 1)
DELTA = 2.0**40


@pytest.fixture(scope="module")
def kit() -> SealSecretKit:
    secret = SealSecretKit.generate(PARAMS)
    secret.add_galois_keys(secret.galois_keys(STEPS))
    return secret


@pytest.fixture(scope="module")
def other_kit() -> SealSecretKit:
    return SealSecretKit.generate(PARAMS)


@pytest.fixture(scope="module")
def public(kit: SealSecretKit) -> SealPublicKit:
    return kit.public_kit()


def _vec(seed: int, n: int = SLOTS) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1.0, 1.0, n)


# ----------------------------------------------------------------------------- parameters
def test_security_table_matches_seal_max_bit_count() -> None:
    for n, bits in SECURITY_MAX_COEFF_BITS.items():
        assert sealapi.CoeffModulus.MaxBitCount(n, sealapi.SEC_LEVEL_TYPE.TC128) == bits


@pytest.mark.parametrize(
    ("n", "bits", "scale"),
    [
        (8000, (60, 40, 60), 40),  # N not a supported power of two
        (8192, (60,), 40),  # fewer than 2 primes
        (8192, (60, 19, 60), 19),  # prime below 20 bits
        (8192, (61, 40, 61), 40),  # prime above 60 bits
        (8192, (60, 30, 60), 40),  # middle prime smaller than the scale
        (8192, (40, 40, 60), 40),  # first prime not above the scale
        (8192, (60, 40, 50), 40),  # special prime smaller than the first
        (8192, (60, 40, 60), True),  # bool is not an int
    ],
)
def test_invalid_parameters_raise_parameter_error(n: int, bits: tuple[int, ...], scale: int) -> None:
    with pytest.raises(ParameterError):
        CKKSParameters(n, bits, scale)


def test_insecure_parameters_raise_unless_allowed() -> None:
    with pytest.raises(InsecureParametersError, match=r"240.*218"):
        CKKSParameters(8192, (60, 40, 40, 40, 60), 40)
    params = CKKSParameters(8192, (60, 40, 40, 40, 60), 40, allow_insecure=True)
    assert not params.is_secure
    assert params.depth == 3


def test_generate_refuses_insecure_parameters_even_when_allowed() -> None:
    params = CKKSParameters(8192, (60, 40, 40, 40, 60), 40, allow_insecure=True)
    with pytest.raises(InsecureParametersError):
        SealSecretKit.generate(params)


def test_slots_and_depth() -> None:
    assert PARAMS.slots == 4096
    assert PARAMS.depth == 3


@pytest.mark.parametrize(
    ("depth", "expected_n"),
    [(1, 8192), (2, 8192), (3, 16384), (7, 16384), (8, 32768), (19, 32768)],
)
def test_for_depth_picks_smallest_secure_degree(depth: int, expected_n: int) -> None:
    # rule: 120 + 40*depth bits must fit SECURITY_MAX_COEFF_BITS[N], N >= 8192
    params = CKKSParameters.for_depth(depth)
    assert params.poly_modulus_degree == expected_n
    assert params.coeff_modulus_bits == (60,) + (40,) * depth + (60,)
    assert params.depth == depth


def test_for_depth_rejects_depth_beyond_32768() -> None:
    with pytest.raises(InsecureParametersError, match=r"920.*881"):
        CKKSParameters.for_depth(20)


def test_for_depth_rejects_non_positive_depth() -> None:
    with pytest.raises(ParameterError):
        CKKSParameters.for_depth(0)


def test_for_depth_with_explicit_degree_checks_security() -> None:
    with pytest.raises(InsecureParametersError):
        CKKSParameters.for_depth(3, poly_modulus_degree=8192)
    assert CKKSParameters.for_depth(3, poly_modulus_degree=32768).poly_modulus_degree == 32768


def test_for_depth_honours_scale_bits() -> None:
    assert CKKSParameters.for_depth(3, scale_bits=30).poly_modulus_degree == 8192  # 120 + 90 = 210 <= 218
    assert CKKSParameters.for_depth(4, scale_bits=30).poly_modulus_degree == 16384  # 240 > 218


@settings(max_examples=40, deadline=None)
@given(
    n=st.sampled_from([8192, 16384, 32768]),
    scale=st.integers(20, 50),
    middle=st.lists(st.integers(50, 60), max_size=30),
)
def test_parameters_bytes_round_trip(n: int, scale: int, middle: list[int]) -> None:
    params = CKKSParameters(n, (60, *middle, 60), scale, allow_insecure=True)
    assert CKKSParameters.from_bytes(params.to_bytes(), allow_insecure=True) == params


@pytest.mark.parametrize(
    "mutate", [lambda b: b[:-1], lambda b: b + b"\0", lambda b: b"XXXX" + b[4:], lambda b: b[:4] + b"\x09" + b[5:]]
)
def test_parameters_from_bytes_is_strict(mutate: Callable[[bytes], object]) -> None:
    with pytest.raises(CorruptPayloadError):
        CKKSParameters.from_bytes(mutate(PARAMS.to_bytes()))  # type: ignore[arg-type]


def test_parameters_from_bytes_requires_opt_in_for_insecure() -> None:
    data = CKKSParameters(8192, (60, 40, 40, 40, 60), 40, allow_insecure=True).to_bytes()
    with pytest.raises(InsecureParametersError):
        CKKSParameters.from_bytes(data)
    assert CKKSParameters.from_bytes(data, allow_insecure=True).depth == 3


# ----------------------------------------------------------------------------- encryption and evaluation
def test_encrypt_decrypt_round_trip(kit: SealSecretKit) -> None:
    v = _vec(1)
    ct = kit.encrypt(v)
    assert kit.level(ct) == PARAMS.depth
    assert ct.scale == DELTA
    np.testing.assert_allclose(kit.decrypt(ct), v, atol=1e-6)


def test_encrypt_zero_pads_short_input(kit: SealSecretKit) -> None:
    out = kit.decrypt(kit.encrypt(np.array([1.5, -2.0, 3.25])))
    assert out.shape == (SLOTS,)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out[:3], [1.5, -2.0, 3.25], atol=1e-6)
    np.testing.assert_allclose(out[3:], 0.0, atol=1e-6)


def test_public_kit_encrypts_for_the_secret_kit(kit: SealSecretKit, public: SealPublicKit) -> None:
    v = _vec(2)
    np.testing.assert_allclose(kit.decrypt(public.encrypt(v)), v, atol=1e-6)


@pytest.mark.parametrize("bad", [np.zeros(SLOTS + 1), np.zeros((2, 2)), np.array([np.nan]), np.array([1j]), ["a"]])
def test_encrypt_rejects_bad_values(kit: SealSecretKit, bad: object) -> None:
    with pytest.raises(ParameterError):
        kit.encrypt(bad)


@pytest.mark.parametrize("step", [1, 5, -3, SLOTS - 1])
def test_rotate_is_left_rotation_like_np_roll(kit: SealSecretKit, step: int) -> None:
    v = _vec(3)
    np.testing.assert_allclose(kit.decrypt(kit.rotate(kit.encrypt(v), step)), np.roll(v, -step), atol=1e-5)


def test_rotate_works_at_the_lowest_level(kit: SealSecretKit) -> None:
    v = _vec(3)
    bottom = kit.mod_switch_to_level(kit.encrypt(v), 0)
    np.testing.assert_allclose(kit.decrypt(kit.rotate(bottom, 5)), np.roll(v, -5), atol=1e-5)


def test_rotate_by_multiple_of_slots_is_a_copy(kit: SealSecretKit) -> None:
    v = _vec(4)
    ct = kit.encrypt(v)
    out = kit.rotate(ct, 2 * SLOTS)
    assert out is not ct
    np.testing.assert_allclose(kit.decrypt(out), v, atol=1e-6)


def test_rotate_without_key_raises_missing_key(kit: SealSecretKit) -> None:
    with pytest.raises(MissingKeyError, match=r"step 2 .*steps held: \[1, 5, 4093, 4095\]"):
        kit.rotate(kit.encrypt(_vec(5)), 2)


def test_galois_keys_cover_exactly_the_reduced_steps(kit: SealSecretKit) -> None:
    bundle = kit.galois_keys([0, 7, -1, SLOTS + 7, 2 * SLOTS])
    assert bundle.steps == frozenset({7, SLOTS - 1})
    keys = bundle._keys_for(kit._sc, PARAMS.poly_modulus_degree)
    assert keys.size() == 2
    assert keys.has_key(pow(3, 7, 2 * PARAMS.poly_modulus_degree))
    assert not keys.has_key(pow(3, 1, 2 * PARAMS.poly_modulus_degree))


def test_rotation_steps_lists_held_keys(kit: SealSecretKit, public: SealPublicKit) -> None:
    expected = frozenset(s % SLOTS for s in STEPS)
    assert kit.rotation_steps == expected
    assert public.rotation_steps == expected


def test_add_matches_numpy(kit: SealSecretKit) -> None:
    v, w = _vec(6), _vec(7)
    np.testing.assert_allclose(kit.decrypt(kit.add(kit.encrypt(v), kit.encrypt(w))), v + w, atol=1e-4)


def test_sub_matches_numpy(kit: SealSecretKit) -> None:
    v, w = _vec(6), _vec(7)
    np.testing.assert_allclose(kit.decrypt(kit.sub(kit.encrypt(v), kit.encrypt(w))), v - w, atol=1e-4)


def test_add_plain_matches_numpy_and_keeps_level(kit: SealSecretKit) -> None:
    v, w = _vec(6), _vec(7)
    out = kit.add_plain(kit.encrypt(v), w)
    assert kit.level(out) == PARAMS.depth
    np.testing.assert_allclose(kit.decrypt(out), v + w, atol=1e-4)


def test_add_plain_at_lower_level_matches_numpy(kit: SealSecretKit) -> None:
    v, w = _vec(6), _vec(7)
    low = kit.mod_switch_to_level(kit.encrypt(v), 1)
    np.testing.assert_allclose(kit.decrypt(kit.add_plain(low, w)), v + w, atol=1e-4)


def test_add_and_sub_align_different_levels(kit: SealSecretKit) -> None:
    v, w, m = _vec(8), _vec(9), _vec(10)
    low = kit.multiply_plain(kit.multiply_plain(kit.encrypt(v), m), m)  # level 1
    high = kit.encrypt(w)  # level 3
    added, subbed = kit.add(high, low), kit.sub(low, high)
    assert kit.level(added) == kit.level(subbed) == 1
    np.testing.assert_allclose(kit.decrypt(added), w + v * m * m, atol=1e-4)
    np.testing.assert_allclose(kit.decrypt(subbed), v * m * m - w, atol=1e-4)


def test_successive_multiply_plain_matches_numpy(kit: SealSecretKit) -> None:
    v, m = _vec(11), _vec(12)
    ct, expected = kit.encrypt(v), v.copy()
    for level in (2, 1, 0):
        ct, expected = kit.multiply_plain(ct, m), expected * m
        assert kit.level(ct) == level
        assert ct.scale == DELTA
        np.testing.assert_allclose(kit.decrypt(ct), expected, atol=1e-4)


def test_multiply_matches_numpy_at_each_level(kit: SealSecretKit) -> None:
    v, w = _vec(13), _vec(14)
    ct, other, expected = kit.encrypt(v), kit.encrypt(w), v.copy()
    for level in (2, 1, 0):
        ct, expected = kit.multiply(ct, other), expected * w
        assert kit.level(ct) == level
        assert ct.scale == DELTA
        np.testing.assert_allclose(kit.decrypt(ct), expected, atol=1e-4)


def test_multiply_aligns_different_levels(kit: SealSecretKit) -> None:
    v, w, m = _vec(15), _vec(16), _vec(17)
    low = kit.multiply_plain(kit.encrypt(v), m)  # level 2
    out = kit.multiply(kit.encrypt(w), low)
    assert kit.level(out) == 1
    np.testing.assert_allclose(kit.decrypt(out), w * v * m, atol=1e-4)


def test_multiply_bias_equals_documented_rescale_drift(kit: SealSecretKit) -> None:
    v = np.full(SLOTS, 0.75)
    out = kit.decrypt(kit.multiply(kit.encrypt(v), kit.encrypt(v)))
    drift = kit.rescale_drift[PARAMS.depth]
    assert 0 < abs(drift) < 2**-20
    np.testing.assert_allclose(np.median(out) / 0.5625, 1 / (1 + drift), rtol=1e-7)


def test_public_kit_evaluates_like_secret_kit(kit: SealSecretKit, public: SealPublicKit) -> None:
    v, w = _vec(18), _vec(19)
    a, b = public.encrypt(v), public.encrypt(w)
    out = public.rotate(public.add_plain(public.multiply(public.multiply_plain(a, w), b), v), 5)
    np.testing.assert_allclose(kit.decrypt(out), np.roll(v * w * w + v, -5), atol=1e-4)


def test_operations_return_new_ciphertexts(kit: SealSecretKit) -> None:
    v = _vec(20)
    ct = kit.encrypt(v)
    results = [
        kit.add(ct, ct),
        kit.add_plain(ct, v),
        kit.multiply_plain(ct, v),
        kit.multiply(ct, ct),
        kit.rotate(ct, 1),
    ]
    results.append(kit.mod_switch_to_level(ct, kit.level(ct)))
    assert all(r is not ct for r in results)
    np.testing.assert_allclose(kit.decrypt(ct), v, atol=1e-6)
    assert kit.level(ct) == PARAMS.depth


def test_results_that_are_exactly_zero_are_fresh_encryptions(kit: SealSecretKit) -> None:
    ct = kit.encrypt(_vec(21))
    zero_sub, zero_mul = kit.sub(ct, ct), kit.multiply_plain(ct, np.zeros(SLOTS))
    assert (kit.level(zero_sub), kit.level(zero_mul)) == (3, 2)
    assert not zero_sub.is_transparent()
    assert not zero_mul.is_transparent()
    np.testing.assert_allclose(kit.decrypt(zero_sub), 0.0, atol=1e-6)
    np.testing.assert_allclose(kit.decrypt(zero_mul), 0.0, atol=1e-6)


def test_mod_switch_to_level_keeps_values(kit: SealSecretKit) -> None:
    v = _vec(22)
    out = kit.mod_switch_to_level(kit.encrypt(v), 0)
    assert kit.level(out) == 0
    np.testing.assert_allclose(kit.decrypt(out), v, atol=1e-6)


@pytest.mark.parametrize("level", [-1, PARAMS.depth + 1])
def test_mod_switch_to_level_rejects_out_of_range_levels(kit: SealSecretKit, level: int) -> None:
    with pytest.raises(ParameterError):
        kit.mod_switch_to_level(kit.encrypt(_vec(23)), level)


@pytest.mark.parametrize("op", ["multiply_plain", "multiply"])
def test_depth_exhausted_is_raised_before_any_work(
    kit: SealSecretKit, op: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    bottom = kit.mod_switch_to_level(kit.encrypt(_vec(24)), 0)
    monkeypatch.setattr(kit, "_evaluator", None)  # any SEAL call would now fail with AttributeError
    monkeypatch.setattr(kit, "_encoder", None)
    with pytest.raises(DepthExhaustedError) as info:
        getattr(kit, op)(bottom, np.ones(SLOTS) if op == "multiply_plain" else bottom)
    assert (info.value.needed, info.value.available) == (1, 0)


def test_multiply_refuses_primes_far_from_the_scale() -> None:
    wide = SealSecretKit.generate(CKKSParameters(8192, (60, 50, 60), 40))
    ct = wide.encrypt(_vec(25))
    np.testing.assert_allclose(wide.decrypt(wide.multiply_plain(ct, np.full(SLOTS, 2.0))), 2 * _vec(25), atol=1e-4)
    with pytest.raises(ParameterError, match="level 1"):
        wide.multiply(ct, ct)


def test_ciphertext_of_other_parameters_raises_key_mismatch(kit: SealSecretKit) -> None:
    small = SealSecretKit.generate(CKKSParameters(8192, (60, 40, 60), 40))
    with pytest.raises(KeyMismatchError):
        kit.add(kit.encrypt(_vec(26)), small.encrypt(_vec(26)))


def test_non_ciphertext_operand_raises_parameter_error(kit: SealSecretKit) -> None:
    with pytest.raises(ParameterError):
        kit.level(np.zeros(3))


# ----------------------------------------------------------------------------- keys, fingerprints, bytes
def test_fingerprint_differs_between_generated_kits(kit: SealSecretKit, other_kit: SealSecretKit) -> None:
    assert len(kit.fingerprint) == 32
    assert kit.fingerprint != other_kit.fingerprint


def test_fingerprint_is_stable_over_serialisation(kit: SealSecretKit, public: SealPublicKit) -> None:
    assert public.fingerprint == kit.fingerprint
    assert SealSecretKit.from_bytes(kit.to_bytes()).fingerprint == kit.fingerprint
    assert SealPublicKit.from_bytes(public.to_bytes()).fingerprint == kit.fingerprint


def test_secret_kit_bytes_round_trip_decrypts(kit: SealSecretKit) -> None:
    v = _vec(27)
    restored = SealSecretKit.from_bytes(kit.to_bytes())
    np.testing.assert_allclose(restored.decrypt(kit.encrypt(v)), v, atol=1e-6)
    np.testing.assert_allclose(
        kit.decrypt(restored.multiply(restored.encrypt(v), restored.encrypt(v))), v * v, atol=1e-4
    )


def test_public_kit_bytes_hold_no_secret_key(kit: SealSecretKit, public: SealPublicKit) -> None:
    data = public.to_bytes()
    loaded = SealPublicKit.from_bytes(data)
    assert not hasattr(loaded, "decrypt")
    assert not loaded._ctx.has_secret_key()
    assert loaded._ctx.is_public()
    with pytest.raises(CorruptPayloadError):
        SealSecretKit.from_bytes(data)


def test_public_kit_bytes_do_not_contain_the_serialised_secret_key(kit: SealSecretKit, public: SealPublicKit) -> None:
    secret_key = seal_save(kit._ctx.secret_key().data)[100:164]
    assert secret_key in kit.to_bytes()  # positive control: the secret kit payload does carry it
    assert secret_key not in public.to_bytes()


def test_public_kit_bytes_carry_galois_keys(kit: SealSecretKit, public: SealPublicKit) -> None:
    loaded = SealPublicKit.from_bytes(public.to_bytes())
    assert loaded.rotation_steps == public.rotation_steps
    v = _vec(28)
    np.testing.assert_allclose(kit.decrypt(loaded.rotate(loaded.encrypt(v), -3)), np.roll(v, 3), atol=1e-5)


def test_public_kit_from_bytes_refuses_a_secret_context(kit: SealSecretKit) -> None:
    forged = b"SCEK" + kit.to_bytes()[4:] + b"\0\0\0\0"  # secret context behind a public-kit header
    with pytest.raises(CorruptPayloadError, match="secret key"):
        SealPublicKit.from_bytes(forged)


@pytest.mark.parametrize("cut", [0, 10, 200, -1])
def test_kit_from_bytes_rejects_truncation(kit: SealSecretKit, cut: int) -> None:
    data = kit.to_bytes()
    with pytest.raises(CorruptPayloadError):
        SealSecretKit.from_bytes(data[:cut])


def test_ciphertext_bytes_round_trip(kit: SealSecretKit, public: SealPublicKit) -> None:
    v = _vec(29)
    ct = kit.multiply_plain(kit.encrypt(v), v)
    restored = public.ciphertext_from_bytes(kit.ciphertext_to_bytes(ct))
    assert public.level(restored) == 2
    np.testing.assert_allclose(kit.decrypt(restored), v * v, atol=1e-5)


def test_ciphertext_from_kit_with_same_params_loads_but_is_garbage(
    kit: SealSecretKit, other_kit: SealSecretKit
) -> None:
    # SEAL only checks parameters, not keys: callers must compare fingerprints.
    foreign = kit.ciphertext_from_bytes(other_kit.ciphertext_to_bytes(other_kit.encrypt(np.ones(SLOTS))))
    assert np.abs(kit.decrypt(foreign) - 1.0).max() > 1.0


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b"",
        lambda b: b"garbage",
        lambda b: b[:100],
        lambda b: b[:-1],
        lambda b: b + b"x",
        lambda b: b[:5000] + bytes(100) + b[5100:],
        lambda b: "not bytes",
    ],
)
def test_ciphertext_from_bytes_rejects_corrupt_bytes(kit: SealSecretKit, mutate: Callable[[bytes], object]) -> None:
    data = kit.ciphertext_to_bytes(kit.encrypt(_vec(30)))
    with pytest.raises(CorruptPayloadError):
        kit.ciphertext_from_bytes(mutate(data))  # type: ignore[arg-type]


def test_ciphertext_from_bytes_rejects_other_parameters(kit: SealSecretKit) -> None:
    small = SealSecretKit.generate(CKKSParameters(8192, (60, 40, 60), 40))
    with pytest.raises(CorruptPayloadError):
        kit.ciphertext_from_bytes(small.ciphertext_to_bytes(small.encrypt(_vec(31))))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(position=st.integers(0, 10**9), value=st.integers(0, 255))
def test_ciphertext_from_bytes_never_leaks_seal_errors(kit: SealSecretKit, position: int, value: int) -> None:
    data = bytearray(kit.ciphertext_to_bytes(kit.mod_switch_to_level(kit.encrypt(_vec(32)), 0)))
    data[position % len(data)] = value
    with contextlib.suppress(CorruptPayloadError):
        kit.ciphertext_from_bytes(bytes(data))


def test_galois_bundle_from_other_kit_raises_key_mismatch(kit: SealSecretKit, other_kit: SealSecretKit) -> None:
    with pytest.raises(KeyMismatchError):
        kit.public_kit().add_galois_keys(other_kit.galois_keys([2]))


def test_galois_bundle_bytes_round_trip(kit: SealSecretKit) -> None:
    bundle = kit.galois_keys([2, -2])
    data = bundle.to_bytes()
    assert bundle.nbytes == len(data)
    restored = GaloisKeyBundle.from_bytes(data)
    assert (restored.fingerprint, restored.steps) == (kit.fingerprint, frozenset({2, SLOTS - 2}))
    evaluator = kit.public_kit()
    evaluator.add_galois_keys(restored)
    v = _vec(33)
    np.testing.assert_allclose(kit.decrypt(evaluator.rotate(evaluator.encrypt(v), -2)), np.roll(v, 2), atol=1e-5)


def test_empty_galois_bundle_round_trips(kit: SealSecretKit) -> None:
    bundle = GaloisKeyBundle.from_bytes(kit.galois_keys([0, SLOTS]).to_bytes())
    assert bundle.steps == frozenset()
    kit.public_kit().add_galois_keys(bundle)


@pytest.mark.parametrize("cut", [3, 40, 60, -1])
def test_galois_bundle_from_bytes_rejects_truncation(kit: SealSecretKit, cut: int) -> None:
    data = kit.galois_keys([3]).to_bytes()
    with pytest.raises(CorruptPayloadError):
        GaloisKeyBundle.from_bytes(data[:cut])


def test_galois_bundle_with_corrupt_keys_is_refused_when_added(kit: SealSecretKit) -> None:
    data = bytearray(kit.galois_keys([3]).to_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = bytes(64)
    bundle = GaloisKeyBundle.from_bytes(bytes(data))
    with pytest.raises(CorruptPayloadError):
        kit.public_kit().add_galois_keys(bundle)


def test_galois_bundle_declaring_a_step_beyond_the_slots_is_refused(kit: SealSecretKit) -> None:
    data = bytearray(kit.galois_keys([3]).to_bytes())
    data[41:45] = (3 + SLOTS).to_bytes(4, "little")  # the key for 3 relabelled 3 + S: same Galois element
    bundle = GaloisKeyBundle.from_bytes(bytes(data))
    public = kit.public_kit()
    with pytest.raises(CorruptPayloadError, match="steps"):
        public.add_galois_keys(bundle)
    assert max(public.rotation_steps, default=0) < SLOTS


def test_serialisation_falls_back_to_the_default_temp_dir(kit: SealSecretKit, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("securecompute.fhe.seal_io.SHARED_MEMORY", "/nonexistent-shm")
    v = _vec(34)
    np.testing.assert_allclose(
        kit.decrypt(kit.ciphertext_from_bytes(kit.ciphertext_to_bytes(kit.encrypt(v)))), v, atol=1e-6
    )
