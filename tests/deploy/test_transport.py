"""FlowerTransport against a stand-in Grid that hands each message to a real in-process Party."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

pytest.importorskip("flwr", reason="the Flower deployment needs the optional extra [flower]")

from flwr.app import ConfigRecord, RecordDict

from securecompute.errors import CorruptPayloadError, ParameterError, ProtocolError
from securecompute.federated.deploy.transport import (
    MESSAGE_TYPE,
    RECORD,
    FlowerTransport,
    RemoteParty,
    reply_frame,
    request_parts,
)
from securecompute.federated.frag import Party, Querier

DIM = 8


@pytest.fixture(autouse=True)
def _inside_a_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """flwr builds Messages only inside a run (it stamps the run id); pretend to be run 1 of the ServerApp."""
    from flwr.supercore.task_identity import TaskIdentity

    monkeypatch.setattr(TaskIdentity, "_run_id", 1)
    monkeypatch.setattr(TaskIdentity, "_node_id", 1)
    monkeypatch.setattr(TaskIdentity, "_task_id", 1)


@dataclass
class _Metadata:
    reply_to_message_id: str


@dataclass
class _Error:
    code: int
    reason: str


class _Reply:
    """Duck-typed pulled reply: what FlowerTransport reads of a flwr Message."""

    def __init__(self, to: str, content: Any = None, error: _Error | None = None) -> None:
        self.metadata = _Metadata(to)
        self.content = content
        self.error = error

    def has_error(self) -> bool:
        return self.error is not None


class FakeGrid:
    """push_messages hands each message to the party of its node (as a ClientApp would); pull returns replies.

    ``silent`` nodes never answer (a node killed mid-search); ``failing`` nodes answer with a Flower error.
    """

    def __init__(
        self,
        parties: dict[int, Party],
        silent: set[int] = frozenset(),
        failing: set[int] = frozenset(),
        unknown: set[int] = frozenset(),
    ):
        self.parties, self.silent, self.failing, self.unknown = parties, set(silent), set(failing), set(unknown)
        self.ready: list[_Reply] = []
        self.pushed = 0

    def push_messages(self, messages: Iterable[Any]) -> list[str]:
        ids = []
        for message in messages:
            assert message.metadata.message_type == MESSAGE_TYPE
            self.pushed += 1
            node = message.metadata.dst_node_id
            if node in self.unknown:  # flwr 1.42's SuperLink answers "" for a node it does not know
                ids.append("")
                continue
            message_id = f"m{self.pushed}"
            ids.append(message_id)
            if node in self.silent:
                continue
            if node in self.failing:
                self.ready.append(_Reply(message_id, error=_Error(5, "node unavailable")))
                continue
            mode, sender, frame = request_parts(message.content)
            party = self.parties[node]
            answer = party.handle_frame(sender, frame) if mode else party.handle(frame)
            self.ready.append(_Reply(message_id, RecordDict({RECORD: ConfigRecord({"frame": answer})})))
        return ids

    def pull_messages(self, ids: Iterable[str]) -> list[_Reply]:
        wanted = set(ids)
        # the real SuperLink fails the whole pull (KeyError in its link state) on an id it never issued
        if "" in wanted:
            raise KeyError("")
        out = [reply for reply in self.ready if reply.metadata.reply_to_message_id in wanted]
        self.ready = [reply for reply in self.ready if reply not in out]
        return out


def _stores() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    return {f"p{index}": rng.normal(size=(40, DIM)) for index in range(3)}


def _setup(silent: set[int] = frozenset(), failing: set[int] = frozenset(), timeout: float = 5.0):
    stores = _stores()
    parties = {100 + index: Party(name, vectors) for index, (name, vectors) in enumerate(stores.items())}
    grid = FakeGrid(parties, silent, failing)
    remote = [RemoteParty(party.name, party.channel_public_key) for party in parties.values()]
    transport = FlowerTransport(
        grid, {party.name: node for node, party in parties.items()}, timeout=timeout, poll_interval=0.01
    )
    return stores, parties, remote, transport


def test_search_over_the_grid_equals_the_in_process_search() -> None:
    stores, _parties, remote, transport = _setup()
    query = np.random.default_rng(1).normal(size=DIM)
    deployed = Querier(DIM, executor=transport).search(query, remote, k=5)
    local = Querier(DIM).search(query, [Party(name, vectors) for name, vectors in stores.items()], k=5)
    assert not deployed.partial
    assert [hit.party for hit in deployed.hits] == [hit.party for hit in local.hits]
    np.testing.assert_allclose([h.score for h in deployed.hits], [h.score for h in local.hits], atol=1e-3)
    assert [exchange.answered for exchange in transport.exchanges] == [3, 3]  # setup, query
    # what crosses the SuperLink is the querier's envelopes plus, per party, its 32-byte channel key and the
    # channel frame's overhead each way
    up = transport.exchanges[1].bytes_up - deployed.stats.bytes_up
    down = transport.exchanges[1].bytes_down - deployed.stats.bytes_down
    assert up - down == 3 * 32
    assert 0 < down <= 3 * 64


def test_a_silent_node_times_out_and_the_result_is_partial() -> None:
    _, _parties, remote, transport = _setup(silent={102}, timeout=0.3)
    querier = Querier(DIM, executor=transport)
    result = querier.search(np.ones(DIM), remote, k=3)
    assert result.partial
    assert set(result.failures) == {"p2"}
    assert "did not answer" in result.failures["p2"]
    assert {hit.party for hit in result.hits} <= {"p0", "p1"}
    assert len(result.hits) == 3


def test_a_flower_error_reply_fails_that_party_only() -> None:
    _, _, remote, transport = _setup(failing={101})
    result = Querier(DIM, executor=transport).search(np.ones(DIM), remote, k=3)
    assert result.partial
    assert set(result.failures) == {"p1"}
    assert "Flower error 5" in result.failures["p1"]


def test_a_node_the_superlink_does_not_know_fails_that_party_only() -> None:
    stores = _stores()
    parties = {100 + index: Party(name, vectors) for index, (name, vectors) in enumerate(stores.items())}
    grid = FakeGrid(parties, unknown={101})
    remote = [RemoteParty(party.name, party.channel_public_key) for party in parties.values()]
    transport = FlowerTransport(grid, {p.name: node for node, p in parties.items()}, timeout=30.0, poll_interval=0.01)
    result = Querier(DIM, executor=transport).search(np.ones(DIM), remote, k=3)
    assert result.partial
    assert set(result.failures) == {"p1"}
    assert "did not accept the request to party 'p1' (node 101)" in result.failures["p1"]
    assert len(result.hits) == 3


def test_unauthenticated_querier_sends_plain_envelopes() -> None:
    _, _, remote, transport = _setup()
    result = Querier(DIM, executor=transport, authenticated=False).search(np.ones(DIM), remote, k=2)
    assert not result.partial
    assert len(result.hits) == 2


def test_remote_party_cannot_answer_here() -> None:
    remote = RemoteParty("far", bytes(32))
    with pytest.raises(ProtocolError, match="remote"):
        remote.handle(b"x")
    with pytest.raises(ProtocolError, match="remote"):
        remote.spec()
    with pytest.raises(ParameterError, match="32 bytes"):
        RemoteParty("far", b"short")


def test_transport_refuses_bad_configuration() -> None:
    with pytest.raises(ParameterError, match="node ids"):
        FlowerTransport(object(), {"p0": "node"})  # type: ignore[dict-item]
    with pytest.raises(ParameterError, match="timeout"):
        FlowerTransport(object(), {"p0": 1}, timeout=0)


@pytest.mark.parametrize(
    "record",
    [
        {"mode": 1, "sender": b"", "frame": b"x"},  # frame mode without a sender key
        {"mode": 0, "sender": bytes(32), "frame": b"x"},  # plain mode with one
        {"mode": 2, "sender": b"", "frame": b"x"},
        {"mode": 0, "sender": b"", "frame": "text"},
        {"mode": 0, "frame": b"x"},
        {"mode": 0, "sender": b"", "frame": b"x", "extra": 1},
    ],
)
def test_malformed_requests_are_refused(record: dict[str, Any]) -> None:
    with pytest.raises(CorruptPayloadError):
        request_parts(RecordDict({RECORD: ConfigRecord(record)}))


def test_malformed_replies_are_refused() -> None:
    with pytest.raises(CorruptPayloadError):
        reply_frame(RecordDict({"other": ConfigRecord({"frame": b"x"})}))
    with pytest.raises(CorruptPayloadError):
        reply_frame(RecordDict({RECORD: ConfigRecord({"frame": 3})}))
    assert reply_frame(RecordDict({RECORD: ConfigRecord({"frame": b"ok"})})) == b"ok"


class _MeddlingGrid(FakeGrid):
    """A SuperLink that meddles with replies after the setup: swaps two parties' or replays an old one."""

    def __init__(self, parties: dict[int, Party], how: str) -> None:
        super().__init__(parties)
        self.how, self.exchanges, self.first_p0_reply = how, 0, None

    def push_messages(self, messages: Iterable[Any]) -> list[str]:
        ids = super().push_messages(messages)
        self.exchanges += 1
        fresh = self.ready[-len(ids) :]  # this exchange's replies, in party order p0, p1, p2
        if self.exchanges == 2 and self.how == "swap":  # the first query (exchange 1 is the setup)
            fresh[0].content, fresh[1].content = fresh[1].content, fresh[0].content
        if self.exchanges == 2:
            self.first_p0_reply = fresh[0].content
        elif self.exchanges == 3 and self.how == "replay":
            fresh[0].content = self.first_p0_reply  # p0's answer to the previous query, valid when it was sent
        return ids


@pytest.mark.parametrize("how", ["swap", "replay"])
def test_a_superlink_that_swaps_or_replays_frames_is_caught(how: str) -> None:
    """Frames stay inside each party's channel end to end: the relay cannot move them undetected."""
    stores = _stores()
    parties = {100 + index: Party(name, vectors) for index, (name, vectors) in enumerate(stores.items())}
    grid = _MeddlingGrid(parties, how)
    remote = [RemoteParty(party.name, party.channel_public_key) for party in parties.values()]
    transport = FlowerTransport(grid, {p.name: node for node, p in parties.items()}, timeout=5.0, poll_interval=0.01)
    querier = Querier(DIM, executor=transport)
    first = querier.search(np.ones(DIM), remote, k=3)
    result = first if how == "swap" else querier.search(np.random.default_rng(2).normal(size=DIM), remote, k=3)
    assert grid.exchanges == (2 if how == "swap" else 3)  # setup, query (, query): the meddling happened
    meddled = {"p0", "p1"} if how == "swap" else {"p0"}
    assert result.partial
    assert set(result.failures) == meddled
    assert all("TamperedMessageError" in message for message in result.failures.values())
    assert {hit.party for hit in result.hits} <= {"p0", "p1", "p2"} - meddled
