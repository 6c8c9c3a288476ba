"""The encoder against SEAL's ``CKKSEncoder.encode``, word for word, and decoding precision."""

from __future__ import annotations

import numpy as np
import pytest
from tenseal import sealapi

from securecompute.ckks import CKKSEncoder
from securecompute.ckks.seal_import import plaintext_from_seal
from securecompute.errors import ParameterError, ShapeError
from tests.ckks.conftest import SealWorld


def _seal_encode(world: SealWorld, values: object, scale: float, level: int | None = None) -> np.ndarray:
    plain = sealapi.Plaintext()
    parms_id = world.context.first_parms_id()
    if level is not None:
        data = world.context.key_context_data()
        while data.chain_index() != level:
            data = data.next_context_data()
        parms_id = data.parms_id()
    world.encoder.encode(values, parms_id, scale, plain)
    return plaintext_from_seal(plain, world.params.n).data


@pytest.mark.parametrize("scale", [2.0**20, 2.0**40, 2.0**52, 2.0**90])
def test_real_vector_matches_seal(world_8192: SealWorld, scale: float) -> None:
    values = np.random.default_rng(7).uniform(-4, 4, world_8192.params.slots)  # test seed, data only
    ours = CKKSEncoder(world_8192.params).encode(values, scale)
    assert np.array_equal(ours.data, _seal_encode(world_8192, list(values), scale))


def test_values_beyond_two_to_the_64_match_seal(world_8192: SealWorld) -> None:
    values = np.random.default_rng(8).uniform(-1000, 1000, 300)
    ours = CKKSEncoder(world_8192.params).encode(values, 2.0**100)
    assert np.array_equal(ours.data, _seal_encode(world_8192, list(values), 2.0**100))


def test_complex_short_vector_at_lower_levels_matches_seal(world_8192: SealWorld) -> None:
    rng = np.random.default_rng(9)
    values = rng.normal(size=100) + 1j * rng.normal(size=100)
    encoder = CKKSEncoder(world_8192.params)
    for level in (0, 1, 3):
        ours = encoder.encode(values, 2.0**34, level=level)
        assert np.array_equal(ours.data, _seal_encode(world_8192, list(values), 2.0**34, level))


def test_exact_halves_round_away_from_zero_like_seal(world_8192: SealWorld) -> None:
    values = np.array([0.5, -0.5, 1.5, -2.5, 0.0, 3.0])
    ours = CKKSEncoder(world_8192.params).encode(values, 1.0)
    assert np.array_equal(ours.data, _seal_encode(world_8192, list(values), 1.0))


def test_scalar_encode_matches_seal(world_8192: SealWorld) -> None:
    encoder = CKKSEncoder(world_8192.params)
    for value in (0.3, -2.75, 0.0):
        ours = encoder.encode_scalar(value, 2.0**40, level=2)
        assert np.array_equal(ours.data, _seal_encode(world_8192, value, 2.0**40))


def test_decode_recovers_values(world_8192: SealWorld) -> None:
    values = np.random.default_rng(10).uniform(-1, 1, world_8192.params.slots)
    encoder = CKKSEncoder(world_8192.params)
    decoded = encoder.decode(encoder.encode(values, 2.0**40))
    assert np.max(np.abs(decoded - values)) < 1e-9


def test_bad_inputs_are_refused(world_8192: SealWorld) -> None:
    encoder = CKKSEncoder(world_8192.params)
    with pytest.raises(ShapeError, match="4096"):
        encoder.encode(np.zeros(4097), 2.0**40)
    with pytest.raises(ParameterError, match="NaN"):
        encoder.encode(np.array([np.nan]), 2.0**40)
    with pytest.raises(ParameterError, match="too large"):
        encoder.encode(np.ones(4), 2.0**140, level=0)
    with pytest.raises(ParameterError, match="level"):
        encoder.encode(np.ones(4), 2.0**40, level=7)
