"""The Enc(0) pool: correct encryptions, single use, used by queries when full enough."""

from __future__ import annotations

import numpy as np
import pytest

from securecompute.errors import ParameterError, ProtocolError
from securecompute.federated.frag import Party, Querier
from tests.frag.conftest import DIM, clustered


def test_pooled_constants_decrypt_to_the_constant_in_every_slot(backend: str) -> None:
    querier = Querier(dim=DIM, backend=backend)
    querier.fill_pool(3)
    engine = querier.context.holder
    values = [engine.decrypt(querier.pool.encrypt_constant(value)) for value in (0.25, -0.7, 0.0)]
    for decrypted, value in zip(values, (0.25, -0.7, 0.0), strict=True):
        np.testing.assert_allclose(decrypted, value, atol=5e-5)  # fresh-encryption noise at scale 2^29


def test_each_pooled_ciphertext_is_used_once_and_an_empty_pool_refuses(backend: str) -> None:
    querier = Querier(dim=DIM, backend=backend)
    querier.fill_pool(2)
    first, second = querier.pool.take(), querier.pool.take()
    engine = querier.context.holder
    assert engine.ciphertext_to_bytes(first) != engine.ciphertext_to_bytes(second)  # fresh randomness each
    assert len(querier.pool) == 0
    assert querier.pool.issued == 2
    with pytest.raises(ProtocolError, match="pool is empty after 2 draws"):
        querier.pool.take()
    with pytest.raises(ParameterError):
        querier.fill_pool(-1)


def test_queries_draw_from_the_pool_when_it_holds_enough(backend: str) -> None:
    party = Party("p", clustered(300, 4))
    querier = Querier(dim=DIM, backend=backend)
    query = clustered(1, 5)[0]
    fresh = querier.search(query, [party], k=5)
    querier.fill_pool(DIM + 3)
    pooled = querier.search(query, [party], k=5)
    assert (fresh.stats.encryption, pooled.stats.encryption) == ("fresh", "pooled")
    assert len(querier.pool) == 3
    np.testing.assert_allclose([h.score for h in pooled.hits], [h.score for h in fresh.hits], atol=1e-4)
    assert querier.search(query, [party], k=5).stats.encryption == "fresh"  # 3 left < 16 needed: no reuse


def test_the_pool_fills_in_the_background_and_queries_draw_from_it(backend: str) -> None:
    querier = Querier(dim=DIM, backend=backend)
    worker = querier.pool.fill_in_background(2 * DIM)
    worker.join(timeout=60)
    assert not worker.is_alive()
    assert len(querier.pool) == 2 * DIM
    result = querier.search(clustered(1, 8)[0], [Party("bg", clustered(50, 9))], k=2)
    assert result.stats.encryption == "pooled"
    assert len(querier.pool) == DIM
