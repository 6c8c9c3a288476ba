"""Refusals and identities found in review: step 0, keys of other parameters, malformed plaintexts and scales, reprs."""

from __future__ import annotations

import numpy as np
import pytest
from tenseal import sealapi

from securecompute.ckks import (
    Ciphertext,
    CKKSEncoder,
    CKKSParameters,
    Decryptor,
    Evaluator,
    KeyGenerator,
    Plaintext,
    RandomSource,
)
from securecompute.ckks.seal_import import ciphertext_from_seal
from securecompute.errors import ParameterError, ShapeError
from tests.ckks.conftest import SealWorld
from tests.ckks.test_seal_ops import assert_same

SMALL = CKKSParameters.from_bit_sizes(64, [30, 30, 30], allow_insecure=True)
OTHER = CKKSParameters.from_bit_sizes(64, [31, 31, 31], allow_insecure=True)  # same N and K, other primes


def test_rotation_by_zero_is_the_identity_even_with_a_conjugation_key(world_8192: SealWorld) -> None:
    """SEAL's rotate_vector(0) returns its input; Galois element 2N-1 (conjugation) must not be applied."""
    evaluator = Evaluator(world_8192.params, galois_keys=world_8192.ours_galois)
    assert 2 * world_8192.params.n - 1 in world_8192.ours_galois.keys
    values = np.random.default_rng(30).uniform(-1, 1, 64) + 1j * np.random.default_rng(31).uniform(-1, 1, 64)
    plain = sealapi.Plaintext()
    world_8192.encoder.encode(list(values), 2.0**40, plain)
    seal_cipher = sealapi.Ciphertext()
    world_8192.encryptor.encrypt(plain, seal_cipher)
    rotated = sealapi.Ciphertext()
    world_8192.evaluator.rotate_vector(seal_cipher, 0, world_8192.galois_keys, rotated)
    assert_same(evaluator.rotate(ciphertext_from_seal(seal_cipher), 0), rotated)


def test_keys_of_other_parameters_are_refused() -> None:
    ours, theirs = KeyGenerator(SMALL, RandomSource(bytes(64))), KeyGenerator(OTHER, RandomSource(bytes(64)))
    with pytest.raises(ParameterError, match="relin_key belong to other parameters"):
        Evaluator(SMALL, relin_key=theirs.relin_key())
    with pytest.raises(ParameterError, match="Galois key for element 3"):
        Evaluator(SMALL, ours.relin_key(), theirs.galois_keys([1]))
    Evaluator(SMALL, ours.relin_key(), ours.galois_keys([1]))  # its own keys are accepted


def test_malformed_plaintexts_and_scales_are_refused() -> None:
    evaluator = Evaluator(SMALL)
    cipher = Ciphertext(np.zeros((2, 2, 64), dtype=np.uint64), 2.0**20)
    wide = Plaintext(np.zeros((2, 128), dtype=np.uint64), 2.0**20)
    with pytest.raises(ShapeError, match="N=64"):
        evaluator.add_plain(cipher, wide)
    with pytest.raises(ShapeError, match="N=64"):
        evaluator.multiply_plain(cipher, wide)
    with pytest.raises(ShapeError, match="must be a Plaintext"):
        evaluator.multiply_plain(cipher, cipher)  # type: ignore[arg-type]
    for scale in (float("nan"), float("inf"), 0.0, -1.0):
        with pytest.raises(ParameterError, match="finite positive"):
            evaluator.add(Ciphertext(cipher.data, scale), Ciphertext(cipher.data, scale))
        with pytest.raises(ParameterError, match="finite positive"):
            evaluator.rescale(Ciphertext(cipher.data, scale))
    plain = CKKSEncoder(SMALL).encode([0.5], 2.0**20)
    with pytest.raises(ParameterError, match="finite positive"):
        evaluator.add_plain(cipher, Plaintext(plain.data, float("nan")))
    for data in ([[1, 2]], None, 3):  # not arrays: refused by name, not an AttributeError
        with pytest.raises(ShapeError, match="plaintext data must be a uint64 array"):
            evaluator.multiply_plain(cipher, Plaintext(data, 2.0**20))  # type: ignore[arg-type]
        with pytest.raises(ShapeError, match="ciphertext data must be a uint64 array"):
            evaluator.negate(Ciphertext(data, 2.0**20))


def test_secret_key_repr_hides_the_key() -> None:
    secret = KeyGenerator(SMALL, RandomSource(bytes(64))).secret_key
    text = repr(secret)
    assert "data" not in text
    assert str(int(secret.data[0, 0])) not in text


def test_decryptor_refuses_malformed_ciphertexts() -> None:
    decryptor = Decryptor(KeyGenerator(SMALL, RandomSource(bytes(64))).secret_key)
    with pytest.raises(ShapeError, match="uint64"):
        decryptor.decrypt(Ciphertext(np.zeros((2, 2, 64), dtype=np.int64), 2.0**20))
    with pytest.raises(ShapeError, match="size >= 2"):
        decryptor.decrypt(Ciphertext(np.zeros((1, 2, 64), dtype=np.uint64), 2.0**20))
    with pytest.raises(ShapeError, match="must be a Ciphertext"):
        decryptor.decrypt(np.zeros((2, 2, 64), dtype=np.uint64))  # type: ignore[arg-type]
