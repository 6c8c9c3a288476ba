"""Outsourced mode: vectors encrypted under the owner's key at a host that scores ciphertext x ciphertext."""

from __future__ import annotations

import numpy as np
import pytest

from securecompute.encoding import pack, unpack
from securecompute.errors import CorruptPayloadError, KeyMismatchError, ParameterError, ProtocolError
from securecompute.federated.frag.outsourced import STORE, OutsourcedOwner, StorageHost
from tests.frag.conftest import clustered, engines_of, exact_top


@pytest.fixture(scope="module")
def owner_and_host(backend: str) -> tuple[OutsourcedOwner, StorageHost, np.ndarray]:
    """An owner on ``backend`` with 600 vectors (d = 8) and the host holding its upload."""
    vectors = clustered(600, 41, dim=8)
    owner = OutsourcedOwner(vectors, backend=backend)
    host = StorageHost(owner.upload())
    assert engines_of(owner, host) == {backend}
    return owner, host, vectors


def test_the_owner_reads_the_exact_top_k_from_the_host(
    owner_and_host: tuple[OutsourcedOwner, StorageHost, np.ndarray],
) -> None:
    owner, host, vectors = owner_and_host
    query = clustered(1, 42, dim=8)[0]
    hits = owner.read(host.handle(owner.query(query)), 5)
    expected, scores, _ = exact_top([vectors], query, 5)
    assert [row for row, _ in hits] == [row for _, row in expected]
    np.testing.assert_allclose([score for _, score in hits], scores, atol=1e-4)


def test_l2_outsourced_matches_squared_distances(backend: str) -> None:
    vectors = clustered(200, 43, dim=4) / 20
    owner = OutsourcedOwner(vectors, metric="l2", max_norm=1.0, backend=backend)
    host = StorageHost(owner.upload())
    query = vectors[5] + 0.001
    hits = owner.read(host.handle(owner.query(query)), 3)
    _, scores, _ = exact_top([vectors], query, 3, "l2")
    assert hits[0][0] == 5
    np.testing.assert_allclose([score for _, score in hits], scores, atol=1e-4)


def test_only_the_owner_can_query_and_read(owner_and_host: tuple[OutsourcedOwner, StorageHost, np.ndarray]) -> None:
    owner, host, _ = owner_and_host
    stranger = OutsourcedOwner(clustered(10, 44, dim=8), backend=owner._context.engine_name)
    with pytest.raises(KeyMismatchError):
        host.handle(stranger.query(np.ones(8)))
    reply = host.handle(owner.query(np.ones(8)))
    with pytest.raises(KeyMismatchError):
        stranger.read(reply, 1)
    owner.read(reply, 1)
    with pytest.raises(ProtocolError, match="did not send"):
        owner.read(reply, 1)  # a reply is read once


def test_the_host_refuses_a_secret_context_and_a_tampered_upload(
    owner_and_host: tuple[OutsourcedOwner, StorageHost, np.ndarray],
) -> None:
    owner, _, _ = owner_and_host
    upload = unpack(owner.upload())
    sections = dict(upload.sections)
    sections["context"] = owner._context.serialize()
    with pytest.raises(ProtocolError, match="SECRET"):
        StorageHost(pack(STORE, sections, owner.fingerprint))
    del sections["b0c3"]
    sections["context"] = upload.sections["context"]
    with pytest.raises(CorruptPayloadError, match="sections"):
        StorageHost(pack(STORE, sections, owner.fingerprint))


def test_an_owner_refuses_a_backend_that_does_not_encrypt() -> None:
    with pytest.raises(ParameterError, match="'simulate' does not encrypt"):
        OutsourcedOwner(clustered(10, 45, dim=8), backend="simulate")
