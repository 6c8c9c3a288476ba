"""FRAG on a real local Flower deployment: a SuperLink, 3 SuperNodes and 3 party hosts as subprocesses.

Each exchange costs a Flower round trip (about 5 s: SuperNodes poll every 3 s and start a process per
message).  Recall against the in-process protocol is tested through the command
(``test_commands.py``); here a SuperNode and another party's host die in the middle of a search.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("flwr", reason="the Flower deployment needs the optional extra [flower]")

from securecompute.federated.deploy.federation import FragFederation
from securecompute.federated.deploy.processes import SWEEP_SUPPORTED, leftover_processes
from securecompute.federated.frag import Party, Querier

pytestmark = pytest.mark.deploy

DIM, K = 16, 5


def _stores() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(11)
    return {f"p{index}": rng.normal(size=(120, DIM)) for index in range(3)}


def _queries() -> np.ndarray:
    return np.random.default_rng(12).normal(size=(1, DIM))


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FragFederation]:
    workdir: Path = tmp_path_factory.mktemp("deploy")
    with FragFederation(_stores(), workdir) as running:
        yield running
    # every process this federation started, and every descendant, is gone
    assert leftover_processes(running.marker) == []
    assert all(process.popen.returncode is not None for process in running.deployment._processes)


def test_the_parties_files_are_private_to_the_operator(federation: FragFederation) -> None:
    assert (federation.workdir / "parties").stat().st_mode & 0o777 == 0o700
    assert all(
        (folder / "channel.key").stat().st_mode & 0o077 == 0 for folder in (federation.workdir / "parties").iterdir()
    )


@pytest.mark.skipif(not SWEEP_SUPPORTED, reason="reads /proc/<pid>/fd and /proc/net/tcp* (Linux)")
def test_insecure_daemons_listen_on_loopback_only(federation: FragFederation) -> None:
    """Insecure mode keeps every byte on the machine: the SuperLink and each SuperNode listen on 127.0.0.1."""
    inodes: set[str] = set()
    for pid in leftover_processes(federation.marker):  # every live process of the deployment
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    listening = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # state LISTEN, held by one of them
                listening.append(fields[1].split(":")[0])
    assert len(listening) == 1 + len(federation.stores)  # the SuperLink's port P and each SuperNode's Q_i
    assert set(listening) == {"0100007F"}  # 127.0.0.1 (little-endian hex); no 0.0.0.0, no IPv6


def test_a_node_and_a_party_host_killed_mid_search_give_a_partial_result(federation: FragFederation) -> None:
    stores = _stores()
    query = _queries()[:1]
    run = federation.submit(query, k=K, timeout=8.0, fetch=False)
    deadline = time.monotonic() + 90
    # exchange 1 is the setup; once the query (exchange 2) has been pushed, kill p2's SuperNode and p1's
    # party host (its SuperNode lives on: its ClientApp finds no host, or loses it mid-request)
    while not any(e["event"] == "push" and e["exchange"] == 2 for e in federation.trace_events(run)):
        assert time.monotonic() < deadline, "the query was never pushed"
        time.sleep(0.05)
    federation.deployment.kill("supernode-p2")
    federation.deployment.kill("party-p1")
    # bounded by the 8 s exchange time-out, not by Flower's 12 h TTL; wait raises if no result comes
    result = federation.wait(run, timeout=90)
    deployed = result["queries"][0]
    assert deployed["partial"]
    assert set(deployed["failures"]) == {"p1", "p2"}
    assert "did not answer" in deployed["failures"]["p2"]  # a dead node: silence until the time-out
    assert "Flower error 2" in deployed["failures"]["p1"]  # a dead host: the ClientApp's error reply
    survivors = {"p0": stores["p0"]}
    local = Querier(DIM).search(query[0], [Party(n, v) for n, v in survivors.items()], k=K)
    assert [h[0] for h in deployed["hits"]] == [h.party for h in local.hits]
    np.testing.assert_allclose([h[2] for h in deployed["hits"]], [h.score for h in local.hits], atol=1e-3)
    # and against numpy alone: the K largest cosine similarities over the survivor's rows
    rows = np.concatenate(list(survivors.values()))
    exact = np.sort((rows / np.linalg.norm(rows, axis=1, keepdims=True)) @ (query[0] / np.linalg.norm(query[0])))
    np.testing.assert_allclose([h[2] for h in deployed["hits"]], exact[::-1][:K], atol=1e-3)
