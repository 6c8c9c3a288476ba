"""Every evaluation op against SEAL's own result on the same inputs and keys, word for word.

SEAL (tenseal.sealapi) makes the keys and the input ciphertexts; both evaluators run the op; the
uint64 residues must be identical, and so must the scales.  N = 2^13 with three data primes here;
the larger rings are in test_seal_ops_large.py (marked slow).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from tenseal import sealapi

from securecompute.ckks import Ciphertext, CKKSEncoder, Evaluator
from securecompute.ckks.evaluator import non_adjacent_form
from securecompute.ckks.seal_import import ciphertext_from_seal, galois_keys_from_seal
from securecompute.errors import DepthExhaustedError, MissingKeyError, ParameterError, ShapeError
from tests.ckks.conftest import SealWorld

SCALE = 2.0**40


def assert_same(ours: Ciphertext, seal_result: Any) -> None:
    theirs = ciphertext_from_seal(seal_result)
    assert ours.data.shape == theirs.data.shape
    assert np.array_equal(ours.data, theirs.data)
    assert ours.scale == theirs.scale


def _inputs(world: SealWorld, seed: int) -> tuple[Any, Any]:
    rng = np.random.default_rng(seed)  # test data only; the ciphertexts are SEAL's
    slots = world.params.slots
    return world.encrypt(rng.uniform(-1, 1, slots), SCALE), world.encrypt(rng.uniform(-1, 1, slots), SCALE)


def _seal(op: Callable[..., None], *args: Any) -> Any:
    out = sealapi.Ciphertext()
    op(*args, out)
    return out


@pytest.fixture(scope="module")
def evaluator(world_8192: SealWorld) -> Evaluator:
    return Evaluator(world_8192.params, world_8192.relin_key, world_8192.ours_galois)


def test_add_and_sub(world_8192: SealWorld, evaluator: Evaluator) -> None:
    a, b = _inputs(world_8192, 1)
    ours_a, ours_b = ciphertext_from_seal(a), ciphertext_from_seal(b)
    assert_same(evaluator.add(ours_a, ours_b), _seal(world_8192.evaluator.add, a, b))
    assert_same(evaluator.sub(ours_a, ours_b), _seal(world_8192.evaluator.sub, a, b))
    assert_same(evaluator.negate(ours_a), _seal(world_8192.evaluator.negate, a))


def test_add_plain_and_multiply_plain(world_8192: SealWorld, evaluator: Evaluator) -> None:
    a, _ = _inputs(world_8192, 2)
    values = np.random.default_rng(3).uniform(-1, 1, 1000)
    plain = sealapi.Plaintext()
    world_8192.encoder.encode(list(values), SCALE, plain)
    ours_plain = CKKSEncoder(world_8192.params).encode(values, SCALE)
    ours_a = ciphertext_from_seal(a)
    assert_same(evaluator.add_plain(ours_a, ours_plain), _seal(world_8192.evaluator.add_plain, a, plain))
    assert_same(evaluator.multiply_plain(ours_a, ours_plain), _seal(world_8192.evaluator.multiply_plain, a, plain))


def test_add_scalar_matches_seal_scalar_plain(world_8192: SealWorld, evaluator: Evaluator) -> None:
    a, _ = _inputs(world_8192, 4)
    plain = sealapi.Plaintext()
    world_8192.encoder.encode(0.25, SCALE, plain)
    assert_same(evaluator.add_scalar(ciphertext_from_seal(a), 0.25), _seal(world_8192.evaluator.add_plain, a, plain))


def test_multiply_relinearize_rescale(world_8192: SealWorld, evaluator: Evaluator) -> None:
    a, b = _inputs(world_8192, 5)
    product = _seal(world_8192.evaluator.multiply, a, b)
    ours = evaluator.multiply(ciphertext_from_seal(a), ciphertext_from_seal(b))
    assert_same(ours, product)
    relinearized = _seal(world_8192.evaluator.relinearize, product, world_8192.relin_keys)
    ours = evaluator.relinearize(ours)
    assert_same(ours, relinearized)
    assert_same(evaluator.rescale(ours), _seal(world_8192.evaluator.rescale_to_next, relinearized))


def test_rescale_twice_down_to_the_last_level(world_8192: SealWorld, evaluator: Evaluator) -> None:
    a, _ = _inputs(world_8192, 6)
    ours = ciphertext_from_seal(a)
    for _ in range(world_8192.params.max_level):
        a = _seal(world_8192.evaluator.rescale_to_next, a)
        ours = evaluator.rescale(ours)
        assert_same(ours, a)
    with pytest.raises(DepthExhaustedError):
        evaluator.rescale(ours)


def test_mod_switch(world_8192: SealWorld, evaluator: Evaluator) -> None:
    a, _ = _inputs(world_8192, 7)
    assert_same(evaluator.mod_switch(ciphertext_from_seal(a)), _seal(world_8192.evaluator.mod_switch_to_next, a))
    dropped = evaluator.mod_switch_to(ciphertext_from_seal(a), 0)
    assert dropped.level == 0
    assert np.array_equal(dropped.data, ciphertext_from_seal(a).data[:, :1])


@pytest.mark.parametrize("step", [1, -1, 5])
def test_rotate(world_8192: SealWorld, evaluator: Evaluator, step: int) -> None:
    a, _ = _inputs(world_8192, 8)
    expected = _seal(world_8192.evaluator.rotate_vector, a, step, world_8192.galois_keys)
    assert_same(evaluator.rotate(ciphertext_from_seal(a), step), expected)


def test_rotate_at_a_lower_level(world_8192: SealWorld, evaluator: Evaluator) -> None:
    a, _ = _inputs(world_8192, 9)
    lowered = _seal(world_8192.evaluator.rescale_to_next, a)
    expected = _seal(world_8192.evaluator.rotate_vector, lowered, 5, world_8192.galois_keys)
    assert_same(evaluator.rotate(ciphertext_from_seal(lowered), 5), expected)


def test_conjugate(world_8192: SealWorld, evaluator: Evaluator) -> None:
    a, _ = _inputs(world_8192, 10)
    expected = _seal(world_8192.evaluator.complex_conjugate, a, world_8192.galois_keys)
    assert_same(evaluator.conjugate(ciphertext_from_seal(a)), expected)


def test_hoisted_rotate_many_equals_seal_rotations(world_8192: SealWorld, evaluator: Evaluator) -> None:
    a, _ = _inputs(world_8192, 11)
    steps = [1, 0, -1, 5]
    rotated = evaluator.rotate_many(ciphertext_from_seal(a), steps)
    for step, ours in zip(steps, rotated, strict=True):
        if step == 0:
            assert_same(ours, a)
        else:
            assert_same(ours, _seal(world_8192.evaluator.rotate_vector, a, step, world_8192.galois_keys))


def test_refusals(world_8192: SealWorld, evaluator: Evaluator) -> None:
    a, b = _inputs(world_8192, 12)
    ours_a, ours_b = ciphertext_from_seal(a), ciphertext_from_seal(b)
    with pytest.raises(MissingKeyError, match="element"):
        evaluator.rotate(ours_a, 2)
    with pytest.raises(MissingKeyError):
        Evaluator(world_8192.params).relinearize(evaluator.multiply(ours_a, ours_b))
    with pytest.raises(ParameterError, match="levels"):
        evaluator.add(ours_a, evaluator.mod_switch(ours_b))
    with pytest.raises(ParameterError, match="scales"):
        evaluator.add(ours_a, Ciphertext(ours_b.data, SCALE * 2))
    with pytest.raises(ParameterError, match="size-2"):
        evaluator.rotate(evaluator.multiply(ours_a, ours_b), 1)
    with pytest.raises(ShapeError, match="must be a Ciphertext"):
        evaluator.add(ours_a, "ciphertext")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="backend"):
        Evaluator(world_8192.params, backend="cuda")


def test_rotation_without_its_key_follows_seals_naf_path(world_8192: SealWorld, evaluator: Evaluator) -> None:
    """With only SEAL's default keys (conjugation and +-2^i), steps 3 = 4 - 1, 6 = 8 - 2 and -5 = -4 - 1 are NAF chains."""
    context, params = world_8192.context, world_8192.params
    keygen_galois = sealapi.GaloisKeys()
    world_8192.keygen.create_galois_keys(keygen_galois)  # SEAL's default set; the first nine imported below
    elements = [e for e in context.key_context_data().galois_tool().get_elts_all() if keygen_galois.has_key(e)]
    powers = Evaluator(params, galois_keys=galois_keys_from_seal(keygen_galois, params, elements[:9]))
    a, _ = _inputs(world_8192, 13)
    for step in (3, 6, -5):
        expected = _seal(world_8192.evaluator.rotate_vector, a, step, keygen_galois)
        assert_same(powers.rotate(ciphertext_from_seal(a), step), expected)


def test_non_adjacent_form() -> None:
    assert non_adjacent_form(3) == [-1, 4]
    assert non_adjacent_form(7) == [-1, 8]
    assert non_adjacent_form(-6) == [2, -8]
    for value in range(-300, 300):
        terms = non_adjacent_form(value)
        assert sum(terms) == value
