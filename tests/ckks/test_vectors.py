"""Known-answer vectors made by SEAL itself (protocols/vectors/ckks/seal_ops.json), replayed without SEAL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from securecompute.ckks import (
    Ciphertext,
    CKKSEncoder,
    CKKSParameters,
    Decryptor,
    Evaluator,
    GaloisKeys,
    KeySwitchingKey,
    Plaintext,
    SecretKey,
)

VECTOR: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[2] / "protocols" / "vectors" / "ckks" / "seal_ops.json").read_text()
)


def _array(words: list[Any]) -> np.ndarray:
    return np.array(words, dtype=np.uint64)


@pytest.fixture(scope="module")
def params() -> CKKSParameters:
    return CKKSParameters(VECTOR["n"], tuple(VECTOR["moduli"]), allow_insecure=True)


@pytest.fixture(scope="module")
def evaluator(params: CKKSParameters) -> Evaluator:
    relin = KeySwitchingKey(params, _array(VECTOR["relin_key"]))
    galois = GaloisKeys(params, {VECTOR["galois_element"]: KeySwitchingKey(params, _array(VECTOR["galois_key"]))})
    return Evaluator(params, relin, galois)


def _input(index: int) -> Ciphertext:
    return Ciphertext(_array(VECTOR["inputs"][index]), VECTOR["scale"])


def _plain(index: int) -> Plaintext:
    return Plaintext(_array(VECTOR["plaintexts"][index]), VECTOR["scale"])


def _expect(name: str, ours: Ciphertext) -> None:
    expected = VECTOR["results"][name]
    assert np.array_equal(ours.data, _array(expected["data"]))
    assert ours.scale == expected["scale"]


def test_encoder_reproduces_seal_plaintexts(params: CKKSParameters) -> None:
    encoder = CKKSEncoder(params)
    for values, plain in zip(VECTOR["values"], VECTOR["plaintexts"], strict=True):
        assert np.array_equal(encoder.encode(np.array(values), VECTOR["scale"]).data, _array(plain))


def test_operations_reproduce_seal(evaluator: Evaluator) -> None:
    a, b = _input(0), _input(1)
    _expect("add", evaluator.add(a, b))
    _expect("multiply_plain", evaluator.multiply_plain(a, _plain(1)))
    _expect("multiply", evaluator.multiply(a, b))
    _expect("relinearize", evaluator.relinearize(evaluator.multiply(a, b)))
    _expect("mod_switch_to_next", evaluator.mod_switch(a))
    _expect("rescale_to_next", evaluator.rescale(a))
    _expect("rotate", evaluator.rotate(a, VECTOR["step"]))
    _expect("rotate", evaluator.rotate_many(a, [VECTOR["step"]])[0])


def test_secret_key_decrypts_the_inputs(params: CKKSParameters) -> None:
    decryptor = Decryptor(SecretKey(params, _array(VECTOR["secret_key"])))
    encoder = CKKSEncoder(params)
    for index, values in enumerate(VECTOR["values"]):
        decoded = encoder.decode(decryptor.decrypt(_input(index)))
        assert np.max(np.abs(decoded.real - np.array(values))) < 1e-3
