"""The JAX engine (its transforms jitted through cross's JaxNTT, CPU here) gives the numpy engine's words.

JAX's NTT runs the fast GEMM mode only (primes up to about 40 bits at these sizes), so the chain here is
(40, 30, 30, 40) instead of SEAL's 60-bit default; SEAL-exactness of the numpy engine is tested elsewhere.
"""

from __future__ import annotations

import numpy as np
import pytest

from securecompute.ckks import CKKSEncoder, CKKSParameters, Encryptor, Evaluator, KeyGenerator, RandomSource
from securecompute.errors import NotAvailableError

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


def test_jax_engine_refuses_sixty_bit_primes() -> None:
    params = CKKSParameters.from_bit_sizes(8192, [60, 40, 40, 60])
    with pytest.raises(NotAvailableError, match="fast mode"):
        Evaluator(params, backend="jax")
