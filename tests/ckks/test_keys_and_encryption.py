"""Our own keys, encryption and decryption: round trips with measured precision, SEAL's decryption, samplers.

Randomness: every test seeds :class:`RandomSource` with fixed bytes (documented test seeds: equal
seeds give equal keys, which is what a test wants and a deployment must never do).
"""

from __future__ import annotations

import copy
import hashlib
import math
import os
import pickle
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
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


def test_copies_of_a_source_never_replay_its_stream() -> None:
    """A copied or unpickled source (an Encryptor sent to workers) must not repeat the original's bytes."""
    source = RandomSource(TEST_SEED)
    for clone in (copy.copy(source), copy.deepcopy(source), pickle.loads(pickle.dumps(source))):
        assert clone.take(64) != RandomSource(TEST_SEED).take(64)
    assert TEST_SEED.hex() not in repr(source)
    assert source.take(64) == RandomSource(TEST_SEED).take(64)  # the original stream is untouched


FORK_SCRIPT = """
import os
from securecompute.ckks.sampling import RandomSource
source = RandomSource()
source.take(100)  # a partly used block is buffered: the child must not reuse it either
read_end, write_end = os.pipe()
pid = os.fork()
if pid == 0:
    os.write(write_end, source.take(64))
    os._exit(0)
os.close(write_end)
os.waitpid(pid, 0)
child = os.read(read_end, 64)
print(len(child), child != source.take(64))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork exists on POSIX only")
def test_a_forked_child_never_replays_the_parent_s_stream() -> None:
    """After fork, parent and child must not draw the same next bytes (the same masks in their next ciphertexts).

    The fork runs in a fresh interpreter: this one may hold JAX's threads, which a fork can deadlock.
    """
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-c", FORK_SCRIPT], capture_output=True, text=True, timeout=120, env=environment, check=True
    )
    assert done.stdout.split() == ["64", "True"]


def test_threads_sharing_a_source_get_disjoint_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Concurrent takes are a split of the one stream; a pause inside the hash invites the race a lock prevents."""

    class SlowShake:
        def __init__(self, data: bytes) -> None:
            self.data = data

        def digest(self, length: int) -> bytes:
            time.sleep(0.001)  # yields the GIL mid-refill, as a real hash over a large block may
            return hashlib.shake_256(self.data).digest(length)

    monkeypatch.setattr("securecompute.ckks.sampling.hashlib", SimpleNamespace(shake_256=SlowShake))
    source = RandomSource(TEST_SEED)
    with ThreadPoolExecutor(8) as pool:
        chunks = list(pool.map(lambda _: source.take(1000), range(400)))
    monkeypatch.undo()
    stream = RandomSource(TEST_SEED).take(400 * 1000)
    assert sorted(chunks) == sorted(stream[k : k + 1000] for k in range(0, len(stream), 1000))


def test_sampler_distributions_match_their_exact_laws() -> None:
    """Chi-square against the exact laws (fixed seed): CBD = Bin(21, 1/2) - Bin(21, 1/2), uniform residues, ternary.

    The rejection step is checked where it matters most: for q = 3*2^62 - 1 a plain ``word mod q``
    would put residues below 2^62 with probability 1/2; uniform on [0, q) gives 1/3.
    """
    source = RandomSource(TEST_SEED)
    samples = 60000
    noise = sample_noise(source, samples)
    binomial = np.array([math.comb(21, k) for k in range(22)], dtype=float) / 2.0**21
    law = np.convolve(binomial, binomial[::-1])  # values -21 .. 21
    observed = np.bincount(noise + 21, minlength=43)
    expected = law * samples
    pooled = expected >= 5  # the far tails pooled into one cell
    cells_observed = np.append(observed[pooled], observed[~pooled].sum())
    cells_expected = np.append(expected[pooled], expected[~pooled].sum())
    statistic = float(((cells_observed - cells_expected) ** 2 / cells_expected).sum())
    assert statistic < 80  # about 30 degrees of freedom: p < 1e-5 above 80
    residues = sample_uniform(source, (97,), samples)[0]
    counts = np.bincount(residues.astype(np.int64), minlength=97)
    assert float(((counts - samples / 97) ** 2 / (samples / 97)).sum()) < 180  # 96 degrees of freedom
    ternary = np.bincount(sample_ternary(source, samples) + 1, minlength=3)
    assert float(((ternary - samples / 3) ** 2 / (samples / 3)).sum()) < 25  # 2 degrees of freedom
    wide = 3 * (1 << 62) - 1
    below = float(np.mean(sample_uniform(source, (wide,), samples)[0] < np.uint64(1 << 62)))
    assert abs(below - 1 / 3) < 0.01  # a sampler without rejection gives 1/2
