"""Bit-exact with SEAL at N = 2^14 (eight primes) and 2^15 (four), 60-bit special prime: the wide GEMM path.

One multiply-relinearise-rescale chain and one single and one hoisted rotation per ring, compared word
for word with SEAL on SEAL's keys.  Slow (seconds each: key import and the 60-bit NTTs dominate).
"""

from __future__ import annotations

import numpy as np
import pytest
from tenseal import sealapi

from securecompute.ckks import Evaluator
from securecompute.ckks.seal_import import ciphertext_from_seal
from tests.ckks.conftest import make_world
from tests.ckks.test_seal_ops import assert_same

RINGS = [
    (16384, [60, 40, 40, 40, 40, 40, 40, 60]),  # eight primes
    (32768, [60, 50, 50, 60]),  # fewer primes at 2^15: reading SEAL's keys word by word dominates the time
]


@pytest.mark.slow
@pytest.mark.parametrize(("n", "bits"), RINGS)
def test_large_rings_match_seal(n: int, bits: list[int]) -> None:
    world = make_world(n, bits, steps=[3])
    evaluator = Evaluator(world.params, world.relin_key, world.ours_galois)
    rng = np.random.default_rng(n)  # test data only
    scale = 2.0**40
    a = world.encrypt(rng.uniform(-1, 1, 64), scale)
    b = world.encrypt(rng.uniform(-1, 1, 64), scale)
    ours_a, ours_b = ciphertext_from_seal(a), ciphertext_from_seal(b)

    product, relinearized, rescaled = sealapi.Ciphertext(), sealapi.Ciphertext(), sealapi.Ciphertext()
    world.evaluator.multiply(a, b, product)
    world.evaluator.relinearize(product, world.relin_keys, relinearized)
    world.evaluator.rescale_to_next(relinearized, rescaled)
    ours = evaluator.relinearize(evaluator.multiply(ours_a, ours_b))
    assert_same(ours, relinearized)
    assert_same(evaluator.rescale(ours), rescaled)

    rotated = sealapi.Ciphertext()
    world.evaluator.rotate_vector(a, 3, world.galois_keys, rotated)
    assert_same(evaluator.rotate(ours_a, 3), rotated)
    zero_step, hoisted = evaluator.rotate_many(ours_a, [0, 3])
    assert_same(hoisted, rotated)
    assert zero_step is ours_a

    switched = sealapi.Ciphertext()
    world.evaluator.mod_switch_to_next(a, switched)
    assert_same(evaluator.mod_switch(ours_a), switched)
