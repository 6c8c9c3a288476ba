"""The JAX engine (its transforms jitted through cross's JaxNTT, CPU here) gives the numpy engine's words.

Two chains: (40, 30, 30, 40), whose primes the JAX NTT's fast mode holds, checked against the numpy
engine; and SEAL's (60, 40, 40, 60), whose 60-bit primes run the JAX wide-mode NTT
(:mod:`securecompute.cross.jax_wide`), checked against SEAL itself on SEAL's keys.
"""

from __future__ import annotations

import numpy as np
import pytest
from tenseal import sealapi

from securecompute.ckks import CKKSEncoder, CKKSParameters, Encryptor, Evaluator, KeyGenerator, RandomSource
from securecompute.ckks.seal_import import ciphertext_from_seal
from securecompute.cross.jax_wide import JaxWideNTT
from securecompute.cross.ntt import NTT
from securecompute.errors import ParameterError
from tests.ckks.conftest import SealWorld
from tests.ckks.test_seal_ops import assert_same

pytest.importorskip("jax", reason="the JAX engine needs the optional extra [jax]")


@pytest.fixture(scope="module")
def engines() -> tuple[Evaluator, Evaluator, object]:
    params = CKKSParameters.from_bit_sizes(8192, [40, 30, 30, 40])
    keygen = KeyGenerator(params, RandomSource(bytes(range(64))))  # fixed test seed
    relin, galois = keygen.relin_key(), keygen.galois_keys([1, 7])
    encryptor = Encryptor(keygen.public_key(), RandomSource(bytes(64)))
    values = np.random.default_rng(1).uniform(-1, 1, 4096)  # test data only
    cipher = encryptor.encrypt(CKKSEncoder(params).encode(values, 2.0**30))
    return Evaluator(params, relin, galois), Evaluator(params, relin, galois, backend="jax"), cipher


def test_jax_engine_equals_numpy_engine(engines: tuple[Evaluator, Evaluator, object]) -> None:
    numpy_engine, jax_engine, cipher = engines
    for run in (
        lambda e: e.relinearize(e.multiply(cipher, cipher)),
        lambda e: e.rescale(cipher),
        lambda e: e.rotate(cipher, 7),
        lambda e: e.rotate_many(cipher, [1, 7])[1],
    ):
        assert np.array_equal(run(numpy_engine).data, run(jax_engine).data)


def test_jax_engine_on_seals_chain_equals_seal(world_8192: SealWorld) -> None:
    """SEAL's (60, 40, 40, 60) chain: the 60-bit primes run the JAX wide-mode NTT; words equal SEAL's."""
    evaluator = Evaluator(world_8192.params, world_8192.relin_key, world_8192.ours_galois, backend="jax")
    values = np.random.default_rng(2).uniform(-1, 1, 4096)  # test data only
    a = world_8192.encrypt(values, 2.0**40)
    ours = ciphertext_from_seal(a)
    product, relinearized, rescaled, rotated = (sealapi.Ciphertext() for _ in range(4))
    world_8192.evaluator.multiply(a, a, product)
    world_8192.evaluator.relinearize(product, world_8192.relin_keys, relinearized)
    world_8192.evaluator.rescale_to_next(relinearized, rescaled)
    world_8192.evaluator.rotate_vector(a, 5, world_8192.galois_keys, rotated)
    relinearized_ours = evaluator.relinearize(evaluator.multiply(ours, ours))
    assert_same(relinearized_ours, relinearized)
    assert_same(evaluator.rescale(relinearized_ours), rescaled)
    assert_same(evaluator.rotate(ours, 5), rotated)
    assert_same(evaluator.rotate_many(ours, [5])[0], rotated)


def test_jax_wide_ntt_refuses_a_fast_mode_ntt() -> None:
    params = CKKSParameters.from_bit_sizes(8192, [40, 30, 30, 40])
    with pytest.raises(ParameterError, match="wide-mode"):
        JaxWideNTT(NTT(8192, params.moduli))
