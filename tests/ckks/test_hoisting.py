"""Hoisted rotations (``rotate_many``): the fixed correction and its fallback, on inputs chosen to break them.

The identity behind hoisting (``keyswitch`` module docstring) holds exactly when no digit is zero on a
coefficient that pi_g negates; otherwise the step falls back to the single rotation.  SEAL's encryptor
practically never yields such a zero (probability ~N/q per digit), so these tests make them: by hand in
SEAL ciphertexts loaded through SEAL's own parser, and naturally with 14-bit primes, where they are common.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tenseal import sealapi

from securecompute.ckks import Ciphertext, CKKSParameters, Evaluator, KeyGenerator, RandomSource
from securecompute.ckks.arrays import NumpyRingOps, RingOps
from securecompute.ckks.keyswitch import galois_arrays, hoisted_switch, inner_product, mod_up
from securecompute.ckks.ring import forward, galois_element, inverse, modulus_column, negated_positions
from securecompute.ckks.seal_import import ciphertext_from_seal
from tests.ckks.conftest import SealWorld, seal_ciphertext_from_ours
from tests.ckks.test_seal_ops import assert_same

SCALE = 2.0**40


@pytest.fixture(scope="module", params=["numpy", "jax"])
def evaluator(world_8192: SealWorld, request: pytest.FixtureRequest) -> Evaluator:
    """Both engines: on JAX the fallback flags are computed on the device inside the hoisted program."""
    if request.param == "jax":
        pytest.importorskip("jax", reason="the JAX engine needs the optional extra [jax]")
    return Evaluator(world_8192.params, world_8192.relin_key, world_8192.ours_galois, backend=request.param)


def _hoisted(ops: RingOps, decomposed: Any, element: int, key: Any, moduli: tuple[int, ...]) -> tuple[Any, Any]:
    limbs, special = len(moduli), key.params.special_prime
    correction = key.hoisting_correction(element, moduli)
    galois = galois_arrays(ops.n, element)
    return hoisted_switch(
        ops, decomposed, galois, key.at_level(limbs), key.shoup_at_level(limbs), correction, moduli, special
    )


def _seal_rotation(world: SealWorld, cipher: Any, step: int) -> Any:
    out = sealapi.Ciphertext()
    world.evaluator.rotate_vector(cipher, step, world.galois_keys, out)
    return out


def _seal_op(op: Any, *args: Any) -> Any:
    out = sealapi.Ciphertext()
    op(*args, out)
    return out


def _with_zero_digits(cipher: Ciphertext, moduli: tuple[int, ...], positions: dict[int, list[int]]) -> Ciphertext:
    """``cipher`` with c_1's coefficient-form digits set to zero at ``positions[limb]``."""
    n = cipher.data.shape[-1]
    coefficients = inverse(n, moduli, cipher.data[1])
    for limb, where in positions.items():
        coefficients[limb, where] = 0
    data = cipher.data.copy()
    data[1] = forward(n, moduli, coefficients)
    return Ciphertext(data, cipher.scale)


def test_fallback_on_a_zero_digit_matches_seal(world_8192: SealWorld, evaluator: Evaluator, tmp_path: Path) -> None:
    """Zero digits on positions that step 5 negates (limbs 0 and 2): that step falls back; SEAL agrees on all steps."""
    params = world_8192.params
    a = world_8192.encrypt(np.random.default_rng(20).uniform(-1, 1, params.slots), SCALE)  # test data only
    moduli = params.moduli_at(params.max_level)
    _, sources = negated_positions(params.n, galois_element(5, params.n))
    crafted = _with_zero_digits(ciphertext_from_seal(a), moduli, {0: list(sources[:3]), 2: [int(sources[-1])]})
    ops = NumpyRingOps(params.n)
    decomposed = mod_up(ops, crafted.data[1], moduli, params.special_prime)
    key = world_8192.ours_galois.key(galois_element(5, params.n))
    assert _hoisted(ops, decomposed, galois_element(5, params.n), key, moduli) == (None, True)  # the fallback runs
    seal_crafted = seal_ciphertext_from_ours(world_8192, crafted, a, tmp_path / "crafted.seal")
    assert_same(ciphertext_from_seal(seal_crafted), seal_crafted)
    steps = [5, 1, -1]
    for step, ours in zip(steps, evaluator.rotate_many(crafted, steps), strict=True):
        assert_same(ours, _seal_rotation(world_8192, seal_crafted, step))


def test_zero_digit_off_the_negated_positions_keeps_the_hoisted_path(
    world_8192: SealWorld, evaluator: Evaluator, tmp_path: Path
) -> None:
    """A zero where pi_g keeps the sign needs no fallback: the hoisted path runs and equals SEAL."""
    params = world_8192.params
    element = galois_element(1, params.n)
    a = world_8192.encrypt(np.random.default_rng(21).uniform(-1, 1, params.slots), SCALE)  # test data only
    moduli = params.moduli_at(params.max_level)
    _, sources = negated_positions(params.n, element)
    kept = np.setdiff1d(np.arange(params.n), sources)
    crafted = _with_zero_digits(ciphertext_from_seal(a), moduli, {0: list(kept[:5]), 1: list(kept[-5:])})
    ops = NumpyRingOps(params.n)
    decomposed = mod_up(ops, crafted.data[1], moduli, params.special_prime)
    hoisted, fallback = _hoisted(ops, decomposed, element, world_8192.ours_galois.key(element), moduli)
    assert hoisted is not None
    assert not fallback
    seal_crafted = seal_ciphertext_from_ours(world_8192, crafted, a, tmp_path / "kept.seal")
    assert_same(evaluator.rotate_many(crafted, [1])[0], _seal_rotation(world_8192, seal_crafted, 1))


