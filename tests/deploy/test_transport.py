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
    reply_frames,
    request_parts,
)
from securecompute.federated.frag import Party, Querier, SearchResult

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
            mode, sender, frames = request_parts(message.content)
            party = self.parties[node]
            frames = self.meddle_requests(node, sender, frames)
            answers = [party.handle_frame(sender, frame) if mode else party.handle(frame) for frame in frames]
            answers = self.meddle_replies(node, sender, answers)
            self.ready.append(_Reply(message_id, RecordDict({RECORD: ConfigRecord({"frames": answers})})))
        return ids

    def meddle_requests(self, node: int, sender: bytes, frames: list[bytes]) -> list[bytes]:
        """What the SuperLink hands the node of a message's frames (unchanged here; subclasses meddle)."""
        return frames

    def meddle_replies(self, node: int, sender: bytes, frames: list[bytes]) -> list[bytes]:
        """What the SuperLink hands back of a reply's frames (unchanged here; subclasses meddle)."""
        return frames

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
        {"mode": 1, "sender": b"", "frames": [b"x"]},  # frame mode without a sender key
        {"mode": 0, "sender": bytes(32), "frames": [b"x"]},  # plain mode with one
        {"mode": 2, "sender": b"", "frames": [b"x"]},
        {"mode": 0, "sender": b"", "frames": ["text"]},
        {"mode": 0, "sender": b"", "frames": [3, 4]},
        {"mode": 0, "sender": b"", "frames": []},
        {"mode": 0, "sender": b"", "frames": [b"x"] * 65},  # more than MAX_FRAMES
        {"mode": 0, "sender": b"", "frames": b"x"},  # one frame, not a list
        {"mode": 0, "sender": b"", "frame": b"x"},  # the single-frame key
        {"mode": 0, "frames": [b"x"]},
        {"mode": 0, "sender": b"", "frames": [b"x"], "extra": 1},
    ],
)
def test_malformed_requests_are_refused(record: dict[str, Any]) -> None:
    with pytest.raises(CorruptPayloadError):
        request_parts(RecordDict({RECORD: ConfigRecord(record)}))


def test_malformed_replies_are_refused() -> None:
    with pytest.raises(CorruptPayloadError):
        reply_frames(RecordDict({"other": ConfigRecord({"frames": [b"x"]})}))
    with pytest.raises(CorruptPayloadError):
        reply_frames(RecordDict({RECORD: ConfigRecord({"frames": [3]})}))
    with pytest.raises(CorruptPayloadError):
        reply_frames(RecordDict({RECORD: ConfigRecord({"frame": b"ok"})}))
    assert reply_frames(RecordDict({RECORD: ConfigRecord({"frames": [b"ok", b"too"]})})) == [b"ok", b"too"]
    for frames in ([b"x"] * 65, []):  # above MAX_FRAMES, or none
        with pytest.raises(CorruptPayloadError, match="1 to 64"):
            reply_frames(RecordDict({RECORD: ConfigRecord({"frames": frames})}))


