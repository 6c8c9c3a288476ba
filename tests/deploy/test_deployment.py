"""FRAG on a real local Flower deployment: a SuperLink, 3 SuperNodes and 3 party hosts as subprocesses.

Each search costs Flower's round trips (about 5 s each: SuperNodes poll every 3 s and start a process
per message), so the module shares one federation and keeps to two runs.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("flwr")

from securecompute.federated.deploy.federation import FragFederation
from securecompute.federated.deploy.processes import leftover_processes
from securecompute.federated.frag import Party, Querier

pytestmark = pytest.mark.deploy

DIM, K = 16, 5


def _stores() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(11)
    return {f"p{index}": rng.normal(size=(120, DIM)) for index in range(3)}


def _queries() -> np.ndarray:
    return np.random.default_rng(12).normal(size=(1, DIM))


def _exact(stores: dict[str, np.ndarray], query: np.ndarray, k: int) -> set[tuple[str, int]]:
    """The exact cosine top-k as (party, row): the numpy oracle."""
    scored = [
        (float(row @ query / np.linalg.norm(row) / np.linalg.norm(query)), name, index)
        for name, vectors in stores.items()
        for index, row in enumerate(vectors)
    ]
    scored.sort(key=lambda item: -item[0])
    return {(name, index) for _, name, index in scored[:k]}


def _rows(stores: dict[str, np.ndarray], hits: list[Any], vectors: list[Any]) -> set[tuple[str, int]]:
    """(party, row) of each hit, found by its fetched vector in that party's store."""
    found = set()
    for (party, _, _), vector in zip(hits, vectors, strict=True):
        matches = np.flatnonzero(np.all(np.isclose(stores[party], np.asarray(vector)), axis=1))
        assert len(matches) == 1
        found.add((party, int(matches[0])))
    return found


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FragFederation]:
    workdir: Path = tmp_path_factory.mktemp("deploy")
    with FragFederation(_stores(), workdir) as running:
        yield running
    # every process this federation started, and every descendant, is gone
    assert leftover_processes(running.marker) == []
    assert all(process.popen.returncode is not None for process in running.deployment._processes)


def test_deployed_recall_equals_in_process_recall(federation: FragFederation) -> None:
    stores, queries = _stores(), _queries()
    result = federation.search(queries, k=K, timeout=60)
    local = Querier(DIM)
    parties = [Party(name, vectors) for name, vectors in stores.items()]
    assert result["setup_failures"] == {}
    for query, deployed in zip(queries, result["queries"], strict=True):
        in_process = local.search(query, parties, k=K)
        in_process_rows = _rows(stores, [tuple(hit) for hit in in_process.hits], local.fetch(in_process, parties))
        deployed_rows = _rows(stores, deployed["hits"], deployed["fetched"])
        exact = _exact(stores, query, K)
        assert not deployed["partial"]
        assert len(deployed_rows & exact) == len(in_process_rows & exact)  # the same recall
        assert deployed_rows == in_process_rows
        np.testing.assert_allclose([h[2] for h in deployed["hits"]], [h.score for h in in_process.hits], atol=1e-3)
    # the SuperLink carried the setup and one query exchange per query to all three parties, and one fetch
    # exchange per query to the parties that had hits; every request was answered
    exchanges = result["exchanges"]
    assert len(exchanges) == 1 + 2 * len(queries)
    assert [exchange["parties"] for exchange in exchanges[:2]] == [3, 3]
    assert all(exchange["answered"] == exchange["parties"] for exchange in exchanges)
    # through the SuperLink: the FRAG envelopes plus the querier's key and the channel overhead, nothing else
    search = exchanges[slice(*result["queries"][0]["search_exchanges"])]
    envelopes = sum(up + down for up, down in result["queries"][0]["bytes"].values())
    relayed = sum(exchange["bytes_up"] + exchange["bytes_down"] for exchange in search)
    assert 0 < relayed - envelopes <= 3 * (32 + 2 * 64)


def test_a_node_killed_mid_search_gives_a_partial_result(federation: FragFederation) -> None:
    stores = _stores()
    query = _queries()[:1]
    run = federation.submit(query, k=K, timeout=8.0, fetch=False)
    deadline = time.monotonic() + 90
    # exchange 1 is the setup; kill p2's SuperNode once the query (exchange 2) has been pushed
    while not any(e["event"] == "push" and e["exchange"] == 2 for e in federation.trace_events(run)):
        assert time.monotonic() < deadline, "the query was never pushed"
        time.sleep(0.05)
    federation.deployment.kill("supernode-p2")
    started = time.monotonic()
    result = federation.wait(run, timeout=90)
    assert time.monotonic() - started < 60  # bounded by the 8 s exchange time-out, not by Flower's 12 h TTL
    deployed = result["queries"][0]
    assert deployed["partial"]
    assert set(deployed["failures"]) == {"p2"}
    assert "did not answer" in deployed["failures"]["p2"]
    survivors = {name: stores[name] for name in ("p0", "p1")}
    local = Querier(DIM).search(query[0], [Party(n, v) for n, v in survivors.items()], k=K)
    assert [h[0] for h in deployed["hits"]] == [h.party for h in local.hits]
    np.testing.assert_allclose([h[2] for h in deployed["hits"]], [h.score for h in local.hits], atol=1e-3)
