"""The JAX engine (every op one jitted program, data on the device; CPU here) gives the numpy engine's words.

Two chains: (40, 30, 30, 40), whose primes the JAX NTT's fast mode holds, and SEAL's (60, 40, 40, 60),
whose 60-bit primes run the JAX wide-mode NTT (:mod:`securecompute.cross.jax_wide`).  Every op is
checked against the numpy engine on ciphertexts that stay on the device through several ops in a row
(under :func:`tests.ckks.device_guard.host_copies_refused`: JAX's transfer guard, plus numpy's
conversions of device arrays, which the guard does not see on the CPU backend), and against SEAL itself
on SEAL's keys.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from tenseal import sealapi

from securecompute.ckks import (
    Ciphertext,
    CKKSEncoder,
    CKKSParameters,
    Encryptor,
    Evaluator,
    KeyGenerator,
    Plaintext,
    RandomSource,
)
from securecompute.ckks.seal_import import ciphertext_from_seal
from securecompute.cross.jax_wide import JaxWideNTT
from securecompute.cross.ntt import NTT
from securecompute.errors import ParameterError
from tests.ckks.conftest import SealWorld
from tests.ckks.device_guard import host_copies_refused
from tests.ckks.test_seal_ops import assert_same

jax = pytest.importorskip("jax", reason="the JAX engine needs the optional extra [jax]")

CHAINS = {"fast": (8192, [40, 30, 30, 40]), "wide": (4096, [60, 40, 40, 60])}


class Pair:
    """The numpy and JAX engines on one set of keys, with two ciphertexts and a plaintext."""

    def __init__(self, n: int, bits: list[int]) -> None:
        params = CKKSParameters.from_bit_sizes(n, bits, allow_insecure=True)  # arithmetic test: N=4096 at 200 bits
        keygen = KeyGenerator(params, RandomSource(bytes(range(64))))  # fixed test seed
        relin, galois = keygen.relin_key(), keygen.galois_keys([1, 7, -3, 4], conjugate=True)
        encryptor, encoder = Encryptor(keygen.public_key(), RandomSource(bytes(64))), CKKSEncoder(params)
        rng = np.random.default_rng(n)  # test data only
        self.scale = 2.0 ** bits[1]
        self.a = encryptor.encrypt(encoder.encode(rng.uniform(-1, 1, n // 2), self.scale))
        self.b = encryptor.encrypt(encoder.encode(rng.uniform(-1, 1, n // 2), self.scale))
        self.plain = encoder.encode(rng.uniform(-1, 1, n // 2), self.scale)
        self.numpy = Evaluator(params, relin, galois)
        self.jax = Evaluator(params, relin, galois, backend="jax")


@pytest.fixture(scope="module", params=sorted(CHAINS))
def pair(request: pytest.FixtureRequest) -> Pair:
    return Pair(*CHAINS[request.param])


def _workload(e: Evaluator, a: Ciphertext, b: Ciphertext, plain: Plaintext) -> list[Ciphertext]:
    """Every op, each on the previous ones' results (so the JAX engine's data stays on the device)."""
    product = e.multiply(a, b)
    relinearized = e.relinearize(product)
    rescaled = e.rescale(relinearized)
    doubled = e.add(rescaled, rescaled)
    difference = e.sub(doubled, e.rotate(doubled, 1))
    hoisted = e.rotate_many(difference, [1, 7, 0, -3, 7])
    conjugated = e.conjugate(hoisted[1])
    lowered = e.mod_switch(a)
    return [
        product,
        relinearized,
        rescaled,
        doubled,
        difference,
        *hoisted,
        conjugated,
        e.negate(conjugated),
        lowered,
        e.add(lowered, e.mod_switch(b)),
        e.add_plain(a, plain),
        e.multiply(a, product),  # size 2 x size 3
        e.add(product, e.multiply_plain(a, plain)),  # sizes 3 + 2
        e.rotate(a, 5),  # no key for 5: NAF 1 + 4, two key switches
        e.dot_plain([a, b, a], [plain, plain, plain]),
        e.multiply_plain(lowered, e.mod_switch_plain(plain, 1)),  # the plaintext truncated on the device
        e.mod_switch_to(e.rescale(e.multiply_plain(a, plain)), 0),
    ]


def test_every_op_equals_the_numpy_engine_on_device_resident_data(pair: Pair, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = _workload(pair.numpy, pair.a, pair.b, pair.plain)
    a, b = pair.jax.on_engine(pair.a), pair.jax.on_engine(pair.b)
    plain = pair.jax.on_engine(pair.plain)
    _workload(pair.jax, a, b, plain)  # compile and upload the keys
    with host_copies_refused(monkeypatch):  # any host <-> device copy inside or between ops raises
        got = _workload(pair.jax, a, b, plain)
    assert len(got) == len(expected)
    for index, (left, right) in enumerate(zip(expected, got, strict=True)):
        assert isinstance(right.data, jax.Array), index
        assert right.scale == left.scale, index
        assert np.array_equal(np.asarray(right.data), left.data), index


def test_dot_plain_is_multiply_plain_then_add(pair: Pair) -> None:
    e = pair.numpy
    expected = e.add(
        e.add(e.multiply_plain(pair.a, pair.plain), e.multiply_plain(pair.b, pair.plain)),
        e.multiply_plain(pair.a, pair.plain),
    )
    ours = e.dot_plain([pair.a, pair.b, pair.a], [pair.plain, pair.plain, pair.plain])
    assert ours.scale == expected.scale
    assert np.array_equal(ours.data, expected.data)
    with pytest.raises(ParameterError, match="as many plaintexts"):
        e.dot_plain([pair.a], [])


def test_numpy_inputs_are_accepted_and_results_stay_on_the_device(pair: Pair) -> None:
    ops: list[Callable[[Evaluator], Any]] = [
        lambda e: e.add(pair.a, pair.b),
        lambda e: e.multiply_plain(pair.a, pair.plain),
        lambda e: e.rotate(pair.a, 7),
        lambda e: e.add_scalar(pair.b, 0.25),  # encoded on the host, added on the device
    ]
    for op in ops:
        ours = op(pair.jax)
        assert isinstance(ours.data, jax.Array)
        assert np.array_equal(np.asarray(ours.data), op(pair.numpy).data)


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
    assert_same(_host(relinearized_ours), relinearized)
    assert_same(_host(evaluator.rescale(relinearized_ours)), rescaled)
    assert_same(_host(evaluator.rotate(ours, 5)), rotated)
    assert_same(_host(evaluator.rotate_many(ours, [5])[0]), rotated)


def _host(ciphertext: Ciphertext) -> Ciphertext:
    return Ciphertext(np.asarray(ciphertext.data), ciphertext.scale)


def test_jax_wide_ntt_refuses_a_fast_mode_ntt() -> None:
    params = CKKSParameters.from_bit_sizes(8192, [40, 30, 30, 40])
    with pytest.raises(ParameterError, match="wide-mode"):
        JaxWideNTT(NTT(8192, params.moduli))


SECOND_DEVICE_SCRIPT = """
import numpy as np, jax
from securecompute.ckks import CKKSEncoder, CKKSParameters, Encryptor, Evaluator, KeyGenerator, RandomSource
params = CKKSParameters.from_bit_sizes(64, [14, 14, 14, 14], allow_insecure=True)
keygen = KeyGenerator(params, RandomSource(bytes(64)))  # fixed test seed
relin, galois = keygen.relin_key(), keygen.galois_keys([1, 3])
numpy_engine = Evaluator(params, relin, galois)
second = jax.devices()[1]
ours = Evaluator(params, relin, galois, backend="jax", device=second)
encryptor = Encryptor(keygen.public_key(), RandomSource(bytes(range(64))))
a = encryptor.encrypt(CKKSEncoder(params).encode(np.linspace(-1, 1, 32), 2.0**14))
def workload(e, a):
    product = e.rescale(e.relinearize(e.multiply(a, a)))
    return [product, e.rotate(a, 1), *e.rotate_many(a, [1, 3])]
