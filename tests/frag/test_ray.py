"""FRAG with each party in its own Ray actor: only bytes cross, same answers as in-process."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from securecompute.federated.frag import Party, Querier
from tests.frag.conftest import DIM, ENGINES, clustered


@pytest.fixture(scope="module")
def ray_module() -> Iterator[Any]:
    """A local Ray cluster (2 CPUs, no auth token, no usage stats), or the one already running."""
    ray = pytest.importorskip("ray", reason="needs the optional extra [ray]")
    if ray.is_initialized():
        yield ray
        return
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()


@pytest.mark.ray
@pytest.mark.slow
def test_ray_actors_give_the_in_process_answer(ray_module: Any) -> None:
    """On each engine in turn (one loop, not a parametrisation: the Ray cluster starts once)."""
    stores = [clustered(400, 21), clustered(300, 22)]
    parties = [Party("r1", stores[0], nlist=4, seed=0), Party("r2", stores[1], payloads=["x"] * 300)]
    query = clustered(1, 23)[0]
    for backend in ENGINES:
        local = Querier(dim=DIM, backend=backend).search(query, parties, k=5, nprobe=4)
        remote_querier = Querier(dim=DIM, executor="ray", backend=backend)
        try:
            remote = remote_querier.search(query, parties, k=5, nprobe=4)
            assert not remote.partial, (backend, remote.failures)
            np.testing.assert_allclose(
                [h.score for h in remote.hits], [h.score for h in local.hits], atol=1e-4, err_msg=backend
            )
            assert [h.party for h in remote.hits] == [h.party for h in local.hits]
            payloads = remote_querier.fetch(remote, parties)
            assert all(isinstance(item, (bytes, np.ndarray)) for item in payloads)
            assert parties[0].queries_served(remote_querier.fingerprint) == 0  # the actor's copy answered
        finally:
            remote_querier.close()