def test_a_batch_of_queries_is_one_message_per_party_and_equals_single_searches() -> None:
    """search_batch puts every query's request to a party in one Flower message: one round trip, fewer bytes."""
    stores, _parties, remote, transport = _setup()
    queries = np.random.default_rng(3).normal(size=(3, DIM))
    querier = Querier(DIM, executor=transport)
    batch = querier.search_batch(queries, remote, k=4)
    grid = transport._grid
    assert len(transport.exchanges) == 2  # the setup, then all three queries
    assert grid.pushed == 3 + 3  # one message per party in each exchange
    assert [(e.parties, e.frames, e.answered) for e in transport.exchanges] == [(3, 3, 3), (3, 9, 3)]
    local = [Party(name, vectors) for name, vectors in stores.items()]
    for query, result in zip(queries, batch, strict=True):
        single = Querier(DIM).search(query, local, k=4)
        assert not result.partial
        assert [hit.party for hit in result.hits] == [hit.party for hit in single.hits]
        np.testing.assert_allclose([h.score for h in result.hits], [h.score for h in single.hits], atol=1e-3)
    # the relay's bytes: the querier's envelopes, one 32-byte sender key per party and message, and the
    # channel frame's overhead on each envelope; never more than the three queries sent one by one
    envelopes_up = sum(result.stats.bytes_up for result in batch)
    envelopes_down = sum(result.stats.bytes_down for result in batch)
    up, down = transport.exchanges[1].bytes_up - envelopes_up, transport.exchanges[1].bytes_down - envelopes_down
    assert up - down == 3 * 32
    assert 0 < down <= 9 * 64
    singles = FlowerTransport(grid, transport.node_ids, timeout=5.0, poll_interval=0.01)
    one_by_one = Querier(DIM, executor=singles)
    alone = [one_by_one.search(query, remote, k=4) for query in queries]
    assert len(singles.exchanges) == 1 + 3
    single_overhead = sum(e.bytes_up + e.bytes_down for e in singles.exchanges[1:]) - sum(
        result.stats.bytes_up + result.stats.bytes_down for result in alone
    )
    # the same frames; the batch carries each party's sender key once instead of three times
    assert (up + down) == single_overhead - 6 * 32


def test_a_batch_of_fetches_is_one_exchange_and_returns_each_results_vectors() -> None:
    stores, _parties, remote, transport = _setup()
    queries = np.random.default_rng(4).normal(size=(2, DIM))
    querier = Querier(DIM, executor=transport)
    results = querier.search_batch(queries, remote, k=3)
    before = len(transport.exchanges)
    fetched = querier.fetch_batch(results, remote)
    assert len(transport.exchanges) == before + 1
    rows = {name: {row.tobytes() for row in vectors} for name, vectors in stores.items()}
    for result, vectors in zip(results, fetched, strict=True):
        assert len(vectors) == 3
        for hit, vector in zip(result.hits, vectors, strict=True):
            assert np.asarray(vector).tobytes() in rows[hit.party]  # each hit's own party's stored row
            assert result.leakage.parties[hit.party].fetched >= 1


def test_a_reply_with_the_wrong_number_of_frames_fails_that_party() -> None:
    class _Truncating(FakeGrid):
        def push_messages(self, messages: Iterable[Any]) -> list[str]:
            ids = super().push_messages(messages)
            if self.pushed > 3:  # after the setup: p0's reply loses its last frame
                reply = self.ready[-3]
                frames = reply_frames(reply.content)
                reply.content = RecordDict({RECORD: ConfigRecord({"frames": frames[:-1]})})
            return ids

    stores = _stores()
    parties = {100 + index: Party(name, vectors) for index, (name, vectors) in enumerate(stores.items())}
    grid = _Truncating(parties)
    remote = [RemoteParty(party.name, party.channel_public_key) for party in parties.values()]
    transport = FlowerTransport(grid, {p.name: node for node, p in parties.items()}, timeout=5.0, poll_interval=0.01)
    results = Querier(DIM, executor=transport).search_batch(np.ones((2, DIM)), remote, k=3)
    for result in results:
        assert set(result.failures) == {"p0"}
        assert "answered 1 frames to 2 requests" in result.failures["p0"]
        assert {hit.party for hit in result.hits} <= {"p1", "p2"}


def test_more_requests_to_one_party_than_a_message_carries_are_refused() -> None:
    _, _parties, remote, transport = _setup()
    with pytest.raises(ParameterError, match="at most 64 requests"):
        transport.exchange([(remote[0], b"x")] * 65)


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


