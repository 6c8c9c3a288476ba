"""Our own keys, encryption and decryption: round trips with measured precision, SEAL's decryption, samplers.

Randomness: every test seeds :class:`RandomSource` with fixed bytes (documented test seeds: equal
seeds give equal keys, which is what a test wants and a deployment must never do).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from tenseal import sealapi

from securecompute.ckks import (
    CKKSEncoder,
    CKKSParameters,
    Decryptor,
    Encryptor,
    Evaluator,
    KeyGenerator,
    RandomSource,
)
from securecompute.ckks.sampling import sample_noise, sample_ternary, sample_uniform
from securecompute.ckks.seal_import import ciphertext_from_seal, plaintext_from_seal
from securecompute.errors import ParameterError
from tests.ckks.conftest import SealWorld

SCALE = 2.0**40
TEST_SEED = bytes(range(64))  # fixed test seed


@pytest.fixture(scope="module")
def scheme() -> dict[str, Any]:
    params = CKKSParameters.from_bit_sizes(8192, [60, 40, 40, 60])
    keygen = KeyGenerator(params, RandomSource(TEST_SEED))
    return {
        "params": params,
        "encoder": CKKSEncoder(params),
        "encryptor": Encryptor(keygen.public_key(), RandomSource(bytes(64))),
        "decryptor": Decryptor(keygen.secret_key),
        "evaluator": Evaluator(params, keygen.relin_key(), keygen.galois_keys([1, -3])),
    }


def _values(seed: int, count: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, count)  # test data only


def test_encrypt_decrypt_round_trip_precision(scheme: dict[str, Any]) -> None:
    values = _values(1, scheme["params"].slots)
    cipher = scheme["encryptor"].encrypt(scheme["encoder"].encode(values, SCALE))
    decoded = scheme["encoder"].decode(scheme["decryptor"].decrypt(cipher))
    error = np.max(np.abs(decoded - values))
    assert error < 2.0**-25  # measured about 2^-30 at scale 2^40 (fresh noise ~ tens of units / 2^40 * N)


def test_encryption_at_a_lower_level(scheme: dict[str, Any]) -> None:
    values = _values(2, 100)
    cipher = scheme["encryptor"].encrypt(scheme["encoder"].encode(values, SCALE, level=0))
    assert cipher.level == 0
    decoded = scheme["encoder"].decode(scheme["decryptor"].decrypt(cipher))[:100]
    assert np.max(np.abs(decoded - values)) < 2.0**-25


def test_multiply_relinearize_rescale_with_our_keys(scheme: dict[str, Any]) -> None:
    a, b = _values(3, 4096), _values(4, 4096)
    encoder, evaluator = scheme["encoder"], scheme["evaluator"]
    left = scheme["encryptor"].encrypt(encoder.encode(a, SCALE))
    right = scheme["encryptor"].encrypt(encoder.encode(b, SCALE))
    product = evaluator.rescale(evaluator.relinearize(evaluator.multiply(left, right)))
    decoded = encoder.decode(scheme["decryptor"].decrypt(product))
    assert np.max(np.abs(decoded - a * b)) < 2.0**-15


def test_rotations_with_our_keys_and_hoisting(scheme: dict[str, Any]) -> None:
    values = _values(5, 4096)
    encoder, evaluator = scheme["encoder"], scheme["evaluator"]
    cipher = scheme["encryptor"].encrypt(encoder.encode(values, SCALE))
    single = [evaluator.rotate(cipher, step) for step in (1, -3)]
    hoisted = evaluator.rotate_many(cipher, [1, -3])
    for step, one, many in zip((1, -3), single, hoisted, strict=True):
        assert np.array_equal(one.data, many.data)
        decoded = encoder.decode(scheme["decryptor"].decrypt(one)).real
        assert np.max(np.abs(decoded - np.roll(values, -step))) < 2.0**-20


def test_decrypt_matches_seal_decryptor(world_8192: SealWorld) -> None:
    cipher = world_8192.encrypt(_values(6, 64), SCALE)
    product = sealapi.Ciphertext()
    world_8192.evaluator.multiply(cipher, cipher, product)  # size 3: c0 + c1 s + c2 s^2
    decryptor = sealapi.Decryptor(world_8192.context, world_8192.secret_key_seal)
    for seal_cipher in (cipher, product):
        expected = sealapi.Plaintext()
        decryptor.decrypt(seal_cipher, expected)
        ours = Decryptor(world_8192.secret_key).decrypt(ciphertext_from_seal(seal_cipher))
        assert np.array_equal(ours.data, plaintext_from_seal(expected, world_8192.params.n).data)


def test_same_seed_same_keys_other_seed_other_keys() -> None:
    params = CKKSParameters.from_bit_sizes(4096, [36, 36, 36])
    first = KeyGenerator(params, RandomSource(TEST_SEED)).public_key().data
    again = KeyGenerator(params, RandomSource(TEST_SEED)).public_key().data
    other = KeyGenerator(params, RandomSource(bytes(64))).public_key().data
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


def test_samplers_have_the_stated_distributions() -> None:
    source = RandomSource(TEST_SEED)
    ternary = sample_ternary(source, 30000)
    counts = np.bincount(ternary + 1, minlength=3)
    assert set(np.unique(ternary)) <= {-1, 0, 1}
    assert np.all(np.abs(counts - 10000) < 400)  # about 5 standard deviations
    noise = sample_noise(source, 30000)
    assert noise.min() >= -21
    assert noise.max() <= 21
    assert abs(noise.var() - 10.5) < 0.5
    q = (1 << 59) + 1  # any odd modulus: the sampler does not need a prime
    uniform = sample_uniform(source, (q, 97), 30000)
    assert int(uniform[0].max()) < q
    assert int(uniform[1].max()) < 97
    assert abs(float(uniform[1].mean()) - 48) < 1.0


def test_random_source_refuses_a_short_seed() -> None:
    with pytest.raises(ParameterError, match="64 bytes"):
        RandomSource(b"short")


def test_fresh_sources_differ() -> None:
    assert RandomSource().take(32) != RandomSource().take(32)