on_device = ours.on_engine(a)
for expected, got in zip(workload(numpy_engine, a), workload(ours, on_device), strict=True):
    assert got.data.devices() == {second}, got.data.devices()
    assert np.array_equal(np.asarray(got.data), expected.data)
print("ok")
"""


def test_an_engine_on_a_second_device_keeps_keys_constants_and_results_there() -> None:
    """Two XLA CPU devices in a fresh process: an Evaluator on the second one gives the numpy words there
    (its NTT constants and keys go to that device, not the default one)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu"}
    env["PYTHONPATH"] = os.pathsep.join([root, env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-c", SECOND_DEVICE_SCRIPT], env=env, capture_output=True, text=True, timeout=300, cwd=root
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "ok"


def test_a_device_is_refused_with_the_numpy_backend() -> None:
    params = CKKSParameters.from_bit_sizes(64, [14, 14, 14], allow_insecure=True)
    with pytest.raises(ParameterError, match=r"device=.* is for backend='jax' only"):
        Evaluator(params, backend="numpy", device=jax.devices()[0])


def test_a_replaced_key_is_used_and_its_device_copy_freed() -> None:
    """A Galois key replaced by another (a client re-sending keys) is the one used; the old key and its
    device copies are not kept alive by the engine's cache."""
    import gc
    import weakref

    from securecompute.ckks import GaloisKeys
    from securecompute.ckks.ring import galois_element

    params = CKKSParameters.from_bit_sizes(64, [14, 14, 14, 14], allow_insecure=True)
    element = galois_element(1, params.n)
    first, second = (KeyGenerator(params, RandomSource(bytes([seed]) * 64)) for seed in (1, 2))  # test seeds
    keys = GaloisKeys(params, {element: first.galois_keys([1]).key(element)})
    ours = Evaluator(params, galois_keys=keys, backend="jax")
    encryptor = Encryptor(first.public_key(), RandomSource(bytes(64)))
    a = encryptor.encrypt(CKKSEncoder(params).encode(np.linspace(-1, 1, 32), 2.0**14))
    ours.rotate(a, 1)
    ours.rotate_many(a, [1])
    old = weakref.ref(keys.keys[element])
    replacement = second.galois_keys([1]).key(element)
    keys.keys[element] = replacement
    expected = Evaluator(params, galois_keys=GaloisKeys(params, {element: replacement}))
    assert np.array_equal(np.asarray(ours.rotate(a, 1).data), expected.rotate(a, 1).data)
    assert np.array_equal(np.asarray(ours.rotate_many(a, [1])[0].data), expected.rotate_many(a, [1])[0].data)
    gc.collect()
    assert old() is None  # the engine held the replaced key (and its device arrays) forever before
    held = [entry for entry in ours._device._arrays.values() if entry[0]() is not params]
    assert len(held) == 2  # the replacement's key at the top level and its hoisting correction


def test_the_process_wide_program_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """With room for 3 programs, ops over every level keep at most 3 (least recently used dropped), and a
    dropped program is compiled again with the same words."""
    from securecompute.ckks import device

    monkeypatch.setattr(device, "PROGRAM_CACHE_SIZE", 3)
    params = CKKSParameters.from_bit_sizes(64, [14, 14, 14, 14, 14], allow_insecure=True)
    keygen = KeyGenerator(params, RandomSource(bytes(64)))  # fixed test seed
    encryptor = Encryptor(keygen.public_key(), RandomSource(bytes(range(64))))
    a = encryptor.encrypt(CKKSEncoder(params).encode(np.linspace(-1, 1, 32), 2.0**14))
    numpy_engine, ours = Evaluator(params), Evaluator(params, backend="jax")
    for _ in range(2):  # the second pass finds the first levels' programs dropped
        expected, got = a, ours.on_engine(a)
        while expected.level > 0:
            expected = numpy_engine.rescale(numpy_engine.add(expected, expected))
            got = ours.rescale(ours.add(got, got))
            assert np.array_equal(np.asarray(got.data), expected.data)
            assert len(device._PROGRAMS) <= 3


def test_device_plaintexts_encrypt_and_decode_as_host_ones() -> None:
    """A plaintext the JAX engine holds (``on_engine``, ``mod_switch_plain``) given to the host-side
    Encryptor and encoder: the host plaintext's words and values (50-bit primes: residues past 2^32, which
    JAX arithmetic outside x64 would truncate)."""
    params = CKKSParameters.from_bit_sizes(64, [50, 40, 50], allow_insecure=True)
    keygen = KeyGenerator(params, RandomSource(bytes(64)))  # fixed test seed
    public_key, encoder = keygen.public_key(), CKKSEncoder(params)
    ours = Evaluator(params, backend="jax")
    plain = encoder.encode(np.linspace(-1, 1, 32), 2.0**40)
    pairs = [
        (plain, ours.on_engine(plain)),
        (Evaluator(params).mod_switch_plain(plain, 0), ours.mod_switch_plain(plain, 0)),
    ]
    for host, device in pairs:
        assert isinstance(device.data, jax.Array)
        expected = Encryptor(public_key, RandomSource(bytes(range(64)))).encrypt(host)  # fixed test seeds
        got = Encryptor(public_key, RandomSource(bytes(range(64)))).encrypt(device)
        assert isinstance(got.data, np.ndarray)
        assert np.array_equal(got.data, expected.data)
        assert np.array_equal(encoder.decode(device), encoder.decode(host))