class _BatchMeddlingGrid(FakeGrid):
    """A SuperLink that meddles inside ONE message: p0's frames of the first 3-query batch of one querier."""

    def __init__(self, parties: dict[int, Party], how: str) -> None:
        super().__init__(parties)
        self.how, self.victim, self.done = how, b"", False

    def _hit(self, node: int, sender: bytes, frames: list[bytes]) -> bool:
        return node == 100 and sender == self.victim and len(frames) == 3 and not self.done

    def meddle_requests(self, node: int, sender: bytes, frames: list[bytes]) -> list[bytes]:
        if not self._hit(node, sender, frames) or self.how.endswith("replies"):
            return frames
        self.done = True
        a, b, c = frames
        return {"reorder requests": [b, a, c], "duplicate requests": [a, a, c], "drop requests": [a, c]}[self.how]

    def meddle_replies(self, node: int, sender: bytes, frames: list[bytes]) -> list[bytes]:
        if not self._hit(node, sender, frames) or not self.how.endswith("replies"):
            return frames
        self.done = True
        a, b, c = frames
        return {"reorder replies": [b, a, c], "replay replies": [a, a, c], "oversized replies": [a, b, c] * 22}[
            self.how
        ]


@pytest.mark.parametrize(
    ("how", "failed"),
    [
        ("reorder requests", {0, 1, 2}),  # the party refuses query 1's frame first, then is one frame behind
        ("duplicate requests", {1, 2}),  # query 0 is answered once, honestly; its replay is refused
        ("drop requests", {0, 1, 2}),  # two replies to three requests: the whole message is refused
        ("reorder replies", {0, 1, 2}),  # query 0's reply opens in query 1's place: another query id
        ("replay replies", {1, 2}),  # query 0's reply twice: the second is out of sequence
        ("oversized replies", {0, 1, 2}),  # 66 frames, above MAX_FRAMES: refused before any is opened
    ],
)
@pytest.mark.parametrize("ivf", [False, True])
def test_meddling_inside_one_message_fails_only_that_party_and_desynchronises_nothing(
    how: str, failed: set[int], ivf: bool
) -> None:
    """Frames reordered, duplicated or dropped inside a batch's message: refused, only for that party and queries.

    The other parties answer every query; the meddled party's unaffected queries are exact; the next
    batch sets that party up again and is complete; another querier of the same parties never notices.
    With IVF at the meddled party, its queries before the meddled frame fail at their probe (the
    channel is out of step), so all of them fail there.
    """
    stores = _stores()
    lists = {"p0": 4 if ivf else None}  # probing all 4 lists: still the exact top k
    nprobe, failed = (4, {0, 1, 2}) if ivf else (None, failed)
    parties = {
        100 + index: Party(name, vectors, nlist=lists.get(name), seed=0)
        for index, (name, vectors) in enumerate(stores.items())
    }
    remote = [RemoteParty(party.name, party.channel_public_key) for party in parties.values()]
    grid = _BatchMeddlingGrid(parties, how)
    nodes = {p.name: node for node, p in parties.items()}
    victim, bystander = (
        Querier(DIM, executor=FlowerTransport(grid, nodes, timeout=5.0, poll_interval=0.01)) for _ in range(2)
    )
    assert victim.channel_public_key is not None
    grid.victim = victim.channel_public_key
    queries = np.random.default_rng(5).normal(size=(3, DIM))
    local = Querier(DIM)
    oracle = local.search_batch(queries, [Party(name, vectors) for name, vectors in stores.items()], k=4)
    assert not bystander.search_batch(queries[:1], remote, k=4, nprobe=nprobe)[0].partial  # beside the victim's
    meddled = victim.search_batch(queries, remote, k=4, nprobe=nprobe)
    assert grid.done
    assert {number for number, result in enumerate(meddled) if result.failures} == failed
    for number, result in enumerate(meddled):
        assert set(result.failures) <= {"p0"}
        if number not in failed:  # honestly answered: the exact top 4
            _assert_same_hits(result, oracle[number])
    for querier in (victim, bystander):  # p0 is set up again for the victim; the bystander's channel never moved
        for result, expected in zip(querier.search_batch(queries, remote, k=4, nprobe=nprobe), oracle, strict=True):
            assert not result.partial
            _assert_same_hits(result, expected)


def _assert_same_hits(result: SearchResult, expected: SearchResult) -> None:
    assert [hit.party for hit in result.hits] == [hit.party for hit in expected.hits]
    np.testing.assert_allclose([hit.score for hit in result.hits], [hit.score for hit in expected.hits], atol=1e-3)