@pytest.mark.parametrize("backend", ["numpy", "jax"])
def test_hoisted_equals_single_on_arbitrary_words_with_small_primes(
    monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    """14-bit primes at N = 64, some digits zeroed: both paths run; every result equals rotate's words.

    The inputs are uniform residue words, not encryptions: the identity is about words, not noise.  On
    JAX the hoisted program runs traced (its fallback flags on the device); the paths are counted by
    the numpy engine run on the same inputs, and the JAX words must equal the numpy engine's.
    """
    if backend == "jax":
        pytest.importorskip("jax", reason="the JAX engine needs the optional extra [jax]")
    params = CKKSParameters.from_bit_sizes(64, [14, 14, 14, 14], allow_insecure=True)
    steps = [1, -1, 3, 5, -7, 15]
    paths = {"hoisted": 0, "fallback": 0}

    def counting(*args: Any, **kwargs: Any) -> tuple[Any, Any]:
        result = hoisted_switch(*args, **kwargs)
        if isinstance(args[0], NumpyRingOps):
            paths["fallback" if result[0] is None else "hoisted"] += 1
        return result

    monkeypatch.setattr("securecompute.ckks.evaluator.hoisted_switch", counting)
    rng = np.random.default_rng(22)  # test data only
    for key_seed in range(2):
        keygen = KeyGenerator(params, RandomSource(bytes([key_seed]) * 64))  # fixed test seeds
        keys = keygen.galois_keys(steps, conjugate=True)
        evaluator = Evaluator(params, galois_keys=keys)
        device = Evaluator(params, galois_keys=keys, backend=backend)
        for level in range(params.max_level + 1):
            q = modulus_column(params.moduli_at(level))
            for trial in range(8):
                cipher = Ciphertext(rng.integers(0, 1 << 62, (2, level + 1, 64), dtype=np.uint64) % q, 2.0**8)
                if trial % 2:  # a few zero digits at random positions: negated for some steps, kept for others
                    zeros = {int(rng.integers(0, level + 1)): list(rng.integers(0, 64, 3))}
                    cipher = _with_zero_digits(cipher, params.moduli_at(level), zeros)
                reference = evaluator.rotate_many(cipher, steps)
                for step, hoisted, ours in zip(steps, reference, device.rotate_many(cipher, steps), strict=True):
                    assert np.array_equal(hoisted.data, evaluator.rotate(cipher, step).data)
                    assert np.array_equal(np.asarray(ours.data), hoisted.data)
    assert paths["hoisted"] > 20
    assert paths["fallback"] > 20


def test_relinearize_and_hoisted_rotations_at_lower_levels_match_seal(
    world_8192: SealWorld, evaluator: Evaluator
) -> None:
    """Levels 1 and 0 (scale 2^20 so that a product still fits the last 60-bit prime)."""
    rng = np.random.default_rng(23)  # test data only
    a = world_8192.encrypt(rng.uniform(-1, 1, 4096), 2.0**20)
    b = world_8192.encrypt(rng.uniform(-1, 1, 4096), 2.0**20)
    for _ in range(world_8192.params.max_level):
        a, b = (_seal_op(world_8192.evaluator.mod_switch_to_next, cipher) for cipher in (a, b))
        product, relinearized = sealapi.Ciphertext(), sealapi.Ciphertext()
        world_8192.evaluator.multiply(a, b, product)
        world_8192.evaluator.relinearize(product, world_8192.relin_keys, relinearized)
        ours = evaluator.relinearize(evaluator.multiply(ciphertext_from_seal(a), ciphertext_from_seal(b)))
        assert_same(ours, relinearized)
        steps = [1, -1, 5]
        for step, rotated in zip(steps, evaluator.rotate_many(ciphertext_from_seal(a), steps), strict=True):
            assert_same(rotated, _seal_rotation(world_8192, a, step))


def test_inner_product_of_a_long_chain_equals_python_integers() -> None:
    """40 data primes of 60 bits (legal widths; insecure at N = 64): the sum of 40 products must not wrap at 2^64."""
    params = CKKSParameters.from_bit_sizes(64, [60] * 41, allow_insecure=True)
    key = KeyGenerator(params, RandomSource(bytes(64))).relin_key()  # fixed test seed
    moduli = params.moduli_at(params.max_level)
    extended = (*moduli, params.special_prime)
    rng = np.random.default_rng(24)  # test data only
    target = rng.integers(0, 1 << 63, (len(moduli), 64), dtype=np.uint64) % modulus_column(moduli)
    ops = NumpyRingOps(64)
    digits = mod_up(ops, target, moduli, params.special_prime).digits
    limbs = len(moduli)
    ours = inner_product(ops, digits, key.at_level(limbs), key.shoup_at_level(limbs), extended)
    words, key_words = digits.astype(object), key.at_level(len(moduli)).astype(object)
    for k in range(2):
        for i, q in enumerate(extended):
            expected = sum(words[j, i] * key_words[j, k, i] for j in range(len(moduli))) % q
            assert ours[k, i].tolist() == expected.tolist()
